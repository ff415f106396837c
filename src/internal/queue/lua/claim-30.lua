-- claim: moves due scheduled tasks to ready, requeues tasks whose lease lapsed, then claims up to ARGV[7] of the
-- oldest waiting tasks whose names the claimer runs, each with its own lease token.
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] idle: idle zset <prefix>:{q}:idle  -- idle workers' registrations (hand-off, see includes.lua)
--   KEYS[12] parked: parked line <prefix>:{q}:parkline  -- zset: tasks parked for a worker that runs their name
--       (see includes.lua, parkRange)
--   KEYS[13] deadIndex: dead index <prefix>:{q}:index:dead  -- the bounded index of dead tasks (lapsed too often)
--   KEYS[14] skippedIndex: skipped index <prefix>:{q}:index:skipped  -- the bounded index of skipped tasks
--   KEYS[15..30] inboxes: the hand-off inboxes <prefix>:{q}:inbox:<slot>, slots 0 to 15 (see includes.lua, pickIdle):
--       the claim first takes what was handed to its previous registration's slot
--   ARGV[1] token: lease token (unique per claim); the n-th task claimed gets ARGV[1] for n = 1,
--       ARGV[1] .. ":" .. n after
--   ARGV[2] leaseMillis (number): lease (ms)
--   ARGV[3] limit (number): at most this many tasks are promoted or requeued per call
--   ARGV[4] retentionMillis (number): retention (ms) of a skipped task's record
--   ARGV[5] channel: events channel
--   ARGV[6] maxRedeliveries (number): most redeliveries after lapsed leases (-1: no limit); one more and the
--       task is dead-lettered
--   ARGV[7] max (number): at most this many tasks are claimed (at least 1)
--   ARGV[8] lockChannel: channel on which lock releases are announced (a dead-lettered unique task's lock is freed)
--   ARGV[9] lockInfix: the queue's lock name infix "{<queue>}:" (a unique task's lock name: lock prefix ..
--       infix .. unique key)
--   ARGV[10] worker: this worker's id, for hand-offs ("": none; the claim neither reads an inbox nor registers)
--   ARGV[11] previousRegistration: the worker's previous registration, removed first ("": none)
--   ARGV[12] idleMillis (number): the longest the worker waits when idle (ms): a registration lapses 1 s after
--       that, or after the wait until the next scheduled task or lease end if that is shorter
--   ARGV[13] route.names: the task names the claimer runs: "" for every name, else "\n" .. names joined by "\n" .. "\n"
--   ARGV[14] route.handOffLeaseMillis (number): the first lease of a task handed to an idle worker (ms, at most
--       the worker's own)
--   ARGV[15] route.wakeCap (number): wake list cap
--   ARGV[16] route.wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[17] indexSize (number): the bounded index's cap (entries per state)
--   ARGV[18] claimer: the claiming worker's id, stored in each claimed task's record as `w` ("": none)
-- Output:
--   { "task", now, n, id, name, payload, attempts, trace, enqueuedAt, booked, failures, ..., passed }  -- n claimed
--       tasks (n >= 1), 8 fields each, in claim order: state running, attempts + 1; booked "1": a rate-limit slot was
--       booked for this start when it was rescheduled; failures: when its earlier attempts failed (ms after
--       enqueuedAt, comma-separated, "" for none); now: Redis time (ms), the claim time of every one
--   { "idle", waitMs, member, passed }  -- nothing to run; waitMs until the next scheduled task or lease end, -1 if
--       none; with a worker id, the worker is registered as idle: member
--       "<worker id>|<ARGV[1]>|<ARGV[2]>|<lapses at, ms>|<inbox slot, "" for none>|<ARGV[13]>" (the worker blocks on
--       that slot's inbox; the caller removes the registration with ARGV[11] of its next
--       claim, or when it stops), scored by the time it became idle (its previous registration's score, if that was
--       still registered); "" without a worker id
--   passed (next to last): the names of the tasks this claim handed on or parked for other workers, "\n"-joined
--       ("": none)
--   dead (last): the names of the tasks this claim dead-lettered (lapsed more than ARGV[6] times), one per task,
--       "\n"-joined ("": none)
-- Tasks handed to this worker since its last claim (in its previous registration's inbox, still running under their hand-off token) come
-- first, with this claim's tokens and lease; then tasks parked for names it runs; then the ready list.
-- Lock keys come from the record (set from KEYS at enqueue; same hash tag).
local now = nowMillis()
local want = math.max(1, tonumber(ARGV[7]))
local worker = ARGV[10]
-- the previous registration's score, when it is still there: a worker that stayed idle keeps its place in line
local idleSince
local previousSlot
if ARGV[11] ~= "" then
  idleSince = redis.call("ZSCORE", KEYS[11], ARGV[11])
  if idleSince then redis.call("ZREM", KEYS[11], ARGV[11]) end
  local previous = idleOf(ARGV[11])
  previousSlot = previous and previous.slot
end
local inboxes = { unpack(KEYS, 15, 30) }
local Q = queueOf(unpack(KEYS, 1, 10))
Q.now = now
local handed = {}
if worker ~= "" and previousSlot then
  while #handed < want do
    local item = redis.call("LPOP", inboxes[previousSlot + 1])
    if not item then break end
    table.insert(handed, cjson.decode(item)) -- checked in claimTasks, after lapsed leases are requeued
  end
end
local route = routeOf(ARGV[13], KEYS[12], handoffOf(KEYS[11], inboxes, ARGV[14], Q.wake, ARGV[15], ARGV[16]))
local result, passed, dead, takenName, taken = claimTasks(Q, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4],
  ARGV[5], tonumber(ARGV[6]), want, now, { channel = ARGV[8], infix = ARGV[9] }, handed, route, KEYS[13], KEYS[14],
  ARGV[17], ARGV[18])
countClaim(Q.counts, nil, takenName, taken)
if result[1] == "idle" then
  local member = ""
  if worker ~= "" then
    local window = tonumber(ARGV[12])
    if result[2] >= 0 and result[2] < window then window = result[2] end
    -- scored by the time it became idle (the longest idle is handed the next task: a worker woken for nothing keeps
    -- its place); it lapses 1 s after the worker's wait
    member = worker .. "|" .. ARGV[1] .. "|" .. ARGV[2] .. "|" .. (now + window + 1000) .. "|" ..
      freeSlot(route.handoff, previousSlot, now) .. "|" .. ARGV[13]
    redis.call("ZADD", KEYS[11], idleSince or now, member)
    -- the set lives as long as its latest registration
    if redis.call("PTTL", KEYS[11]) < window + 1000 then redis.call("PEXPIRE", KEYS[11], window + 1000) end
  end
  table.insert(result, member)
end
table.insert(result, table.concat(passed, "\n"))
table.insert(result, dead and table.concat(dead, "\n") or "")
return result
