--!df flags=allow-undeclared-keys
-- release: hands a running task back for immediate redelivery (worker shutdown); the attempt is given back.
-- Input:
--   KEYS[1] task:    task key    <prefix>:{q}:task:<id>
--   KEYS[2] running: running zset <prefix>:{q}:running
--   KEYS[3] ready:   ready list  <prefix>:{q}:ready
--   KEYS[4] wake:    wake list   <prefix>:{q}:wake
--   KEYS[5] counts:  counts hash <prefix>:{q}:counts  -- the Inspector's counts (see includes.lua, newBook)
--   ARGV[1] id: the task's id
--   ARGV[2] token: lease token
--   ARGV[3] wakeCap (number): wake list cap
--   ARGV[4] wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[5] lockInfix: the queue's lock key infix "{<queue>}:" (a task holding its unique lock until it starts takes
--       it again, see giveBack in includes.lua: lock prefix .. infix .. unique key, the queue's hash tag)
-- Output: 1 done, 0 the lease is no longer the caller's (nothing changed)
local f = owned(KEYS[1], ARGV[2])
if not f then return 0 end
local book = newBook(KEYS[5])
giveBack(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], f, ARGV[3], ARGV[4], book, { infix = ARGV[5] })
flushBook(book)
return 1
