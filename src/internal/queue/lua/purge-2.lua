--!df flags=allow-undeclared-keys
-- purge: an operator deletes the finished tasks of a bounded index (Admin.purge: failed, dead, skipped or cancelled),
-- optionally of one task name: their records and their index entries, in one step. Entries whose record expired or
-- left the state are dropped from the index (not counted). The counts' totals stay (totals only grow). Costs one
-- step over the index (at most indexSize entries).
-- Input:
--   KEYS[1] index:      bounded index   <prefix>:{q}:index:<state>  -- of the state below
--   KEYS[2] taskPrefix: task key prefix <prefix>:{q}:task:  -- task keys are KEYS[2] .. id: same hash tag, same slot
--   ARGV[1] state: the index's state
--   ARGV[2] name: task name ("": every name)
-- Output: how many records were deleted
local n = 0
for _, id in ipairs(redis.call("ZRANGE", KEYS[1], 0, -1)) do
  local key = KEYS[2] .. id
  local f = redis.call("HMGET", key, "s", "n")
  if f[1] ~= ARGV[1] then
    redis.call("ZREM", KEYS[1], id)
  elseif ARGV[2] == "" or f[2] == ARGV[2] then
    redis.call("DEL", key)
    redis.call("ZREM", KEYS[1], id)
    n = n + 1
  end
end
return n
