-- slotRelease: gives a concurrency slot back, only for its holder, and announces it.
-- Input:
--   KEYS[1] slots: the slots' sorted set
--   ARGV[1] holder: who holds the slot
--   ARGV[2] channel: channel to announce the release on
-- Output:
--   1 released, 0 this holder had no slot (its lease ended)
if redis.call("ZREM", KEYS[1], ARGV[1]) == 1 then
  redis.call("PUBLISH", ARGV[2], KEYS[1])
  return 1
end
return 0
