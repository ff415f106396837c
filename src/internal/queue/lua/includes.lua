-- The queue's helpers: scripts/gen-lua.mjs ships with each script the ones it calls (and src/internal/lua/*.lua's).

-- A task record's fields and state codes: see keys.ts. Waiting tasks carry only n, p, s, e (+ r, tr, lp, l, lt, lk):
-- short names, no derived values, so that a record stays a small listpack.

-- A unique task's lock key, from its record's lock prefix and unique key, and the queue's hash tag: `locks.infix` is
-- "{<queue>}:" (the same for every task of the queue, so the record does not store it). nil for a task without a lock.
-- `locks.channel`: where lock releases are announced (the backend's, not stored either).
local function lockKeyOf(prefix, uniqueKey, locks)
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

-- If the task at `key` is running under `token` (the claim's lease token): the record's
-- { state, lock prefix, unique key, lock keep, attempts, enqueued at, failure times, name, concurrency group };
-- otherwise nil.
local function owned(key, token)
  local f = redis.call("HMGET", key, "s", "lp", "l", "lk", "a", "e", "ft", "n", "cg")
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

-- A claimer's task names (see claim-26.lua): "" for every name, else "\n" .. the names joined by "\n" .. "\n".
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

-- Parks task `id` (record `key`) named `name` at the end of its name's line; its place ("ps") goes in its record, for
-- a cancel to find it.
local function park(parkedKey, name, id, key)
  local last = redis.call("ZRANGEBYLEX", parkedKey, "[\0seq:", "(\0seq;", "LIMIT", 0, 1)[1]
  local seq = 1
  if last then
    seq = tonumber(string.sub(last, 6)) + 1
    redis.call("ZREM", parkedKey, last)
  end
  local place = string.format("%015d", seq)
  redis.call("ZADD", parkedKey, 0, "\0seq:" .. seq, 0, parkedMember(name, place, id))
  redis.call("HSET", key, "ps", place)
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

-- How a claim routes tasks by name and hands them on (claim-26.lua and completeClaim-26.lua, ARGV[13..16]).
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
-- see lockKeyOf.
local function retakeOnWait(key, id, f, locks)
  if f[4] ~= "s" then return end
  local lockKey = lockKeyOf(f[2], f[3], locks)
  if lockKey then lockTake(lockKey, id, tonumber(redis.call("HGET", key, "lt"))) end
end

-- Gives a running task back for immediate redelivery (release, and a stopping worker's unstarted hand-offs): queued
-- at the front of the line, its attempt given back (`f`: the record's fields from `owned`), one worker woken; a task
-- holding its lock until it starts takes it again (retakeOnWait; `locks`: see lockKeyOf).
local function giveBack(key, runningKey, readyKey, wakeKey, id, f, cap, ttl, book, locks)
  retakeOnWait(key, id, f, locks)
  redis.call("ZREM", runningKey, id)
  redis.call("HSET", key, "s", "q", "a", tonumber(f[5]) - 1)
  count(book, f[8], "running", "queued")
  redis.call("RPUSH", readyKey, id) -- front of the line
  wake(wakeKey, cap, ttl)
end

-- Per-key concurrency (`concurrency: { limit, key }`, admission at enqueue; see keys.ts): a task of a concurrency group
-- (record field "cg", its limit "cl") is admitted, that is queued, scheduled or running as any task, while its group
-- has fewer than its limit admitted in the queue's hash `<base>cc` (group -> admitted count); otherwise it is held
-- back (state "h", read as queued) in the queue's sorted set `<base>ccwait`, member "<group>\0<seq>\0<id>" (score 0,
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
-- than the task's limit: each is queued (pushed on `<base>ready`, a blocked worker woken) or, when its run time "r" is
-- still ahead (a delayed task), scheduled then; counted queued>scheduled in the counts hash for the latter (a
-- held-back task counts as queued).
local function ccAdmitNext(base, group, admitted, now)
  local waitKey = base .. "ccwait"
  for _ = 1, 16 do
    local head = redis.call("ZRANGEBYLEX", waitKey, "[" .. group .. "\0", "(" .. group .. "\1", "LIMIT", 0, 1)[1]
    if not head then return end
    local id = string.sub(head, #group + 18)
    local key = base .. "task:" .. id
    local f = redis.call("HMGET", key, "s", "cl", "r", "n")
    if f[1] == "h" then
      if admitted >= tonumber(f[2]) then return end
      admitted = redis.call("HINCRBY", base .. "cc", group, 1)
      redis.call("HDEL", key, "cs")
      local at = tonumber(f[3])
      if at and at > now then
        redis.call("HSET", key, "s", "s")
        redis.call("ZADD", base .. "scheduled", at, id)
        countNow(base .. "counts", f[4], "queued", "scheduled", 1)
      else
        redis.call("HSET", key, "s", "q")
        redis.call("LPUSH", base .. "ready", id)
      end
      wake(base .. "wake", 1024, 86400000)
    end
    redis.call("ZREM", waitKey, head)
  end
end

-- A task of a concurrency group ends or leaves (see ccAdmitOrHold; nothing for a task without a group): a held-back
-- task leaves the group's line; an admitted one gives its admission back and the group's oldest held-back task takes
-- it (ccAdmitNext). `key`: the task's record key, `id` its id; `group`: nil (read from the record), false (the caller
-- read the record: no group) or the group of a task the caller read as running (`owned`: admitted, not held back).
local function ccRelease(key, id, now, group)
  if group == false then return end
  local f = { group, nil }
  if group == nil then f = redis.call("HMGET", key, "cg", "cs") end
  if not f[1] then return end
  local base = string.sub(key, 1, #key - #id - 5)
  if f[2] then
    redis.call("ZREM", base .. "ccwait", f[1] .. "\0" .. f[2] .. "\0" .. id)
    redis.call("HDEL", key, "cs")
  else
    local left = redis.call("HINCRBY", base .. "cc", f[1], -1)
    if left <= 0 then
      redis.call("HDEL", base .. "cc", f[1])
      left = 0
    end
    ccAdmitNext(base, f[1], left, now)
  end
  -- no line left: the order starts again (so that the hash goes when no group has admitted tasks)
  if redis.call("EXISTS", base .. "ccwait") == 0 then redis.call("HDEL", base .. "cc", "\0seq") end
end

-- Creates a task record, queued now or scheduled after `delay` ms (the only place a record is created), with the
-- `extra` fields (a unique task's lock). A task to run now is handed to an idle worker that runs its name when
-- `handoff` names the queue's idle set and one is registered (see handOff). Returns the state code, and true when the
-- hand-off found no idle worker registered at all (a batch then skips the look for its next tasks: `handoff.noneIdle`);
-- counts the new task in the counts hash `countsKey` (nil: the caller counts, see enqueueBatch-N.lua). `now`: the script's time
-- (nil: read from TIME here). `cc`: a task of a concurrency group, { group, limit, the queue's `cc` key, its `ccwait`
-- key } (nil: none), admitted or held back (state "h", counted queued; see ccAdmitOrHold).
local function createTask(key, readyKey, scheduledKey, wakeKey, id, name, payload, delay, trace, cap, ttl, extra,
    handoff, runningKey, countsKey, now, cc)
  now = now or nowMillis()
  -- no id (it is in the key), no attempts (0 until a claim), no runAt unless delayed, no empty trace
  local fields = { "n", name, "p", payload, "s", "q", "e", now }
  local token, worker, noneIdle
  local state = "queued"
  local held
  if cc then
    held = ccAdmitOrHold(cc[3], cc[4], cc[1], cc[2], id)
    for _, v in ipairs({ "cg", cc[1], "cl", cc[2] }) do extra[#extra + 1] = v end
  end
  if held then
    fields[6] = "h"
    for _, v in ipairs({ "cs", held }) do extra[#extra + 1] = v end
    if delay > 0 then
      for _, v in ipairs({ "r", now + delay }) do extra[#extra + 1] = v end
    end
  elseif delay > 0 then
    fields[6] = "s"
    fields[9] = "r"
    fields[10] = now + delay
    redis.call("ZADD", scheduledKey, now + delay, id)
    state = "scheduled"
  else
    if handoff and handoff.noneIdle then
      -- a batch whose earlier task found no worker registered: none has registered since (an enqueue registers none)
      noneIdle = true
    elseif handoff then
      token, worker, noneIdle = handOff(handoff, runningKey, id, name, payload, trace, 1, now, "", "0", now)
    end
    if token then
      fields[6] = "r:" .. token
      for _, v in ipairs({ "a", 1, "startedAt", now, "w", worker }) do fields[#fields + 1] = v end
      state = "running"
    else
      redis.call("LPUSH", readyKey, id)
    end
  end
  if countsKey then countNow(countsKey, name, nil, state, 1) end
  if trace ~= "" then
    fields[#fields + 1] = "tr"
    fields[#fields + 1] = trace
  end
  for _, v in ipairs(extra) do fields[#fields + 1] = v end
  redis.call("HSET", key, unpack(fields))
  -- a wake-up token for a blocked idle worker, unless the hand-off found that none is registered (then nobody is
  -- blocked, and a token would only wake the next one for nothing) or the task is held back
  if not token and not noneIdle and not held then wake(wakeKey, cap, ttl) end
  return fields[6], noneIdle
end

-- Creates the task `id` (record `key`) behind the running holder of its unique key (onDuplicate "replace",
-- "oneBehind" or a debounce, see promoteNext): scheduled at the holder's lock expiry `expiry` (promoteNext queues it
-- when the holder ends), with the lock fields `lock` ("lp", "l", "lt", and "lk" when not "until end"), its own
-- earliest start `notBefore` ("nr", when later than now) and its trace (when not ""); counted as a new scheduled task.
-- The caller names it in the holder's "nx".
local function createBehind(key, scheduledKey, countsKey, id, name, payload, now, expiry, lock, notBefore, trace)
  local fields = { "n", name, "p", payload, "s", "s", "e", now, "r", expiry }
  for _, v in ipairs(lock) do fields[#fields + 1] = v end
  if notBefore > now then
    fields[#fields + 1] = "nr"
    fields[#fields + 1] = notBefore
  end
  if trace ~= "" then
    fields[#fields + 1] = "tr"
    fields[#fields + 1] = trace
  end
  redis.call("HSET", key, unpack(fields))
  redis.call("ZADD", scheduledKey, expiry, id)
  countNow(countsKey, name, nil, "scheduled", 1)
end

-- `onDuplicate: "replace"` (see enqueueUnique-25.lua): a duplicate enqueued while the unique task `id` (record `key`)
-- runs is created scheduled, at the time its lock expires at the latest, and named in the running task's field "nx".
-- When that task ends and frees the lock, the lock passes to the task behind it (with its own ttl, "lt"), which is
-- queued at once (or, when its own earliest start "nr" is later, scheduled then, holding the lock: a delayed or
-- debounced duplicate): the same key never runs twice at once, and no duplicate can take the key in between. The queue's
-- keys are built from the record's key (`<prefix>:{q}:task:<id>`: the same hash tag, see ARCHITECTURE.md); the wake
-- list's cap and TTL are the backend's constants (redis.ts). Nothing happens when the task behind is no longer
-- scheduled (cancelled, or promoted by a claim when the lock expired).
local function promoteNext(key, id, lockKey, now)
  local nextId = redis.call("HGET", key, "nx")
  if not nextId then return end
  local base = string.sub(key, 1, #key - #id - 5)
  local nextKey = base .. "task:" .. nextId
  local f = redis.call("HMGET", nextKey, "s", "n", "lt", "nr")
  if f[1] ~= "s" then return end
  lockTake(lockKey, nextId, tonumber(f[3]))
  local notBefore = tonumber(f[4])
  if notBefore and notBefore > now then
    redis.call("ZADD", base .. "scheduled", notBefore, nextId)
    redis.call("HSET", nextKey, "r", notBefore)
    -- its run time moved earlier than the lock's expiry: idle workers wait for the old one
    wake(base .. "wake", 1024, 86400000)
    return
  end
  redis.call("ZREM", base .. "scheduled", nextId)
  redis.call("HSET", nextKey, "s", "q", "r", now)
  countNow(base .. "counts", f[2], "scheduled", "queued", 1)
  redis.call("LPUSH", base .. "ready", nextId)
  wake(base .. "wake", 1024, 86400000)
end

-- Ends a task: terminal state (which drops the lease token), the record expires after the retention, joiners are told.
-- A unique task's lock (`lockKey`, see lockKeyOf: it was in KEYS at enqueue and shares the queue's hash tag) is
-- freed with it and announced on `lockChannel`, unless it keeps the lock until expiry (`lockKeep` "1": an interval
-- task); only if it holds it (`lockKeep` "s": the lock was freed as it started, see freeAtStart). The move from state `from` is counted in `book` (the task is named `name`), and a failed, dead, skipped or
-- cancelled task is indexed (indexFinished); without a book (nil: a success, which has no index) the caller counts.
-- A task of a concurrency group gives its admission to its group's next (ccRelease; `group`: the running task's group
-- as `owned` read it, false for none, or nil: read here).
local function finish(key, runningKey, id, state, field, value, retention, channel, now, lockKey, lockKeep,
    lockChannel, book, name, from, group)
  redis.call("ZREM", runningKey, id)
  redis.call("HSET", key, "s", state, field, value, "finishedAt", now)
  if book then
    count(book, name, from, state)
    indexFinished(book, state, id, now)
  end
  redis.call("PEXPIRE", key, retention)
  redis.call("PUBLISH", channel, id)
  ccRelease(key, id, now, group)
  if lockKey and lockKeep ~= "1" and lockFree(lockKey, id, lockChannel, false) == 1 then
    promoteNext(key, id, lockKey, now)
  end
end

-- Whether the queued task at `key` (record fields `f` as claimTasks reads them) may start now. A unique task whose
-- lock another task holds now (its own lock expired and the key was taken by a newer task) is not run: it ends
-- "skipped" with the reason (counted in the book `bookOf()` returns). A unique task whose lock expired and is free
-- takes it again. A task that holds its lock only until it starts (`lk` "s", f[12]) always may: see freeAtStart.
local function admit(key, runningKey, id, f, retention, channel, now, locks, bookOf)
  local lockKey = lockKeyOf(f[7], f[8], locks)
  if not lockKey or f[12] == "s" then return true end
  local holder = lockRead(lockKey)
  if not holder then
    lockTake(lockKey, id, tonumber(f[9]))
    return true
  end
  if holder == id then return true end
  -- not its lock: nothing to free
  finish(key, runningKey, id, "skipped", "reason", "its unique key is held by task " .. holder, retention, channel,
    now, nil, nil, locks.channel, bookOf(), f[2], "queued")
  return false
end

-- `hold: "untilStart"` (`lk` "s", f[12]; record fields `f` as claimTasks reads them): the task at `key` starts now,
-- so its lock is freed and the release announced on `locks.channel`, as `finish` does (and the key passes to a task
-- waiting behind it, see promoteNext) -- only if this task holds it: a task that waits again after it ran (a retry,
-- a lapsed lease) does not hold it, and its start leaves the key alone, whoever holds it now (one given back
-- without running may hold it again: see retakeOnWait).
local function freeAtStart(key, id, f, now, locks)
  if f[12] ~= "s" then return end
  local lockKey = lockKeyOf(f[7], f[8], locks)
  if lockKey and lockFree(lockKey, id, locks.channel, false) == 1 then promoteNext(key, id, lockKey, now) end
end

-- Claims up to `want` of the oldest waiting tasks whose names the claimer runs (`route.names`, see runsName), after
-- promoting due scheduled tasks and requeueing (or, past `most` redeliveries, dead-lettering) lapsed leases; see
-- claim-26.lua for the reply. Shared by claim and completeClaim. The range scans run only when the first entry's
-- score is due (one O(1) read otherwise).
-- Routing by name: tasks parked for a name this claimer runs (`route.parkedPrefix .. name`, names listed in the
-- set `route.parked`) come first, oldest first. A ready task of a name it does not run is handed to an idle worker
-- that runs it (route.handoff), else parked for one (at most 100 per call); its name is returned in `passed`.
-- Each task claimed records `worker` ("": none) as `w`. Counting (the counts hash `countsKey`, the bounded indexes
-- `deadKey` and `skippedKey` of `indexCap` entries): the claimed tasks' move (queued>running) is returned for the
-- caller to count, as `takenName` and `taken` (how many; a claim of several names counts the others at once), so
-- that a completion and the claim after it make one HINCRBY (countClaim); the rare moves (promotions, lapsed
-- leases, skips) go through a book made on the first one (a book's tables cost more than the common path's count).
-- Returns the reply, the names passed on, the names of the tasks dead-lettered (lapsed too often, one per task; nil:
-- none), takenName and taken.
local function claimTasks(readyKey, scheduledKey, runningKey, taskPrefix, baseToken, lease, limit, retention, channel,
    most, want, now, locks, handed, route, countsKey, deadKey, skippedKey, indexCap, worker)
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
      local key = taskPrefix .. id
      local f = redis.call("HMGET", key, "s", "n")
      if f[1] == "s" then
        redis.call("HSET", key, "s", "q")
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
      local key = taskPrefix .. id
      local f = redis.call("HMGET", key, "s", "lp", "l", "lk", "n")
      if isRunning(f[1]) then
        local redeliveries = redis.call("HINCRBY", key, "redeliveries", 1)
        if most >= 0 and redeliveries > most then
          -- its worker keeps dying on it (a poison task): dead, with the reason; a unique task's lock is freed
          finish(key, runningKey, id, "dead", "reason", "its lease lapsed " .. redeliveries .. " times: the worker " ..
            "running it keeps dying", retention, channel, now, lockKeyOf(f[2], f[3], locks), f[4], locks.channel,
            bookOf(), f[5], "running")
          dead = dead or {}
          table.insert(dead, f[5])
        else
          redis.call("HSET", key, "s", "q")
          redis.call("RPUSH", readyKey, id) -- front of the line: it waited already
          count(bookOf(), f[5], "running", "queued")
        end
      end
    end
  end

  -- tasks an enqueue handed to this worker (claim-26.lua): claimed already, they come first and take this claim's
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
    if redis.call("HGET", taskPrefix .. t[1], "s") == "r:" .. t[6] then
      n = n + 1
      redis.call("HSET", taskPrefix .. t[1], "s", "r:" .. token())
      redis.call("ZADD", runningKey, now + lease, t[1])
      local i = #out
      out[i + 1], out[i + 2], out[i + 3], out[i + 4] = t[1], t[2], t[3], t[7] or 1
      out[i + 5], out[i + 6], out[i + 7], out[i + 8] = t[4], t[5], t[9] or "0", t[8] or ""
    end
  end

  -- everything a claim reads of a waiting task, in one call
  local function read(key)
    return redis.call("HMGET", key, "s", "n", "p", "tr", "e", "a", "lp", "l", "lt", "booked", "ft", "lk")
  end
  -- claims the queued task `id` (fields `f`) for this claimer
  local function take(key, id, f)
    n = n + 1
    freeAtStart(key, id, f, now, locks)
    local attempts = tonumber(f[6] or "0") + 1
    if worker ~= "" then
      redis.call("HSET", key, "s", "r:" .. token(), "a", attempts, "startedAt", now, "w", worker)
    else
      redis.call("HSET", key, "s", "r:" .. token(), "a", attempts, "startedAt", now)
    end
    if f[10] then redis.call("HDEL", key, "booked") end
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
            local key = taskPrefix .. id
            local f = read(key)
            if f[1] == "q" and admit(key, runningKey, id, f, retention, channel, now, locks, bookOf) then
              take(key, id, f)
            end
          end
        end
      end
    end
  end

  local foreign = 0
  while n < want and foreign < 100 do
    local id = redis.call("RPOP", readyKey)
    if not id then break end
    local key = taskPrefix .. id
    local f = read(key)
    -- an id without a queued record (expired or stale) is dropped
    if f[1] == "q" then
      if runsName(route.names, f[2]) then
        if admit(key, runningKey, id, f, retention, channel, now, locks, bookOf) then take(key, id, f) end
      else
        -- another kind of worker's task: handed to an idle one that runs it, else parked for one
        foreign = foreign + 1
        table.insert(passed, f[2])
        local attempts = tonumber(f[6] or "0") + 1
        local handedTo, handedWorker
        if route.handoff and admit(key, runningKey, id, f, retention, channel, now, locks, bookOf) then
          handedTo, handedWorker = handOff(route.handoff, runningKey, id, f[2], f[3], f[4] or "", attempts,
            tonumber(f[5]), f[11] or "", f[10] or "0", now)
        end
        if handedTo then
          freeAtStart(key, id, f, now, locks)
          redis.call("HSET", key, "s", "r:" .. handedTo, "a", attempts, "startedAt", now, "w", handedWorker)
          if f[10] then redis.call("HDEL", key, "booked") end
          countNow(countsKey, f[2], "queued", "running", 1)
        elseif redis.call("HGET", key, "s") == "q" then
          park(route.parked, f[2], id, key)
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

-- Reads the entry `id` at cursor position `at` into `page`: its record's `fields` (HMGET of `key`), kept as `row(f)`
-- when `keep(f)`. Returns false, with the cursor (the last entry read) appended to the tasks, when the page is full.
local function pageAdd(page, at, key, fields, keep, row)
  if #page.tasks >= page.limit or page.scanned >= page.budget then
    table.insert(page.tasks, page.last)
    return false
  end
  page.scanned = page.scanned + 1
  page.last = at
  local f = redis.call("HMGET", key, unpack(fields))
  if keep(f) then table.insert(page.tasks, row(f)) end
  return true
end

-- Admin (operator actions: retry, retryAll; see retry-6.lua, retryAll-5.lua). Queues the failed or dead task at `key`
-- (its id `id`, record fields `f` = { state, name, lock prefix, unique key, lock ttl, error, reason }) again, at the
-- back of the line like a new task: attempts, failure times, redeliveries, reschedules and the outcome are reset
-- (the error or reason is kept as `lastError`), the record no longer expires, it leaves `indexKey` (the bounded index
-- of its state) and is counted as queued in `book` (the terminal state's total stays: totals only grow). A unique
-- task takes its lock again (`locks`, see lockKeyOf), a task of a concurrency group its admission (or it is held back,
-- see ccAdmitOrHold). Returns {1} requeued, or {2, holder, pttl}: another task holds
-- its unique key (nothing changed).
local function requeue(key, id, f, readyKey, indexKey, now, locks, book)
  local lockKey = lockKeyOf(f[3], f[4], locks)
  if lockKey then
    local taken = lockTake(lockKey, id, tonumber(f[5]))
    if taken[1] == 0 then return { 2, taken[2], taken[3] } end
  end
  redis.call("HDEL", key, "a", "ft", "error", "reason", "result", "finishedAt", "booked", "redeliveries",
    "reschedules", "startedAt", "w")
  redis.call("HSET", key, "s", "q", "r", now, "lastError", f[6] or f[7] or "")
  redis.call("PERSIST", key)
  redis.call("ZREM", indexKey, id)
  count(book, f[2], nil, "queued")
  -- a task of a concurrency group is admitted again, or held back behind its group's line (ccAdmitOrHold)
  local cc = redis.call("HMGET", key, "cg", "cl")
  if cc[1] then
    local base = string.sub(key, 1, #key - #id - 5)
    local held = ccAdmitOrHold(base .. "cc", base .. "ccwait", cc[1], tonumber(cc[2]), id)
    if held then
      redis.call("HSET", key, "s", "h", "cs", held)
      return { 1 }
    end
  end
  redis.call("LPUSH", readyKey, id)
  return { 1 }
end

-- `onDuplicate: { debounce, edge: "leading" | "both" }`: enqueueUnique-25.lua's step for it (`k`, `a`: that script's
-- KEYS and ARGV). A key's requests come in bursts, each within `wait` (a[14]) of the one before. The burst's window
-- is the hash `windowKey`, `<prefix>:{q}:edge:<lock key>` (the script's KEYS[9]), which expires when the window ends: `u` its end (ms: the latest request + wait), `f` when the burst's latest run
-- was asked for (ms), `i` that run's id, `t` the burst's trailing run ("both"). Every request moves the end.
-- Outside a window (and, "leading" with maxWait, `maxWait` or more after `f`), a request runs at once (after its
-- own delay): a new task with the key's lock ({1, state}); a run of the key that has not started yet (the waiting
-- holder, or the task waiting behind the running one) gets its payload and starts as soon as it can ({3, id,
-- state}); behind a run in progress, a new task waits (the holder's "nx", see promoteNext: {1, "s"}).
-- Inside a window, "leading" starts nothing ({2, i, wait}: the burst's latest run); "both" gives its payload to the
-- burst's trailing run, which starts `wait` from now, at most `maxWait` (a[15], -1: none) after the burst's latest
-- run ({4, id, state, startsAt}; created as above if need be), or, when a run of the key has not started yet, to
-- that run ({3, id, state}: it runs the latest payload).
local function debounceEdge(k, a, windowKey, handoff)
  local now = nowMillis()
  local id, wait, maxWait, ttl, edge = a[1], tonumber(a[14]), tonumber(a[15]), tonumber(a[8]), a[16]
  local base = string.sub(k[1], 1, #k[1] - #id - 5)
  local w = redis.call("HMGET", windowKey, "u", "f", "i", "t")
  local open = w[1] and w[3] and tonumber(w[1]) > now
  local lastRun = tonumber(w[2] or now)
  local lock = { "lp", a[10], "l", a[11], "lt", a[8] }
  -- "lk": how long the task holds the key when not until its end (a[9], as in enqueueUnique-25.lua)
  if a[9] ~= "0" then lock[7], lock[8] = "lk", a[9] end
  -- the run of the key that has not started (the task waiting behind the running holder, or the waiting holder)
  local function waitingOf(holder)
    local hKey = base .. "task:" .. holder
    local h = redis.call("HMGET", hKey, "s", "nx", "n")
    if h[2] then
      local bKey = base .. "task:" .. h[2]
      local b = redis.call("HMGET", bKey, "s", "n")
      if b[1] == "s" then return { id = h[2], key = bKey, state = "s", name = b[2], behind = true } end
    end
    if h[1] == "q" or h[1] == "s" then return { id = holder, key = hKey, state = h[1], name = h[3] } end
    return nil
  end
  -- moves that run (see waitingOf) to start at `at`: behind the running holder, not before then; the holder itself is
  -- scheduled then, or queued when it is due
  local function startAt(t, at)
    if t.behind then
      redis.call("HSET", t.key, "nr", at)
      return "s"
    end
    if at > now then
      if t.state == "q" then
        redis.call("LREM", k[2], 1, t.id)
        countNow(k[8], t.name, "queued", "scheduled", 1)
      end
      redis.call("ZADD", k[3], at, t.id)
      redis.call("HSET", t.key, "s", "s", "r", at)
      return "s"
    end
    if t.state == "s" then
      redis.call("ZREM", k[3], t.id)
      redis.call("HSET", t.key, "s", "q", "r", now)
      countNow(k[8], t.name, "scheduled", "queued", 1)
      redis.call("LPUSH", k[2], t.id)
      wake(k[4], a[6], a[7])
    end
    return "q"
  end
  -- a new task (this request's) to start at `at`: with the key's lock when `taken`, else behind the holder
  -- (scheduled at the lock's expiry, named in the holder's "nx": it starts when the holder ends, not before `at`)
  local function create(taken, at)
    if taken[1] == 1 then
      -- a task that holds its key until it starts is not handed to an idle worker: a claim starts it and frees the key
      local handTo = a[9] ~= "s" and handoff or nil
      return createTask(k[1], k[2], k[3], k[4], id, a[2], a[3], at - now, a[5], a[6], a[7], lock, handTo, k[7], k[8],
        now)
    end
    createBehind(k[1], k[3], k[8], id, a[2], a[3], now, now + math.max(0, tonumber(taken[3])), lock, at, a[5])
    local holderKey = base .. "task:" .. taken[2]
    if redis.call("EXISTS", holderKey) == 1 then redis.call("HSET", holderKey, "nx", id) end
    return "s"
  end
  local function remember(fields)
    redis.call("HSET", windowKey, "u", now + wait, unpack(fields))
    redis.call("PEXPIRE", windowKey, wait)
  end
  if not open or (edge == "leading" and maxWait >= 0 and now - lastRun >= maxWait) then
    local at = now + tonumber(a[4])
    local taken = lockTake(k[5], id, ttl)
    local t = taken[1] == 0 and waitingOf(taken[2])
    local run, reply
    if t then
      redis.call("HSET", t.key, "p", a[3])
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
    local f = redis.call("HMGET", base .. "task:" .. trailing, "s", "startedAt")
    if f[1] ~= "s" and f[1] ~= "q" then
      -- it started (at maxWait): the next trailing run counts from that start
      lastRun = tonumber(f[2] or lastRun)
      trailing = nil
    end
  end
  local at = now + wait
  if maxWait >= 0 then at = math.min(at, lastRun + maxWait) end
  at = math.max(at, now)
  local taken = lockTake(k[5], id, ttl)
  local t = taken[1] == 0 and waitingOf(taken[2])
  local reply
  if t then
    redis.call("HSET", t.key, "p", a[3])
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
