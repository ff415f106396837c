-- Time, shared by every folder's scripts (scripts/gen-lua.mjs ships it with each script that calls it).

-- Milliseconds from the Redis server's clock: every process agrees on it.
local function nowMillis()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
