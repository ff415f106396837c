/**
 * Task records as tests look at them in Redis: a queue keeps them in one hash, `<prefix>:{<tag>}:tasks` (task id ->
 * the record, a table of field -> string packed with cmsgpack: see src/internal/queue/lua/includes.lua, recLoad).
 * These read and write a record the way the scripts do, so that a test can check a stored field or stage a state
 * (take a lease away) without going through the backend.
 */
import { Effect } from "effect"
import * as Redis from "effect/persistence/Redis"

/** The records hash of the queue (or partition) whose hash tag is `tag`. */
export const tasksKey = (prefix: string, tag: string): string => `${prefix}:{${tag}}:tasks`

const readScript = `
local packed = redis.call("HGET", KEYS[1], ARGV[1])
if not packed then return {} end
local out = {}
for field, value in pairs(cmsgpack.unpack(packed)) do
  out[#out + 1] = field
  out[#out + 1] = value
end
return out`

const writeScript = `
local packed = redis.call("HGET", KEYS[1], ARGV[1])
if not packed then return 0 end
local r = cmsgpack.unpack(packed)
for i = 2, #ARGV, 2 do r[ARGV[i]] = ARGV[i + 1] end
redis.call("HSET", KEYS[1], ARGV[1], cmsgpack.pack(r))
return 1`

/**
 * Task `id`'s stored record, field by field (undefined when the hash has none; an expired record that no script swept
 * yet is still there, with its "x").
 */
export const storedRecord = (tasks: string, id: string) =>
  Effect.gen(function* () {
    const redis = yield* Redis.Redis
    const flat = yield* redis.send<ReadonlyArray<string>>("EVAL", readScript, "1", tasks, id)
    if (flat.length === 0) return undefined
    return Object.fromEntries(
      Array.from({ length: flat.length / 2 }, (_, i) => [String(flat[2 * i]), String(flat[2 * i + 1])])
    ) as Record<string, string>
  })

/** Sets fields of task `id`'s stored record (field, value, ...); false when it has none. */
export const setStoredFields = (tasks: string, id: string, ...fieldValues: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const redis = yield* Redis.Redis
    return Number(yield* redis.send<number>("EVAL", writeScript, "1", tasks, id, ...fieldValues)) === 1
  })

/** The ids in a records hash. */
export const storedIds = (tasks: string) =>
  Effect.gen(function* () {
    const redis = yield* Redis.Redis
    return (yield* redis.send<ReadonlyArray<string>>("HKEYS", tasks)).map(String)
  })
