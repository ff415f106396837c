--!df flags=allow-undeclared-keys
-- enqueueUnique: takes a unique task's lock and creates its record in one step, or names the holder.
-- Never a lock without its task, never a task that bypassed its lock.
-- Input:
--   KEYS[1] task:      task key        <prefix>:{q}:task:<id>
--   KEYS[2] ready:     ready list      <prefix>:{q}:ready
--   KEYS[3] scheduled: scheduled zset  <prefix>:{q}:scheduled
--   KEYS[4] wake:      wake list       <prefix>:{q}:wake
--   KEYS[5] lock:      the unique lock <lockPrefix>{q}:<unique key>  -- same hash tag as the queue
--   KEYS[6] idle:      idle zset       <prefix>:{q}:idle  -- idle workers' registrations (hand-off, see includes.lua)
--   KEYS[7] running:   running zset    <prefix>:{q}:running
--   KEYS[8] counts:    counts hash     <prefix>:{q}:counts  -- the Inspector's counts (see includes.lua, newBook)
--   KEYS[9] edge:      burst window    <prefix>:{q}:edge:<lock key>  -- a leading-edge debounce's window (see
--       debounceEdge in includes.lua; any key of the queue otherwise)
--   KEYS[10..25] inboxes: the hand-off inboxes <prefix>:{q}:inbox:<slot>, slots 0 to 15 (see includes.lua, pickIdle)
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
if redis.call("EXISTS", KEYS[1]) == 1 then
  return { 0, redis.call("HGET", KEYS[1], "s") }
end
if ARGV[13] == "debounce" and ARGV[16] ~= "" then return debounceEdge(KEYS, ARGV, KEYS[9],
    handoffOf(KEYS[6], { unpack(KEYS, 10, 25) }, ARGV[12], KEYS[4], ARGV[6], ARGV[7]))
end
local taken = lockTake(KEYS[5], ARGV[1], tonumber(ARGV[8]))
if taken[1] == 0 and ARGV[13] ~= "" then
  local holder = taken[2]
  local base = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1] - 5)
  local holderKey = base .. "task:" .. holder
  local h = redis.call("HMGET", holderKey, "s", "nx", "n")
  local target, targetKey, state = holder, holderKey, h[1]
  if h[2] then
    local behindKey = base .. "task:" .. h[2]
    if redis.call("HGET", behindKey, "s") == "s" then
      target, targetKey, state = h[2], behindKey, "s"
    end
  end
  local waiting = state == "q" or state == "s"
  if ARGV[13] == "oneBehind" and waiting then return { 2, target, taken[3] } end
  if ARGV[13] == "debounce" and waiting then
    local now = nowMillis()
    local at = now + tonumber(ARGV[14])
    local maxWait = tonumber(ARGV[15])
    if maxWait >= 0 then at = math.min(at, tonumber(redis.call("HGET", targetKey, "e")) + maxWait) end
    at = math.max(at, now)
    redis.call("HSET", targetKey, "p", ARGV[3])
    if target ~= holder then
      redis.call("HSET", targetKey, "nr", at)
      return { 4, target, state, at }
    end
    if at > now then
      if state == "q" then
        redis.call("LREM", KEYS[2], 1, target)
        countNow(KEYS[8], h[3], "queued", "scheduled", 1)
      end
      redis.call("ZADD", KEYS[3], at, target)
      redis.call("HSET", targetKey, "s", "s", "r", at)
      state = "s"
    end
    return { 4, target, state, at }
  end
  if target == holder and waiting then
    redis.call("HSET", targetKey, "p", ARGV[3])
    local delay = tonumber(ARGV[4])
    if delay > 0 then
      local at = nowMillis() + delay
      if state == "q" then
        redis.call("LREM", KEYS[2], 1, target)
        countNow(KEYS[8], h[3], "queued", "scheduled", 1)
      end
      redis.call("ZADD", KEYS[3], at, target)
      redis.call("HSET", targetKey, "s", "s", "r", at)
      state = "s"
    end
    return { 3, target, state }
  end
  if target ~= holder then
    redis.call("HSET", targetKey, "p", ARGV[3])
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
  createBehind(KEYS[1], KEYS[3], KEYS[8], ARGV[1], ARGV[2], ARGV[3], now, now + math.max(0, tonumber(taken[3])), lock,
    own, ARGV[5])
  if h[1] then redis.call("HSET", holderKey, "nx", ARGV[1]) end
  if ARGV[13] == "oneBehind" then return { 1, "s" } end
  if ARGV[13] == "debounce" then return { 4, ARGV[1], "s", own } end
  return { 3, ARGV[1], "s" }
end
if taken[1] == 0 then
  return { 2, taken[2], taken[3] }
end
-- the lock's key (its prefix and unique key: the hash tag part is the queue's) and ttl (a claim takes the lock again
-- if it expired meanwhile); "lk" only for a kept lock or one freed at start
local lock = { "lp", ARGV[10], "l", ARGV[11], "lt", ARGV[8] }
local handoff = handoffOf(KEYS[6], { unpack(KEYS, 10, 25) }, ARGV[12], KEYS[4], ARGV[6], ARGV[7])
if ARGV[9] ~= "0" then
  lock[7] = "lk"
  lock[8] = ARGV[9]
  -- freed at start: a claim starts it (and frees the lock), not a hand-off
  if ARGV[9] == "s" then handoff = nil end
end
local state = createTask(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5],
  ARGV[6], ARGV[7], lock, handoff, KEYS[7], KEYS[8])
return { 1, state }
