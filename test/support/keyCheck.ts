/**
 * Checks, while a script runs on a real Redis, where the keys it touches live. `checkKeys(lua)` is the script with
 * every `redis.call` routed through a guard: a key that the script was not given in `KEYS` must share the hash tag
 * of `KEYS[1]` (the same Redis Cluster slot: a key of another slot fails the call, with the key in the error). With
 * `strict`, any key not given in `KEYS` fails. Commands without a key (`TIME`, `PUBLISH`, which takes a channel) pass.
 * Every command the scripts use takes its one key first.
 */
const prelude = (strict: boolean) => `
local __keyless = { TIME = true, PUBLISH = true }
local function __tag(key)
  local open = string.find(key, "{", 1, true)
  if open then
    local close = string.find(key, "}", open + 1, true)
    if close and close > open + 1 then return string.sub(key, open + 1, close - 1) end
  end
  return key
end
local __declared = {}
for _, key in ipairs(KEYS) do __declared[key] = true end
local __slot = KEYS[1] and __tag(KEYS[1])
local function __keycheck(command, key, ...)
  if not __keyless[string.upper(command)] and not __declared[key] then
    if ${strict ? "true" : "false"} then error("keycheck: undeclared key " .. tostring(key) .. " (" .. command .. ")") end
    if __tag(key) ~= __slot then
      error("keycheck: key " .. tostring(key) .. " (" .. command .. ") is not in KEYS and not in the slot of " .. tostring(KEYS[1]))
    end
  end
  if key == nil then return redis.call(command) end
  return redis.call(command, key, ...)
end
`

export const checkKeys = (lua: string, strict = false): string =>
  prelude(strict) + lua.replaceAll("redis.call(", "__keycheck(")

/** A generated Lua module (`lua.generated.ts`) with every script, and every contract's script, checked. */
export const checkModule = <M extends Record<string, unknown>>(module: M, strict = false): M => {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(module)) {
    if (typeof value === "string") out[name] = checkKeys(value, strict)
    else if (name === "contracts" && typeof value === "object" && value !== null) {
      out[name] = Object.fromEntries(
        Object.entries(value).map(([script, contract]) => [
          script,
          { ...(contract as object), lua: checkKeys((contract as { lua: string }).lua, strict) }
        ])
      )
    } else out[name] = value
  }
  return out as M
}
