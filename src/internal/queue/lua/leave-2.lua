-- leave: a stopping worker leaves the registry at once.
-- Input:
--   KEYS[1] workers: worker registry <prefix>:{q}:workers
--   KEYS[2] workerInfo: registrations <prefix>:{q}:workerinfo
--   ARGV[1] workerId: the worker's id
-- Output: 1 it was registered, 0 it was not
redis.call("HDEL", KEYS[2], ARGV[1])
return redis.call("ZREM", KEYS[1], ARGV[1])
