-- taskLockExtend: lockExtend for a lock kept in a queue (a unique task's lock, see src/internal/lua/uniqueLock.lua).
-- Input:
--   KEYS[1] locks: the queue's unique task locks <queuePrefix>:{q}:locks  -- lock name -> its state
--   ARGV[1] name: the lock's name (its full key: "<lock prefix>{q}:<unique key>")
--   ARGV[2] owner: who holds the lock
--   ARGV[3] ttlMs (number): new ttl in milliseconds, from now
-- Output: 1 extended, 0 not held by this owner
local L = { locks = KEYS[1] }
local holder, fence = ulockRead(L, ARGV[1])
if holder ~= ARGV[2] then return 0 end
ulockWrite(L, ARGV[1], fence, holder, tonumber(ARGV[3]), false)
return 1
