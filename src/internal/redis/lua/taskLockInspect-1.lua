-- taskLockInspect: lockInspect for a lock kept in a queue (a unique task's lock, see src/internal/lua/uniqueLock.lua).
-- Input:
--   KEYS[1] locks: the queue's unique task locks <queuePrefix>:{q}:locks  -- lock name -> its state
--   ARGV[1] name: the lock's name (its full key: "<lock prefix>{q}:<unique key>")
-- Output: {holder, pttl, fence} when held, else {}
local holder, fence, left = ulockRead({ locks = KEYS[1] }, ARGV[1])
if not holder then return {} end
return {holder, left, fence}
