-- schedules: every schedule's record for the Inspector (read only).
-- Input:
--   KEYS[1] schedules: schedules hash <prefix>:{q}:schedules  -- schedule name -> its record (JSON, see keys.ts)
-- Output: { now, { record (JSON), ... } }
return { nowMillis(), redis.call("HVALS", KEYS[1]) }
