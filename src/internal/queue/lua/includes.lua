-- Shared helpers, prepended to every script by scripts/gen-lua.mjs.
-- @include lock

-- A task record's fields and state codes: see keys.ts. Waiting tasks carry only n, p, s, e (+ r, tr, lp, l, lt, lk):
-- short names, no derived values, so that a record stays a small listpack.

-- A unique task's lock key, from its record's lock prefix and unique key, and the queue's hash tag: `locks.infix` is
-- "{<queue>}:" (the same for every task of the queue, so the record does not store it). nil for a task without a lock.
-- `locks.channel`: where lock releases are announced (the backend's, not stored either).
local function lockKeyOf(prefix, uniqueKey, locks)
  if uniqueKey then return prefix .. locks.infix .. uniqueKey end
  return nil
end

-- Milliseconds from the Redis server's clock: every process agrees on it.
local function nowMillis()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Leaves one wake-up token for a blocked idle worker (see keys.ts), with a TTL. At most `cap` tokens: past that, the
-- list is trimmed to its newest cap / 2 (more tokens only cause spurious wake-ups). The TTL is set when the list is
-- created and again when it is trimmed: one command per wake-up, not three.
local function wake(wakeKey, cap, ttl)
  local length = redis.call("RPUSH", wakeKey, "1")
  if length == 1 then
    redis.call("PEXPIRE", wakeKey, ttl)
  elseif length > tonumber(cap) then
    redis.call("LTRIM", wakeKey, -math.floor(tonumber(cap) / 2), -1)
    redis.call("PEXPIRE", wakeKey, ttl)
  end
end

-- A running task's state is "r:" .. its lease token: any other state drops the token with it (no HDEL).
local function isRunning(state)
  return state and string.sub(state, 1, 2) == "r:"
end

-- If the task at `key` is running under `token` (the claim's lease token): the record's
-- { state, lock prefix, unique key, lock keep, attempts }; otherwise nil.
local function owned(key, token)
  local f = redis.call("HMGET", key, "s", "lp", "l", "lk", "a")
  if f[1] == "r:" .. token then return f end
  return nil
end

-- Hand-off (see keys.ts): a worker whose claim finds nothing registers in the `idle` sorted set (member
-- "<worker id>|<lease token>|<lease ms>|<lapses at, ms>", score: when it registered, ms) and blocks on its own inbox
-- list as well as on the wake list. A task enqueued to run now is then claimed in the enqueue itself for the worker
-- registered longest (turns go round), and pushed to that worker's inbox: it starts without a claim's round trip.
-- Lapsed registrations met on the way are dropped. The task's first lease is short (`handoff.lease`, at most the
-- worker's), so that a task handed to a worker that died while registered is redelivered soon; the worker renews it
-- as the task starts. Returns whether it was handed off; `fields` are the new record's, completed here for a running
-- task.
local function handOff(handoff, runningKey, id, name, payload, trace, fields, now)
  local worker, token, lease
  repeat
    local top = redis.call("ZPOPMIN", handoff.idle)
    if not top[1] then return false end
    local lapses
    worker, token, lease, lapses = string.match(top[1], "^([^|]+)|([^|]+)|(%d+)|(%d+)$")
    -- a lapsed registration (its worker is gone, or late) is dropped; each is met once
  until worker and tonumber(lapses) >= now
  local first = math.min(tonumber(lease), handoff.lease)
  fields[6] = "r:" .. token
  for _, v in ipairs({ "a", 1, "startedAt", now }) do fields[#fields + 1] = v end
  redis.call("ZADD", runningKey, now + first, id)
  local inbox = handoff.inboxPrefix .. worker
  redis.call("RPUSH", inbox, cjson.encode({ id, name, payload, trace, now, token }))
  redis.call("PEXPIRE", inbox, first + 60000)
  return true
end

-- Gives a running task back for immediate redelivery (release, and a stopping worker's unstarted hand-offs): queued
-- at the front of the line, its attempt given back (`f`: the record's fields from `owned`), one worker woken.
local function giveBack(key, runningKey, readyKey, wakeKey, id, f, cap, ttl)
  redis.call("ZREM", runningKey, id)
  redis.call("HSET", key, "s", "q", "a", tonumber(f[5]) - 1)
  redis.call("RPUSH", readyKey, id) -- front of the line
  wake(wakeKey, cap, ttl)
end

-- Creates a task record, queued now or scheduled after `delay` ms (the only place a record is created), with the
-- `extra` fields (a unique task's lock). A task to run now is handed to an idle worker when `handoff` names the
-- queue's idle set and one is registered (see handOff). Returns the state code.
local function createTask(key, readyKey, scheduledKey, wakeKey, id, name, payload, delay, trace, cap, ttl, extra,
    handoff, runningKey)
  local now = nowMillis()
  -- no id (it is in the key), no attempts (0 until a claim), no runAt unless delayed, no empty trace
  local fields = { "n", name, "p", payload, "s", "q", "e", now }
  local handed = false
  if delay > 0 then
    fields[6] = "s"
    fields[9] = "r"
    fields[10] = now + delay
    redis.call("ZADD", scheduledKey, now + delay, id)
  else
    handed = handoff ~= nil and handOff(handoff, runningKey, id, name, payload, trace, fields, now)
    if not handed then redis.call("LPUSH", readyKey, id) end
  end
  if trace ~= "" then
    fields[#fields + 1] = "tr"
    fields[#fields + 1] = trace
  end
  for _, v in ipairs(extra) do fields[#fields + 1] = v end
  redis.call("HSET", key, unpack(fields))
  if not handed then wake(wakeKey, cap, ttl) end
  return fields[6]
end

-- Ends a task: terminal state (which drops the lease token), the record expires after the retention, joiners are told.
-- A unique task's lock (`lockKey`, see lockKeyOf: it was in KEYS at enqueue and shares the queue's hash tag) is
-- freed with it and announced on `lockChannel`, unless it keeps the lock until expiry (`lockKeep` "1": an interval
-- task).
local function finish(key, runningKey, id, state, field, value, retention, channel, now, lockKey, lockKeep,
    lockChannel)
  redis.call("ZREM", runningKey, id)
  redis.call("HSET", key, "s", state, field, value, "finishedAt", now)
  redis.call("PEXPIRE", key, retention)
  redis.call("PUBLISH", channel, id)
  if lockKey and lockKeep ~= "1" then lockFree(lockKey, id, lockChannel, false) end
end

-- Claims up to `want` of the oldest ready tasks, after promoting due scheduled tasks and requeueing (or, past
-- `most` redeliveries, dead-lettering) lapsed leases; see claim-6.lua for the reply. Shared by claim and
-- completeClaim. The range scans run only when the first entry's score is due (one O(1) read otherwise).
local function claimTasks(readyKey, scheduledKey, runningKey, taskPrefix, baseToken, lease, limit, retention, channel,
    most, want, now, locks, handed)
  local firstScheduled = redis.call("ZRANGE", scheduledKey, 0, 0, "WITHSCORES")
  if firstScheduled[2] and tonumber(firstScheduled[2]) <= now then
    local due = redis.call("ZRANGEBYSCORE", scheduledKey, "-inf", now, "LIMIT", 0, limit)
    for _, id in ipairs(due) do
      redis.call("ZREM", scheduledKey, id)
      local key = taskPrefix .. id
      if redis.call("HGET", key, "s") == "s" then
        redis.call("HSET", key, "s", "q")
        redis.call("LPUSH", readyKey, id)
      end
    end
  end

  -- A lapsed lease: the worker died or lost Redis. The attempt it spent stays spent.
  local firstRunning = redis.call("ZRANGE", runningKey, 0, 0, "WITHSCORES")
  if firstRunning[2] and tonumber(firstRunning[2]) <= now then
    local lapsed = redis.call("ZRANGEBYSCORE", runningKey, "-inf", now, "LIMIT", 0, limit)
    for _, id in ipairs(lapsed) do
      redis.call("ZREM", runningKey, id)
      local key = taskPrefix .. id
      local f = redis.call("HMGET", key, "s", "lp", "l", "lk")
      if isRunning(f[1]) then
        local redeliveries = redis.call("HINCRBY", key, "redeliveries", 1)
        if most >= 0 and redeliveries > most then
          -- its worker keeps dying on it (a poison task): dead, with the reason; a unique task's lock is freed
          finish(key, runningKey, id, "dead", "reason", "its lease lapsed " .. redeliveries .. " times: the worker " ..
            "running it keeps dying", retention, channel, now, lockKeyOf(f[2], f[3], locks), f[4], locks.channel)
        else
          redis.call("HSET", key, "s", "q")
          redis.call("RPUSH", readyKey, id) -- front of the line: it waited already
        end
      end
    end
  end

  -- tasks an enqueue handed to this worker (claim-6.lua): claimed already, they come first and take this claim's
  -- first tokens and its lease
  local out = { "task", now, 0 }
  local n = 0
  for _, t in ipairs(handed or {}) do
    if n >= want then break end
    -- still running under the hand-off's token (its short lease may have lapsed, and the task been requeued above)
    if redis.call("HGET", taskPrefix .. t[1], "s") == "r:" .. t[6] then
      n = n + 1
      local token = baseToken
      if n > 1 then token = token .. ":" .. n end
      redis.call("HSET", taskPrefix .. t[1], "s", "r:" .. token)
      redis.call("ZADD", runningKey, now + lease, t[1])
      for _, v in ipairs({ t[1], t[2], t[3], 1, t[4], t[5], "0" }) do table.insert(out, v) end
    end
  end
  while n < want do
    local id = redis.call("RPOP", readyKey)
    if not id then break end
    local key = taskPrefix .. id
    -- everything a claim reads, in one call
    local f = redis.call("HMGET", key, "s", "n", "p", "tr", "e", "a", "lp", "l", "lt", "booked")
    if f[1] == "q" then
      local runnable = true
      local lockKey = lockKeyOf(f[7], f[8], locks)
      if lockKey then
        local holder = lockRead(lockKey)
        if not holder then
          lockTake(lockKey, id, tonumber(f[9]))
        elseif holder ~= id then
          runnable = false
          -- not its lock: nothing to free
          finish(key, runningKey, id, "skipped", "reason", "its unique key is held by task " .. holder, retention, channel,
            now, nil, nil, locks.channel)
        end
      end
      if runnable then
        n = n + 1
        local token = baseToken
        if n > 1 then token = token .. ":" .. n end
        local attempts = tonumber(f[6] or "0") + 1
        redis.call("HSET", key, "s", "r:" .. token, "a", attempts, "startedAt", now)
        if f[10] then redis.call("HDEL", key, "booked") end
        redis.call("ZADD", runningKey, now + lease, id)
        table.insert(out, id)
        table.insert(out, f[2])
        table.insert(out, f[3])
        table.insert(out, attempts)
        table.insert(out, f[4] or "")
        table.insert(out, f[5])
        table.insert(out, f[10] or "0")
      end
    end
    -- an id without a queued record (expired or stale): dropped
  end
  if n > 0 then
    out[3] = n
    return out
  end

  local nextAt = -1
  local s = redis.call("ZRANGE", scheduledKey, 0, 0, "WITHSCORES")
  if s[2] then nextAt = tonumber(s[2]) end
  local r = redis.call("ZRANGE", runningKey, 0, 0, "WITHSCORES")
  if r[2] and (nextAt == -1 or tonumber(r[2]) < nextAt) then nextAt = tonumber(r[2]) end
  if nextAt == -1 then return { "idle", -1 } end
  return { "idle", math.max(0, nextAt - now) }
end
