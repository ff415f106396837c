-- retry: an operator queues a failed or dead task again now (Admin.retry), under the same id: see requeue in
-- includes.lua for what is reset and kept. A unique task takes its lock again, or nothing changes.
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] failedIndex: failed index <prefix>:{q}:index:failed  -- the bounded index of failed tasks
--   KEYS[12] deadIndex: dead index <prefix>:{q}:index:dead  -- the bounded index of dead tasks
--   ARGV[1] id: the task's id
--   ARGV[2] lockInfix: the queue's lock name infix "{<queue>}:" (a unique task's lock name: lock prefix .. infix ..
--       unique key)
--   ARGV[3] wakeCap (number): wake list cap
--   ARGV[4] wakeTtlMillis (number): wake list TTL (ms)
-- Output: {1} requeued; {0, stored state} not failed or dead (nothing changed); {-1} no such task; {2, holder,
--   pttl} its unique key is held by another task (nothing changed)
local Q = queueOf(unpack(KEYS, 1, 10))
local f = recGet(Q, ARGV[1], "s", "n", "lp", "l", "lt", "error", "reason")
if not f[1] then return { -1 } end
if f[1] ~= "failed" and f[1] ~= "dead" then return { 0, f[1] } end
local book = newBook(Q.counts)
local index = KEYS[11]
if f[1] == "dead" then index = KEYS[12] end
local out = requeue(Q, ARGV[1], f, index, nowMillis(), { infix = ARGV[2] }, book)
if out[1] == 1 then
  flushBook(book)
  wake(Q.wake, ARGV[3], ARGV[4])
end
return out
