--[[
  Admits (take) or books the earliest free slot (reserve) under one or more
  sliding-window limits, all or nothing.

  Input:
    KEYS[1..k] one sorted set per distinct key: member = admission id, score = admission time (µs)
    ARGV[1] cost (units taken from every limit; 1 <= cost <= times of each)
    ARGV[2] "1" reserve, "0" take
    ARGV[3] longest delay a reservation accepts, in ms (-1: any)
    ARGV[4] earliest admission, in ms from now (>= 0; the caller's jitter)
    ARGV[5] unique id of this call
    ARGV[6] number of limits L
    ARGV[7 + 3(i-1)] .. ARGV[9 + 3(i-1)]  key index (1..k), times, per (ms) of limit i
  Output:
    {1, delay, remaining, limit}   admitted at now + delay; remaining = fewest units left
                                   in a window, on limit number `limit`
    {0, retryAfter, remaining, limit}  denied; `limit` is the limit that is full
  Invariant: no window of length per holds more than times units of a key,
  reservations included. Admissions are booked in non-decreasing time order,
  so for a slot T the only window to check is (T - per, T]. Times are kept in
  microseconds of Redis TIME, so the bound holds in real time, not only in
  whole milliseconds; delays are reported rounded up to whole milliseconds.
]]
local function int(x) return string.format("%d", x) end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local reserve = ARGV[2] == "1"
local maxDelay = tonumber(ARGV[3]) * 1000
local offset = tonumber(ARGV[4]) * 1000
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
end
local at = now + offset
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
local delay = at - now
local admitted
if reserve then
  admitted = maxDelay < 0 or delay <= maxDelay
else
  admitted = delay <= offset
end
if admitted then
  for k, per in pairs(longest) do
    for j = 1, cost do
      redis.call("ZADD", KEYS[k], int(at), ARGV[5] .. ":" .. j)
    end
    redis.call("PEXPIRE", KEYS[k], math.ceil((at - now + per) / 1000))
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
local delayMs = math.ceil(delay / 1000)
if admitted then return {1, delayMs, fewest, fewestAt} end
return {0, delayMs, fewest, full}
