-- rateTakeBatch: several takes on one sliding-window limit (one key), in one call: each admitted now or denied,
-- in order, exactly as the same takes made one after the other by rateTake-N.lua at the same instant (this call's
-- Redis TIME). The common steps run once for the batch: the window is trimmed and read once, and the admitted units
-- are added with one ZADD and one PEXPIRE.
-- Why it holds: admissions are booked in non-decreasing time order, so after the trim every admission in the window
-- is in (now - per, latest]. A take is admitted only when latest <= now and its units fit (n + cost <= times); every
-- take admitted in this batch is booked at now, after the window's own admissions. So for the i-th take the window
-- holds n = the window's own count + the units admitted before it in the batch, and the admission that must leave
-- before it fits (rank n - (times - cost) - 1, from the oldest) is one of the window's own (its score read with one
-- ZRANGE, only for a denied take) or one booked now in this batch.
-- Input:
--   KEYS[1] key: the limit's sorted set: member = admission id, score = admission time (µs)
--   ARGV[1] times (number): units admitted per window
--   ARGV[2] perMs (number): the window (ms)
--   ARGV[3..] takes (list of [cost: number, id: string]): the number of takes T, then for take i (1..T), at
--       ARGV[2 + 2i] and ARGV[3 + 2i]: its cost (1 <= cost <= times) and its id (members "<id>:1" .. "<id>:<cost>")
-- Output: { now, admitted_1, delayMs_1, remaining_1, ..., admitted_T, delayMs_T, remaining_T }: now = Redis TIME
--   (µs, a string); for take i as rateTake-N.lua answers it (limit 1): admitted (1|0), delay (ms; 0 when admitted,
--   until a slot opens when denied), remaining (units left in the window after it)
local format = string.format
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local key = KEYS[1]
local times = tonumber(ARGV[1])
local per = tonumber(ARGV[2]) * 1000
redis.call("ZREMRANGEBYSCORE", key, "-inf", format("%d", now - per))
local own = redis.call("ZCARD", key)
local latest = now
if own > 0 then
  local last = tonumber(redis.call("ZRANGE", key, -1, -1, "WITHSCORES")[2])
  if last > latest then latest = last end
end
-- the score of the window's own admission at rank r (from the oldest), read once per rank
local scores = {}
local function scoreAt(r)
  local s = scores[r]
  if not s then
    s = tonumber(redis.call("ZRANGE", key, r, r, "WITHSCORES")[2])
    scores[r] = s
  end
  return s
end
local out = { format("%d", now) }
local members = {}
local added = 0
for i = 1, tonumber(ARGV[3]) do
  local cost = tonumber(ARGV[2 + 2 * i])
  local id = ARGV[3 + 2 * i]
  local n = own + added
  local keep = times - cost
  if latest <= now and n <= keep then
    for j = 1, cost do
      members[#members + 1] = format("%d", now)
      members[#members + 1] = id .. ":" .. j
    end
    added = added + cost
    out[#out + 1] = 1
    out[#out + 1] = 0
    out[#out + 1] = times - n - cost
  else
    local at = latest
    if n > keep then
      local r = n - keep - 1
      local entry = now -- one of this batch's, booked at now
      if r < own then entry = scoreAt(r) end
      if entry + per > at then at = entry + per end
    end
    out[#out + 1] = 0
    out[#out + 1] = math.ceil((at - now) / 1000)
    out[#out + 1] = times - n
  end
end
if added > 0 then
  -- 2,000 members (4,000 arguments) per ZADD: Lua's unpack is bounded by its C stack (8,000 values)
  for from = 1, #members, 4000 do
    redis.call("ZADD", key, unpack(members, from, math.min(from + 3999, #members)))
  end
  redis.call("PEXPIRE", key, math.ceil(per / 1000))
end
return out
