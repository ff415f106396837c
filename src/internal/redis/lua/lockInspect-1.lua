-- lockInspect: reads a lock's holder, remaining time and fence together.
-- Input:
--   KEYS[1] lock: the lock
-- Output:
--   {holder, pttl, fence} when held, else {}
local holder, fence = lockRead(KEYS[1])
if not holder then return {} end
return {holder, redis.call("PTTL", KEYS[1]), fence}
