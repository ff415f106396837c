-- counts: the Inspector's counts and each task name's oldest waiting task (read only).
-- Input:
--   KEYS[1] counts:     counts hash     <prefix>:{q}:counts  -- field "<state>:<task name>" (includes.lua, newBook)
--   KEYS[2] ready:      ready list      <prefix>:{q}:ready
--   KEYS[3] parked:     parked names    <prefix>:{q}:parked
--   KEYS[4] taskPrefix: task key prefix <prefix>:{q}:task:   -- task keys are KEYS[4] .. id: same hash tag, same slot
--   KEYS[5] scheduled:  scheduled zset  <prefix>:{q}:scheduled
--   ARGV[1] parkedPrefix: parked list prefix <prefix>:{q}:parked:  -- name N's parked list is ARGV[1] .. N (same
--       slot)
--   ARGV[2] waitingScan (number): how many entries are read from the old end of the ready list, and how many due
--       scheduled tasks (by run time), to find each name's oldest waiting task
--   ARGV[3] parkedScan (number): how many entries are read from the old end of each parked list (stale ids skipped)
-- Output: { now, { field, count, ... }, { name, id, since, ... }, ready length, ready entries read, last since }
--   -- one triple per task name found waiting: its oldest waiting task's id and since when it has been due (ms: its
--   run time); last since: the run time of the last queued task read in the ready list (-1: none)
-- A waiting task is queued (in the ready list, or parked for a worker that runs its name) or scheduled and due (the
-- next claim moves it to the ready list). A name's oldest: of its first queued task from the old end of the ready
-- list (the next in line), of its parked list and of its first due scheduled task, the one due longest. One HMGET
-- per entry read.
local now = nowMillis()
local found, order = {}, {}
local function consider(id, f)
  local name, at = f[4], tonumber(f[3] or f[2])
  local seen = found[name]
  if not seen then
    found[name] = { id, at }
    table.insert(order, name)
  elseif at < seen[2] then
    found[name] = { id, at }
  end
end
local budget = tonumber(ARGV[2])
-- the ready list, from its old end: a name's first entry is its next in line
local ids = redis.call("LRANGE", KEYS[2], -budget, -1)
local lastSince = -1
local firstOf = {}
for i = #ids, 1, -1 do
  local f = redis.call("HMGET", KEYS[4] .. ids[i], "s", "e", "r", "n")
  if f[1] == "q" then
    lastSince = tonumber(f[3] or f[2])
    if not firstOf[f[4]] then
      firstOf[f[4]] = true
      consider(ids[i], f)
    end
  end
end
local readyLength = redis.call("LLEN", KEYS[2])
-- each parked list holds one name: its first queued entry from the old end
for _, name in ipairs(redis.call("SMEMBERS", KEYS[3])) do
  local parked = redis.call("LRANGE", ARGV[1] .. name, -tonumber(ARGV[3]), -1)
  for i = #parked, 1, -1 do
    local f = redis.call("HMGET", KEYS[4] .. parked[i], "s", "e", "r", "n")
    if f[1] == "q" then
      consider(parked[i], f)
      break
    end
  end
end
-- due scheduled tasks, by run time: a name's first is its oldest
local due = redis.call("ZRANGEBYSCORE", KEYS[5], "-inf", now, "LIMIT", 0, budget)
local dueOf = {}
for _, id in ipairs(due) do
  local f = redis.call("HMGET", KEYS[4] .. id, "s", "e", "r", "n")
  if f[1] == "s" and not dueOf[f[4]] then
    dueOf[f[4]] = true
    consider(id, f)
  end
end
local oldest = {}
for _, name in ipairs(order) do
  table.insert(oldest, name)
  table.insert(oldest, found[name][1])
  table.insert(oldest, found[name][2])
end
return { now, redis.call("HGETALL", KEYS[1]), oldest, readyLength, #ids, lastSince }
