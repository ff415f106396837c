-- Locks, shared by the lock scripts and the queue's (scripts/gen-lua.mjs ships with each script the helpers it calls).
-- A lock is one string "<fence>:<owner>" with a TTL: one key, one read, one write. After a release it is "<fence>"
-- alone (no owner) for one more second, so that the next fence is greater even within the same microsecond. The
-- fence is digits only, so the first ":" ends it and an owner may contain ":".

-- The holder of `key` (nil when free) and its last fence (nil when there is none).
local function lockRead(key)
  local value = redis.call("GET", key)
  if not value then return nil, nil end
  local colon = string.find(value, ":", 1, true)
  if not colon then return nil, tonumber(value) end
  return string.sub(value, colon + 1), tonumber(string.sub(value, 1, colon - 1))
end

-- Takes `key` for `owner` for `ttl` ms, or reports who holds it. The current owner re-taking it
-- extends it and keeps its fence. `nowUs`: the Redis time in microseconds when the caller has it already (a batch
-- reads TIME once for all its tasks), otherwise read here.
-- Returns {1, fence, ttl} or {0, holder, pttl, fence}.
local function lockTake(key, owner, ttl, nowUs)
  local holder, fence = lockRead(key)
  if holder then
    if holder == owner then
      redis.call("PEXPIRE", key, ttl)
      return {1, fence, ttl}
    end
    return {0, holder, redis.call("PTTL", key), fence}
  end
  if not nowUs then
    local t = redis.call("TIME")
    nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  local next = math.max((fence or 0) + 1, nowUs)
  redis.call("SET", key, string.format("%d", next) .. ":" .. owner, "PX", ttl)
  return {1, next, ttl}
end

-- Frees `key` if `owner` holds it (anyone's, when `force`), and announces it on `channel`.
-- Returns 1 freed, 0 not held by that owner.
local function lockFree(key, owner, channel, force)
  local holder, fence = lockRead(key)
  if holder and (force or holder == owner) then
    redis.call("SET", key, string.format("%d", fence), "PX", 1000)
    redis.call("PUBLISH", channel, key)
    return 1
  end
  return 0
end
