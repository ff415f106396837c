-- enqueue: creates a task record, ready now or scheduled for later. The ONLY place a task record is created.
-- Input:
--   KEYS[1] task key        <prefix>:{q}:task:<id>
--   KEYS[2] ready list      <prefix>:{q}:ready
--   KEYS[3] scheduled zset  <prefix>:{q}:scheduled
--   KEYS[4] wake list       <prefix>:{q}:wake
--   (room for later keys, e.g. a uniqueness lock, as KEYS[5..], same hash tag)
--   ARGV[1] id
--   ARGV[2] task name
--   ARGV[3] payload (JSON)
--   ARGV[4] delay in ms (0: ready now)
--   ARGV[5] trace context (JSON, or "")
--   ARGV[6] wake list cap
--   ARGV[7] wake list TTL (ms)
-- Output: { created (1|0), state } -- created 0: a task with this id exists; nothing changed.
local id = ARGV[1]
if redis.call("EXISTS", KEYS[1]) == 1 then
  return { 0, redis.call("HGET", KEYS[1], "state") }
end
local now = nowMillis()
local delay = tonumber(ARGV[4])
local state = "queued"
if delay > 0 then
  state = "scheduled"
  redis.call("ZADD", KEYS[3], now + delay, id)
else
  redis.call("LPUSH", KEYS[2], id)
end
redis.call("HSET", KEYS[1], "id", id, "name", ARGV[2], "payload", ARGV[3], "state", state, "attempts", 0,
  "enqueuedAt", now, "runAt", now + delay, "trace", ARGV[5])
wake(KEYS[4], ARGV[6], ARGV[7])
return { 1, state }
