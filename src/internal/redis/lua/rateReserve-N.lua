-- rateReserve: books the earliest slot T >= now + offset where every limit has room (by rateTake's rule), unless
-- that is more than the longest delay away.
-- Input:
--   KEYS[1..k] keys: one sorted set per distinct key: member = admission id, score = admission time (µs)
--   ARGV[1] cost (number): units taken from every limit; 1 <= cost <= times of each
--   ARGV[2] maxDelayMs (number): longest delay the reservation accepts, in ms (-1: any)
--   ARGV[3] offsetMs (number): offset: the earliest slot, in ms from now (>= 0)
--   ARGV[4] id: id of this call: members are "<id>:1" .. "<id>:<cost>"
--   ARGV[5..] limits (list of [keyIndex: number, times: number, perMs: number]): the number of limits L, then
--       for limit i (1..L), at ARGV[3 + 3i] .. ARGV[5 + 3i]: its key index (1..k), times (units admitted per
--       window) and per (the window, in ms)
-- Output:
--   {1, delay, remaining, limit, now}   admitted at now + delay (0: now); remaining = fewest units
--                                  left in a window, on limit number `limit`; now = Redis TIME (µs)
--   {0, retryAfter, remaining, limit, now}  denied (the slot is beyond the longest delay); `limit` is the limit
--                                  that is full
-- Invariant (every rate-limit script, see includes.lua): no window of length per holds more than times admitted
-- units of a key.
local r = rateRequest()
local function decide(at) return r.maxDelay < 0 or at - r.now <= r.maxDelay end
if r.count == 1 then return rateOne(r, r.now + r.offset, decide) end
local limits = rateLimits(r)
local at, full, size = rateEarliest(r, limits, r.now + r.offset)
return rateSettle(r, limits, at, full, size, decide, false)
