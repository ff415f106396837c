-- inspect: a task's detail for the Inspector (read only): its record, its lease end, its unique lock.
-- Input:
--   KEYS[1] tasks: records hash <prefix>:{q}:tasks  -- task id -> its record (see includes.lua, recLoad)
--   KEYS[2] running: running zset <prefix>:{q}:running
--   KEYS[3] locks: unique task locks <prefix>:{q}:locks  -- lock name -> its state (see uniqueLock.lua)
--   ARGV[1] id: the task's id
--   ARGV[2] lockInfix: the queue's lock name infix "{<queue>}:" (a unique task's lock name: lock prefix .. infix ..
--       unique key)
-- Output: { now } when there is no such task; else { now, { field, value, ... }, lease end (ms, -1: not running),
--   lock holder ("": free or no lock), lock's time left (ms; -2: free or no lock) }
-- The lock's name is the record's lock prefix and unique key with the queue's infix between them.
local now = nowMillis()
local Q = recordsOf(KEYS[1])
Q.now = now
local r = recLoad(Q, ARGV[1])
if not r then return { now } end
local lease = -1
if isRunning(r.s) then lease = tonumber(redis.call("ZSCORE", KEYS[2], ARGV[1]) or "-1") end
local holder, ttl = "", -2
local lockName = lockNameOf(r.lp, r.l, { infix = ARGV[2] })
if lockName then
  local owner, _, left = ulockRead({ locks = KEYS[3], now = now }, lockName)
  if owner then holder, ttl = owner, left end
end
return { now, recFlat(r), lease, holder, ttl }
