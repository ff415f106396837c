-- enqueueBatch: creates many tasks in one step, in the order given: what enqueue and enqueueUnique do for each, one
-- after the other (a later task sees what an earlier one did: a unique key taken by an earlier task of the batch
-- names it as the holder; an id met twice is created once), with one TIME for the batch and one HINCRBY per (task
-- name, state) instead of one per task. Atomic: all of it happens, or nothing (an error fails the whole call).
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] idle: idle zset <prefix>:{q}:idle  -- idle workers' registrations (hand-off, see includes.lua)
--   KEYS[12..27] inboxes: the hand-off inboxes <prefix>:{q}:inbox:<slot>, slots 0 to 15 (see includes.lua, pickIdle)
--   ARGV[1] wakeCap (number): wake list cap
--   ARGV[2] wakeTtlMillis (number): wake list TTL (ms)
--   ARGV[3] handOffLeaseMillis (number): the first lease of a task handed to an idle worker (ms, at most the
--       worker's own)
--   ARGV[4] lockInfix: the queue's lock name infix "{<queue>}:" (a unique task's lock is named lock prefix ..
--       infix .. unique key in `locks`)
--   ARGV[5..] tasks (list of [id: string, name: string, payload: string, delayMillis: number, trace: string, lockTtlMillis: number, keepLock: string, lockPrefix: string, uniqueKey: string, concurrencyGroup: string, concurrencyLimit: number]): the
--       number of tasks, then each task's id, name, payload (JSON), delay (ms, 0: ready now), trace context
--       (or ""), and for a unique task its lock ttl (ms; 0: not unique, its lock fields are ignored), how long it
--       holds the lock (as enqueueUnique's keepLock: "1" until it expires, "s" until it starts, not handed to an
--       idle worker; "0" until it ends), the lock prefix and the unique key; its concurrency group ("": none) and
--       the group's limit (see includes.lua, ccAdmitOrHold: a task held back is created in state "h")
-- Output: one reply per task, in order, as enqueue and enqueueUnique reply:
--   { 1, state }           created (state: a code, see keys.ts)
--   { 0, state }           a task with this id exists; nothing changed for it
--   { 2, holder, pttl }    its unique key is held by task `holder` for pttl more ms; nothing changed for it
local Q = queueOf(unpack(KEYS, 1, 10))
-- one TIME for the batch: its milliseconds for the records, its microseconds for the unique locks' fences
local time = redis.call("TIME")
local nowUs = tonumber(time[1]) * 1000000 + tonumber(time[2])
local now = math.floor(nowUs / 1000)
Q.now = now
local handoff = handoffOf(KEYS[11], { unpack(KEYS, 12, 27) }, ARGV[3], Q.wake, ARGV[1], ARGV[2])
local codes = { q = "queued", s = "scheduled", h = "queued" }
-- new tasks per "<name>\n<state>", counted once at the end, in the order first met
local counted, order = {}, {}
local out = {}
local n = tonumber(ARGV[5])
for i = 0, n - 1 do
  local a = 6 + i * 11
  -- the lock ttl as sent (the record keeps it as it is, with no number to format)
  local lockTtl = ARGV[a + 5]
  local lockName
  if lockTtl ~= "0" then lockName = ARGV[a + 7] .. ARGV[4] .. ARGV[a + 8] end
  local id, name = ARGV[a], ARGV[a + 1]
  local existing = recGet(Q, id, "s")[1]
  if existing then
    out[i + 1] = { 0, existing }
  else
    local extra = {}
    local taken
    local handTo = handoff
    if lockName then
      taken = ulockTake(Q, lockName, id, tonumber(lockTtl), nowUs)
      if taken[1] == 1 then
        extra = { "lp", ARGV[a + 7], "l", ARGV[a + 8], "lt", lockTtl }
        if ARGV[a + 6] ~= "0" then
          extra[7] = "lk"
          extra[8] = ARGV[a + 6]
          -- freed at start: a claim starts it (and frees the lock), not a hand-off
          if ARGV[a + 6] == "s" then handTo = nil end
        end
      end
    end
    if taken and taken[1] == 0 then
      out[i + 1] = { 2, taken[2], taken[3] }
    else
      -- counted below, not by createTask
      local state, noneIdle = createTask(Q, id, name, ARGV[a + 2], tonumber(ARGV[a + 3]), ARGV[a + 4], ARGV[1], ARGV[2],
        extra, handTo, true, now, ARGV[a + 9] ~= "" and { ARGV[a + 9], tonumber(ARGV[a + 10]) } or nil)
      out[i + 1] = { 1, state }
      -- no worker is registered idle: the next tasks of the batch need not look (see createTask)
      if noneIdle then handoff.noneIdle = true end
      local field = name .. "\n" .. (codes[state] or "running")
      if not counted[field] then
        counted[field] = 0
        order[#order + 1] = { field, name, codes[state] or "running" }
      end
      counted[field] = counted[field] + 1
    end
  end
end
for _, c in ipairs(order) do countNow(Q.counts, c[2], nil, c[3], counted[c[1]]) end
return out
