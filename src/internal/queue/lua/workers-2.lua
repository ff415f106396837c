-- workers: the live workers' registrations for the Inspector (read only).
-- Input:
--   KEYS[1] workers:    worker registry <prefix>:{q}:workers  -- zset: worker id, scored by when its registration
--       lapses (ms)
--   KEYS[2] workerInfo: registrations   <prefix>:{q}:workerinfo  -- worker id -> its registration (JSON: field,
--       value, ...)
-- Output: { now, { id, lapses at, registration (JSON) }, ... } for each registration that has not lapsed
local now = nowMillis()
local out = { now }
local live = redis.call("ZRANGE", KEYS[1], "(" .. now, "+inf", "BYSCORE", "WITHSCORES")
if #live == 0 then return out end
local ids = {}
for i = 1, #live, 2 do ids[#ids + 1] = live[i] end
local info = redis.call("HMGET", KEYS[2], unpack(ids))
for i = 1, #ids do
  if info[i] then table.insert(out, { ids[i], live[2 * i], info[i] }) end
end
return out
