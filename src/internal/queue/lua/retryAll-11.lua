-- retryAll: an operator queues again every task of the bounded index of failed or dead tasks (Admin.retryAll),
-- optionally of one task name, oldest first (so the oldest runs first), in one step: see requeue in includes.lua. A
-- unique task whose key another task holds stays where it is. Entries whose record expired or left the state are
-- dropped from the index. Costs one step over the index (at most indexSize entries).
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] index: bounded index <prefix>:{q}:index:<state>  -- of the state below
--   ARGV[1] state: "failed" or "dead"
--   ARGV[2] name: task name ("": every name)
--   ARGV[3] lockInfix: the queue's lock name infix "{<queue>}:"
--   ARGV[4] wakeCap (number): wake list cap
--   ARGV[5] wakeTtlMillis (number): wake list TTL (ms)
-- Output: how many tasks were requeued
local now = nowMillis()
local Q = queueOf(unpack(KEYS, 1, 10))
local book = newBook(Q.counts)
local locks = { infix = ARGV[3] }
local n = 0
for _, id in ipairs(redis.call("ZRANGE", KEYS[11], 0, -1)) do
  local f = recGet(Q, id, "s", "n", "lp", "l", "lt", "error", "reason")
  if f[1] ~= ARGV[1] then
    redis.call("ZREM", KEYS[11], id)
  elseif ARGV[2] == "" or f[2] == ARGV[2] then
    if requeue(Q, id, f, KEYS[11], now, locks, book)[1] == 1 then
      n = n + 1
      wake(Q.wake, ARGV[4], ARGV[5])
    end
  end
end
flushBook(book)
return n
