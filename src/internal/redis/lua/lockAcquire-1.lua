--[[
  Takes a lock, or reports who holds it, in one step.

  Input:
    KEYS[1] the lock (a hash: owner, fence)
    ARGV[1] owner
    ARGV[2] ttl in milliseconds (> 0)
  Output:
    {1, fence, ttl}            acquired (or already held by this owner: extended, same fence)
    {0, holder, pttl, fence}   held by another owner for pttl more milliseconds
  Fence: max(previous fence + 1, Redis time in microseconds). The previous fence
  survives a release for one second, and time moves on after that, so fences
  strictly increase per key.
]]
local t = redis.call("TIME")
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ttl = tonumber(ARGV[2])
local holder = redis.call("HGET", KEYS[1], "owner")
if holder then
  local fence = tonumber(redis.call("HGET", KEYS[1], "fence"))
  if holder == ARGV[1] then
    redis.call("PEXPIRE", KEYS[1], ttl)
    return {1, fence, ttl}
  end
  return {0, holder, redis.call("PTTL", KEYS[1]), fence}
end
local last = tonumber(redis.call("HGET", KEYS[1], "fence") or "0")
local fence = math.max(last + 1, nowUs)
redis.call("HSET", KEYS[1], "owner", ARGV[1], "fence", string.format("%d", fence))
redis.call("PEXPIRE", KEYS[1], ttl)
return {1, fence, ttl}
