-- rateInspect: a rate limit's log, for the Inspector (read only).
-- Input:
--   KEYS[1] key: the rate limit's sorted set: member = admission id, score = admission time (µs)
-- Output:
--   {now, pttl, {member, score, ...}}  -- now: Redis TIME (µs); pttl: the key's time to live (ms; the latest
--       admission plus the longest window it was booked with); the admissions, oldest first
--   {}  -- no such key, or not a rate limit's sorted set (an only-after key shares the prefix)
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if redis.call("TYPE", KEYS[1]).ok ~= "zset" then return {} end
return {now, redis.call("PTTL", KEYS[1]), redis.call("ZRANGE", KEYS[1], 0, -1, "WITHSCORES")}
