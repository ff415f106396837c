--[[
  Admits a call under one or more sliding-window limits, all or nothing:
  now (take), at the earliest free slot (reserve), or now-else-book (the two
  task modes, used by workers for rate-limited tasks).

  Input:
    KEYS[1..k] one sorted set per distinct key: member = admission id, score = admission time (µs)
    ARGV[1] cost (units taken from every limit; 1 <= cost <= times of each)
    ARGV[2] mode: "0" take, "1" reserve, "2" task start, "3" task start at its booked slot
    ARGV[3] longest delay a reservation accepts, in ms (-1: any)
    ARGV[4] earliest booked slot, in ms from now (>= 0; the caller's jitter)
    ARGV[5] id of this call: members are "<id>:1" .. "<id>:<cost>"
    ARGV[6] number of limits L
    ARGV[7 + 3(i-1)] .. ARGV[9 + 3(i-1)]  key index (1..k), times, per (ms) of limit i
  Output:
    {1, delay, remaining, limit, now}   admitted at now + delay (0: now); remaining = fewest units
                                   left in a window, on limit number `limit`; now = Redis TIME (µs)
    {0, retryAfter, remaining, limit, now}  denied (take, or reserve beyond its longest delay);
                                   `limit` is the limit that is full
  Modes:
    take     admits now, or denies. Admissions are booked in non-decreasing time order: a take
             waits behind existing reservations, so for a slot T the only window to check is
             (T - per, T].
    reserve  books the earliest slot T >= now + offset by the same rule.
    task     a task about to start: take; if denied, book the earliest slot, and answer the delay to
             that slot plus the offset (the caller's random jitter), so a burst of waiters does not
             come due at one instant while the bookings stay where they are.
    booked   a task at the slot it booked earlier: its booking is replaced by an admission now if
             the admissions up to now leave room in (now - per, now]. Later bookings are not
             counted: they are places in line, re-checked the same way when they start, so
             admissions (actual starts) never exceed the limit even when a start is late.
             Otherwise it books again, keeping its place: at the moment the admissions up to now
             leave room (the delay plus the offset), not behind every later booking.
  Invariant: no window of length per holds more than times admitted units of a key. Times are
  microseconds of Redis TIME, so the bound holds in real time; delays are reported rounded up
  to whole milliseconds.
]]
local function int(x) return string.format("%d", x) end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local mode = ARGV[2]
local maxDelay = tonumber(ARGV[3]) * 1000
local offset = tonumber(ARGV[4]) * 1000
local id = ARGV[5]
local count = tonumber(ARGV[6])
local limits = {}
local longest = {}
for i = 1, count do
  local base = 7 + 3 * (i - 1)
  local limit = { key = tonumber(ARGV[base]), times = tonumber(ARGV[base + 1]), per = tonumber(ARGV[base + 2]) * 1000 }
  limits[i] = limit
  longest[limit.key] = math.max(longest[limit.key] or 0, limit.per)
end
for k, per in pairs(longest) do
  redis.call("ZREMRANGEBYSCORE", KEYS[k], "-inf", int(now - per))
  if mode == "3" then
    for j = 1, cost do redis.call("ZREM", KEYS[k], id .. ":" .. j) end
  end
end

-- The earliest slot >= from where every limit has room, booking in non-decreasing order.
local function earliest(from)
  local at = from
  local full = 1
  for i = 1, count do
    local limit = limits[i]
    local key = KEYS[limit.key]
    local size = redis.call("ZCARD", key)
    local slot = at
    if size > 0 then
      local last = redis.call("ZRANGE", key, -1, -1, "WITHSCORES")
      slot = math.max(slot, tonumber(last[2]))
      local keep = limit.times - cost
      if size > keep then
        local entry = redis.call("ZRANGE", key, size - keep - 1, size - keep - 1, "WITHSCORES")
        slot = math.max(slot, tonumber(entry[2]) + limit.per)
      end
    end
    if slot > at then
      at = slot
      full = i
    end
  end
  return at, full
end

-- When the admissions up to now leave room for cost more units, on every limit (now if they do).
local function roomFrom()
  local at = now
  local full = 1
  for i = 1, count do
    local limit = limits[i]
    local inWindow = redis.call("ZRANGEBYSCORE", KEYS[limit.key], "(" .. int(now - limit.per), int(now), "WITHSCORES")
    local used = #inWindow / 2
    local excess = used + cost - limit.times
    if excess > 0 then
      -- the excess-th oldest admission in the window has to leave it
      local slot = tonumber(inWindow[2 * excess]) + limit.per
      if slot > at then
        at = slot
        full = i
      end
    end
  end
  return at, full
end

local at, full
local wake = nil
local admitted = true
if mode == "0" then
  at, full = earliest(now)
  admitted = at == now
elseif mode == "1" then
  at, full = earliest(now + offset)
  admitted = maxDelay < 0 or at - now <= maxDelay
else
  -- the booking holds the slot itself; the caller wakes up after it plus its jitter, so jitter spreads a
  -- burst of waiters without pushing later bookings back
  if mode == "2" then at, full = earliest(now) else at, full = roomFrom() end
  if at > now then wake = at - now + offset end
end

if admitted then
  for k, per in pairs(longest) do
    for j = 1, cost do
      redis.call("ZADD", KEYS[k], int(at), id .. ":" .. j)
    end
    local last = redis.call("ZRANGE", KEYS[k], -1, -1, "WITHSCORES")
    redis.call("PEXPIRE", KEYS[k], math.ceil((tonumber(last[2]) - now + per) / 1000))
  end
end

local ref = now
if admitted then ref = at end
local fewest = nil
local fewestAt = full
for i = 1, count do
  local limit = limits[i]
  local left = limit.times - redis.call("ZCOUNT", KEYS[limit.key], "(" .. int(ref - limit.per), "+inf")
  if fewest == nil or left < fewest then
    fewest = left
    fewestAt = i
  end
end
local delayMs = math.ceil((wake or (at - now)) / 1000)
if admitted then return {1, delayMs, fewest, fewestAt, int(now)} end
return {0, delayMs, fewest, full, int(now)}
