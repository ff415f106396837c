-- claim: moves due scheduled tasks to ready, requeues tasks whose lease lapsed, then claims up to ARGV[7] of the
-- oldest ready tasks, each with its own lease token.
-- Input:
--   KEYS[1] ready list      <prefix>:{q}:ready
--   KEYS[2] scheduled zset  <prefix>:{q}:scheduled
--   KEYS[3] running zset    <prefix>:{q}:running
--   KEYS[4] task key prefix <prefix>:{q}:task:  -- task keys are KEYS[4] .. id: same hash tag, same slot
--   ARGV[1] lease token (unique per claim); the n-th task claimed gets ARGV[1] for n = 1, ARGV[1] .. ":" .. n after
--   ARGV[2] lease (ms)
--   ARGV[3] at most this many tasks are promoted or requeued per call
--   ARGV[4] retention (ms) of a skipped task's record
--   ARGV[5] events channel
--   ARGV[6] most redeliveries after lapsed leases (-1: no limit); one more and the task is dead-lettered
--   ARGV[7] at most this many tasks are claimed (at least 1)
--   ARGV[8] channel on which lock releases are announced (a dead-lettered unique task's lock is freed)
--   ARGV[9] the queue's lock key infix "{<queue>}:" (a unique task's lock key: lock prefix .. infix .. unique key)
-- Output:
--   { "task", now, n, id, name, payload, attempts, trace, enqueuedAt, booked, ... }  -- n claimed tasks (n >= 1),
--       7 fields each, in claim order: state running, attempts + 1; booked "1": a rate-limit slot was booked for this
--       start when it was rescheduled; now: Redis time (ms), the claim time of every one
--   { "idle", waitMs }  -- nothing ready; waitMs until the next scheduled task or lease end, -1 if none
-- A unique task whose lock another task holds now (its own lock expired and the key was taken by a newer
-- task) is not run: it ends "skipped" with the reason. A unique task whose lock expired and is free takes
-- it again. Lock keys come from the record (set from KEYS at enqueue; same hash tag).
return claimTasks(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5],
  tonumber(ARGV[6]), math.max(1, tonumber(ARGV[7])), nowMillis(),
  { channel = ARGV[8], infix = ARGV[9] })
