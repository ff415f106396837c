-- lockExtend: extends a lock, only for the owner that still holds it.
-- Input:
--   KEYS[1] lock: the lock
--   ARGV[1] owner: who holds the lock
--   ARGV[2] ttlMs (number): new ttl in milliseconds, from now
-- Output:
--   1 extended, 0 not held by this owner
if lockRead(KEYS[1]) == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
