-- scheduleSync: a scheduler's read of its schedule. Writes the schedule's definition into its record (created if
-- absent; its progress kept) and returns the Redis clock with the record, in one step.
-- Input:
--   KEYS[1] schedules: schedules hash <prefix>:{q}:schedules  -- schedule name -> its record (JSON, see keys.ts)
--   ARGV[1] name: the schedule's name
--   ARGV[2] spec: the definition (JSON: name, task, cron, timeZone, everyMillis, overlap, catchUp)
-- Output: { now, record (JSON) }
local now = nowMillis()
local stored = redis.call("HGET", KEYS[1], ARGV[1])
local record = stored and cjson.decode(stored) or {}
for k, v in pairs(cjson.decode(ARGV[2])) do record[k] = v end
local text = cjson.encode(record)
redis.call("HSET", KEYS[1], ARGV[1], text)
return { now, text }
