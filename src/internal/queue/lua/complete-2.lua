-- complete: a running task succeeded; stores its result.
-- Input:
--   KEYS[1] task key      <prefix>:{q}:task:<id>
--   KEYS[2] running zset  <prefix>:{q}:running
--   ARGV[1] id
--   ARGV[2] lease token
--   ARGV[3] result (JSON)
--   ARGV[4] retention (ms)
--   ARGV[5] events channel
--   ARGV[6] channel on which lock releases are announced
--   ARGV[7] the queue's lock key infix "{<queue>}:" (a unique task's lock key: lock prefix .. infix .. unique key)
-- Output: 1 done, 0 the lease is no longer the caller's (nothing changed)
local f = owned(KEYS[1], ARGV[2])
if not f then return 0 end
finish(KEYS[1], KEYS[2], ARGV[1], "succeeded", "result", ARGV[3], ARGV[4], ARGV[5], nowMillis(),
  lockKeyOf(f[2], f[3], { infix = ARGV[7] }), f[4], ARGV[6])
return 1
