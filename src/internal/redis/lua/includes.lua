-- The rate-limit scripts' helpers (rateTake, rateReserve, rateStart, rateBooked): scripts/gen-lua.mjs ships with each
-- script the ones it calls.
-- Every rate-limit script takes the same ARGV (see rateTake-N.lua): cost, longest delay, offset, id, the number of
-- limits L, then key index, times, per of each limit. Admissions are booked in non-decreasing time order: for a slot
-- T the only window to check is (T - per, T]. Times are microseconds of Redis TIME, so the bound holds in real time;
-- delays are reported rounded up to whole milliseconds.

-- The request: now (Redis TIME, µs), cost, longest delay and offset (µs), id, number of limits.
local function rateRequest()
  local t = redis.call("TIME")
  return { now = tonumber(t[1]) * 1000000 + tonumber(t[2]), cost = tonumber(ARGV[1]),
    maxDelay = tonumber(ARGV[2]) * 1000, offset = tonumber(ARGV[3]) * 1000, id = ARGV[4], count = tonumber(ARGV[5]) }
end

-- One limit (the common case): the earliest slot >= `from` where it has room, then `decide(at)` (admitted, and the
-- wake-up delay in µs when it is not at - now) and, if admitted, the admission at that slot. The same steps as
-- rateLimits, rateEarliest and rateSettle, without their tables. Returns the script's reply.
local function rateOne(r, from, decide)
  local format = string.format
  local now, cost, id = r.now, r.cost, r.id
  local key = KEYS[tonumber(ARGV[6])]
  local times = tonumber(ARGV[7])
  local per = tonumber(ARGV[8]) * 1000
  redis.call("ZREMRANGEBYSCORE", key, "-inf", format("%d", now - per))
  local at = from
  local n = redis.call("ZCARD", key)
  if n > 0 then
    local keep = times - cost
    local latest, entry
    if n > keep and keep >= 0 and keep < 16 then
      local tail = redis.call("ZRANGE", key, -keep - 1, -1, "WITHSCORES")
      entry = tonumber(tail[2])
      latest = tonumber(tail[#tail])
    else
      latest = tonumber(redis.call("ZRANGE", key, -1, -1, "WITHSCORES")[2])
      if n > keep then entry = tonumber(redis.call("ZRANGE", key, n - keep - 1, n - keep - 1, "WITHSCORES")[2]) end
    end
    if latest > at then at = latest end
    if entry and entry + per > at then at = entry + per end
  end
  local admitted, wake = decide(at)
  local used = n
  if admitted then
    local score = format("%d", at)
    for j = 1, cost do used = used + redis.call("ZADD", key, score, id .. ":" .. j) end
    redis.call("PEXPIRE", key, math.ceil((at - now + per) / 1000))
    if at ~= now then used = redis.call("ZCOUNT", key, "(" .. format("%d", at - per), "+inf") end
  end
  local delayMs = math.ceil((wake or (at - now)) / 1000)
  if admitted then return {1, delayMs, times - used, 1, format("%d", now)} end
  return {0, delayMs, times - used, 1, format("%d", now)}
end

-- The limits: limit i is KEYS[keyOf[i]], times[i] units per pers[i] µs; longest[k]: key index k's longest period.
-- Drops every key's admissions older than its longest period.
local function rateLimits(r)
  local keyOf, times, pers, longest = {}, {}, {}, {}
  for i = 1, r.count do
    local base = 3 + 3 * i
    local k = tonumber(ARGV[base])
    local per = tonumber(ARGV[base + 2]) * 1000
    keyOf[i] = k
    times[i] = tonumber(ARGV[base + 1])
    pers[i] = per
    if longest[k] == nil or per > longest[k] then longest[k] = per end
  end
  for k, per in pairs(longest) do
    redis.call("ZREMRANGEBYSCORE", KEYS[k], "-inf", string.format("%d", r.now - per))
  end
  return { keyOf = keyOf, times = times, pers = pers, longest = longest }
end

-- The earliest slot >= `from` where every limit has room, booking in non-decreasing order, and the first limit
-- that is full at `from` (1 if none). Reads each key's size and latest score once (the sets do not change until
-- the admission): returns them too, as `size` per key index.
local function rateEarliest(r, limits, from)
  local cost = r.cost
  local size, last = {}, {}
  local at, full = from, 1
  for i = 1, r.count do
    local k = limits.keyOf[i]
    local key = KEYS[k]
    local keep = limits.times[i] - cost
    local n = size[k]
    -- when the set holds more than keep: the score of the admission that has to leave the window first
    local entry = nil
    if n == nil then
      n = redis.call("ZCARD", key)
      size[k] = n
      if n > keep and n > 0 and keep >= 0 and keep < 16 then
        -- a small limit that is full: its last keep + 1 entries in one read
        local tail = redis.call("ZRANGE", key, -keep - 1, -1, "WITHSCORES")
        entry = tonumber(tail[2])
        last[k] = tonumber(tail[#tail])
      elseif n > 0 then
        last[k] = tonumber(redis.call("ZRANGE", key, -1, -1, "WITHSCORES")[2])
      end
    end
    local slot = at
    if n > 0 then
      if last[k] > slot then slot = last[k] end
      if n > keep then
        if entry == nil then
          entry = tonumber(redis.call("ZRANGE", key, n - keep - 1, n - keep - 1, "WITHSCORES")[2])
        end
        local free = entry + limits.pers[i]
        if free > slot then slot = free end
      end
    end
    if slot > at then
      at = slot
      full = i
    end
  end
  return at, full, size
end

-- `decide(at)` (admitted, and the wake-up delay in µs when it is not at - now); if admitted, the admission at `at`
-- on every key (`rebooked`: a booking checked again, whose key may hold later bookings: the TTL covers them); then
-- the fewest units left in a window (at `at` if admitted, else now). Returns the script's reply.
local function rateSettle(r, limits, at, full, size, decide, rebooked)
  local format = string.format
  local now, cost, id = r.now, r.cost, r.id
  local admitted, wake = decide(at)
  if admitted then
    local score = format("%d", at)
    for k, per in pairs(limits.longest) do
      local key = KEYS[k]
      local added = 0
      for j = 1, cost do
        added = added + redis.call("ZADD", key, score, id .. ":" .. j)
      end
      -- the latest score: the earliest slot is at or after every key's latest score; room from now may not be
      local top = at
      if rebooked then
        top = math.max(at, tonumber(redis.call("ZRANGE", key, -1, -1, "WITHSCORES")[2]))
      end
      if size[k] then size[k] = size[k] + added end
      redis.call("PEXPIRE", key, math.ceil((top - now + per) / 1000))
    end
  end
  local ref = now
  if admitted then ref = at end
  local fewest = nil
  local fewestAt = full
  for i = 1, r.count do
    local k = limits.keyOf[i]
    local per = limits.pers[i]
    local used
    if ref == now and per == limits.longest[k] and size[k] then
      -- ZREMRANGEBYSCORE left only scores after now - per: the whole set is in the window
      used = size[k]
    else
      used = redis.call("ZCOUNT", KEYS[k], "(" .. format("%d", ref - per), "+inf")
    end
    local left = limits.times[i] - used
    if fewest == nil or left < fewest then
      fewest = left
      fewestAt = i
    end
  end
  local delayMs = math.ceil((wake or (at - now)) / 1000)
  if admitted then return {1, delayMs, fewest, fewestAt, format("%d", now)} end
  return {0, delayMs, fewest, full, format("%d", now)}
end
