-- reschedule: moves a running task to a later time WITHOUT spending an attempt (the claim's attempt is given back).
-- A unique task keeps its lock: nothing is released (the original loses such tasks; we keep task and lock); one that
-- holds it only until it starts (it was freed by the claim) takes it again if it is free (retakeOnWait in
-- includes.lua): it did not start.
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   ARGV[1] id: the task's id
--   ARGV[2] token: lease token
--   ARGV[3] delayMillis (number): delay (ms) from now
--   ARGV[4] wakeCap (number): wake list cap
--   ARGV[5] wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[6] booked (boolean): "1": a rate-limit slot is booked for the new run time (the next claim says so), else "0"
--   ARGV[7] lockInfix: the queue's lock name infix "{<queue>}:" (the lock name: lock prefix .. infix .. unique key, the
--       queue's hash tag)
-- Output: 1 done, 0 the lease is no longer the caller's (nothing changed)
local Q = queueOf(unpack(KEYS, 1, 10))
local f = owned(Q, ARGV[1], ARGV[2])
if not f then return 0 end
local runAt = nowMillis() + tonumber(ARGV[3])
retakeOnWait(Q, ARGV[1], f, { infix = ARGV[7] })
redis.call("ZREM", Q.running, ARGV[1])
local r = recLoad(Q, ARGV[1])
r.reschedules = tonumber(r.reschedules or "0") + 1
r.s, r.r, r.a = "s", runAt, tonumber(f[5]) - 1
if ARGV[6] == "1" then r.booked = "1" end
recSave(Q, ARGV[1], r)
redis.call("ZADD", Q.scheduled, runAt, ARGV[1])
local book = newBook(Q.counts)
count(book, f[8], "running", "scheduled")
flushBook(book)
wake(Q.wake, ARGV[4], ARGV[5])
return 1
