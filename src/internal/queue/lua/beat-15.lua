-- beat: a worker's heartbeat. Records that its task names were seen now, and reports the names with tasks parked for
-- a worker that runs them. With a timeout, parked tasks of a name no worker has run for that long (and enqueued at
-- least that long ago) are dead-lettered with the reason, oldest first, at most 100 per name per beat.
-- With a worker id, it also registers the worker for the Inspector (see keys.ts): its fields and this beat's time in
-- the registrations hash (`KEYS[15]`, field: the worker id) and its member in the registry (`KEYS[14]`, scored by
-- when the registration lapses); lapsed members and their fields are dropped. A worker that stops beating is gone
-- from the registry within that TTL (the Worker passes three beat intervals).
-- Input:
--   KEYS[1..10] queue: the queue's keys, in includes.lua's queueOf order: tasks, expiry, ready, scheduled, running,
--       wake, counts, cc, ccwait, locks (<prefix>:{q}:<name>; tasks: the records hash, expiry: when finished ones
--       expire; locks: unique task locks, see src/internal/lua/uniqueLock.lua)
--   KEYS[11] names: names hash <prefix>:{q}:names  -- task name -> when a worker that runs it last beat (ms)
--   KEYS[12] parked: parked line <prefix>:{q}:parkline  -- tasks parked for a worker that runs their name
--   KEYS[13] deadIndex: dead index <prefix>:{q}:index:dead  -- the bounded index of dead tasks
--   KEYS[14] workers: worker registry <prefix>:{q}:workers  -- zset: worker id, scored by when its registration
--       lapses (ms)
--   KEYS[15] workerInfo: registrations <prefix>:{q}:workerinfo  -- worker id -> its registration (JSON)
--   ARGV[1] names: the worker's task names, "\n"-separated
--   ARGV[2] deadAfterMillis (number): dead-letter parked tasks of a name unseen for this long (ms); -1: never
--   ARGV[3] retentionMillis (number): retention (ms) of a dead-lettered record
--   ARGV[4] channel: events channel
--   ARGV[5] lockChannel: channel on which lock releases are announced
--   ARGV[6] lockInfix: the queue's lock name infix "{<queue>}:"
--   ARGV[7] namesTtlMillis (number): TTL of the names hash (ms)
--   ARGV[8] indexSize (number): the bounded index's cap (entries per state)
--   ARGV[9] workerId: the worker's id ("": no registration)
--   ARGV[10] workerTtlMillis (number): the registration's TTL (ms)
--   ARGV[11] host: the worker's host name
--   ARGV[12] pid (number): the worker's process id
--   ARGV[13] startedAt (number): when the worker started (ms)
--   ARGV[14] concurrency (number): the worker's concurrency
--   ARGV[15] runningIds: the ids of the tasks it runs now, "\n"-separated
-- Output: { name, parked, dead-lettered now, ... } for every name with parked tasks
local now = nowMillis()
for name in string.gmatch(ARGV[1], "[^\n]+") do redis.call("HSET", KEYS[11], name, now) end
redis.call("PEXPIRE", KEYS[11], ARGV[7])
local lapsed = redis.call("ZRANGE", KEYS[14], "-inf", now, "BYSCORE")
if #lapsed > 0 then
  redis.call("HDEL", KEYS[15], unpack(lapsed))
  redis.call("ZREMRANGEBYSCORE", KEYS[14], "-inf", now)
end
if ARGV[9] ~= "" then
  local ttl = tonumber(ARGV[10])
  redis.call("HSET", KEYS[15], ARGV[9], cjson.encode({ "host", ARGV[11], "pid", ARGV[12], "startedAt", ARGV[13],
    "concurrency", ARGV[14], "names", ARGV[1], "running", ARGV[15], "beat", string.format("%d", now) }))
  redis.call("ZADD", KEYS[14], now + ttl, ARGV[9])
  -- the registry and the registrations live as long as the latest registration
  if redis.call("PTTL", KEYS[14]) < ttl then redis.call("PEXPIRE", KEYS[14], ttl) end
  if redis.call("PTTL", KEYS[15]) < ttl then redis.call("PEXPIRE", KEYS[15], ttl) end
end
local Q = queueOf(unpack(KEYS, 1, 10))
Q.now = now
local book = newBook(Q.counts, { dead = KEYS[13] }, ARGV[8], ARGV[3])
local deadAfter = tonumber(ARGV[2])
local locks = { channel = ARGV[5], infix = ARGV[6] }
local out = {}
for _, name in ipairs(parkedNames(KEYS[12])) do
  local dead = 0
  local seen = tonumber(redis.call("HGET", KEYS[11], name) or "0")
  if deadAfter >= 0 and now - seen > deadAfter then
    while dead < 100 do
      local member = parkedOldest(KEYS[12], name, 1)[1]
      if not member then break end
      local id = parkedId(member)
      local f = recGet(Q, id, "s", "e", "lp", "l", "lk")
      if f[1] == "q" and now - tonumber(f[2]) <= deadAfter then break end
      unpark(KEYS[12], { member })
      if f[1] == "q" then
        finish(Q, id, "dead", "reason", "no worker that runs task name \"" .. name .. "\" was seen for " ..
          deadAfter .. " ms", ARGV[3], ARGV[4], now, lockNameOf(f[3], f[4], locks), f[5], locks.channel, book, name,
          "queued")
        dead = dead + 1
      end
    end
  end
  local lo, hi = parkRange(name)
  local left = redis.call("ZLEXCOUNT", KEYS[12], lo, hi)
  table.insert(out, name)
  table.insert(out, left)
  table.insert(out, dead)
end
flushBook(book)
return out
