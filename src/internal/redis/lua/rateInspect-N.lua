-- rateInspect: the logs of a page of rate limits' keys, for the Inspector (read only): one call per SCAN page.
-- Input:
--   KEYS[1..k] keys: the keys a SCAN page found: rate limits' sorted sets (member = admission id, score = admission
--       time, µs), or other keys that share the prefix (only-after keys), or keys that expired since
-- Output:
--   {now, row 1, ..., row k}  -- now: Redis TIME (µs); row i for KEYS[i]:
--       {pttl, {score, ...}}  -- the key's time to live (ms; the latest admission plus the longest window it was
--       booked with) and its admissions' times, oldest first
--       {}  -- no such key, or not a rate limit's sorted set
local t = redis.call("TIME")
local reply = {tonumber(t[1]) * 1000000 + tonumber(t[2])}
for i, key in ipairs(KEYS) do
  local row = {}
  if redis.call("TYPE", key).ok == "zset" then
    local entries = redis.call("ZRANGE", key, 0, -1, "WITHSCORES")
    local scores = {}
    for j = 2, #entries, 2 do scores[#scores + 1] = entries[j] end
    row = {redis.call("PTTL", key), scores}
  end
  reply[i + 1] = row
end
return reply
