-- enqueue: creates a task record, ready now or scheduled for later (or held back by its concurrency group).
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] idle: idle zset <prefix>:{q}:idle  -- idle workers' registrations (hand-off, see includes.lua)
--   KEYS[12..27] inboxes: the hand-off inboxes <prefix>:{q}:inbox:<slot>, slots 0 to 15 (see includes.lua, pickIdle)
--   ARGV[1] id: the task's id
--   ARGV[2] name: task name
--   ARGV[3] payload: payload (JSON)
--   ARGV[4] delayMillis (number): delay in ms (0: ready now)
--   ARGV[5] trace: trace context (JSON, or "")
--   ARGV[6] wakeCap (number): wake list cap
--   ARGV[7] wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[8] handOffLeaseMillis (number): the first lease of a task handed to an idle worker (ms, at most the
--       worker's own)
--   ARGV[9] concurrencyGroup: the task's concurrency group ("": none; see includes.lua, ccAdmitOrHold)
--   ARGV[10] concurrencyLimit (number): the group's limit (ignored without a group)
-- Output: { created (1|0), state code (keys.ts) } -- created 0: a task with this id exists; nothing changed. A task
-- to run now is handed to an idle worker that runs its name, if one is registered (state: running; see
-- includes.lua, handOff). A task of a concurrency group whose group has its limit admitted is held back (state "h").
local Q = queueOf(unpack(KEYS, 1, 10))
local existing = recGet(Q, ARGV[1], "s")[1]
if existing then return { 0, existing } end
local state = createTask(Q, ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7], {},
  handoffOf(KEYS[11], { unpack(KEYS, 12, 27) }, ARGV[8], Q.wake, ARGV[6], ARGV[7]), false, nil,
  ARGV[9] ~= "" and { ARGV[9], tonumber(ARGV[10]) } or nil)
return { 1, state }
