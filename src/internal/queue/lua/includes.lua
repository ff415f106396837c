-- Shared helpers, prepended to every script by scripts/gen-lua.mjs.

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

-- Ends a task: terminal state, no lease, the record expires after the retention, joiners are told.
local function finish(key, runningKey, id, state, field, value, retention, channel, now)
  redis.call("ZREM", runningKey, id)
  redis.call("HSET", key, "state", state, field, value, "finishedAt", now)
  redis.call("HDEL", key, "token", "leaseUntil")
  redis.call("PEXPIRE", key, retention)
  redis.call("PUBLISH", channel, id)
end
