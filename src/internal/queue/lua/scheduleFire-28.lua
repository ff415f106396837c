-- scheduleFire: enqueues the run of one tick of a schedule, once across every scheduler, or passes it over.
-- The schedule's progress (its record's `last`) only moves forward: a tick at or before it was handled already
-- (by this or another scheduler, before a restart too), and the tick's task id (the schedule's name and the tick)
-- is the second guard. The overlap rule reads the state of the previous tick's task (`taskId`).
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] idle: idle zset <prefix>:{q}:idle  -- idle workers' registrations (hand-off, see includes.lua)
--   KEYS[12] schedules: schedules hash <prefix>:{q}:schedules  -- schedule name -> its record (JSON, see keys.ts)
--   KEYS[13..28] inboxes: the hand-off inboxes <prefix>:{q}:inbox:<slot>, slots 0 to 15 (see includes.lua, pickIdle)
--   ARGV[1] id: the tick's task id
--   ARGV[2] name: task name
--   ARGV[3] payload: payload (JSON)
--   ARGV[4] trace: trace context (JSON, or "")
--   ARGV[5] wakeCap (number): wake list cap
--   ARGV[6] wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[7] handOffLeaseMillis (number): the first lease of a task handed to an idle worker (ms)
--   ARGV[8] schedule: the schedule's name
--   ARGV[9] tick (number): the tick, epoch ms
--   ARGV[10] overlap: "skip", "bufferOne" or "allow"
-- Output:
--   { 1, state }       created (state: a code, see keys.ts)
--   { 0 }              passed: handled already
--   { 3, previous }    skipped: the previous run has not ended
--   { 4, previous }    deferred: held as the schedule's pending tick until the running previous run ends
local Q = queueOf(unpack(KEYS, 1, 10))
local tick = tonumber(ARGV[9])
local stored = redis.call("HGET", KEYS[12], ARGV[8])
local record = stored and cjson.decode(stored) or { name = ARGV[8] }
local isPending = record.pending ~= nil and tonumber(record.pending) == tick
if (record.last ~= nil and tick <= tonumber(record.last) and not isPending) or recExists(Q, ARGV[1]) then
  return { 0 }
end
local function save()
  if record.last == nil or tick > tonumber(record.last) then record.last = tick end
  redis.call("HSET", KEYS[12], ARGV[8], cjson.encode(record))
end
if ARGV[10] ~= "allow" and record.taskId ~= nil then
  local state = recGet(Q, record.taskId, "s")[1]
  local waiting = state == "q" or state == "s"
  local running = state ~= false and string.sub(state, 1, 2) == "r:"
  if waiting or running then
    if ARGV[10] == "bufferOne" and running and (record.pending == nil or isPending) then
      record.pending = tick
      save()
      return { 4, record.taskId }
    end
    if isPending then record.pending = nil end
    save()
    return { 3, record.taskId }
  end
end
local state = createTask(Q, ARGV[1], ARGV[2], ARGV[3], 0, ARGV[4], ARGV[5], ARGV[6], {},
  handoffOf(KEYS[11], { unpack(KEYS, 13, 28) }, ARGV[7], Q.wake, ARGV[5], ARGV[6]))
if isPending then record.pending = nil end
record.fired = tick
record.taskId = ARGV[1]
save()
return { 1, state }
