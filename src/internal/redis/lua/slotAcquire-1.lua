-- slotAcquire: takes one of `limit` concurrent slots with a lease (a distributed semaphore).
-- Input:
--   KEYS[1] slots: sorted set: member = holder, score = lease expiry (ms, Redis time)
--   ARGV[1] holder: who takes the slot
--   ARGV[2] limit (number): how many slots there are
--   ARGV[3] leaseMs (number): lease in milliseconds
-- Output:
--   {1, holders}               acquired (or renewed, when this holder already has a slot)
--   {0, holders, retryAfter}   all slots taken; the first lease ends in retryAfter ms
-- Leases that ended are dropped first, so a dead holder frees its slot.
local now = nowMillis()
local lease = tonumber(ARGV[3])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
local count = redis.call("ZCARD", KEYS[1])
-- a holder that has a slot renews it even when all are taken; ZADD answers 0 for it, 1 for a new one
if count >= tonumber(ARGV[2]) and not redis.call("ZSCORE", KEYS[1], ARGV[1]) then
  local first = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
  return {0, count, tonumber(first[2]) - now}
end
local added = redis.call("ZADD", KEYS[1], now + lease, ARGV[1])
local last = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
redis.call("PEXPIRE", KEYS[1], tonumber(last[2]) - now)
return {1, count + added}
