-- lockRelease: releases a lock, only for the owner that holds it (or for anyone when forced).
-- Input:
--   KEYS[1] lock: the lock
--   ARGV[1] owner: who holds the lock ("" with ARGV[3] = "1")
--   ARGV[2] channel: channel to announce the release on (waiters wake up)
--   ARGV[3] force (boolean): "1" to release whoever holds it (operators), else "0"
-- Output:
--   1 released, 0 not held by this owner (expired, taken by another, or free)
-- The fence stays one more second so that the next one is greater.
return lockFree(KEYS[1], ARGV[1], ARGV[2], ARGV[3] == "1")
