-- purge: an operator deletes the finished tasks of a bounded index (Admin.purge: failed, dead, skipped or cancelled),
-- optionally of one task name: their records and their index entries, in one step. Entries whose record expired or
-- left the state are dropped from the index (not counted). The counts' totals stay (totals only grow). Costs one
-- step over the index (at most indexSize entries).
-- Input:
--   KEYS[1] index: bounded index <prefix>:{q}:index:<state>  -- of the state below
--   KEYS[2] tasks: records hash <prefix>:{q}:tasks  -- task id -> its record (see includes.lua, recLoad)
--   KEYS[3] expiry: expiry zset <prefix>:{q}:expiry  -- finished records' expiry (see includes.lua, recExpire)
--   ARGV[1] state: the index's state
--   ARGV[2] name: task name ("": every name)
-- Output: how many records were deleted
local Q = recordsOf(KEYS[2])
local n = 0
for _, id in ipairs(redis.call("ZRANGE", KEYS[1], 0, -1)) do
  local f = recGet(Q, id, "s", "n")
  if f[1] ~= ARGV[1] then
    redis.call("ZREM", KEYS[1], id)
  elseif ARGV[2] == "" or f[2] == ARGV[2] then
    redis.call("HDEL", KEYS[2], id)
    redis.call("ZREM", KEYS[3], id)
    redis.call("ZREM", KEYS[1], id)
    n = n + 1
  end
end
return n
