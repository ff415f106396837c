-- slotExtend: renews a concurrency slot's lease, only while the holder still has it.
-- Input:
--   KEYS[1] slots: the slots' sorted set
--   ARGV[1] holder: who holds the slot
--   ARGV[2] leaseMs (number): lease in milliseconds, from now
-- Output:
--   1 renewed, 0 the lease had ended (the slot may be someone else's now)
local now = nowMillis()
local score = redis.call("ZSCORE", KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then return 0 end
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local last = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
redis.call("PEXPIRE", KEYS[1], tonumber(last[2]) - now)
return 1
