-- The queue's helpers: scripts/gen-lua.mjs ships with each script the ones it calls (and src/internal/lua/*.lua's).

-- A task record's fields and state codes: see keys.ts. Waiting tasks carry only n, p, s, e (+ r, tr, lp, l, lt, lk):
-- short names, no derived values, so that a record stays small.

-- Task records (see keys.ts): a queue keeps them in one hash, `tasks` (task id -> its record, a table of field ->
-- string packed with cmsgpack), so that a script that learns an id while it runs (popped from a list, read from a
-- sorted set) finds the record in a key it was given. A finished task's record carries "x", when it expires (ms):
-- past it the record reads as missing, and `expiry` (a sorted set: id -> that time) lets scripts sweep it (recExpire).
-- A script's queue: `Q`, the keys every script that moves tasks is given (KEYS[1..10], in this order) and the records
-- it read (each unpacked once, written back whole by every change). `locks` holds the unique tasks' locks
-- (src/internal/lua/uniqueLock.lua: `Q` is its `L`).
local function queueOf(tasks, expiry, ready, scheduled, running, wake, counts, cc, ccwait, locks)
  return { tasks = tasks, expiry = expiry, ready = ready, scheduled = scheduled, running = running, wake = wake,
    counts = counts, cc = cc, ccwait = ccwait, locks = locks, records = {} }
end

-- A script that only reads records: its `Q` (see queueOf) names the `tasks` hash only.
local function recordsOf(tasks)
  return { tasks = tasks, records = {} }
end

-- The record of task `id` (field -> string), or nil when it has none or its record expired.
local function recLoad(Q, id)
  local r = Q.records[id]
  if r == nil then
    r = false
    local packed = redis.call("HGET", Q.tasks, id)
    if packed then
      r = cmsgpack.unpack(packed)
      if r.x then
        Q.now = Q.now or nowMillis()
        if tonumber(r.x) <= Q.now then
          r = false
          Q.expired = Q.expired or {}
          Q.expired[id] = true
        end
      end
    end
    Q.records[id] = r
  end
  return r or nil
end

-- The record's `...` fields, in order, false for a missing one (as HMGET reads a hash).
local function recGet(Q, id, ...)
  local r = recLoad(Q, id)
  local fields = { ... }
  local out = {}
  for i = 1, #fields do out[i] = r and r[fields[i]] or false end
  return out
end

-- Writes task `id`'s record `r` whole.
local function recSave(Q, id, r)
  Q.records[id] = r
  redis.call("HSET", Q.tasks, id, cmsgpack.pack(r))
end

-- Sets fields of task `id`'s record (field, value, ...), creating the record when it has none (as HSET). A number
-- is kept a number (cmsgpack packs it as one; formatting it as text costs more than the rest of a write), so a
-- reader takes a field as tonumber() does, whatever its type.
local function recSet(Q, id, ...)
  local r = recLoad(Q, id) or {}
  local kv = { ... }
  for i = 1, #kv, 2 do r[kv[i]] = kv[i + 1] end
  recSave(Q, id, r)
end

-- Removes the `...` fields of task `id`'s record, if it has one (as HDEL).
local function recDel(Q, id, ...)
  local r = recLoad(Q, id)
  if not r then return end
  for _, field in ipairs({ ... }) do r[field] = nil end
  recSave(Q, id, r)
end

-- Adds `by` to the number in `field` of task `id`'s record (as HINCRBY); returns the sum.
local function recIncr(Q, id, field, by)
  local r = recLoad(Q, id) or {}
  local sum = tonumber(r[field] or "0") + by
  r[field] = sum
  recSave(Q, id, r)
  return sum
end

-- Whether task `id` has a record (as EXISTS).
local function recExists(Q, id)
  return recLoad(Q, id) ~= nil
end

-- A record as field, value, ... (as HGETALL replies).
local function recFlat(r)
  local out = {}
  for field, value in pairs(r) do
    out[#out + 1] = field
    out[#out + 1] = value
  end
  return out
end

-- Task `id`'s record (which the caller gave "x" = `at`) expires at `at`: entered in `expiry`. Once a script, up to
-- 32 records whose time has passed (at `now`) are swept from `tasks`: as many as one finish adds, and then some.
-- A record written anew after it expired (a task id enqueued again) has its own "x", or none, and stays. When only
-- finished records are left (every record is in `expiry`: see recLive), `tasks` and `expiry` expire with the last of
-- them, so that a queue that went quiet keeps nothing past its retention.
local function recExpire(Q, id, at, now)
  redis.call("ZADD", Q.expiry, at, id)
  if not Q.swept then
    Q.swept = true
    local due = redis.call("ZRANGEBYSCORE", Q.expiry, "-inf", now, "LIMIT", 0, 32)
    if #due > 0 then
      for _, old in ipairs(due) do
        local packed = redis.call("HGET", Q.tasks, old)
        local x = packed and cmsgpack.unpack(packed).x
        if x and tonumber(x) <= now then
          redis.call("HDEL", Q.tasks, old)
          Q.records[old] = false
        end
      end
      redis.call("ZREM", Q.expiry, unpack(due))
    end
  end
  if redis.call("HLEN", Q.tasks) == redis.call("ZCARD", Q.expiry) then
    local last = redis.call("ZRANGE", Q.expiry, -1, -1, "WITHSCORES")
    if last[2] then
      local ttl = math.max(1, tonumber(last[2]) - now)
      redis.call("PEXPIRE", Q.tasks, ttl)
      redis.call("PEXPIRE", Q.expiry, ttl)
      Q.persisted = false
    end
  end
end

-- Task `id`'s record is live (created, or a finished task queued again): it leaves `expiry` if a finished record of
-- its id was there (recLoad met it expired), and `tasks` and `expiry` lose the TTL recExpire gives them when only
-- finished records are left (once a script): the finished records in `tasks` stay in `expiry` until swept.
local function recLive(Q, id)
  if Q.expired and Q.expired[id] then redis.call("ZREM", Q.expiry, id) end
  if not Q.persisted then
    -- the two have a TTL together, or neither has
    if redis.call("PERSIST", Q.tasks) == 1 then redis.call("PERSIST", Q.expiry) end
    Q.persisted = true
  end
end

-- A unique task's lock name (its field in the queue's `locks`, see uniqueLock.lua), from its record's lock prefix and
-- unique key, and the queue's hash tag: `locks.infix` is "{<queue>}:" (the same for every task of the queue, so the
-- record does not store it). nil for a task without a lock. `locks.channel`: where lock releases are announced (the
-- backend's, not stored either).
local function lockNameOf(prefix, uniqueKey, locks)
  if uniqueKey then return prefix .. locks.infix .. uniqueKey end
  return nil
end

-- Leaves one wake-up token for a blocked idle worker (see keys.ts), with a TTL. At most `cap` tokens: past that, the
-- list is trimmed to its newest cap / 2 (more tokens only cause spurious wake-ups). The TTL is set when the list is
-- created and again when it is trimmed: one command per wake-up, not three.
local function wake(wakeKey, cap, ttl)
  local length = redis.call("RPUSH", wakeKey, "1")
  if length == 1 then
    redis.call("PEXPIRE", wakeKey, ttl)
  elseif length > tonumber(cap) then
    redis.call("LTRIM", wakeKey, -math.floor(tonumber(cap) / 2), -1)
    redis.call("PEXPIRE", wakeKey, ttl)
  end
end

-- A running task's state is "r:" .. its lease token: any other state drops the token with it (no HDEL).
local function isRunning(state)
  return state and string.sub(state, 1, 2) == "r:"
end

-- If task `id` is running under `token` (the claim's lease token): the record's
-- { state, lock prefix, unique key, lock keep, attempts, enqueued at, failure times, name, concurrency group };
-- otherwise nil.
local function owned(Q, id, token)
  local f = recGet(Q, id, "s", "lp", "l", "lk", "a", "e", "ft", "n", "cg")
  if f[1] == "r:" .. token then return f end
  return nil
end

-- The Inspector's bookkeeping (see keys.ts), gathered while a script runs and written once at its end (flushBook):
-- `counts` is the queue's counts hash, `index` the sorted sets of the bounded index by terminal state (failed, dead,
-- skipped: those the script can reach), `cap` and `retention` their bounds. The counts hash holds counters that
-- only increase: field "<state>:<task name>" counts tasks created in a state, field "<from>><to>:<task name>" tasks
-- that moved from one state to another; a read derives each state's count (created in it + moved in - moved out:
-- the current count of queued, scheduled and running, the total of a terminal state). One script's moves are one
-- HINCRBY when they net to one move (a task completed and the next of its name claimed: queued>succeeded).
local function newBook(countsKey, index, cap, retention)
  return { counts = countsKey, moves = {}, index = index, cap = tonumber(cap), retention = tonumber(retention) }
end

-- Counts one task named `name` moving from state `from` (nil: a new task) to `to` (state names, as in keys.ts).
local function count(book, name, from, to)
  local m = book.moves
  m[#m + 1] = name
  m[#m + 1] = from or false
  m[#m + 1] = to
end

-- The counts hash field of a move (see newBook).
local function moveField(name, from, to)
  if from then return from .. ">" .. to .. ":" .. name end
  return to .. ":" .. name
end

-- Counts `k` tasks named `name` moving from state `from` (nil: new tasks) to `to` in the counts hash `countsKey` at
-- once, without a book: the hot paths (enqueue, claim, complete) count this way, since a book's tables cost more
-- than the HINCRBY itself.
local function countNow(countsKey, name, from, to, k)
  redis.call("HINCRBY", countsKey, moveField(name, from, to), k)
end

-- Writes the moves counted: one HINCRBY for a single move, or for two of one name that chain into one (the second
-- task entered the state the first left: completeClaim's running>succeeded and queued>running are
-- queued>succeeded); otherwise one HINCRBY per distinct move.
local function flushBook(book)
  local m = book.moves
  local n = #m
  if n == 0 then return end
  if n == 3 then
    redis.call("HINCRBY", book.counts, moveField(m[1], m[2], m[3]), 1)
  elseif n == 6 and m[1] == m[4] and m[2] == m[6] then
    if m[5] ~= m[3] then redis.call("HINCRBY", book.counts, moveField(m[1], m[5], m[3]), 1) end
  else
    local sums = {}
    for i = 1, n, 3 do
      local field = moveField(m[i], m[i + 1], m[i + 2])
      sums[field] = (sums[field] or 0) + 1
    end
    for field, k in pairs(sums) do redis.call("HINCRBY", book.counts, field, k) end
  end
  book.moves = {}
end

-- Adds a task that ended in `state` to the bounded index of that state (when it has one: failed, dead, skipped), at
-- its finish time, and trims the index: entries past the retention (their records expired), then the oldest past
-- the cap. The index expires with its newest entry's record.
local function indexFinished(book, state, id, now)
  local key = book.index and book.index[state]
  if not key then return end
  redis.call("ZADD", key, now, id)
  redis.call("ZREMRANGEBYSCORE", key, "-inf", now - book.retention)
  redis.call("ZREMRANGEBYRANK", key, 0, -(book.cap + 1))
  redis.call("PEXPIRE", key, book.retention)
end

-- A claimer's task names (see claim-30.lua): "" for every name, else "\n" .. the names joined by "\n" .. "\n".
local function runsName(names, name)
  return names == "" or string.find(names, "\n" .. name .. "\n", 1, true) ~= nil
end

-- Tasks parked for a worker that runs their name (see keys.ts, `parked`): one sorted set for the queue, every member
-- at score 0 and read by lex range, "<name length>:<name>\0<seq: 15 digits>\0<id>": the length keeps each name's
-- range apart from every other name's whatever bytes names hold, and a name's oldest comes first. The order counter
-- is the member "\0seq:<n>", first in byte order; the set goes when its last parked task does (unpark). The range of
-- `name`'s members, for ZRANGEBYLEX.
local function parkRange(name)
  local p = #name .. ":" .. name
  return "[" .. p .. "\0", "(" .. p .. "\1"
end

-- The parked line's member of task `id` named `name` at `place` (its 15-digit seq, see parkRange).
local function parkedMember(name, place, id)
  return #name .. ":" .. name .. "\0" .. place .. "\0" .. id
end

-- Parks task `id` named `name` at the end of its name's line; its place ("ps") goes in its record, for a cancel to
-- find it.
local function park(Q, parkedKey, name, id)
  local last = redis.call("ZRANGEBYLEX", parkedKey, "[\0seq:", "(\0seq;", "LIMIT", 0, 1)[1]
  local seq = 1
  if last then
    seq = tonumber(string.sub(last, 6)) + 1
    redis.call("ZREM", parkedKey, last)
  end
  local place = string.format("%015d", seq)
  redis.call("ZADD", parkedKey, 0, "\0seq:" .. seq, 0, parkedMember(name, place, id))
  recSet(Q, id, "ps", place)
end

-- A parked member's id and task name (see parkRange).
local function parkedId(member)
  local digits = string.match(member, "^(%d+):")
  local length = tonumber(digits)
  return string.sub(member, #digits + length + 19), string.sub(member, #digits + 2, #digits + 1 + length)
end

-- The oldest `k` members parked for `name`.
local function parkedOldest(parkedKey, name, k)
  local lo, hi = parkRange(name)
  return redis.call("ZRANGEBYLEX", parkedKey, lo, hi, "LIMIT", 0, k)
end

-- Takes `members` out of the parked line; the set goes when only its counter is left.
local function unpark(parkedKey, members)
  if #members > 0 then redis.call("ZREM", parkedKey, unpack(members)) end
  if redis.call("ZLEXCOUNT", parkedKey, "(\0seq;", "+") == 0 then redis.call("DEL", parkedKey) end
end

-- The names with parked tasks (in the byte order of "<length>:<name>"): one lex lookup per name.
local function parkedNames(parkedKey)
  local names = {}
  local from = "(\0seq;"
  while true do
    local member = redis.call("ZRANGEBYLEX", parkedKey, from, "+", "LIMIT", 0, 1)[1]
    if not member then return names end
    local _, name = parkedId(member)
    names[#names + 1] = name
    from = "[" .. #name .. ":" .. name .. "\1"
  end
end

-- How a script hands a task to an idle worker (see pickIdle): the `idle` zset, the queue's hand-off inboxes (a table
-- of the keys, in slot order: every one is in the script's KEYS), the first lease of a handed task, the wake list and
-- its cap and TTL.
local function handoffOf(idleKey, inboxes, lease, wakeKey, cap, ttl)
  return { idle = idleKey, inboxes = inboxes, lease = tonumber(lease), wake = wakeKey, cap = cap, ttl = ttl }
end

-- How a claim routes tasks by name and hands them on (claim-30.lua and completeClaim-30.lua, ARGV[13..16]).
local function routeOf(names, parkedKey, handoff)
  return { names = names, parked = parkedKey, handoff = handoff }
end

-- An idle registration's parts (see pickIdle): worker id, lease token, lease (ms), when it lapses (ms), inbox slot
-- (nil: none) and task names; nil for a member of another shape.
local function idleOf(member)
  local worker, token, lease, lapses, slot, names = string.match(member, "^([^|]+)|([^|]+)|(%d+)|(%d+)|(%d*)|(.*)$")
  if not worker then return nil end
  return { worker = worker, token = token, lease = tonumber(lease), lapses = tonumber(lapses), slot = tonumber(slot),
    names = names }
end

-- An inbox slot for a worker registering as idle (`handoff`: see handoffOf): the slot of its previous registration
-- (`previous`, nil for none) if no live registration holds it, else the lowest free one; "" when all are held (the
-- worker is then woken through the wake list only). Lapsed registrations met on the way are dropped.
local function freeSlot(handoff, previous, now)
  local held = {}
  for _, member in ipairs(redis.call("ZRANGE", handoff.idle, 0, -1)) do
    local idle = idleOf(member)
    if idle and idle.lapses < now then
      redis.call("ZREM", handoff.idle, member)
    elseif idle and idle.slot then
      held[idle.slot] = true
    end
  end
  if previous and not held[previous] then return previous end
  for slot = 0, #handoff.inboxes - 1 do
    if not held[slot] then return slot end
  end
  return ""
end

-- Hand-off (see keys.ts): a worker whose claim finds nothing registers in the `idle` sorted set (member
-- "<worker id>|<lease token>|<lease ms>|<lapses at, ms>|<inbox slot>|<task names>", score: when it registered, ms)
-- with one of the queue's hand-off inboxes (freeSlot: at most one live registration holds a slot), and blocks on that
-- inbox as well as on the wake list. A task to run now is then claimed, in the same script, for the worker registered
-- longest that runs its name and holds an inbox (turns go round), and pushed to that inbox: it starts without a
-- claim's round trip. Lapsed registrations met on the way are dropped; live ones of workers that do not run the name,
-- or hold no inbox, are put back with their scores.
local function pickIdle(handoff, name, now)
  local skipped
  local found
  for _ = 1, 64 do
    local top = redis.call("ZPOPMIN", handoff.idle)
    if not top[1] then break end
    local idle = idleOf(top[1])
    if idle and idle.lapses >= now then
      if idle.slot and runsName(idle.names, name) then
        found = { idle.worker, idle.token, idle.lease, handoff.inboxes[idle.slot + 1] }
        break
      end
      skipped = skipped or {}
      table.insert(skipped, top[2])
      table.insert(skipped, top[1])
    end
  end
  if skipped then redis.call("ZADD", handoff.idle, unpack(skipped)) end
  -- no live registration at all: no worker is blocked on the wake list (each registers before it blocks, and its
  -- registration outlives its block by a second)
  return found, not found and not skipped
end

-- Hands the waiting task `id` to an idle worker that runs `name`, if one is registered: claimed for it (in `running`
-- with a short first lease, `handoff.lease` at most the worker's, so that a task handed to a worker that died while
-- registered is redelivered soon; the worker renews it as the task starts) and pushed to its inbox as
-- [id, name, payload, trace, enqueuedAt, token, attempts, failure times, booked]. Another idle worker, if any, is
-- woken to claim once: it learns of the short lease, and takes the task over when that lapses. Returns the lease
-- token and the worker's id, or nil; the caller sets the record's state (and `w`, the worker) and counts the move.
local function handOff(handoff, runningKey, id, name, payload, trace, attempts, enqueuedAt, failures, booked, now)
  local picked, noneIdle = pickIdle(handoff, name, now)
  if not picked then return nil, nil, noneIdle end
  local first = math.min(picked[3], handoff.lease)
  redis.call("ZADD", runningKey, now + first, id)
  local inbox = picked[4]
  redis.call("RPUSH", inbox, cjson.encode({ id, name, payload, trace, enqueuedAt, picked[2], attempts, failures,
    booked }))
  redis.call("PEXPIRE", inbox, first + 60000)
  if redis.call("EXISTS", handoff.idle) == 1 then wake(handoff.wake, handoff.cap, handoff.ttl) end
  return picked[2], picked[1]
end

-- `hold: "untilStart"` (`lk` "s", f[4] of `owned`'s fields `f`): a task whose attempt is given back (release, a
-- rate-limit reschedule: it did not run) waits again as it did before its start, so it takes its lock again for its
-- ttl (`lt`) -- if the lock is free: a duplicate that took the key meanwhile keeps it (see freeAtStart). `locks`:
-- see lockNameOf.
local function retakeOnWait(Q, id, f, locks)
  if f[4] ~= "s" then return end
  local lockName = lockNameOf(f[2], f[3], locks)
  if lockName then ulockTake(Q, lockName, id, tonumber(recGet(Q, id, "lt")[1])) end
end

-- Gives a running task back for immediate redelivery (release, and a stopping worker's unstarted hand-offs): queued
-- at the front of the line, its attempt given back (`f`: the record's fields from `owned`), one worker woken; a task
-- holding its lock until it starts takes it again (retakeOnWait; `locks`: see lockNameOf).
local function giveBack(Q, id, f, cap, ttl, book, locks)
  retakeOnWait(Q, id, f, locks)
  redis.call("ZREM", Q.running, id)
  recSet(Q, id, "s", "q", "a", tonumber(f[5]) - 1)
  count(book, f[8], "running", "queued")
  redis.call("RPUSH", Q.ready, id) -- front of the line
  wake(Q.wake, cap, ttl)
end

-- Per-key concurrency (`concurrency: { limit, key }`, admission at enqueue; see keys.ts): a task of a concurrency group
-- (record field "cg", its limit "cl") is admitted, that is queued, scheduled or running as any task, while its group
-- has fewer than its limit admitted in the queue's hash `cc` (group -> admitted count); otherwise it is held
-- back (state "h", read as queued) in the queue's sorted set `ccwait`, member "<group>\0<seq>\0<id>" (score 0,
-- "cs": its seq, 15 digits from the hash's field "\0seq", which no group can be: a group has no "\0"), so that the
-- group's oldest held-back task is the first member of the lex range "[<group>\0" .. "(<group>\1". `ccKey` and
-- `waitKey` are the queue's `cc` and `ccwait`. Returns nil when the task is admitted, else its seq (the caller stores
-- state "h" and "cs").
local function ccAdmitOrHold(ccKey, waitKey, group, limit, id)
  local admitted = tonumber(redis.call("HGET", ccKey, group) or "0")
  if admitted < limit then
    redis.call("HINCRBY", ccKey, group, 1)
    return nil
  end
  local seq = string.format("%015d", redis.call("HINCRBY", ccKey, "\0seq", 1))
  redis.call("ZADD", waitKey, 0, group .. "\0" .. seq .. "\0" .. id)
  return seq
end

-- Admits the oldest held-back tasks of `group` (see ccAdmitOrHold) while the group has fewer admitted (`admitted`)
-- than the task's limit: each is queued (pushed on `ready`, a blocked worker woken) or, when its run time "r" is
-- still ahead (a delayed task), scheduled then; counted queued>scheduled in the counts hash for the latter (a
-- held-back task counts as queued).
local function ccAdmitNext(Q, group, admitted, now)
  for _ = 1, 16 do
    local head = redis.call("ZRANGEBYLEX", Q.ccwait, "[" .. group .. "\0", "(" .. group .. "\1", "LIMIT", 0, 1)[1]
    if not head then return end
    local id = string.sub(head, #group + 18)
    local f = recGet(Q, id, "s", "cl", "r", "n")
    if f[1] == "h" then
      if admitted >= tonumber(f[2]) then return end
      admitted = redis.call("HINCRBY", Q.cc, group, 1)
      local r = recLoad(Q, id)
      r.cs = nil
      local at = tonumber(f[3])
      if at and at > now then
        r.s = "s"
        recSave(Q, id, r)
        redis.call("ZADD", Q.scheduled, at, id)
        countNow(Q.counts, f[4], "queued", "scheduled", 1)
      else
        r.s = "q"
        recSave(Q, id, r)
        redis.call("LPUSH", Q.ready, id)
      end
      wake(Q.wake, 1024, 86400000)
    end
    redis.call("ZREM", Q.ccwait, head)
  end
end

-- A task of a concurrency group ends or leaves (see ccAdmitOrHold; nothing for a task without a group): a held-back
-- task leaves the group's line; an admitted one gives its admission back and the group's oldest held-back task takes
-- it (ccAdmitNext). `id`: the task; `group`: nil (read from the record), false (the caller read the record: no group)
-- or the group of a task the caller read as running (`owned`: admitted, not held back).
local function ccRelease(Q, id, now, group)
  if group == false then return end
  local f = { group, nil }
  if group == nil then f = recGet(Q, id, "cg", "cs") end
  if not f[1] then return end
  if f[2] then
    redis.call("ZREM", Q.ccwait, f[1] .. "\0" .. f[2] .. "\0" .. id)
    recDel(Q, id, "cs")
  else
    local left = redis.call("HINCRBY", Q.cc, f[1], -1)
    if left <= 0 then
      redis.call("HDEL", Q.cc, f[1])
      left = 0
    end
    ccAdmitNext(Q, f[1], left, now)
  end
  -- no line left: the order starts again (so that the hash goes when no group has admitted tasks)
  if redis.call("EXISTS", Q.ccwait) == 0 then redis.call("HDEL", Q.cc, "\0seq") end
end

-- Creates a task record, queued now or scheduled after `delay` ms (the only place a record is created), with the
-- `extra` fields (a unique task's lock). A task to run now is handed to an idle worker that runs its name when
-- `handoff` names the queue's idle set and one is registered (see handOff). Returns the state code, and true when the
-- hand-off found no idle worker registered at all (a batch then skips the look for its next tasks: `handoff.noneIdle`);
-- counts the new task in the counts hash unless `uncounted` (the caller counts, see enqueueBatch-27.lua). `now`: the
-- script's time (nil: read from TIME here). `cc`: a task of a concurrency group, { group, limit } (nil: none), admitted
-- or held back (state "h", counted queued; see ccAdmitOrHold).
local function createTask(Q, id, name, payload, delay, trace, cap, ttl, extra, handoff, uncounted, now, cc)
  now = now or nowMillis()
  -- no id (it is the record's field name), no attempts (0 until a claim), no runAt unless delayed, no empty trace
  local r = { n = name, p = payload, s = "q", e = now }
  local token, worker, noneIdle
  local state = "queued"
  local held
  if cc then
    held = ccAdmitOrHold(Q.cc, Q.ccwait, cc[1], cc[2], id)
    r.cg, r.cl = cc[1], cc[2]
  end
  if held then
    r.s, r.cs = "h", held
    if delay > 0 then r.r = now + delay end
  elseif delay > 0 then
    r.s, r.r = "s", now + delay
    redis.call("ZADD", Q.scheduled, now + delay, id)
    state = "scheduled"
  else
    if handoff and handoff.noneIdle then
      -- a batch whose earlier task found no worker registered: none has registered since (an enqueue registers none)
      noneIdle = true
    elseif handoff then
      token, worker, noneIdle = handOff(handoff, Q.running, id, name, payload, trace, 1, now, "", "0", now)
    end
    if token then
      r.s, r.a, r.startedAt, r.w = "r:" .. token, 1, now, worker
      state = "running"
    else
      redis.call("LPUSH", Q.ready, id)
    end
  end
  if not uncounted then countNow(Q.counts, name, nil, state, 1) end
  if trace ~= "" then r.tr = trace end
  for i = 1, #extra, 2 do r[extra[i]] = extra[i + 1] end
  recLive(Q, id)
  recSave(Q, id, r)
  -- a wake-up token for a blocked idle worker, unless the hand-off found that none is registered (then nobody is
  -- blocked, and a token would only wake the next one for nothing) or the task is held back
  if not token and not noneIdle and not held then wake(Q.wake, cap, ttl) end
  return r.s, noneIdle
end

-- Creates the task `id` behind the running holder of its unique key (onDuplicate "replace",
-- "oneBehind" or a debounce, see promoteNext): scheduled at the holder's lock expiry `expiry` (promoteNext queues it
-- when the holder ends), with the lock fields `lock` ("lp", "l", "lt", and "lk" when not "until end"), its own
-- earliest start `notBefore` ("nr", when later than now) and its trace (when not ""); counted as a new scheduled task.
-- The caller names it in the holder's "nx".
local function createBehind(Q, id, name, payload, now, expiry, lock, notBefore, trace)
  local r = { n = name, p = payload, s = "s", e = now, r = expiry }
  for i = 1, #lock, 2 do r[lock[i]] = lock[i + 1] end
  if notBefore > now then r.nr = notBefore end
  if trace ~= "" then r.tr = trace end
  recLive(Q, id)
  recSave(Q, id, r)
  redis.call("ZADD", Q.scheduled, expiry, id)
  countNow(Q.counts, name, nil, "scheduled", 1)
end

-- `onDuplicate: "replace"` (see enqueueUnique-28.lua): a duplicate enqueued while the unique task `id`
-- runs is created scheduled, at the time its lock expires at the latest, and named in the running task's field "nx".
-- When that task ends and frees the lock, the lock passes to the task behind it (with its own ttl, "lt"), which is
-- queued at once (or, when its own earliest start "nr" is later, scheduled then, holding the lock: a delayed or
-- debounced duplicate): the same key never runs twice at once, and no duplicate can take the key in between. The wake
-- list's cap and TTL are the backend's constants (redis.ts). Nothing happens when the task behind is no longer
-- scheduled (cancelled, or promoted by a claim when the lock expired).
local function promoteNext(Q, id, lockName, now)
  local nextId = recGet(Q, id, "nx")[1]
  if not nextId then return end
  local f = recGet(Q, nextId, "s", "n", "lt", "nr")
  if f[1] ~= "s" then return end
  ulockTake(Q, lockName, nextId, tonumber(f[3]))
  local notBefore = tonumber(f[4])
  if notBefore and notBefore > now then
    redis.call("ZADD", Q.scheduled, notBefore, nextId)
    recSet(Q, nextId, "r", notBefore)
    -- its run time moved earlier than the lock's expiry: idle workers wait for the old one
    wake(Q.wake, 1024, 86400000)
    return
  end
  redis.call("ZREM", Q.scheduled, nextId)
  recSet(Q, nextId, "s", "q", "r", now)
  countNow(Q.counts, f[2], "scheduled", "queued", 1)
  redis.call("LPUSH", Q.ready, nextId)
  wake(Q.wake, 1024, 86400000)
end

-- Ends task `id`: terminal state (which drops the lease token), the record expires after the retention (see
-- recExpire), joiners are told.
-- A unique task's lock (`lockName`, see lockNameOf: a field of the queue's `locks`) is
-- freed with it and announced on `lockChannel`, unless it keeps the lock until expiry (`lockKeep` "1": an interval
-- task); only if it holds it (`lockKeep` "s": the lock was freed as it started, see freeAtStart). The move from state `from` is counted in `book` (the task is named `name`), and a failed, dead, skipped or
-- cancelled task is indexed (indexFinished); without a book (nil: a success, which has no index) the caller counts.
-- A task of a concurrency group gives its admission to its group's next (ccRelease; `group`: the running task's group
-- as `owned` read it, false for none, or nil: read here).
local function finish(Q, id, state, field, value, retention, channel, now, lockName, lockKeep, lockChannel, book, name,
    from, group)
  redis.call("ZREM", Q.running, id)
  local at = now + tonumber(retention)
  recSet(Q, id, "s", state, field, value, "finishedAt", now, "x", at)
  recExpire(Q, id, at, now)
  if book then
    count(book, name, from, state)
    indexFinished(book, state, id, now)
  end
  redis.call("PUBLISH", channel, id)
  ccRelease(Q, id, now, group)
  if lockName and lockKeep ~= "1" and ulockFree(Q, lockName, id, lockChannel, false) == 1 then
    promoteNext(Q, id, lockName, now)
  end
  -- its lock is left to expire: the one way an entry outlives its task, so its end sweeps (see uniqueLock.lua)
  if lockName and lockKeep == "1" then ulockSweep(Q) end
end

-- Whether the queued task `id` (record fields `f` as claimTasks reads them) may start now. A unique task whose
-- lock another task holds now (its own lock expired and the key was taken by a newer task) is not run: it ends
-- "skipped" with the reason (counted in the book `bookOf()` returns). A unique task whose lock expired and is free
-- takes it again. A task that holds its lock only until it starts (`lk` "s", f[12]) always may: see freeAtStart.
local function admit(Q, id, f, retention, channel, now, locks, bookOf)
  local lockName = lockNameOf(f[7], f[8], locks)
  if not lockName or f[12] == "s" then return true end
  local holder = ulockRead(Q, lockName)
  if not holder then
    ulockTake(Q, lockName, id, tonumber(f[9]))
    return true
  end
  if holder == id then return true end
  -- not its lock: nothing to free
  finish(Q, id, "skipped", "reason", "its unique key is held by task " .. holder, retention, channel, now, nil, nil,
    locks.channel, bookOf(), f[2], "queued")
  return false
end

-- `hold: "untilStart"` (`lk` "s", f[12]; record fields `f` as claimTasks reads them): the task `id` starts now,
-- so its lock is freed and the release announced on `locks.channel`, as `finish` does (and the key passes to a task
-- waiting behind it, see promoteNext) -- only if this task holds it: a task that waits again after it ran (a retry,
-- a lapsed lease) does not hold it, and its start leaves the key alone, whoever holds it now (one given back
-- without running may hold it again: see retakeOnWait).
local function freeAtStart(Q, id, f, now, locks)
  if f[12] ~= "s" then return end
  local lockName = lockNameOf(f[7], f[8], locks)
  if lockName and ulockFree(Q, lockName, id, locks.channel, false) == 1 then promoteNext(Q, id, lockName, now) end
end

-- Claims up to `want` of the oldest waiting tasks of the queue `Q` (see queueOf) whose names the claimer runs
-- (`route.names`, see runsName), after
-- promoting due scheduled tasks and requeueing (or, past `most` redeliveries, dead-lettering) lapsed leases; see
-- claim-30.lua for the reply. Shared by claim and completeClaim. The range scans run only when the first entry's
-- score is due (one O(1) read otherwise).
-- Routing by name: tasks parked for a name this claimer runs (that name's range of the parked line `route.parked`,
-- see parkRange) come first, oldest first. A ready task of a name it does not run is handed to an idle worker
-- that runs it (route.handoff), else parked for one (at most 100 per call); its name is returned in `passed`.
-- Each task claimed records `worker` ("": none) as `w`. Counting (the counts hash `Q.counts`, the bounded indexes
-- `deadKey` and `skippedKey` of `indexCap` entries): the claimed tasks' move (queued>running) is returned for the
-- caller to count, as `takenName` and `taken` (how many; a claim of several names counts the others at once), so
-- that a completion and the claim after it make one HINCRBY (countClaim); the rare moves (promotions, lapsed
-- leases, skips) go through a book made on the first one (a book's tables cost more than the common path's count).
-- Returns the reply, the names passed on, the names of the tasks dead-lettered (lapsed too often, one per task; nil:
-- none), takenName and taken.
local function claimTasks(Q, baseToken, lease, limit, retention, channel, most, want, now, locks, handed, route,
    deadKey, skippedKey, indexCap, worker)
  local readyKey, scheduledKey, runningKey, countsKey = Q.ready, Q.scheduled, Q.running, Q.counts
  local book
  local function bookOf()
    if not book then
      book = newBook(countsKey, { dead = deadKey, skipped = skippedKey }, indexCap, retention)
    end
    return book
  end
  local takenName, taken = nil, 0
  local firstScheduled = redis.call("ZRANGE", scheduledKey, 0, 0, "WITHSCORES")
  if firstScheduled[2] and tonumber(firstScheduled[2]) <= now then
    local due = redis.call("ZRANGEBYSCORE", scheduledKey, "-inf", now, "LIMIT", 0, limit)
    for _, id in ipairs(due) do
      redis.call("ZREM", scheduledKey, id)
      local f = recGet(Q, id, "s", "n")
      if f[1] == "s" then
        recSet(Q, id, "s", "q")
        redis.call("LPUSH", readyKey, id)
        count(bookOf(), f[2], "scheduled", "queued")
      end
    end
  end

  -- A lapsed lease: the worker died or lost Redis. The attempt it spent stays spent.
  local dead
  local firstRunning = redis.call("ZRANGE", runningKey, 0, 0, "WITHSCORES")
  if firstRunning[2] and tonumber(firstRunning[2]) <= now then
    local lapsed = redis.call("ZRANGEBYSCORE", runningKey, "-inf", now, "LIMIT", 0, limit)
    for _, id in ipairs(lapsed) do
      redis.call("ZREM", runningKey, id)
      local f = recGet(Q, id, "s", "lp", "l", "lk", "n")
      if isRunning(f[1]) then
        local redeliveries = recIncr(Q, id, "redeliveries", 1)
        if most >= 0 and redeliveries > most then
          -- its worker keeps dying on it (a poison task): dead, with the reason; a unique task's lock is freed
          finish(Q, id, "dead", "reason", "its lease lapsed " .. redeliveries .. " times: the worker " ..
            "running it keeps dying", retention, channel, now, lockNameOf(f[2], f[3], locks), f[4], locks.channel,
            bookOf(), f[5], "running")
          dead = dead or {}
          table.insert(dead, f[5])
        else
          recSet(Q, id, "s", "q")
          redis.call("RPUSH", readyKey, id) -- front of the line: it waited already
          count(bookOf(), f[5], "running", "queued")
        end
      end
    end
  end

  -- tasks an enqueue handed to this worker (claim-30.lua): claimed already, they come first and take this claim's
  -- first tokens and its lease
  local out = { "task", now, 0 }
  local passed = {}
  local n = 0
  local function token()
    if n > 1 then return baseToken .. ":" .. n end
    return baseToken
  end
  for _, t in ipairs(handed or {}) do
    if n >= want then break end
    -- still running under the hand-off's token (its short lease may have lapsed, and the task been requeued above)
    if recGet(Q, t[1], "s")[1] == "r:" .. t[6] then
      n = n + 1
      recSet(Q, t[1], "s", "r:" .. token())
      redis.call("ZADD", runningKey, now + lease, t[1])
      local i = #out
      out[i + 1], out[i + 2], out[i + 3], out[i + 4] = t[1], t[2], t[3], t[7] or 1
      out[i + 5], out[i + 6], out[i + 7], out[i + 8] = t[4], t[5], t[9] or "0", t[8] or ""
    end
  end

  -- everything a claim reads of a waiting task, in one call
  local function read(id)
    return recGet(Q, id, "s", "n", "p", "tr", "e", "a", "lp", "l", "lt", "booked", "ft", "lk")
  end
  -- claims the queued task `id` (fields `f`) for this claimer
  local function take(id, f)
    n = n + 1
    freeAtStart(Q, id, f, now, locks)
    local attempts = tonumber(f[6] or "0") + 1
    local r = recLoad(Q, id)
    r.s, r.a, r.startedAt, r.booked = "r:" .. token(), attempts, now, nil
    if worker ~= "" then r.w = worker end
    recSave(Q, id, r)
    if taken == 0 or takenName == f[2] then
      takenName, taken = f[2], taken + 1
    else
      countNow(countsKey, f[2], "queued", "running", 1)
    end
    redis.call("ZADD", runningKey, now + lease, id)
    local i = #out
    out[i + 1], out[i + 2], out[i + 3], out[i + 4] = id, f[2], f[3], attempts
    out[i + 5], out[i + 6], out[i + 7], out[i + 8] = f[4] or "", f[5], f[10] or "0", f[11] or ""
  end

  if n < want and redis.call("EXISTS", route.parked) == 1 then
    for _, name in ipairs(parkedNames(route.parked)) do
      if n >= want then break end
      if runsName(route.names, name) then
        while n < want do
          local members = parkedOldest(route.parked, name, want - n)
          unpark(route.parked, members)
          if #members == 0 then break end
          for _, member in ipairs(members) do
            local id = parkedId(member)
            local f = read(id)
            if f[1] == "q" and admit(Q, id, f, retention, channel, now, locks, bookOf) then take(id, f) end
          end
        end
      end
    end
  end

  local foreign = 0
  while n < want and foreign < 100 do
    local id = redis.call("RPOP", readyKey)
    if not id then break end
    local f = read(id)
    -- an id without a queued record (expired or stale) is dropped
    if f[1] == "q" then
      if runsName(route.names, f[2]) then
        if admit(Q, id, f, retention, channel, now, locks, bookOf) then take(id, f) end
      else
        -- another kind of worker's task: handed to an idle one that runs it, else parked for one
        foreign = foreign + 1
        table.insert(passed, f[2])
        local attempts = tonumber(f[6] or "0") + 1
        local handedTo, handedWorker
        if route.handoff and admit(Q, id, f, retention, channel, now, locks, bookOf) then
          handedTo, handedWorker = handOff(route.handoff, runningKey, id, f[2], f[3], f[4] or "", attempts,
            tonumber(f[5]), f[11] or "", f[10] or "0", now)
        end
        if handedTo then
          freeAtStart(Q, id, f, now, locks)
          local r = recLoad(Q, id)
          r.s, r.a, r.startedAt, r.w, r.booked = "r:" .. handedTo, attempts, now, handedWorker, nil
          recSave(Q, id, r)
          countNow(countsKey, f[2], "queued", "running", 1)
        elseif recGet(Q, id, "s")[1] == "q" then
          park(Q, route.parked, f[2], id)
        end
      end
    end
  end
  if book then flushBook(book) end
  if n > 0 then
    out[3] = n
    return out, passed, dead, takenName, taken
  end

  local nextAt = -1
  local s = redis.call("ZRANGE", scheduledKey, 0, 0, "WITHSCORES")
  if s[2] then nextAt = tonumber(s[2]) end
  local r = redis.call("ZRANGE", runningKey, 0, 0, "WITHSCORES")
  if r[2] and (nextAt == -1 or tonumber(r[2]) < nextAt) then nextAt = tonumber(r[2]) end
  if nextAt == -1 then return { "idle", -1 }, passed, dead, takenName, taken end
  return { "idle", math.max(0, nextAt - now) }, passed, dead, takenName, taken
end

-- Counts a completion (a task named `finished` ran to success; nil: none) and the claim after it (`taken` tasks
-- named `takenName` started, see claimTasks) in the counts hash `countsKey`: one HINCRBY when both are of one name
-- (queued>succeeded: one task left the line and one ended), else one per move.
local function countClaim(countsKey, finished, takenName, taken)
  if finished and taken > 0 and takenName == finished then
    countNow(countsKey, finished, "queued", "succeeded", 1)
    if taken > 1 then countNow(countsKey, takenName, "queued", "running", taken - 1) end
    return
  end
  if finished then countNow(countsKey, finished, "running", "succeeded", 1) end
  if taken > 0 then countNow(countsKey, takenName, "queued", "running", taken) end
end

-- Whether string `a` sorts before `b` byte by byte, as Redis orders sorted set members (Lua's `<` follows the
-- server's locale).
local function bytesBefore(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- A page of tasks being filled (pageSorted, pageQueued): at most `limit` tasks, from at most `budget` entries read
-- (a name filter skips entries). `tasks` ends with the cursor of the next page (see pageAdd).
local function pageOf(limit, budget)
  return { tasks = {}, scanned = 0, last = nil, limit = limit, budget = budget }
end

-- Reads the entry `id` at cursor position `at` into `page`: its record's `fields` (in `Q`, see recordsOf), kept as
-- `row(f)` when `keep(f)`. Returns false, with the cursor (the last entry read) appended to the tasks, when the page
-- is full.
local function pageAdd(page, at, Q, id, fields, keep, row)
  if #page.tasks >= page.limit or page.scanned >= page.budget then
    table.insert(page.tasks, page.last)
    return false
  end
  page.scanned = page.scanned + 1
  page.last = at
  local f = recGet(Q, id, unpack(fields))
  if keep(f) then table.insert(page.tasks, row(f)) end
  return true
end

-- Admin (operator actions: retry, retryAll; see retry-12.lua, retryAll-11.lua). Queues the failed or dead task `id`
-- (record fields `f` = { state, name, lock prefix, unique key, lock ttl, error, reason }) again, at the
-- back of the line like a new task: attempts, failure times, redeliveries, reschedules and the outcome are reset
-- (the error or reason is kept as `lastError`), the record no longer expires, it leaves `indexKey` (the bounded index
-- of its state) and is counted as queued in `book` (the terminal state's total stays: totals only grow). A unique
-- task takes its lock again (`locks`, see lockNameOf), a task of a concurrency group its admission (or it is held back,
-- see ccAdmitOrHold). Returns {1} requeued, or {2, holder, pttl}: another task holds
-- its unique key (nothing changed).
local function requeue(Q, id, f, indexKey, now, locks, book)
  local lockName = lockNameOf(f[3], f[4], locks)
  if lockName then
    local taken = ulockTake(Q, lockName, id, tonumber(f[5]))
    if taken[1] == 0 then return { 2, taken[2], taken[3] } end
  end
  local r = recLoad(Q, id)
  for _, field in ipairs({ "a", "ft", "error", "reason", "result", "finishedAt", "booked", "redeliveries",
    "reschedules", "startedAt", "w", "x" }) do
    r[field] = nil
  end
  r.s, r.r, r.lastError = "q", now, f[6] or f[7] or ""
  redis.call("ZREM", Q.expiry, id)
  recLive(Q, id)
  redis.call("ZREM", indexKey, id)
  count(book, f[2], nil, "queued")
  -- a task of a concurrency group is admitted again, or held back behind its group's line (ccAdmitOrHold)
  if r.cg then
    local held = ccAdmitOrHold(Q.cc, Q.ccwait, r.cg, tonumber(r.cl), id)
    if held then
      r.s, r.cs = "h", held
      recSave(Q, id, r)
      return { 1 }
    end
  end
  recSave(Q, id, r)
  redis.call("LPUSH", Q.ready, id)
  return { 1 }
end

-- `onDuplicate: { debounce, edge: "leading" | "both" }`: enqueueUnique's step for it (`Q`: its queue, see queueOf;
-- `lockName`: the unique key's lock; `a`: the script's ARGV). A key's requests come in bursts, each within `wait` (a[14]) of the one before. The burst's window
-- is the hash `windowKey`, `<prefix>:{q}:edge:<lock name>` (given in the script's KEYS), which expires when the window ends: `u` its end (ms: the latest request + wait), `f` when the burst's latest run
-- was asked for (ms), `i` that run's id, `t` the burst's trailing run ("both"). Every request moves the end.
-- Outside a window (and, "leading" with maxWait, `maxWait` or more after `f`), a request runs at once (after its
-- own delay): a new task with the key's lock ({1, state}); a run of the key that has not started yet (the waiting
-- holder, or the task waiting behind the running one) gets its payload and starts as soon as it can ({3, id,
-- state}); behind a run in progress, a new task waits (the holder's "nx", see promoteNext: {1, "s"}).
-- Inside a window, "leading" starts nothing ({2, i, wait}: the burst's latest run); "both" gives its payload to the
-- burst's trailing run, which starts `wait` from now, at most `maxWait` (a[15], -1: none) after the burst's latest
-- run ({4, id, state, startsAt}; created as above if need be), or, when a run of the key has not started yet, to
-- that run ({3, id, state}: it runs the latest payload).
local function debounceEdge(Q, lockName, a, windowKey, handoff)
  local now = nowMillis()
  local id, wait, maxWait, ttl, edge = a[1], tonumber(a[14]), tonumber(a[15]), tonumber(a[8]), a[16]
  local w = redis.call("HMGET", windowKey, "u", "f", "i", "t")
  local open = w[1] and w[3] and tonumber(w[1]) > now
  local lastRun = tonumber(w[2] or now)
  local lock = { "lp", a[10], "l", a[11], "lt", a[8] }
  -- "lk": how long the task holds the key when not until its end (a[9], as in enqueueUnique-28.lua)
  if a[9] ~= "0" then lock[7], lock[8] = "lk", a[9] end
  -- the run of the key that has not started (the task waiting behind the running holder, or the waiting holder)
  local function waitingOf(holder)
    local h = recGet(Q, holder, "s", "nx", "n")
    if h[2] then
      local b = recGet(Q, h[2], "s", "n")
      if b[1] == "s" then return { id = h[2], state = "s", name = b[2], behind = true } end
    end
    if h[1] == "q" or h[1] == "s" then return { id = holder, state = h[1], name = h[3] } end
    return nil
  end
  -- moves that run (see waitingOf) to start at `at`: behind the running holder, not before then; the holder itself is
  -- scheduled then, or queued when it is due
  local function startAt(t, at)
    if t.behind then
      recSet(Q, t.id, "nr", at)
      return "s"
    end
    if at > now then
      if t.state == "q" then
        redis.call("LREM", Q.ready, 1, t.id)
        countNow(Q.counts, t.name, "queued", "scheduled", 1)
      end
      redis.call("ZADD", Q.scheduled, at, t.id)
      recSet(Q, t.id, "s", "s", "r", at)
      return "s"
    end
    if t.state == "s" then
      redis.call("ZREM", Q.scheduled, t.id)
      recSet(Q, t.id, "s", "q", "r", now)
      countNow(Q.counts, t.name, "scheduled", "queued", 1)
      redis.call("LPUSH", Q.ready, t.id)
      wake(Q.wake, a[6], a[7])
    end
    return "q"
  end
  -- a new task (this request's) to start at `at`: with the key's lock when `taken`, else behind the holder
  -- (scheduled at the lock's expiry, named in the holder's "nx": it starts when the holder ends, not before `at`)
  local function create(taken, at)
    if taken[1] == 1 then
      -- a task that holds its key until it starts is not handed to an idle worker: a claim starts it and frees the key
      local handTo = a[9] ~= "s" and handoff or nil
      return createTask(Q, id, a[2], a[3], at - now, a[5], a[6], a[7], lock, handTo, false, now)
    end
    createBehind(Q, id, a[2], a[3], now, now + math.max(0, tonumber(taken[3])), lock, at, a[5])
    if recExists(Q, taken[2]) then recSet(Q, taken[2], "nx", id) end
    return "s"
  end
  local function remember(fields)
    redis.call("HSET", windowKey, "u", now + wait, unpack(fields))
    redis.call("PEXPIRE", windowKey, wait)
  end
  if not open or (edge == "leading" and maxWait >= 0 and now - lastRun >= maxWait) then
    local at = now + tonumber(a[4])
    local taken = ulockTake(Q, lockName, id, ttl)
    local t = taken[1] == 0 and waitingOf(taken[2])
    local run, reply
    if t then
      recSet(Q, t.id, "p", a[3])
      run, reply = t.id, { 3, t.id, startAt(t, at) }
    else
      run, reply = id, { 1, create(taken, at) }
    end
    redis.call("HDEL", windowKey, "t")
    remember({ "f", now, "i", run })
    return reply
  end
  if edge == "leading" then
    remember({})
    return { 2, w[3], wait }
  end
  local trailing = w[4]
  if trailing then
    local f = recGet(Q, trailing, "s", "startedAt")
    if f[1] ~= "s" and f[1] ~= "q" then
      -- it started (at maxWait): the next trailing run counts from that start
      lastRun = tonumber(f[2] or lastRun)
      trailing = nil
    end
  end
  local at = now + wait
  if maxWait >= 0 then at = math.min(at, lastRun + maxWait) end
  at = math.max(at, now)
  local taken = ulockTake(Q, lockName, id, ttl)
  local t = taken[1] == 0 and waitingOf(taken[2])
  local reply
  if t then
    recSet(Q, t.id, "p", a[3])
    if t.id == trailing then
      reply = { 4, t.id, startAt(t, at), at }
    else
      reply = { 3, t.id, t.state }
    end
  else
    reply = { 4, id, create(taken, at), at }
    trailing = id
  end
  if trailing then
    remember({ "f", lastRun, "t", trailing })
  else
    remember({ "f", lastRun })
    redis.call("HDEL", windowKey, "t")
  end
  return reply
end
