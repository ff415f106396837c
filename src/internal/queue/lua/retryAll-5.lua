--!df flags=allow-undeclared-keys
-- retryAll: an operator queues again every task of the bounded index of failed or dead tasks (Admin.retryAll),
-- optionally of one task name, oldest first (so the oldest runs first), in one step: see requeue in includes.lua. A
-- unique task whose key another task holds stays where it is. Entries whose record expired or left the state are
-- dropped from the index. Costs one step over the index (at most indexSize entries).
-- Input:
--   KEYS[1] index:      bounded index   <prefix>:{q}:index:<state>  -- of the state below
--   KEYS[2] taskPrefix: task key prefix <prefix>:{q}:task:  -- task keys are KEYS[2] .. id: same hash tag, same slot
--   KEYS[3] ready:      ready list      <prefix>:{q}:ready
--   KEYS[4] wake:       wake list       <prefix>:{q}:wake
--   KEYS[5] counts:     counts hash     <prefix>:{q}:counts  -- the Inspector's counts (see includes.lua)
--   ARGV[1] state: "failed" or "dead"
--   ARGV[2] name: task name ("": every name)
--   ARGV[3] lockInfix: the queue's lock key infix "{<queue>}:"
--   ARGV[4] wakeCap (number): wake list cap
--   ARGV[5] wakeTtlMillis (number): wake list TTL (ms)
-- Output: how many tasks were requeued
local now = nowMillis()
local book = newBook(KEYS[5])
local locks = { infix = ARGV[3] }
local n = 0
for _, id in ipairs(redis.call("ZRANGE", KEYS[1], 0, -1)) do
  local key = KEYS[2] .. id
  local f = redis.call("HMGET", key, "s", "n", "lp", "l", "lt", "error", "reason")
  if f[1] ~= ARGV[1] then
    redis.call("ZREM", KEYS[1], id)
  elseif ARGV[2] == "" or f[2] == ARGV[2] then
    if requeue(key, id, f, KEYS[3], KEYS[1], now, locks, book)[1] == 1 then
      n = n + 1
      wake(KEYS[4], ARGV[4], ARGV[5])
    end
  end
end
flushBook(book)
return n
