--!df flags=allow-undeclared-keys
-- reschedule: moves a running task to a later time WITHOUT spending an attempt (the claim's attempt is given back).
-- A unique task keeps its lock: nothing is released (the original loses such tasks; we keep task and lock); one that
-- holds it only until it starts (it was freed by the claim) takes it again if it is free (retakeOnWait in
-- includes.lua): it did not start.
-- Input:
--   KEYS[1] task:      task key        <prefix>:{q}:task:<id>
--   KEYS[2] running:   running zset    <prefix>:{q}:running
--   KEYS[3] scheduled: scheduled zset  <prefix>:{q}:scheduled
--   KEYS[4] wake:      wake list       <prefix>:{q}:wake
--   KEYS[5] counts:    counts hash     <prefix>:{q}:counts  -- the Inspector's counts (see includes.lua, newBook)
--   ARGV[1] id: the task's id
--   ARGV[2] token: lease token
--   ARGV[3] delayMillis (number): delay (ms) from now
--   ARGV[4] wakeCap (number): wake list cap
--   ARGV[5] wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[6] booked (boolean): "1": a rate-limit slot is booked for the new run time (the next claim says so), else "0"
--   ARGV[7] lockInfix: the queue's lock key infix "{<queue>}:" (the lock key: lock prefix .. infix .. unique key, the
--       queue's hash tag)
-- Output: 1 done, 0 the lease is no longer the caller's (nothing changed)
local f = owned(KEYS[1], ARGV[2])
if not f then return 0 end
local runAt = nowMillis() + tonumber(ARGV[3])
retakeOnWait(KEYS[1], ARGV[1], f, { infix = ARGV[7] })
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("HINCRBY", KEYS[1], "reschedules", 1)
if ARGV[6] == "1" then
  redis.call("HSET", KEYS[1], "s", "s", "r", runAt, "a", tonumber(f[5]) - 1, "booked", "1")
else
  redis.call("HSET", KEYS[1], "s", "s", "r", runAt, "a", tonumber(f[5]) - 1)
end
redis.call("ZADD", KEYS[3], runAt, ARGV[1])
local book = newBook(KEYS[5])
count(book, f[8], "running", "scheduled")
flushBook(book)
wake(KEYS[4], ARGV[4], ARGV[5])
return 1
