--!df flags=allow-undeclared-keys
-- inspect: a task's detail for the Inspector (read only): its record, its lease end, its unique lock.
-- Input:
--   KEYS[1] tasks: records hash <prefix>:{q}:tasks  -- task id -> its record (see includes.lua, recLoad)
--   KEYS[2] running: running zset <prefix>:{q}:running
--   ARGV[1] id: the task's id
--   ARGV[2] lockInfix: the queue's lock key infix "{<queue>}:" (a unique task's lock key: lock prefix .. infix ..
--       unique key)
-- Output: { now } when there is no such task; else { now, { field, value, ... }, lease end (ms, -1: not running),
--   lock holder ("": free or no lock), lock's time left (ms, PTTL: -2 no key) }
-- The lock key is built from the record (its prefix and unique key) and the queue's infix: same hash tag.
local now = nowMillis()
local Q = recordsOf(KEYS[1])
Q.now = now
local r = recLoad(Q, ARGV[1])
if not r then return { now } end
local lease = -1
if isRunning(r.s) then lease = tonumber(redis.call("ZSCORE", KEYS[2], ARGV[1]) or "-1") end
local holder, ttl = "", -2
local lockKey = lockKeyOf(r.lp, r.l, { infix = ARGV[2] })
if lockKey then
  holder = lockRead(lockKey) or ""
  ttl = redis.call("PTTL", lockKey)
end
return { now, recFlat(r), lease, holder, ttl }
