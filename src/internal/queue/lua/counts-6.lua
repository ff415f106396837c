-- counts: the Inspector's counts and each task name's oldest waiting task (read only).
-- Input:
--   KEYS[1] counts:     counts hash     <prefix>:{q}:counts  -- field "<state>:<task name>" (includes.lua, newBook)
--   KEYS[2] ready:      ready list      <prefix>:{q}:ready
--   KEYS[3] parked:     parked line     <prefix>:{q}:parkline  -- tasks parked for a worker that runs their name
--   KEYS[4] tasks: records hash <prefix>:{q}:tasks  -- task id -> its record (see includes.lua, recLoad)
--   KEYS[5] scheduled:  scheduled zset  <prefix>:{q}:scheduled
--   KEYS[6] ccwait:     held back       <prefix>:{q}:ccwait  -- tasks held back by their concurrency group (see
--       includes.lua, ccAdmitOrHold)
--   ARGV[1] waitingScan (number): how many entries are read from the old end of the ready list, and how many due
--       scheduled tasks (by run time), and how many tasks held back by their concurrency group (by group, each
--       group's oldest first), to find each name's oldest waiting task
--   ARGV[2] parkedScan (number): how many of each name's oldest parked tasks are read (stale ids skipped)
-- Output: { now, { field, count, ... }, { name, id, since, ... }, ready length, ready entries read, last since }
--   -- one triple per task name found waiting: its oldest waiting task's id and since when it has been due (ms: its
--   run time); last since: the run time of the last queued task read in the ready list (-1: none)
-- A waiting task is queued (in the ready list, parked for a worker that runs its name, or held back by its
-- concurrency group) or scheduled and due (the next claim moves it to the ready list). A name's oldest: of its first
-- queued task from the old end of the ready list (the next in line), of its parked tasks, of its held-back tasks read
-- and of its first due scheduled task, the one due longest. One HMGET per entry read; the ready list is read only
-- until every name with queued tasks (per the counts) is found.
local now = nowMillis()
local Q = recordsOf(KEYS[4])
Q.now = now
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
local budget = tonumber(ARGV[1])
-- how many tasks of each name are queued, from the counts (see includes.lua, newBook): the ready list's scan stops
-- once every name with queued tasks is found, so it reads only as far as the first task of the name furthest in
local counts = redis.call("HGETALL", KEYS[1])
local queued = {}
for i = 1, #counts, 2 do
  local n = tonumber(counts[i + 1])
  local from, to, name = string.match(counts[i], "^(%a+)>(%a+):(.*)$")
  if from then
    if to == "queued" then queued[name] = (queued[name] or 0) + n end
    if from == "queued" then queued[name] = (queued[name] or 0) - n end
  else
    local state, created = string.match(counts[i], "^(%a+):(.*)$")
    if state == "queued" then queued[created] = (queued[created] or 0) + n end
  end
end
-- each name's parked tasks: its first queued one, oldest first
local parkedFirst = {}
local outside = {}
for _, name in ipairs(parkedNames(KEYS[3])) do
  local lo, hi = parkRange(name)
  outside[name] = redis.call("ZLEXCOUNT", KEYS[3], lo, hi)
  for _, member in ipairs(parkedOldest(KEYS[3], name, tonumber(ARGV[2]))) do
    local id = parkedId(member)
    local f = recGet(Q, id, "s", "e", "r", "n")
    if f[1] == "q" then
      parkedFirst[#parkedFirst + 1] = { id, f }
      break
    end
  end
end
-- the tasks held back by their concurrency group, the line's first `budget` members ("<group>\0<seq>\0<id>", a
-- group has no "\0"): each is considered (consider keeps a name's oldest)
local heldRead = {}
for _, member in ipairs(redis.call("ZRANGE", KEYS[6], 0, budget - 1)) do
  local id = string.sub(member, string.find(member, "\0", 1, true) + 17)
  local f = recGet(Q, id, "s", "e", "r", "n")
  if f[1] == "h" then
    heldRead[#heldRead + 1] = { id, f }
    outside[f[4]] = (outside[f[4]] or 0) + 1
  end
end
-- every queued task of the name is parked or held back (of those read): the ready list holds none of it
local allParked = {}
for name, n in pairs(outside) do allParked[name] = (queued[name] or 0) <= n end
local wanted = 0
for _, n in pairs(queued) do
  if n > 0 then wanted = wanted + 1 end
end
-- a name is found when its first task in the ready list is, or when all its queued tasks are parked or held back
local firstOf = {}
for name, all in pairs(allParked) do
  if all then
    if (queued[name] or 0) > 0 then wanted = wanted - 1 end
    firstOf[name] = true
  end
end
-- the ready list, from its old end, 100 entries per LRANGE: a name's first entry is its next in line
local lastSince = -1
local read = 0
local readyFirst = {}
while read < budget and wanted > 0 do
  local size = math.min(100, budget - read)
  local ids = redis.call("LRANGE", KEYS[2], -(read + size), -(read + 1))
  for i = #ids, 1, -1 do
    if wanted == 0 then break end
    read = read + 1
    local f = recGet(Q, ids[i], "s", "e", "r", "n")
    if f[1] == "q" then
      lastSince = tonumber(f[3] or f[2])
      if not readyFirst[f[4]] then
        readyFirst[f[4]] = true
        consider(ids[i], f)
        if not firstOf[f[4]] then
          firstOf[f[4]] = true
          if (queued[f[4]] or 0) > 0 then wanted = wanted - 1 end
        end
      end
    end
  end
  if #ids < size then break end
end
for _, p in ipairs(parkedFirst) do consider(p[1], p[2]) end
for _, h in ipairs(heldRead) do consider(h[1], h[2]) end
local readyLength = redis.call("LLEN", KEYS[2])
-- due scheduled tasks, by run time: a name's first is its oldest
local due = redis.call("ZRANGEBYSCORE", KEYS[5], "-inf", now, "LIMIT", 0, budget)
local dueOf = {}
for _, id in ipairs(due) do
  local f = recGet(Q, id, "s", "e", "r", "n")
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
return { now, counts, oldest, readyLength, read, lastSince }
