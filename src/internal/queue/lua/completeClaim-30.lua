-- completeClaim: complete, then claim, in one step: a running task succeeded (its result is stored), and the
-- worker's slot it frees takes the next tasks at once, as claim does (a busy slot: one round trip per task).
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] idle: idle zset <prefix>:{q}:idle  -- idle workers' registrations (hand-off, see includes.lua)
--   KEYS[12] parked: parked line <prefix>:{q}:parkline  -- zset: tasks parked for a worker that runs their name
--   KEYS[13] deadIndex: dead index <prefix>:{q}:index:dead  -- the bounded index of dead tasks (lapsed too often)
--   KEYS[14] skippedIndex: skipped index <prefix>:{q}:index:skipped  -- the bounded index of skipped tasks
--   KEYS[15..30] inboxes: the hand-off inboxes <prefix>:{q}:inbox:<slot>, slots 0 to 15 (see includes.lua, pickIdle)
--   ARGV[1] id: the task's id
--   ARGV[2] token: lease token of the finished task
--   ARGV[3] result: result (JSON)
--   ARGV[4] retentionMillis (number): retention (ms)
--   ARGV[5] channel: events channel
--   ARGV[6] claimToken: lease token of the claim (as claim's ARGV[1])
--   ARGV[7] leaseMillis (number): lease (ms)
--   ARGV[8] limit (number): at most this many tasks are promoted or requeued per call
--   ARGV[9] maxRedeliveries (number): most redeliveries after lapsed leases (-1: no limit)
--   ARGV[10] max (number): at most this many tasks are claimed (at least 1)
--   ARGV[11] lockChannel: channel on which lock releases are announced
--   ARGV[12] lockInfix: the queue's lock name infix "{<queue>}:" (a unique task's lock name: lock prefix ..
--       infix .. unique key)
--   ARGV[13] route.names: the task names the claimer runs (as claim's ARGV[13])
--   ARGV[14] route.handOffLeaseMillis (number): the first lease of a task handed to an idle worker (ms)
--   ARGV[15] route.wakeCap (number): wake list cap
--   ARGV[16] route.wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[17] indexSize (number): the bounded index's cap (entries per state)
--   ARGV[18] claimer: the claiming worker's id, stored in each claimed task's record as `w` ("": none)
-- Output: { completed (1 done, 0 the lease was no longer the caller's: nothing completed), claim's reply... }
--   the claim runs either way; an idle reply has "" for its member; it ends with passed and dead, as claim's
local now = nowMillis()
local locks = { channel = ARGV[11], infix = ARGV[12] }
local Q = queueOf(unpack(KEYS, 1, 10))
Q.now = now
local completed = 0
local f = owned(Q, ARGV[1], ARGV[2])
if f then
  -- counted below with the claim (countClaim)
  finish(Q, ARGV[1], "succeeded", "result", ARGV[3], ARGV[4], ARGV[5], now,
    lockNameOf(f[2], f[3], locks), f[4], locks.channel, nil, nil, nil, f[9] or false)
  completed = 1
end
local route = routeOf(ARGV[13], KEYS[12],
  handoffOf(KEYS[11], { unpack(KEYS, 15, 30) }, ARGV[14], Q.wake, ARGV[15], ARGV[16]))
local claimed, passed, dead, takenName, taken = claimTasks(Q, ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[4],
  ARGV[5], tonumber(ARGV[9]), math.max(1, tonumber(ARGV[10])), now, locks, nil, route, KEYS[13], KEYS[14], ARGV[17],
  ARGV[18])
countClaim(Q.counts, f and f[8], takenName, taken)
table.insert(claimed, 1, completed)
if claimed[2] == "idle" then table.insert(claimed, "") end
table.insert(claimed, table.concat(passed, "\n"))
table.insert(claimed, dead and table.concat(dead, "\n") or "")
return claimed
