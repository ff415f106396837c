-- completeClaimMany: completeClaim for several slots of one worker in one step: each running task listed in
-- ARGV[16..] succeeded (its result is stored) if its lease is still the caller's, then one claim takes up to `max`
-- tasks per completion for the slots they free (a worker whose slots finish together: one call, not one each).
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] idle: idle zset <prefix>:{q}:idle  -- idle workers' registrations (hand-off, see includes.lua)
--   KEYS[12] parked: parked line <prefix>:{q}:parkline  -- zset: tasks parked for a worker that runs their name
--   KEYS[13] deadIndex: dead index <prefix>:{q}:index:dead  -- the bounded index of dead tasks (lapsed too often)
--   KEYS[14] skippedIndex: skipped index <prefix>:{q}:index:skipped  -- the bounded index of skipped tasks
--   KEYS[15..30] inboxes: the hand-off inboxes <prefix>:{q}:inbox:<slot>, slots 0 to 15 (see includes.lua, pickIdle)
--   ARGV[1] retentionMillis (number): retention (ms)
--   ARGV[2] channel: events channel
--   ARGV[3] claimToken: lease token of the claim: the n-th task claimed gets it for n = 1, claimToken .. ":" .. n
--       after (as claim's ARGV[1])
--   ARGV[4] leaseMillis (number): lease (ms)
--   ARGV[5] limit (number): at most this many tasks are promoted or requeued per call
--   ARGV[6] maxRedeliveries (number): most redeliveries after lapsed leases (-1: no limit)
--   ARGV[7] max (number): at most this many tasks are claimed per completion (at least 1)
--   ARGV[8] lockChannel: channel on which lock releases are announced
--   ARGV[9] lockInfix: the queue's lock name infix "{<queue>}:" (a unique task's lock name: lock prefix ..
--       infix .. unique key)
--   ARGV[10] route.names: the task names the claimer runs (as claim's ARGV[13])
--   ARGV[11] route.handOffLeaseMillis (number): the first lease of a task handed to an idle worker (ms)
--   ARGV[12] route.wakeCap (number): wake list cap
--   ARGV[13] route.wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[14] indexSize (number): the bounded index's cap (entries per state)
--   ARGV[15] claimer: the claiming worker's id, stored in each claimed task's record as `w` ("": none)
--   ARGV[16..] completions (list of [id: string, token: string, result: string]): the number of completions C,
--       then for completion i (1..C) its task's id, its lease token and its result (JSON)
-- Output: { completed, claim's reply... }  -- completed: one character per completion, in order, "1" done, "0" the
--   lease was no longer the caller's (nothing completed for it); the claim runs either way, for up to max * C
--   tasks; an idle reply has "" for its member; it ends with passed and dead, as claim's
local now = nowMillis()
local locks = { channel = ARGV[8], infix = ARGV[9] }
local c = tonumber(ARGV[16])
local Q = queueOf(unpack(KEYS, 1, 10))
Q.now = now
local counts = Q.counts
local completed = {}
-- completions by task name, counted with the claim below
local done = {}
for i = 1, c do
  local at = 16 + 3 * (i - 1)
  local f = owned(Q, ARGV[at + 1], ARGV[at + 2])
  if f then
    finish(Q, ARGV[at + 1], "succeeded", "result", ARGV[at + 3], ARGV[1], ARGV[2], now,
      lockNameOf(f[2], f[3], locks), f[4], locks.channel, nil, nil, nil, f[9] or false)
    done[f[8]] = (done[f[8]] or 0) + 1
    completed[i] = "1"
  else
    completed[i] = "0"
  end
end
local route = routeOf(ARGV[10], KEYS[12],
  handoffOf(KEYS[11], { unpack(KEYS, 15, 30) }, ARGV[11], Q.wake, ARGV[12], ARGV[13]))
local claimed, passed, dead, takenName, taken = claimTasks(Q, ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[1],
  ARGV[2], tonumber(ARGV[6]), math.max(1, tonumber(ARGV[7])) * c, now, locks, nil, route, KEYS[13], KEYS[14], ARGV[14],
  ARGV[15])
-- one HINCRBY per name when the moves of a name net out (k completed and k of the name claimed: queued>succeeded)
for name, k in pairs(done) do
  if name == takenName then
    local both = math.min(k, taken)
    if both > 0 then countNow(counts, name, "queued", "succeeded", both) end
    if k > both then countNow(counts, name, "running", "succeeded", k - both) end
    if taken > both then countNow(counts, name, "queued", "running", taken - both) end
    taken = 0
  else
    countNow(counts, name, "running", "succeeded", k)
  end
end
if taken > 0 then countNow(counts, takenName, "queued", "running", taken) end
table.insert(claimed, 1, table.concat(completed))
if claimed[2] == "idle" then table.insert(claimed, "") end
table.insert(claimed, table.concat(passed, "\n"))
table.insert(claimed, dead and table.concat(dead, "\n") or "")
return claimed
