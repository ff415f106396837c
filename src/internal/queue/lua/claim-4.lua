-- claim: moves due scheduled tasks to ready, requeues tasks whose lease lapsed, then claims up to ARGV[7] of the
-- oldest ready tasks, each with its own lease token.
-- Input:
--   KEYS[1] ready list      <prefix>:{q}:ready
--   KEYS[2] scheduled zset  <prefix>:{q}:scheduled
--   KEYS[3] running zset    <prefix>:{q}:running
--   KEYS[4] task key prefix <prefix>:{q}:task:  -- task keys are KEYS[4] .. id: same hash tag, same slot
--   ARGV[1] lease token (unique per claim); the n-th task claimed gets ARGV[1] for n = 1, ARGV[1] .. ":" .. n after
--   ARGV[2] lease (ms)
--   ARGV[3] at most this many tasks are promoted or requeued per call
--   ARGV[4] retention (ms) of a skipped task's record
--   ARGV[5] events channel
--   ARGV[6] most redeliveries after lapsed leases (-1: no limit); one more and the task is dead-lettered
--   ARGV[7] at most this many tasks are claimed (at least 1)
-- Output:
--   { "task", now, n, id, name, payload, attempts, trace, enqueuedAt, booked, ... }  -- n claimed tasks (n >= 1),
--       7 fields each, in claim order: state running, attempts + 1; booked "1": a rate-limit slot was booked for this
--       start when it was rescheduled; now: Redis time (ms), the claim time of every one
--   { "idle", waitMs }  -- nothing ready; waitMs until the next scheduled task or lease end, -1 if none
-- A unique task whose lock another task holds now (its own lock expired and the key was taken by a newer
-- task) is not run: it ends "skipped" with the reason. A unique task whose lock expired and is free takes
-- it again. Lock keys come from the record (set from KEYS at enqueue; same hash tag).
local now = nowMillis()
local limit = tonumber(ARGV[3])
local lease = tonumber(ARGV[2])
local most = tonumber(ARGV[6])
local want = math.max(1, tonumber(ARGV[7]))

-- The range scans run only when the earliest entry is due (one O(1) read otherwise).
local firstScheduled = redis.call("ZRANGE", KEYS[2], 0, 0, "WITHSCORES")
if firstScheduled[2] and tonumber(firstScheduled[2]) <= now then
  local due = redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", now, "LIMIT", 0, limit)
  for _, id in ipairs(due) do
    redis.call("ZREM", KEYS[2], id)
    local key = KEYS[4] .. id
    if redis.call("HGET", key, "state") == "scheduled" then
      redis.call("HSET", key, "state", "queued")
      redis.call("LPUSH", KEYS[1], id)
    end
  end
end

-- A lapsed lease: the worker died or lost Redis. The attempt it spent stays spent.
local firstRunning = redis.call("ZRANGE", KEYS[3], 0, 0, "WITHSCORES")
if firstRunning[2] and tonumber(firstRunning[2]) <= now then
  local lapsed = redis.call("ZRANGEBYSCORE", KEYS[3], "-inf", now, "LIMIT", 0, limit)
  for _, id in ipairs(lapsed) do
    redis.call("ZREM", KEYS[3], id)
    local key = KEYS[4] .. id
    if redis.call("HGET", key, "state") == "running" then
      local redeliveries = redis.call("HINCRBY", key, "redeliveries", 1)
      if most >= 0 and redeliveries > most then
        -- its worker keeps dying on it (a poison task): dead, with the reason; a unique task's lock is freed
        finish(key, KEYS[3], id, "dead", "reason", "its lease lapsed " .. redeliveries .. " times: the worker " ..
          "running it keeps dying", ARGV[4], ARGV[5], now)
      else
        redis.call("HSET", key, "state", "queued")
        redis.call("HDEL", key, "token", "leaseUntil")
        redis.call("RPUSH", KEYS[1], id) -- front of the line: it waited already
      end
    end
  end
end

local out = { "task", now, 0 }
local n = 0
while n < want do
  local id = redis.call("RPOP", KEYS[1])
  if not id then break end
  local key = KEYS[4] .. id
  if redis.call("HGET", key, "state") == "queued" then
    local runnable = true
    local lock = redis.call("HMGET", key, "lockKey", "lockTtl")
    if lock[1] then
      local holder = redis.call("HGET", lock[1], "owner")
      if not holder then
        lockTake(lock[1], id, tonumber(lock[2]))
      elseif holder ~= id then
        runnable = false
        finish(key, KEYS[3], id, "skipped", "reason", "its unique key is held by task " .. holder, ARGV[4], ARGV[5],
          now)
      end
    end
    if runnable then
      n = n + 1
      local token = ARGV[1]
      if n > 1 then token = token .. ":" .. n end
      local attempts = redis.call("HINCRBY", key, "attempts", 1)
      redis.call("HSET", key, "state", "running", "token", token, "leaseUntil", now + lease, "startedAt", now)
      redis.call("ZADD", KEYS[3], now + lease, id)
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
local s = redis.call("ZRANGE", KEYS[2], 0, 0, "WITHSCORES")
if s[2] then nextAt = tonumber(s[2]) end
local r = redis.call("ZRANGE", KEYS[3], 0, 0, "WITHSCORES")
if r[2] and (nextAt == -1 or tonumber(r[2]) < nextAt) then nextAt = tonumber(r[2]) end
if nextAt == -1 then return { "idle", -1 } end
return { "idle", math.max(0, nextAt - now) }
