-- release: hands a running task back for immediate redelivery (worker shutdown); the attempt is given back.
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   ARGV[1] id: the task's id
--   ARGV[2] token: lease token
--   ARGV[3] wakeCap (number): wake list cap
--   ARGV[4] wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[5] lockInfix: the queue's lock name infix "{<queue>}:" (a task holding its unique lock until it starts takes
--       it again, see giveBack in includes.lua: lock prefix .. infix .. unique key, the queue's hash tag)
-- Output: 1 done, 0 the lease is no longer the caller's (nothing changed)
local Q = queueOf(unpack(KEYS, 1, 10))
local f = owned(Q, ARGV[1], ARGV[2])
if not f then return 0 end
local book = newBook(Q.counts)
giveBack(Q, ARGV[1], f, ARGV[3], ARGV[4], book, { infix = ARGV[5] })
flushBook(book)
return 1
