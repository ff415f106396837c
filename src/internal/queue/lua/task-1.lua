-- task: a task's record (read only), as the backend's `get` reads it: nothing once it expired (see includes.lua,
-- recLoad), whether or not a script swept it yet.
-- Input:
--   KEYS[1] tasks: records hash <prefix>:{q}:tasks  -- task id -> its record (see includes.lua, recLoad)
--   ARGV[1] id: the task's id
-- Output: { field, value, ... } (as HGETALL; empty when there is no such task)
local r = recLoad(recordsOf(KEYS[1]), ARGV[1])
if not r then return {} end
return recFlat(r)
