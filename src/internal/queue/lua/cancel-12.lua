-- cancel: an operator ends a queued, scheduled or running task "cancelled" (Admin.cancel), at once: it leaves the
-- ready list or the parked line (its place there is the record's "ps", see includes.lua, park), its concurrency group's line (a held-back task),
-- the scheduled or the running zset; a task of a concurrency group gives its admission to the group's next (ccRelease); the state
-- change drops a running task's lease token (its worker's next renew or completion finds it not owned: a completion
-- that comes first wins, and the cancel finds "succeeded"). The task's unique lock is freed if it holds it, joiners
-- are told on the events channel, the task enters the bounded index of cancelled tasks, and a running task's id is
-- published on the cancels channel, where every worker of the queue listens and interrupts it at once.
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] cancelledIndex: cancelled index <prefix>:{q}:index:cancelled  -- the bounded index of cancelled tasks
--   KEYS[12] parked: parked line <prefix>:{q}:parkline  -- tasks parked for a worker that runs their name
--   ARGV[1] id: the task's id
--   ARGV[2] retentionMillis (number): retention (ms) of the cancelled record
--   ARGV[3] channel: events channel
--   ARGV[4] lockChannel: channel on which lock releases are announced
--   ARGV[5] lockInfix: the queue's lock name infix "{<queue>}:"
--   ARGV[6] indexSize (number): the bounded index's cap (entries per state)
--   ARGV[7] cancelChannel: cancels channel <prefix>:{q}:cancels  -- a running task's id, for its worker
-- Output: {1, previous stored state} cancelled; {0, stored state} already ended (nothing changed); {-1} no such task
local Q = queueOf(unpack(KEYS, 1, 10))
local f = recGet(Q, ARGV[1], "s", "n", "lp", "l", "ps")
if not f[1] then return { -1 } end
local from
if f[1] == "q" then
  from = "queued"
  if redis.call("LREM", Q.ready, 1, ARGV[1]) == 0 and f[5] then
    unpark(KEYS[12], { parkedMember(f[2], f[5], ARGV[1]) })
  end
elseif f[1] == "h" then
  -- held back by its concurrency group (see includes.lua, ccAdmitOrHold): finish takes it out of the group's line
  from = "queued"
elseif f[1] == "s" then
  from = "scheduled"
  redis.call("ZREM", Q.scheduled, ARGV[1])
elseif isRunning(f[1]) then
  from = "running"
else
  return { 0, f[1] }
end
local book = newBook(Q.counts, { cancelled = KEYS[11] }, ARGV[6], ARGV[2])
finish(Q, ARGV[1], "cancelled", "reason", "cancelled by an operator", ARGV[2], ARGV[3], nowMillis(),
  lockNameOf(f[3], f[4], { infix = ARGV[5] }), "0", ARGV[4], book, f[2], from)
flushBook(book)
if from == "running" then redis.call("PUBLISH", ARGV[7], ARGV[1]) end
return { 1, f[1] }
