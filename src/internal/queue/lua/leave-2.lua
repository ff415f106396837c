-- leave: a stopping worker leaves the registry at once.
-- Input:
--   KEYS[1] workers: worker registry <prefix>:{q}:workers
--   KEYS[2] worker:  worker hash     <prefix>:{q}:worker:<id>
--   ARGV[1] workerId: the worker's id
-- Output: 1 it was registered, 0 it was not
redis.call("DEL", KEYS[2])
return redis.call("ZREM", KEYS[1], ARGV[1])
