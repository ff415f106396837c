--!df flags=allow-undeclared-keys
-- retry: an operator queues a failed or dead task again now (Admin.retry), under the same id: see requeue in
-- includes.lua for what is reset and kept. A unique task takes its lock again, or nothing changes.
-- Input:
--   KEYS[1] task:        task key      <prefix>:{q}:task:<id>
--   KEYS[2] ready:       ready list    <prefix>:{q}:ready
--   KEYS[3] wake:        wake list     <prefix>:{q}:wake
--   KEYS[4] counts:      counts hash   <prefix>:{q}:counts        -- the Inspector's counts (see includes.lua)
--   KEYS[5] failedIndex: failed index  <prefix>:{q}:index:failed  -- the bounded index of failed tasks
--   KEYS[6] deadIndex:   dead index    <prefix>:{q}:index:dead    -- the bounded index of dead tasks
--   ARGV[1] id: the task's id
--   ARGV[2] lockInfix: the queue's lock key infix "{<queue>}:" (a unique task's lock key: lock prefix .. infix ..
--       unique key)
--   ARGV[3] wakeCap (number): wake list cap
--   ARGV[4] wakeTtlMillis (number): wake list TTL (ms)
-- Output: {1} requeued; {0, stored state} not failed or dead (nothing changed); {-1} no such task; {2, holder,
--   pttl} its unique key is held by another task (nothing changed)
local f = redis.call("HMGET", KEYS[1], "s", "n", "lp", "l", "lt", "error", "reason")
if not f[1] then return { -1 } end
if f[1] ~= "failed" and f[1] ~= "dead" then return { 0, f[1] } end
local book = newBook(KEYS[4])
local index = KEYS[5]
if f[1] == "dead" then index = KEYS[6] end
local out = requeue(KEYS[1], ARGV[1], f, KEYS[2], index, nowMillis(), { infix = ARGV[2] }, book)
if out[1] == 1 then
  flushBook(book)
  wake(KEYS[3], ARGV[3], ARGV[4])
end
return out
