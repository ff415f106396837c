-- rateTake: admits a call under one or more sliding-window limits, all or nothing:
-- now (take), at the earliest free slot (reserve), or now-else-book (the two
-- task modes, used by workers for rate-limited tasks).
-- Input:
--   KEYS[1..k] one sorted set per distinct key: member = admission id, score = admission time (µs)
--   ARGV[1] cost (units taken from every limit; 1 <= cost <= times of each)
--   ARGV[2] mode: "0" take, "1" reserve, "2" task start, "3" task start at its booked slot
--   ARGV[3] longest delay a reservation, or a booking checked again, accepts, in ms (-1: any)
--   ARGV[4] earliest booked slot, in ms from now (>= 0; the caller's jitter)
--   ARGV[5] id of this call: members are "<id>:1" .. "<id>:<cost>"
--   ARGV[6] number of limits L
--   ARGV[7] key index (1..k) of limit 1
--   ARGV[8] times: units admitted per window, of limit 1
--   ARGV[9] per: the window, in ms, of limit 1
--   ARGV[7 + 3(i-1)] .. ARGV[9 + 3(i-1)]  key index, times, per of limit i (1..L), as ARGV[7..9]
-- Output:
--   {1, delay, remaining, limit, now}   admitted at now + delay (0: now); remaining = fewest units
--                                  left in a window, on limit number `limit`; now = Redis TIME (µs)
--   {0, retryAfter, remaining, limit, now}  denied (take, or reserve or booked beyond its longest
--                                  delay); `limit` is the limit that is full
-- Modes:
--   take     admits now, or denies. Admissions are booked in non-decreasing time order: a take
--            waits behind existing reservations, so for a slot T the only window to check is
--            (T - per, T].
--   reserve  books the earliest slot T >= now + offset by the same rule.
--   task     a task about to start: take; if denied, book the earliest slot, and answer the delay to
--            that slot plus the offset (the caller's random jitter), so a burst of waiters does not
--            come due at one instant while the bookings stay where they are.
--   booked   a task at the slot it booked earlier: its booking is replaced by an admission now if
--            the admissions up to now leave room in (now - per, now]. Later bookings are not
--            counted: they are places in line, re-checked the same way when they start, so
--            admissions (actual starts) never exceed the limit even when a start is late.
--            Otherwise it books again, keeping its place: at the moment the admissions up to now
--            leave room (the delay plus the offset), not behind every later booking; unless that
--            is more than the longest delay away (ARGV[3] >= 0): then it is denied, and its old
--            booking is gone (a denial holds nothing). An admission can be checked again the same
--            way (the caller's reply came late): it moves to now.
-- Invariant: no window of length per holds more than times admitted units of a key. Times are
-- microseconds of Redis TIME, so the bound holds in real time; delays are reported rounded up
-- to whole milliseconds.
local format = string.format
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local mode = ARGV[2]
local maxDelay = tonumber(ARGV[3]) * 1000
local offset = tonumber(ARGV[4]) * 1000
local id = ARGV[5]
local count = tonumber(ARGV[6])

if count == 1 and mode ~= "3" then
  -- One limit, not at a booked slot (the common case): the same steps as below, without their tables.
  local key = KEYS[tonumber(ARGV[7])]
  local times = tonumber(ARGV[8])
  local per = tonumber(ARGV[9]) * 1000
  redis.call("ZREMRANGEBYSCORE", key, "-inf", format("%d", now - per))
  local at = now
  if mode == "1" then at = now + offset end
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
  local wake = nil
  local admitted = true
  if mode == "0" then
    admitted = at == now
  elseif mode == "1" then
    admitted = maxDelay < 0 or at - now <= maxDelay
  elseif at > now then
    wake = at - now + offset
  end
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

-- limit i: KEYS[keyOf[i]], times[i] units per pers[i] µs
local keyOf, times, pers = {}, {}, {}
-- per key index: its longest period, and (once read) its size and latest score
local longest, size, last = {}, {}, {}
for i = 1, count do
  local base = 4 + 3 * i
  local k = tonumber(ARGV[base])
  local per = tonumber(ARGV[base + 2]) * 1000
  keyOf[i] = k
  times[i] = tonumber(ARGV[base + 1])
  pers[i] = per
  if longest[k] == nil or per > longest[k] then longest[k] = per end
end
for k, per in pairs(longest) do
  redis.call("ZREMRANGEBYSCORE", KEYS[k], "-inf", format("%d", now - per))
  if mode == "3" then
    for j = 1, cost do redis.call("ZREM", KEYS[k], id .. ":" .. j) end
  end
end

local at, full = now, 1
if mode == "3" then
  -- When the admissions up to now leave room for cost more units, on every limit (now if they do).
  for i = 1, count do
    local per = pers[i]
    local inWindow =
      redis.call("ZRANGEBYSCORE", KEYS[keyOf[i]], "(" .. format("%d", now - per), format("%d", now), "WITHSCORES")
    local used = #inWindow / 2
    local excess = used + cost - times[i]
    if excess > 0 then
      -- the excess-th oldest admission in the window has to leave it
      local slot = tonumber(inWindow[2 * excess]) + per
      if slot > at then
        at = slot
        full = i
      end
    end
  end
else
  -- The earliest slot >= from where every limit has room, booking in non-decreasing order.
  -- Reads each key's size and latest score once (the sets do not change until the admission).
  if mode == "1" then at = now + offset end
  for i = 1, count do
    local k = keyOf[i]
    local key = KEYS[k]
    local keep = times[i] - cost
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
        local free = entry + pers[i]
        if free > slot then slot = free end
      end
    end
    if slot > at then
      at = slot
      full = i
    end
  end
end

local wake = nil
local admitted = true
if mode == "0" then
  admitted = at == now
elseif mode == "1" then
  admitted = maxDelay < 0 or at - now <= maxDelay
elseif mode == "3" and maxDelay >= 0 and at - now > maxDelay then
  admitted = false
elseif at > now then
  -- the booking holds the slot itself; the caller wakes up after it plus its jitter, so jitter spreads a
  -- burst of waiters without pushing later bookings back
  wake = at - now + offset
end

if admitted then
  local score = format("%d", at)
  for k, per in pairs(longest) do
    local key = KEYS[k]
    local added = 0
    for j = 1, cost do
      added = added + redis.call("ZADD", key, score, id .. ":" .. j)
    end
    -- the latest score: the earliest slot is at or after every key's latest score; room from now may not be
    local top = at
    if mode == "3" then
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
for i = 1, count do
  local k = keyOf[i]
  local per = pers[i]
  local used
  if ref == now and per == longest[k] and size[k] then
    -- ZREMRANGEBYSCORE left only scores after now - per: the whole set is in the window
    used = size[k]
  else
    used = redis.call("ZCOUNT", KEYS[k], "(" .. format("%d", ref - per), "+inf")
  end
  local left = times[i] - used
  if fewest == nil or left < fewest then
    fewest = left
    fewestAt = i
  end
end
local delayMs = math.ceil((wake or (at - now)) / 1000)
if admitted then return {1, delayMs, fewest, fewestAt, format("%d", now)} end
return {0, delayMs, fewest, full, format("%d", now)}
