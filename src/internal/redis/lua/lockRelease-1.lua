--[[
  Releases a lock, only for the owner that holds it (or for anyone when forced).

  Input:
    KEYS[1] the lock
    ARGV[1] owner ("" with ARGV[3] = "1")
    ARGV[2] channel to announce the release on (waiters wake up)
    ARGV[3] "1" to release whoever holds it (operators), else "0"
  Output:
    1 released, 0 not held by this owner (expired, taken by another, or free)
  The fence stays one more second so that the next one is greater.
]]
local holder = redis.call("HGET", KEYS[1], "owner")
if holder and (holder == ARGV[1] or ARGV[3] == "1") then
  redis.call("HDEL", KEYS[1], "owner")
  redis.call("PEXPIRE", KEYS[1], 1000)
  redis.call("PUBLISH", ARGV[2], KEYS[1])
  return 1
end
return 0
