-- slotInspect: the holders of a page of concurrency limits' keys, for the Inspector (read only): one call per SCAN
-- page.
-- Input:
--   KEYS[1..k] slots: the keys a SCAN page found: sorted sets (member = holder, score = lease expiry, ms, Redis
--       time), or keys that expired since
-- Output:
--   {now, row 1, ..., row k}  -- now: Redis time (ms); row i for KEYS[i]:
--       {holder, lease end, ...}  -- the holders whose lease has not ended, soonest first ({}: none, no such key,
--       or not a sorted set)
local now = nowMillis()
local reply = {now}
for i, key in ipairs(KEYS) do
  local row = {}
  if redis.call("TYPE", key).ok == "zset" then
    row = redis.call("ZRANGE", key, "(" .. now, "+inf", "BYSCORE", "WITHSCORES")
  end
  reply[i + 1] = row
end
return reply
