-- Unique task locks, shared by the queue's scripts and the lock scripts that reach a task's lock (scripts/gen-lua.mjs
-- ships with each script the helpers it calls). They are the locks of lock.lua kept inside the queue: one hash per
-- queue, `locks` (lock name -> "<fence>:<expires at, ms>:<owner>", the name being what would be the lock's key:
-- "<lock prefix>{<queue>}:<unique key>"), so that a script reaches the lock of any task it meets through a key it was
-- given. An entry past its time is free, read or not. A release deletes its entry: fences come from the queue's
-- counter, the field "" (which no lock name can be), max(last fence + 1, TIME in µs), so they strictly increase per
-- queue, hence per lock, without keeping a released lock's fence. A task that outlived its lock deletes its own
-- entry as it ends (ulockFree). The one way an entry is left to expire unreleased is a lock kept until it expires
-- (`hold: "untilExpiry"`): each such task, as it ends, sweeps (ulockSweep: reads 2 entries at random, HRANDFIELD,
-- O(1) per pick in a hash table, and deletes those past their time), which keeps those entries about as many as the
-- live ones or fewer; one new holder in 8 sweeps too, a net for any entry left another way. The hash lives as long
-- as its latest entry, and at most a minute more (see ulockWrite).
-- `L`: { locks, now (ms, read once when missing) }.

-- The time of `L`'s script (ms, the Redis server's clock), read once.
local function ulockNow(L)
  if not L.now then L.now = nowMillis() end
  return L.now
end

-- An entry's fence, expiry (ms) and holder; nil for the fence counter (no ":").
local function ulockParts(value)
  local a = string.find(value, ":", 1, true)
  local b = a and string.find(value, ":", a + 1, true)
  if not b then return nil end
  return tonumber(string.sub(value, 1, a - 1)), tonumber(string.sub(value, a + 1, b - 1)), string.sub(value, b + 1)
end

-- The owner of lock `name` (nil when free), its fence and its time left (ms); `value`: its entry, when the caller
-- read it already (false: none).
local function ulockRead(L, name, value)
  if value == nil then value = redis.call("HGET", L.locks, name) end
  if not value then return nil, nil, nil end
  local fence, at, holder = ulockParts(value)
  local left = at - ulockNow(L)
  if left <= 0 then return nil, nil, nil end
  return holder, fence, left
end

-- Reads 2 entries at random (a negative count: maybe the same one twice, no set of the picks to build, much
-- cheaper) and deletes those past their time. Called where an entry may be left to expire unreleased (see the top).
local function ulockSweep(L)
  local sample, past = redis.call("HRANDFIELD", L.locks, -2, "WITHVALUES"), {}
  for i = 1, #sample, 2 do
    local _, at = ulockParts(sample[i + 1])
    if at and at <= ulockNow(L) then past[#past + 1] = sample[i] end
  end
  if #past > 0 then redis.call("HDEL", L.locks, unpack(past)) end
end

-- Writes lock `name`, held by `owner` with `fence`, for `ttl` ms (and the queue's fence counter, when `counter`).
-- The hash outlives its latest entry by at most a minute: its TTL is moved only when shorter than `ttl`, then to a
-- minute more, so most writes leave it alone. The counter is written 65 digits long (leading zeros): past
-- `hash-max-listpack-value` (64 by default), so the hash is a hash table from its first lock, where a read or a write
-- costs the same whatever its size, instead of a listpack scanned from one end (up to 512 entries).
local function ulockWrite(L, name, fence, owner, ttl, counter)
  local value = string.format("%d", fence) .. ":" .. string.format("%d", ulockNow(L) + ttl) .. ":" .. owner
  if counter then
    redis.call("HSET", L.locks, name, value, "", string.format("%065d", fence))
  else
    redis.call("HSET", L.locks, name, value)
  end
  if redis.call("PTTL", L.locks) < ttl then redis.call("PEXPIRE", L.locks, ttl + 60000) end
end

-- Takes lock `name` for `owner` for `ttl` ms, or reports who holds it, as lockTake does (the owner re-taking it
-- extends it and keeps its fence; `nowUs`: the Redis time in microseconds when the caller has it). A new holder's
-- fence is the queue's next (see above); one in 8 sweeps.
-- Returns {1, fence, ttl} or {0, holder, time left, fence}.
local function ulockTake(L, name, owner, ttl, nowUs)
  -- the lock and the queue's fence counter in one read
  local read = redis.call("HMGET", L.locks, name, "")
  local holder, fence, left = ulockRead(L, name, read[1])
  if holder then
    if holder == owner then
      ulockWrite(L, name, fence, owner, ttl, false)
      return {1, fence, ttl}
    end
    return {0, holder, left, fence}
  end
  if not nowUs then
    local t = redis.call("TIME")
    nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  -- one TIME per script: the lock's clock in ms is the same reading
  if not L.now then L.now = math.floor(nowUs / 1000) end
  local next = math.max(tonumber(read[2] or "0") + 1, nowUs)
  -- one new holder in 8 (by its fence) sweeps too: a net for entries left by a path that neither frees nor sweeps
  if next % 8 == 0 then ulockSweep(L) end
  ulockWrite(L, name, next, owner, ttl, true)
  return {1, next, ttl}
end

-- Frees lock `name` if `owner` holds it (anyone's, when `force`), and announces its name on `channel`, as lockFree;
-- its entry goes (the queue's fence counter keeps fences increasing); so does the owner's own expired entry, without
-- an announcement. Returns 1 freed, 0 not held by that owner.
local function ulockFree(L, name, owner, channel, force)
  local value = redis.call("HGET", L.locks, name)
  local holder = ulockRead(L, name, value or false)
  if holder and (force or holder == owner) then
    redis.call("HDEL", L.locks, name)
    redis.call("PUBLISH", channel, name)
    return 1
  end
  -- the owner's own entry past its time (it outlived its lock, and nobody took the key since): deleted, not announced
  if not holder and value and select(3, ulockParts(value)) == owner then redis.call("HDEL", L.locks, name) end
  return 0
end
