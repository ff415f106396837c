-- renew: extends the lease of a running task, if the caller still holds it.
-- Input:
--   KEYS[1] tasks: records hash <prefix>:{q}:tasks  -- task id -> its record (see includes.lua, recLoad)
--   KEYS[2] running: running zset  <prefix>:{q}:running
--   ARGV[1] id: the task's id
--   ARGV[2] token: lease token
--   ARGV[3] leaseMillis (number): lease (ms)
-- Output: 1 renewed, 0 the lease is no longer the caller's
-- The lease end is the running zset's score only (the record does not repeat it).
if not owned(recordsOf(KEYS[1]), ARGV[1], ARGV[2]) then return 0 end
redis.call("ZADD", KEYS[2], nowMillis() + tonumber(ARGV[3]), ARGV[1])
return 1
