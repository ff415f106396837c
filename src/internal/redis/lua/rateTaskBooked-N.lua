-- rateTaskBooked: a task at the slot it booked earlier (rateTaskStart): its booking is replaced by an admission
-- now if the admissions up to now leave room in (now - per, now]. Later bookings are not counted: they are places
-- in line, re-checked the same way when they start, so admissions (actual starts) never exceed the limit even when
-- a start is late. Otherwise it books again, keeping its place: at the moment the admissions up to now leave room
-- (the delay plus the offset), not behind every later booking; unless that is more than the longest delay away
-- (ARGV[2] >= 0): then it is denied, and its old booking is gone (a denial holds nothing). An admission can be
-- checked again the same way (the caller's reply came late): it moves to now.
-- Input:
--   KEYS[1..k] keys: one sorted set per distinct key: member = admission id, score = admission time (µs)
--   ARGV[1] cost (number): units taken from every limit; 1 <= cost <= times of each
--   ARGV[2] maxDelayMs (number): longest delay the booking, checked again, accepts, in ms (-1: any)
--   ARGV[3] offsetMs (number): offset: the caller's jitter, in ms (>= 0), added to the delay answered
--   ARGV[4] id: id of this call: members are "<id>:1" .. "<id>:<cost>"
--   ARGV[5..] limits (list of [keyIndex: number, times: number, perMs: number]): the number of limits L, then
--       for limit i (1..L), at ARGV[3 + 3i] .. ARGV[5 + 3i]: its key index (1..k), times (units admitted per
--       window) and per (the window, in ms)
-- Output:
--   {1, delay, remaining, limit, now}   admitted at now + delay (0: now); remaining = fewest units
--                                  left in a window, on limit number `limit`; now = Redis TIME (µs)
--   {0, retryAfter, remaining, limit, now}  denied (beyond the longest delay); `limit` is the limit that is full
-- Invariant (every rate-limit script, see includes.lua): no window of length per holds more than times admitted
-- units of a key.
local format = string.format
local r = rateRequest()
local now = r.now
local limits = rateLimits(r)
-- its own booking (or admission) is not counted
for k in pairs(limits.longest) do
  for j = 1, r.cost do redis.call("ZREM", KEYS[k], r.id .. ":" .. j) end
end
-- when the admissions up to now leave room for cost more units, on every limit (now if they do)
local at, full = now, 1
for i = 1, r.count do
  local per = limits.pers[i]
  local inWindow =
    redis.call("ZRANGEBYSCORE", KEYS[limits.keyOf[i]], "(" .. format("%d", now - per), format("%d", now), "WITHSCORES")
  local used = #inWindow / 2
  local excess = used + r.cost - limits.times[i]
  if excess > 0 then
    -- the excess-th oldest admission in the window has to leave it
    local slot = tonumber(inWindow[2 * excess]) + per
    if slot > at then
      at = slot
      full = i
    end
  end
end
local function decide(slot)
  if r.maxDelay >= 0 and slot - now > r.maxDelay then return false end
  if slot > now then return true, slot - now + r.offset end
  return true
end
return rateSettle(r, limits, at, full, {}, decide, true)
