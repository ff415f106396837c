-- taskLockRelease: lockRelease for a lock kept in a queue (a unique task's lock, see src/internal/lua/uniqueLock.lua).
-- Input:
--   KEYS[1] locks: the queue's unique task locks <queuePrefix>:{q}:locks  -- lock name -> its state
--   ARGV[1] name: the lock's name (its full key: "<lock prefix>{q}:<unique key>")
--   ARGV[2] owner: who holds the lock ("" with ARGV[4] = "1")
--   ARGV[3] channel: channel to announce the release on (waiters wake up)
--   ARGV[4] force (boolean): "1" to release whoever holds it (operators), else "0"
-- Output: 1 released, 0 not held by this owner (expired, taken by another, or free)
return ulockFree({ locks = KEYS[1] }, ARGV[1], ARGV[2], ARGV[3], ARGV[4] == "1")
