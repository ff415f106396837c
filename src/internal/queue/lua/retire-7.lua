--!df flags=allow-undeclared-keys
-- retire: a stopping worker leaves the hand-off. Its registration is removed, and every task handed to it and not
-- started goes back to the front of the line, its attempt given back (as `release` does).
-- Input:
--   KEYS[1] idle:       idle zset        <prefix>:{q}:idle
--   KEYS[2] inbox:      inbox list       <prefix>:{q}:inbox:<slot>  -- the inbox of the registration's slot (any
--       key of the queue when it has none)
--   KEYS[3] ready:      ready list       <prefix>:{q}:ready
--   KEYS[4] running:    running zset     <prefix>:{q}:running
--   KEYS[5] wake:       wake list        <prefix>:{q}:wake
--   KEYS[6] taskPrefix: task key prefix  <prefix>:{q}:task:  -- task keys are KEYS[6] .. id: same hash tag, same slot
--   KEYS[7] counts:     counts hash      <prefix>:{q}:counts  -- the Inspector's counts (see includes.lua, newBook)
--   ARGV[1] registration: the worker's registration ("": none), as the claim that registered it replied: tasks
--       handed to it wait in its slot's inbox (a task found there that another registration of the slot was handed
--       goes back too: the line takes it at once)
--   ARGV[2] wakeCap (number): wake list cap
--   ARGV[3] wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[4] lockInfix: the queue's lock key infix "{<queue>}:" (a task holding its unique lock until it starts takes
--       it again, see giveBack in includes.lua: lock prefix .. infix .. unique key, the queue's hash tag)
-- Output: the number of tasks handed back
if ARGV[1] ~= "" then redis.call("ZREM", KEYS[1], ARGV[1]) end
local n = 0
local book = newBook(KEYS[7])
local registration = ARGV[1] ~= "" and idleOf(ARGV[1])
while registration and registration.slot do
  local item = redis.call("LPOP", KEYS[2])
  if not item then break end
  local t = cjson.decode(item)
  local key = KEYS[6] .. t[1]
  local f = owned(key, t[6])
  if f then
    giveBack(key, KEYS[4], KEYS[3], KEYS[5], t[1], f, ARGV[2], ARGV[3], book, { infix = ARGV[4] })
    n = n + 1
  end
end
flushBook(book)
return n
