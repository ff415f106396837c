--!df flags=allow-undeclared-keys
-- inspect: a task's detail for the Inspector (read only): its record, its lease end, its unique lock.
-- Input:
--   KEYS[1] task:    task key     <prefix>:{q}:task:<id>
--   KEYS[2] running: running zset <prefix>:{q}:running
--   ARGV[1] id: the task's id
--   ARGV[2] lockInfix: the queue's lock key infix "{<queue>}:" (a unique task's lock key: lock prefix .. infix ..
--       unique key)
-- Output: { now } when there is no such task; else { now, { field, value, ... }, lease end (ms, -1: not running),
--   lock holder ("": free or no lock), lock's time left (ms, PTTL: -2 no key) }
-- The lock key is built from the record (its prefix and unique key) and the queue's infix: same hash tag.
local now = nowMillis()
local record = redis.call("HGETALL", KEYS[1])
if #record == 0 then return { now } end
local f = redis.call("HMGET", KEYS[1], "s", "lp", "l")
local lease = -1
if isRunning(f[1]) then lease = tonumber(redis.call("ZSCORE", KEYS[2], ARGV[1]) or "-1") end
local holder, ttl = "", -2
local lockKey = lockKeyOf(f[2], f[3], { infix = ARGV[2] })
if lockKey then
  holder = lockRead(lockKey) or ""
  ttl = redis.call("PTTL", lockKey)
end
return { now, record, lease, holder, ttl }
