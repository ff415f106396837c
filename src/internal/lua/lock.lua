-- Locks, shared by the lock scripts and the queue's (inlined where a script says `-- @include lock`).
-- A lock is a hash { owner, fence } with a TTL. After a release the hash keeps its fence (no owner)
-- for one more second, so that the next fence is greater even within the same microsecond.

-- Takes `key` for `owner` for `ttl` ms, or reports who holds it. The current owner re-taking it
-- extends it and keeps its fence.
-- Returns {1, fence, ttl} or {0, holder, pttl, fence}.
local function lockTake(key, owner, ttl)
  local state = redis.call("HMGET", key, "owner", "fence")
  local holder = state[1]
  if holder then
    local fence = tonumber(state[2])
    if holder == owner then
      redis.call("PEXPIRE", key, ttl)
      return {1, fence, ttl}
    end
    return {0, holder, redis.call("PTTL", key), fence}
  end
  local t = redis.call("TIME")
  local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local fence = math.max(tonumber(state[2] or "0") + 1, nowUs)
  redis.call("HSET", key, "owner", owner, "fence", string.format("%d", fence))
  redis.call("PEXPIRE", key, ttl)
  return {1, fence, ttl}
end

-- Frees `key` if `owner` holds it (anyone's, when `force`), and announces it on `channel`.
-- Returns 1 freed, 0 not held by that owner.
local function lockFree(key, owner, channel, force)
  local holder = redis.call("HGET", key, "owner")
  if holder and (force or holder == owner) then
    redis.call("HDEL", key, "owner")
    redis.call("PEXPIRE", key, 1000)
    redis.call("PUBLISH", channel, key)
    return 1
  end
  return 0
end
