-- counts: the Inspector's counts and the oldest waiting task (read only).
-- Input:
--   KEYS[1] counts:     counts hash     <prefix>:{q}:counts  -- field "<state>:<task name>" (includes.lua, newBook)
--   KEYS[2] ready:      ready list      <prefix>:{q}:ready
--   KEYS[3] parked:     parked names    <prefix>:{q}:parked
--   KEYS[4] taskPrefix: task key prefix <prefix>:{q}:task:   -- task keys are KEYS[4] .. id: same hash tag, same slot
--   ARGV[1] parkedPrefix: parked list prefix <prefix>:{q}:parked:  -- name N's parked list is ARGV[1] .. N (same
--       slot)
--   ARGV[2] oldestScan (number): how many entries at the old end of each list are read to find the oldest queued
--       task
-- Output: { now, { field, count, ... }, oldest id ("": none), since (ms: its run time; -1: none) }
-- The oldest waiting task: of the ready list and each parked list, the first queued task from the old end (the next
-- in line), the one due longest.
local now = nowMillis()
local oldest, since = "", -1
local function consider(list)
  local ids = redis.call("LRANGE", list, -tonumber(ARGV[2]), -1)
  for i = #ids, 1, -1 do
    local f = redis.call("HMGET", KEYS[4] .. ids[i], "s", "e", "r")
    if f[1] == "q" then
      local at = tonumber(f[3] or f[2])
      if since < 0 or at < since then
        oldest, since = ids[i], at
      end
      return
    end
  end
end
consider(KEYS[2])
for _, name in ipairs(redis.call("SMEMBERS", KEYS[3])) do consider(ARGV[1] .. name) end
return { now, redis.call("HGETALL", KEYS[1]), oldest, since }
