-- renew: extends the lease of a running task, if the caller still holds it.
-- Input:
--   KEYS[1] task key      <prefix>:{q}:task:<id>
--   KEYS[2] running zset  <prefix>:{q}:running
--   ARGV[1] id
--   ARGV[2] lease token
--   ARGV[3] lease (ms)
-- Output: 1 renewed, 0 the lease is no longer the caller's
if not owns(KEYS[1], ARGV[2]) then return 0 end
local leaseUntil = nowMillis() + tonumber(ARGV[3])
redis.call("HSET", KEYS[1], "leaseUntil", leaseUntil)
redis.call("ZADD", KEYS[2], leaseUntil, ARGV[1])
return 1
