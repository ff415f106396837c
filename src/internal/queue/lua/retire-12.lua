-- retire: a stopping worker leaves the hand-off. Its registration is removed, and every task handed to it and not
-- started goes back to the front of the line, its attempt given back (as `release` does).
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] idle: idle zset <prefix>:{q}:idle
--   KEYS[12] inbox: inbox list <prefix>:{q}:inbox:<slot>  -- the inbox of the registration's slot (any key of the
--       queue when it has none)
--   ARGV[1] registration: the worker's registration ("": none), as the claim that registered it replied: tasks
--       handed to it wait in its slot's inbox (a task found there that another registration of the slot was handed
--       goes back too: the line takes it at once)
--   ARGV[2] wakeCap (number): wake list cap
--   ARGV[3] wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[4] lockInfix: the queue's lock name infix "{<queue>}:" (a task holding its unique lock until it starts takes
--       it again, see giveBack in includes.lua: lock prefix .. infix .. unique key, the queue's hash tag)
-- Output: the number of tasks handed back
local Q = queueOf(unpack(KEYS, 1, 10))
if ARGV[1] ~= "" then redis.call("ZREM", KEYS[11], ARGV[1]) end
local n = 0
local book = newBook(Q.counts)
local registration = ARGV[1] ~= "" and idleOf(ARGV[1])
while registration and registration.slot do
  local item = redis.call("LPOP", KEYS[12])
  if not item then break end
  local t = cjson.decode(item)
  local f = owned(Q, t[1], t[6])
  if f then
    giveBack(Q, t[1], f, ARGV[2], ARGV[3], book, { infix = ARGV[4] })
    n = n + 1
  end
end
flushBook(book)
return n
