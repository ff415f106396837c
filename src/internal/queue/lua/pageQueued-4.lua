-- pageQueued: one page of the queued tasks, after a cursor (read only). The queued tasks are the ready list (from its
-- newest entry, the left end, to its oldest), then each name's parked tasks, by name (byte order), newest first, then the
-- tasks held back by their concurrency group (the queue's `ccwait`, built from KEYS[3]: same slot; by group, each
-- group's oldest first; see includes.lua, ccAdmitOrHold).
-- Input:
--   KEYS[1] ready:      ready list      <prefix>:{q}:ready
--   KEYS[2] parked:     parked line     <prefix>:{q}:parkline  -- tasks parked for a worker that runs their name
--   KEYS[3] tasks: records hash <prefix>:{q}:tasks  -- task id -> its record (see includes.lua, recLoad)
--   KEYS[4] ccwait: held back <prefix>:{q}:ccwait  -- tasks held back by their concurrency group
--   ARGV[1] name: task name ("": every name; else the ready list and that name's parked list only)
--   ARGV[2] limit (number): at most this many tasks on the page
--   ARGV[3] budget (number): at most this many entries read for the page (a name filter skips the others)
--   ARGV[4] afterList: the cursor's list: "ready", "parked:<name>" or "held" ("": from the start)
--   ARGV[5] afterId: the cursor's id: the page starts after it in its list. A claim takes the ready list's oldest
--       entries first: when the cursor's id is no longer in it, every entry after it was claimed too, and the page
--       goes on with the next list. In a parked list and in "held", the cursor is a member of the parked line or of
--       `ccwait`: the page goes on after it in its order, whether or not it is still there.
-- Output: { { id, name, run at, enqueued at, attempts, "", "q" }, ..., next } -- next: { list, id } of the last entry
--   read when the page stopped early ({} when there is nothing more)
local Q = recordsOf(KEYS[3])
local page = pageOf(tonumber(ARGV[2]), tonumber(ARGV[3]))
local fields = { "s", "n", "e", "r", "a" }
local function keep(f) return f[1] == "q" and (ARGV[1] == "" or f[2] == ARGV[1]) end
local lists = { "ready" }
local names = parkedNames(KEYS[2])
table.sort(names, bytesBefore)
for _, name in ipairs(names) do
  if ARGV[1] == "" or ARGV[1] == name then table.insert(lists, "parked:" .. name) end
end
local started = ARGV[4] == ""
for _, list in ipairs(lists) do
  local from = 0
  local resume
  local go = true
  if not started then
    if list == ARGV[4] then
      started = true
      if list ~= "ready" then
        resume = ARGV[5]
      else
        local at = redis.call("LPOS", KEYS[1], ARGV[5])
        if at then from = at + 1 else go = false end
      end
    elseif ARGV[4] == "ready" or (list ~= "ready" and bytesBefore(ARGV[4], list)) then
      started = true -- the cursor's list is gone: the lists after it
    else
      go = false
    end
  end
  if list == "ready" then
    while go do
      local ids = redis.call("LRANGE", KEYS[1], from, from + 99)
      if #ids == 0 then break end
      from = from + #ids
      for _, id in ipairs(ids) do
        local row = function(f) return { id, f[2], f[4] or f[3], f[3], f[5] or "0", "", "q" } end
        if not pageAdd(page, { list, id }, Q, id, fields, keep, row) then return page.tasks end
      end
    end
  elseif go then
    -- a name's parked tasks, newest first; the cursor is a member: the page goes on below it, whether or not it is
    -- still there
    local lo, hi = parkRange(string.sub(list, 8))
    local top = hi
    if resume then top = "(" .. resume end
    while true do
      local members = redis.call("ZREVRANGEBYLEX", KEYS[2], top, lo, "LIMIT", 0, 100)
      if #members == 0 then break end
      for _, member in ipairs(members) do
        local id = parkedId(member)
        local row = function(f) return { id, f[2], f[4] or f[3], f[3], f[5] or "0", "", "q" } end
        if not pageAdd(page, { list, member }, Q, id, fields, keep, row) then return page.tasks end
        top = "(" .. member
      end
    end
  end
end
local from = ARGV[4] == "held" and "(" .. ARGV[5] or "-"
local function keepHeld(f) return f[1] == "h" and (ARGV[1] == "" or f[2] == ARGV[1]) end
while true do
  local members = redis.call("ZRANGEBYLEX", KEYS[4], from, "+", "LIMIT", 0, 100)
  if #members == 0 then break end
  for _, member in ipairs(members) do
    -- "<group>\0<seq: 15 digits>\0<id>", and a group has no "\0"
    local id = string.sub(member, string.find(member, "\0", 1, true) + 17)
    local row = function(f) return { id, f[2], f[4] or f[3], f[3], f[5] or "0", "", "q" } end
    if not pageAdd(page, { "held", member }, Q, id, fields, keepHeld, row) then return page.tasks end
    from = "(" .. member
  end
end
table.insert(page.tasks, {})
return page.tasks
