--[[
  Reads a lock's holder, remaining time and fence together.

  Input:
    KEYS[1] the lock
  Output:
    {holder, pttl, fence} when held, else {}
]]
local state = redis.call("HMGET", KEYS[1], "owner", "fence")
if not state[1] then return {} end
return {state[1], redis.call("PTTL", KEYS[1]), tonumber(state[2])}
