/**
 * Checks, while a script runs on a real Redis, where the keys it touches live. `checkKeys(lua)` is the script with
 * every `redis.call` routed through a guard: a key that the script was not given in `KEYS` must share the hash tag
 * of `KEYS[1]` (the same Redis Cluster slot: a key of another slot fails the call, with the key in the error). With
 * `strict`, and always for a script whose first line is not Dragonfly's `allow-undeclared-keys` flag (Dragonfly's
 * rule), any key not given in `KEYS` fails. Commands without a key (`TIME`, `PUBLISH`, which takes a channel) pass.
 * Every command the scripts use takes its one key first. With a `record` set (a key and the script's name), the name
 * of a script that touches a key it was not given is added to that set, so a test can list the scripts that build
 * keys.
 */
import { undeclaredKeysFlag } from "../../scripts/gen-lua.mjs"

const prelude = (strict: boolean, record?: { readonly key: string; readonly script: string }) => `
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
${record ? `    redis.call("SADD", ${JSON.stringify(record.key)}, ${JSON.stringify(record.script)})\n` : ""}    if ${strict ? "true" : "false"} then error("keycheck: undeclared key " .. tostring(key) .. " (" .. command .. ")") end
    if __tag(key) ~= __slot then
      error("keycheck: key " .. tostring(key) .. " (" .. command .. ") is not in KEYS and not in the slot of " .. tostring(KEYS[1]))
    end
  end
  if key == nil then return redis.call(command) end
  return redis.call(command, key, ...)
end
`

export const checkKeys = (
  lua: string,
  strict = false,
  record?: { readonly key: string; readonly script: string }
): string =>
  // Dragonfly's rule: a script without the `allow-undeclared-keys` flag touches only the keys it was given
  prelude(strict || !lua.startsWith(`${undeclaredKeysFlag}\n`), record) + lua.replaceAll("redis.call(", "__keycheck(")

/**
 * A generated Lua module (`lua.generated.ts`) with every script, and every contract's script, checked; with
 * `recordKey`, each script that builds a key adds its export name to that set.
 */
export const checkModule = <M extends Record<string, unknown>>(module: M, strict = false, recordKey?: string): M => {
  const out: Record<string, unknown> = {}
  const record = (script: string) => (recordKey === undefined ? undefined : { key: recordKey, script })
  for (const [name, value] of Object.entries(module)) {
    if (typeof value === "string") out[name] = checkKeys(value, strict, record(name))
    else if (name === "contracts" && typeof value === "object" && value !== null) {
      out[name] = Object.fromEntries(
        Object.entries(value).map(([script, contract]) => [
          script,
          { ...(contract as object), lua: checkKeys((contract as { lua: string }).lua, strict, record(script)) }
        ])
      )
    } else out[name] = value
  }
  return out as M
}
