-- enqueueUnique: takes a unique task's lock and creates its record in one step, or names the holder.
-- Never a lock without its task, never a task that bypassed its lock.
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] idle: idle zset <prefix>:{q}:idle  -- idle workers' registrations (hand-off, see includes.lua)
--   KEYS[12] edge: burst window <prefix>:{q}:edge:<lock name>  -- a leading-edge debounce's window (see
--       includes.lua, debounceEdge)
--   KEYS[13..28] inboxes: the hand-off inboxes <prefix>:{q}:inbox:<slot>, slots 0 to 15 (see includes.lua, pickIdle)
--   ARGV[1] id: the task's id
--   ARGV[2] name: task name
--   ARGV[3] payload: payload (JSON)
--   ARGV[4] delayMillis (number): delay in ms (0: ready now)
--   ARGV[5] trace: trace context (JSON, or "")
--   ARGV[6] wakeCap (number): wake list cap
--   ARGV[7] wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[8] lockTtlMillis (number): lock ttl in ms (the unique timeout)
--   ARGV[9] keepLock: how long the task holds the lock (its record's "lk", see keys.ts): "1": after it ends too,
--       until it expires (an interval task); "s": until a worker starts it (see admit in includes.lua; such a task is
--       not handed to an idle worker here: it is queued, so that a claim frees the lock as it starts it); "0": until
--       it ends
--   ARGV[10] lockPrefix: the lock prefix (the lock key is this prefix, then "{<queue>}:", then the unique key)
--   ARGV[11] uniqueKey: the unique key
--   ARGV[12] handOffLeaseMillis (number): the first lease of a task handed to an idle worker (ms, at most the
--       worker's own)
--   ARGV[13] onDuplicate: "replace": a duplicate replaces the waiting task's payload (reply 3, see below);
--       "oneBehind": at most one task waits behind the running one (see below); "debounce": each duplicate
--       pushes the start later (reply 4, see below); "": it is reported (reply 2)
--   ARGV[14] waitMillis (number): "debounce" only: each duplicate moves the start to now + this (ms)
--   ARGV[15] maxWaitMillis (number): "debounce" only: the start is never pushed past the waiting task's enqueue
--       time + this (ms); -1: no bound
--   ARGV[16] edge: "debounce" only: "leading" or "both": the key's burst window decides (see debounceEdge in
--       includes.lua, which replies as below); "": the trailing edge
--   ARGV[17] lockName: the unique lock's name in `locks`: lockPrefix, then "{<queue>}:", then uniqueKey
-- Output:
--   { 1, state }           created; the lock is held by the task id (state: a code, see keys.ts)
--   { 0, state }           a task with this id exists; nothing changed
--   { 2, holder, pttl }    the lock is held by task `holder` for pttl more ms; nothing changed
--   { 3, id, state }       onDuplicate "replace": task `id` now has this payload (state: its state code). The
--       holder, when it waits (queued or scheduled; with delayMillis > 0 it is scheduled again after that delay,
--       otherwise it keeps its place); the task queued behind a running holder (its "nx"), when there is one (its
--       delay is not changed: it runs when the holder ends); otherwise a new task with ARGV[1] as its id, scheduled
--       at the lock's expiry and named in the holder's "nx" (see promoteNext in includes.lua: it runs when the
--       holder ends). The records of the holder and of the task behind it are built from KEYS[1] (same hash tag).
--   { 4, id, state, startsAt } onDuplicate "debounce": task `id` now has this payload and starts at startsAt
--       (ms, Redis clock): now + wait, at most its enqueue time + maxWait (the holder, moved to scheduled, or left
--       queued when its maxWait is over). The task behind a running holder, or a new one (as with "replace"),
--       starts when the holder ends, not before startsAt (its field "nr", see promoteNext).
--   onDuplicate "oneBehind": { 2, id, pttl } naming the holder when it waits, or the task waiting behind the
--       running holder when there is one (nothing changed); otherwise { 1, state } as created: the new task waits
--       behind the running holder, as with "replace" (with its own payload).
local Q = queueOf(unpack(KEYS, 1, 10))
local existing = recGet(Q, ARGV[1], "s")[1]
if existing then return { 0, existing } end
local inboxes = { unpack(KEYS, 13, 28) }
if ARGV[13] == "debounce" and ARGV[16] ~= "" then
  return debounceEdge(Q, ARGV[17], ARGV, KEYS[12], handoffOf(KEYS[11], inboxes, ARGV[12], Q.wake, ARGV[6], ARGV[7]))
end
local taken = ulockTake(Q, ARGV[17], ARGV[1], tonumber(ARGV[8]))
if taken[1] == 0 and ARGV[13] ~= "" then
  local holder = taken[2]
  local h = recGet(Q, holder, "s", "nx", "n")
  local target, state = holder, h[1]
  if h[2] and recGet(Q, h[2], "s")[1] == "s" then target, state = h[2], "s" end
  local waiting = state == "q" or state == "s"
  -- the waiting holder moves to start at `at` (scheduled then; a queued one leaves the ready list)
  local function scheduleAt(at)
    if state == "q" then
      redis.call("LREM", Q.ready, 1, target)
      countNow(Q.counts, h[3], "queued", "scheduled", 1)
    end
    redis.call("ZADD", Q.scheduled, at, target)
    recSet(Q, target, "s", "s", "r", at)
    state = "s"
  end
  if ARGV[13] == "oneBehind" and waiting then return { 2, target, taken[3] } end
  if ARGV[13] == "debounce" and waiting then
    local now = nowMillis()
    local at = now + tonumber(ARGV[14])
    local maxWait = tonumber(ARGV[15])
    if maxWait >= 0 then at = math.min(at, tonumber(recGet(Q, target, "e")[1]) + maxWait) end
    at = math.max(at, now)
    recSet(Q, target, "p", ARGV[3])
    if target ~= holder then
      recSet(Q, target, "nr", at)
      return { 4, target, state, at }
    end
    if at > now then scheduleAt(at) end
    return { 4, target, state, at }
  end
  if target == holder and waiting then
    recSet(Q, target, "p", ARGV[3])
    local delay = tonumber(ARGV[4])
    if delay > 0 then scheduleAt(nowMillis() + delay) end
    return { 3, target, state }
  end
  if target ~= holder then
    recSet(Q, target, "p", ARGV[3])
    return { 3, target, state }
  end
  -- the holder runs (or ended keeping its lock, or its record expired): a new task behind it, at the lock's expiry
  local now = nowMillis()
  local lock = { "lp", ARGV[10], "l", ARGV[11], "lt", ARGV[8] }
  if ARGV[9] ~= "0" then
    lock[7] = "lk"
    lock[8] = ARGV[9]
  end
  -- its own earliest start: the duplicate's delay (the debounce wait)
  local own = now + tonumber(ARGV[4])
  if ARGV[13] == "debounce" then own = now + tonumber(ARGV[14]) end
  createBehind(Q, ARGV[1], ARGV[2], ARGV[3], now, now + math.max(0, tonumber(taken[3])), lock, own, ARGV[5])
  if h[1] then recSet(Q, holder, "nx", ARGV[1]) end
  if ARGV[13] == "oneBehind" then return { 1, "s" } end
  if ARGV[13] == "debounce" then return { 4, ARGV[1], "s", own } end
  return { 3, ARGV[1], "s" }
end
if taken[1] == 0 then
  return { 2, taken[2], taken[3] }
end
local lock = { "lp", ARGV[10], "l", ARGV[11], "lt", ARGV[8] }
local handoff = handoffOf(KEYS[11], inboxes, ARGV[12], Q.wake, ARGV[6], ARGV[7])
if ARGV[9] ~= "0" then
  lock[7] = "lk"
  lock[8] = ARGV[9]
  -- freed at start: a claim starts it (and frees the lock), not a hand-off
  if ARGV[9] == "s" then handoff = nil end
end
local state = createTask(Q, ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7], lock, handoff)
return { 1, state }
