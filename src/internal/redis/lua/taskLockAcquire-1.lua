-- taskLockAcquire: lockAcquire for a lock kept in a queue (a unique task's lock, see src/internal/lua/uniqueLock.lua).
-- Input:
--   KEYS[1] locks: the queue's unique task locks <queuePrefix>:{q}:locks  -- lock name -> its state
--   ARGV[1] name: the lock's name (its full key: "<lock prefix>{q}:<unique key>")
--   ARGV[2] owner: who takes the lock
--   ARGV[3] ttlMs (number): ttl in milliseconds (> 0)
-- Output: as lockAcquire: {1, fence, ttl} or {0, holder, pttl, fence}
return ulockTake({ locks = KEYS[1] }, ARGV[1], ARGV[2], tonumber(ARGV[3]))
