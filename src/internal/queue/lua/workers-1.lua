--!df flags=allow-undeclared-keys
-- workers: the live workers' registrations for the Inspector (read only).
-- Input:
--   KEYS[1] workers: worker registry <prefix>:{q}:workers  -- zset: worker id, scored by when its registration
--       lapses (ms)
--   ARGV[1] workerPrefix: worker hash prefix <prefix>:{q}:worker:  -- a worker's hash is ARGV[1] .. its id (same
--       slot)
-- Output: { now, { id, lapses at, { field, value, ... } }, ... } for each registration that has not lapsed
local now = nowMillis()
local out = { now }
local live = redis.call("ZRANGE", KEYS[1], "(" .. now, "+inf", "BYSCORE", "WITHSCORES")
for i = 1, #live, 2 do
  local fields = redis.call("HGETALL", ARGV[1] .. live[i])
  if #fields > 0 then table.insert(out, { live[i], live[i + 1], fields }) end
end
return out
