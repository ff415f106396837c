-- pageSorted: one page of a sorted state (scheduled by run time, running by lease end, an index of finished tasks by
-- finish time), greatest score first, after a cursor (read only).
-- Input:
--   KEYS[1] set:        sorted set      <prefix>:{q}:scheduled, :running or :index:<state>
--   KEYS[2] tasks: records hash <prefix>:{q}:tasks  -- task id -> its record (see includes.lua, recLoad)
--   ARGV[1] state: the state the records must be in: "s" (scheduled), "r" (running: "r:<token>"), or a terminal
--       state's name
--   ARGV[2] name: task name ("": every name)
--   ARGV[3] limit (number): at most this many tasks on the page
--   ARGV[4] budget (number): at most this many entries read for the page (a name filter skips the others)
--   ARGV[5] afterScore: the cursor's score ("": from the greatest)
--   ARGV[6] afterId: the cursor's id: the page starts after (score, id) in the order (score descending, then id
--       descending, byte by byte, as Redis orders members of equal score)
--   ARGV[7] withinMillis (number): entries scored at or below now minus this many ms are not listed (-1: every
--       entry; an index's entries past the retention, whose records expired)
-- Output: { { id, name, score, enqueued at, attempts, error or reason, state }, ... , next } -- next: { score, id }
--   of the last entry read when the page stopped early ({} when there is nothing more)
local Q = recordsOf(KEYS[2])
local page = pageOf(tonumber(ARGV[3]), tonumber(ARGV[4]))
local afterScore = ARGV[5] ~= "" and tonumber(ARGV[5]) or nil
local max = ARGV[5] ~= "" and ARGV[5] or "+inf"
local min = "-inf"
if tonumber(ARGV[7]) >= 0 then min = "(" .. (nowMillis() - tonumber(ARGV[7])) end
local fields = { "s", "n", "e", "a", "error", "reason" }
local function keep(f)
  local state = f[1]
  if state and string.sub(state, 1, 2) == "r:" then state = "r" end
  return state == ARGV[1] and (ARGV[2] == "" or f[2] == ARGV[2])
end
local offset = 0
while true do
  local batch = redis.call("ZRANGE", KEYS[1], max, min, "BYSCORE", "REV", "LIMIT", offset, 100, "WITHSCORES")
  if #batch == 0 then break end
  offset = offset + #batch / 2
  for i = 1, #batch, 2 do
    local id, score = batch[i], batch[i + 1]
    -- entries of the cursor's score up to the cursor itself were listed already
    if not (afterScore and tonumber(score) == afterScore and not bytesBefore(id, ARGV[6])) then
      local row = function(f) return { id, f[2], score, f[3], f[4] or "0", f[5] or f[6] or "", f[1] } end
      if not pageAdd(page, { score, id }, Q, id, fields, keep, row) then return page.tasks end
    end
  end
end
table.insert(page.tasks, {})
return page.tasks
