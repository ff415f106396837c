-- complete: a running task succeeded; stores its result.
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   ARGV[1] id: the task's id
--   ARGV[2] token: lease token
--   ARGV[3] result: result (JSON)
--   ARGV[4] retentionMillis (number): retention (ms)
--   ARGV[5] channel: events channel
--   ARGV[6] lockChannel: channel on which lock releases are announced
--   ARGV[7] lockInfix: the queue's lock name infix "{<queue>}:" (a unique task's lock name: lock prefix ..
--       infix .. unique key)
-- Output: 1 done, 0 the lease is no longer the caller's (nothing changed)
local Q = queueOf(unpack(KEYS, 1, 10))
local f = owned(Q, ARGV[1], ARGV[2])
if not f then return 0 end
finish(Q, ARGV[1], "succeeded", "result", ARGV[3], ARGV[4], ARGV[5], nowMillis(),
  lockNameOf(f[2], f[3], { infix = ARGV[7] }), f[4], ARGV[6], nil, nil, nil, f[9] or false)
countNow(Q.counts, f[8], "running", "succeeded", 1)
return 1
