-- beat: a worker's heartbeat. Records that its task names were seen now, and reports the names with tasks parked for
-- a worker that runs them. With a timeout, parked tasks of a name no worker has run for that long (and enqueued at
-- least that long ago) are dead-lettered with the reason, oldest first, at most 100 per name per beat.
-- Input:
--   KEYS[1] names:      names hash      <prefix>:{q}:names   -- task name -> when a worker that runs it last beat (ms)
--   KEYS[2] parked:     parked names    <prefix>:{q}:parked  -- set of names with parked tasks
--   KEYS[3] running:    running zset    <prefix>:{q}:running
--   KEYS[4] taskPrefix: task key prefix <prefix>:{q}:task:   -- task keys are KEYS[4] .. id: same hash tag, same slot
--   ARGV[1] names: the worker's task names, "\n"-separated
--   ARGV[2] deadAfterMillis (number): dead-letter parked tasks of a name unseen for this long (ms); -1: never
--   ARGV[3] retentionMillis (number): retention (ms) of a dead-lettered record
--   ARGV[4] channel: events channel
--   ARGV[5] lockChannel: channel on which lock releases are announced
--   ARGV[6] lockInfix: the queue's lock key infix "{<queue>}:"
--   ARGV[7] parkedPrefix: parked list prefix <prefix>:{q}:parked:
--   ARGV[8] namesTtlMillis (number): TTL of the names hash (ms)
-- Output: { name, parked, dead-lettered now, ... } for every name with parked tasks
local now = nowMillis()
for name in string.gmatch(ARGV[1], "[^\n]+") do redis.call("HSET", KEYS[1], name, now) end
redis.call("PEXPIRE", KEYS[1], ARGV[8])
local deadAfter = tonumber(ARGV[2])
local locks = { channel = ARGV[5], infix = ARGV[6] }
local out = {}
for _, name in ipairs(redis.call("SMEMBERS", KEYS[2])) do
  local list = ARGV[7] .. name
  local dead = 0
  local seen = tonumber(redis.call("HGET", KEYS[1], name) or "0")
  if deadAfter >= 0 and now - seen > deadAfter then
    while dead < 100 do
      local id = redis.call("LINDEX", list, -1) -- the oldest
      if not id then break end
      local key = KEYS[4] .. id
      local f = redis.call("HMGET", key, "s", "e", "lp", "l", "lk")
      if f[1] == "q" and now - tonumber(f[2]) <= deadAfter then break end
      redis.call("RPOP", list)
      if f[1] == "q" then
        finish(key, KEYS[3], id, "dead", "reason", "no worker that runs task name \"" .. name .. "\" was seen for " ..
          deadAfter .. " ms", ARGV[3], ARGV[4], now, lockKeyOf(f[3], f[4], locks), f[5], locks.channel)
        dead = dead + 1
      end
    end
  end
  local left = redis.call("LLEN", list)
  if left == 0 then redis.call("SREM", KEYS[2], name) end
  table.insert(out, name)
  table.insert(out, left)
  table.insert(out, dead)
end
return out
