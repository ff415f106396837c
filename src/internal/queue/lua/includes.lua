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
  redis.call("HSET", key, "id", id, "name", name, "payload", payload, "state", state, "attempts", 0,
    "enqueuedAt", now, "runAt", now + delay, "trace", trace)
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
