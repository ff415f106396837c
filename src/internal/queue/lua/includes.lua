-- Shared helpers, prepended to every script by scripts/gen-lua.mjs.
-- @include lock

-- Milliseconds from the Redis server's clock: every process agrees on it.
local function nowMillis()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Leaves one wake-up token for a blocked idle worker (see keys.ts); capped, with a TTL.
local function wake(wakeKey, cap, ttl)
  redis.call("RPUSH", wakeKey, "1")
  redis.call("LTRIM", wakeKey, -tonumber(cap), -1)
  redis.call("PEXPIRE", wakeKey, ttl)
end

-- Whether the task at `key` is running under `token` (the claim's lease token).
local function owns(key, token)
  return redis.call("HGET", key, "token") == token and redis.call("HGET", key, "state") == "running"
end

-- Creates a task record, queued now or scheduled after `delay` ms (the only place a record is created).
local function createTask(key, readyKey, scheduledKey, wakeKey, id, name, payload, delay, trace, cap, ttl)
  local now = nowMillis()
  local state = "queued"
  if delay > 0 then
    state = "scheduled"
    redis.call("ZADD", scheduledKey, now + delay, id)
  else
    redis.call("LPUSH", readyKey, id)
  end
  -- no "id" field (the id is in the key), no empty trace: a small record stays a listpack
  redis.call("HSET", key, "name", name, "payload", payload, "state", state, "attempts", 0,
    "enqueuedAt", now, "runAt", now + delay)
  if trace ~= "" then redis.call("HSET", key, "trace", trace) end
  wake(wakeKey, cap, ttl)
  return state
end

-- Ends a task: terminal state, no lease, the record expires after the retention, joiners are told.
-- A unique task's lock is freed with it, unless it keeps the lock until expiry (an interval task).
-- The lock key comes from the record: it was passed in KEYS at enqueue and shares the queue's hash tag.
local function finish(key, runningKey, id, state, field, value, retention, channel, now)
  redis.call("ZREM", runningKey, id)
  redis.call("HSET", key, "state", state, field, value, "finishedAt", now)
  redis.call("HDEL", key, "token", "leaseUntil")
  redis.call("PEXPIRE", key, retention)
  redis.call("PUBLISH", channel, id)
  local lock = redis.call("HMGET", key, "lockKey", "lockKeep", "lockChannel")
  if lock[1] and lock[2] ~= "1" then lockFree(lock[1], id, lock[3], false) end
end

-- Claims up to `want` of the oldest ready tasks, after promoting due scheduled tasks and requeueing (or, past
-- `most` redeliveries, dead-lettering) lapsed leases; see claim-4.lua for the reply. Shared by claim and
-- completeClaim. The range scans run only when the first entry's score is due (one O(1) read otherwise).
local function claimTasks(readyKey, scheduledKey, runningKey, taskPrefix, baseToken, lease, limit, retention, channel,
    most, want, now)
  local firstScheduled = redis.call("ZRANGE", scheduledKey, 0, 0, "WITHSCORES")
  if firstScheduled[2] and tonumber(firstScheduled[2]) <= now then
    local due = redis.call("ZRANGEBYSCORE", scheduledKey, "-inf", now, "LIMIT", 0, limit)
    for _, id in ipairs(due) do
      redis.call("ZREM", scheduledKey, id)
      local key = taskPrefix .. id
      if redis.call("HGET", key, "state") == "scheduled" then
        redis.call("HSET", key, "state", "queued")
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
      if redis.call("HGET", key, "state") == "running" then
        local redeliveries = redis.call("HINCRBY", key, "redeliveries", 1)
        if most >= 0 and redeliveries > most then
          -- its worker keeps dying on it (a poison task): dead, with the reason; a unique task's lock is freed
          finish(key, runningKey, id, "dead", "reason", "its lease lapsed " .. redeliveries .. " times: the worker " ..
            "running it keeps dying", retention, channel, now)
        else
          redis.call("HSET", key, "state", "queued")
          redis.call("HDEL", key, "token", "leaseUntil")
          redis.call("RPUSH", readyKey, id) -- front of the line: it waited already
        end
      end
    end
  end

  local out = { "task", now, 0 }
  local n = 0
  while n < want do
    local id = redis.call("RPOP", readyKey)
    if not id then break end
    local key = taskPrefix .. id
    if redis.call("HGET", key, "state") == "queued" then
      local runnable = true
      local lock = redis.call("HMGET", key, "lockKey", "lockTtl")
      if lock[1] then
        local holder = redis.call("HGET", lock[1], "owner")
        if not holder then
          lockTake(lock[1], id, tonumber(lock[2]))
        elseif holder ~= id then
          runnable = false
          finish(key, runningKey, id, "skipped", "reason", "its unique key is held by task " .. holder, retention, channel,
            now)
        end
      end
      if runnable then
        n = n + 1
        local token = baseToken
        if n > 1 then token = token .. ":" .. n end
        local attempts = redis.call("HINCRBY", key, "attempts", 1)
        redis.call("HSET", key, "state", "running", "token", token, "leaseUntil", now + lease, "startedAt", now)
        redis.call("ZADD", runningKey, now + lease, id)
        local f = redis.call("HMGET", key, "name", "payload", "trace", "enqueuedAt", "booked")
        if f[5] then redis.call("HDEL", key, "booked") end
        table.insert(out, id)
        table.insert(out, f[1])
        table.insert(out, f[2])
        table.insert(out, attempts)
        table.insert(out, f[3] or "")
        table.insert(out, f[4])
        table.insert(out, f[5] or "0")
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
