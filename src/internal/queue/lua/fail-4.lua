-- fail: a running task failed; either schedules its retry (the attempt stays spent) or ends it as failed.
-- Input:
--   KEYS[1] task key        <prefix>:{q}:task:<id>
--   KEYS[2] running zset    <prefix>:{q}:running
--   KEYS[3] scheduled zset  <prefix>:{q}:scheduled
--   KEYS[4] wake list       <prefix>:{q}:wake
--   ARGV[1] id
--   ARGV[2] lease token
--   ARGV[3] error (JSON)
--   ARGV[4] retry in ms, or -1: no retry, the task fails
--   ARGV[5] retention (ms)
--   ARGV[6] events channel
--   ARGV[7] wake list cap
--   ARGV[8] wake list TTL (ms)
-- Output: 1 done, 0 the lease is no longer the caller's (nothing changed)
if not owns(KEYS[1], ARGV[2]) then return 0 end
local now = nowMillis()
local retryIn = tonumber(ARGV[4])
if retryIn < 0 then
  finish(KEYS[1], KEYS[2], ARGV[1], "failed", "error", ARGV[3], ARGV[5], ARGV[6], now)
  return 1
end
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("HSET", KEYS[1], "state", "scheduled", "lastError", ARGV[3], "runAt", now + retryIn)
redis.call("HDEL", KEYS[1], "token", "leaseUntil")
redis.call("ZADD", KEYS[3], now + retryIn, ARGV[1])
wake(KEYS[4], ARGV[7], ARGV[8])
return 1
