-- rateTaskStart: a rate-limited task about to start (workers): admitted now as by rateTake; if denied, books the
-- earliest slot and answers the delay to that slot plus the offset (the caller's random jitter), so a burst of
-- waiters does not come due at one instant while the bookings stay where they are.
-- Input:
--   KEYS[1..k] keys: one sorted set per distinct key: member = admission id, score = admission time (µs)
--   ARGV[1] cost (number): units taken from every limit; 1 <= cost <= times of each
--   ARGV[2] maxDelayMs (number): longest delay (every rate-limit script takes the same ARGV; unused here)
--   ARGV[3] offsetMs (number): offset: the caller's jitter, in ms (>= 0), added to the delay answered
--   ARGV[4] id: id of this call: members are "<id>:1" .. "<id>:<cost>"
--   ARGV[5..] limits (list of [keyIndex: number, times: number, perMs: number]): the number of limits L, then
--       for limit i (1..L), at ARGV[3 + 3i] .. ARGV[5 + 3i]: its key index (1..k), times (units admitted per
--       window) and per (the window, in ms)
-- Output:
--   {1, delay, remaining, limit, now}   admitted at now + delay (0: now); remaining = fewest units
--                                  left in a window, on limit number `limit`; now = Redis TIME (µs)
--   never denied
-- Invariant (every rate-limit script, see includes.lua): no window of length per holds more than times admitted
-- units of a key.
local r = rateRequest()
-- the booking holds the slot itself; the caller wakes up after it plus its jitter, so jitter spreads a burst of
-- waiters without pushing later bookings back
local function decide(at)
  if at > r.now then return true, at - r.now + r.offset end
  return true
end
if r.count == 1 then return rateOne(r, r.now, decide) end
local limits = rateLimits(r)
local at, full, size = rateEarliest(r, limits, r.now)
return rateSettle(r, limits, at, full, size, decide, false)
