--!df flags=allow-undeclared-keys
-- fail: a running task failed; either schedules its retry (the attempt stays spent) or ends it as failed. The
-- failure's time (ms after the enqueue, Redis clock) is appended to the record's `ft`.
-- Input:
--   KEYS[1] task:      task key        <prefix>:{q}:task:<id>
--   KEYS[2] running:   running zset    <prefix>:{q}:running
--   KEYS[3] scheduled: scheduled zset  <prefix>:{q}:scheduled
--   KEYS[4] wake:      wake list       <prefix>:{q}:wake
--   KEYS[5] counts:      counts hash     <prefix>:{q}:counts        -- the Inspector's counts (see includes.lua)
--   KEYS[6] failedIndex: failed index    <prefix>:{q}:index:failed  -- the bounded index of failed tasks
--   ARGV[1] id: the task's id
--   ARGV[2] token: lease token
--   ARGV[3] error: error (JSON)
--   ARGV[4] retryInMillis (number): retry in ms, or -1: no retry, the task fails
--   ARGV[5] retentionMillis (number): retention (ms)
--   ARGV[6] channel: events channel
--   ARGV[7] wakeCap (number): wake list cap
--   ARGV[8] wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[9] lockChannel: channel on which lock releases are announced
--   ARGV[10] lockInfix: the queue's lock key infix "{<queue>}:" (a unique task's lock key: lock prefix ..
--       infix .. unique key)
--   ARGV[11] indexSize (number): the bounded index's cap (entries per state)
-- Output: 1 done, 0 the lease is no longer the caller's (nothing changed)
local f = owned(KEYS[1], ARGV[2])
if not f then return 0 end
local now = nowMillis()
local retryIn = tonumber(ARGV[4])
-- when each attempt failed, ms after the enqueue: the worker steps the retry schedule with these times
local failures = tostring(now - tonumber(f[6]))
if f[7] then failures = f[7] .. "," .. failures end
redis.call("HSET", KEYS[1], "ft", failures)
local book = newBook(KEYS[5], { failed = KEYS[6] }, ARGV[11], ARGV[5])
if retryIn < 0 then
  finish(KEYS[1], KEYS[2], ARGV[1], "failed", "error", ARGV[3], ARGV[5], ARGV[6], now,
    lockKeyOf(f[2], f[3], { infix = ARGV[10] }), f[4], ARGV[9], book, f[8], "running", f[9] or false)
  flushBook(book)
  return 1
end
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("HSET", KEYS[1], "s", "s", "lastError", ARGV[3], "r", now + retryIn)
redis.call("ZADD", KEYS[3], now + retryIn, ARGV[1])
count(book, f[8], "running", "scheduled")
flushBook(book)
wake(KEYS[4], ARGV[7], ARGV[8])
return 1
