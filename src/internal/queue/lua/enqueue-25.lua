-- enqueue: creates a task record, ready now or scheduled for later (or held back by its concurrency group).
-- Input:
--   KEYS[1] task:      task key        <prefix>:{q}:task:<id>
--   KEYS[2] ready:     ready list      <prefix>:{q}:ready
--   KEYS[3] scheduled: scheduled zset  <prefix>:{q}:scheduled
--   KEYS[4] wake:      wake list       <prefix>:{q}:wake
--   KEYS[5] idle:      idle zset       <prefix>:{q}:idle  -- idle workers' registrations (hand-off, see includes.lua)
--   KEYS[6] running:   running zset    <prefix>:{q}:running
--   KEYS[7] counts:    counts hash     <prefix>:{q}:counts  -- the Inspector's counts (see includes.lua, newBook)
--   KEYS[8] cc:        concurrency     <prefix>:{q}:cc  -- per-key concurrency: group -> admitted tasks
--   KEYS[9] ccwait:    held back       <prefix>:{q}:ccwait  -- tasks held back by their group (see includes.lua,
--       ccAdmitOrHold)
--   KEYS[10..25] inboxes: the hand-off inboxes <prefix>:{q}:inbox:<slot>, slots 0 to 15 (see includes.lua, pickIdle)
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
if redis.call("EXISTS", KEYS[1]) == 1 then
  return { 0, redis.call("HGET", KEYS[1], "s") }
end
local state = createTask(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5],
  ARGV[6], ARGV[7], {}, handoffOf(KEYS[5], { unpack(KEYS, 10, 25) }, ARGV[8], KEYS[4], ARGV[6], ARGV[7]), KEYS[6],
  KEYS[7], nil, ARGV[9] ~= "" and { ARGV[9], tonumber(ARGV[10]), KEYS[8], KEYS[9] } or nil)
return { 1, state }
