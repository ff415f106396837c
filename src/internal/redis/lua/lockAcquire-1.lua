--[[
  Takes a lock, or reports who holds it, in one step.

  Input:
    KEYS[1] the lock (a string "<fence>:<owner>", see src/internal/lua/lock.lua)
    ARGV[1] owner
    ARGV[2] ttl in milliseconds (> 0)
  Output:
    {1, fence, ttl}            acquired (or already held by this owner: extended, same fence)
    {0, holder, pttl, fence}   held by another owner for pttl more milliseconds
  Fence: max(previous fence + 1, Redis time in microseconds). The previous fence
  survives a release for one second, and time moves on after that, so fences
  strictly increase per key.
]]
-- @include lock
return lockTake(KEYS[1], ARGV[1], tonumber(ARGV[2]))
