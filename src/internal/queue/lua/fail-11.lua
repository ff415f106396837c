-- fail: a running task failed; either schedules its retry (the attempt stays spent) or ends it as failed. The
-- failure's time (ms after the enqueue, Redis clock) is appended to the record's `ft`.
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] failedIndex: failed index <prefix>:{q}:index:failed  -- the bounded index of failed tasks
--   ARGV[1] id: the task's id
--   ARGV[2] token: lease token
--   ARGV[3] error: error (JSON)
--   ARGV[4] retryInMillis (number): retry in ms, or -1: no retry, the task fails
--   ARGV[5] retentionMillis (number): retention (ms)
--   ARGV[6] channel: events channel
--   ARGV[7] wakeCap (number): wake list cap
--   ARGV[8] wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[9] lockChannel: channel on which lock releases are announced
--   ARGV[10] lockInfix: the queue's lock name infix "{<queue>}:" (a unique task's lock name: lock prefix ..
--       infix .. unique key)
--   ARGV[11] indexSize (number): the bounded index's cap (entries per state)
-- Output: 1 done, 0 the lease is no longer the caller's (nothing changed)
local Q = queueOf(unpack(KEYS, 1, 10))
local f = owned(Q, ARGV[1], ARGV[2])
if not f then return 0 end
local now = nowMillis()
local retryIn = tonumber(ARGV[4])
local failures = tostring(now - tonumber(f[6]))
if f[7] then failures = f[7] .. "," .. failures end
local book = newBook(Q.counts, { failed = KEYS[11] }, ARGV[11], ARGV[5])
if retryIn < 0 then
  recSet(Q, ARGV[1], "ft", failures)
  finish(Q, ARGV[1], "failed", "error", ARGV[3], ARGV[5], ARGV[6], now,
    lockNameOf(f[2], f[3], { infix = ARGV[10] }), f[4], ARGV[9], book, f[8], "running", f[9] or false)
  flushBook(book)
  return 1
end
redis.call("ZREM", Q.running, ARGV[1])
recSet(Q, ARGV[1], "ft", failures, "s", "s", "lastError", ARGV[3], "r", now + retryIn)
redis.call("ZADD", Q.scheduled, now + retryIn, ARGV[1])
count(book, f[8], "running", "scheduled")
flushBook(book)
wake(Q.wake, ARGV[7], ARGV[8])
return 1
