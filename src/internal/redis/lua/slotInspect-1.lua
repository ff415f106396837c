-- slotInspect: a concurrency limit's holders, for the Inspector (read only).
-- Input:
--   KEYS[1] slots: sorted set: member = holder, score = lease expiry (ms, Redis time)
-- Output:
--   {now, {holder, lease end, ...}}  -- now: Redis time (ms); the holders whose lease has not ended, soonest first
--   {}  -- no such key, or not a sorted set
local now = nowMillis()
if redis.call("TYPE", KEYS[1]).ok ~= "zset" then return {} end
return {now, redis.call("ZRANGE", KEYS[1], "(" .. now, "+inf", "BYSCORE", "WITHSCORES")}
