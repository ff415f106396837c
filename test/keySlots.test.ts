/**
 * Where the scripts' keys live, checked while they run: the Redis conformance suites of the queue, of unique and
 * rate-limited tasks, of per-key concurrency, of the inspector, of the admin, of the schedules and of the primitives
 * run here once more, with every script wrapped by `support/keyCheck.ts` as Dragonfly runs a script without its
 * `allow-undeclared-keys` flag: any key outside the script's `KEYS` fails the call (with the key in the error), and
 * so the test that made it. No script carries that flag: none builds a key (a task's record is a field of the queue's
 * `tasks`, a unique task's lock a field of its `locks`). The last test checks it statically over every script as
 * shipped (no key argument built with `..` or written as a literal), and that no script touched a key it was not
 * given while the suites ran.
 */
import { readdirSync, readFileSync } from "node:fs"
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import { vi } from "vitest"
import { scripts as scriptsOf, undeclaredKeysFlag } from "../scripts/gen-lua.mjs"
import { Heimdall } from "../src/index.ts"
import { AdminUnderTest, adminSuite } from "./AdminSuite.ts"
import { concurrencySuite } from "./ConcurrencySuite.ts"
import { heimdallSuite } from "./HeimdallSuite.ts"
import { InspectorUnderTest, inspectorSuite } from "./InspectorSuite.ts"
import { QueueUnderTest, queueSuite } from "./QueueSuite.ts"
import { ScheduleUnderTest, scheduleSuite } from "./ScheduleSuite.ts"
import { conformance } from "./support/backends.ts"
import { checkKeys } from "./support/keyCheck.ts"
import { describeRedis, keyPrefix, redisLayer } from "./support/redis.ts"
import { TasksUnderTest, uniqueSuite } from "./UniqueSuite.ts"

/** The set the checked scripts add their names to when they touch a key they were not given (this file's run). */
const built = vi.hoisted(() => `t:keySlots:built:${Math.random().toString(36).slice(2)}`)

vi.mock("../src/internal/queue/lua.generated.ts", async (original) => {
  const { checkModule } = await import("./support/keyCheck.ts")
  return checkModule(await original<Record<string, unknown>>(), process.env.KEYCHECK_STRICT === "1", built)
})
vi.mock("../src/internal/redis/lua.generated.ts", async (original) => {
  const { checkModule } = await import("./support/keyCheck.ts")
  return checkModule(await original<Record<string, unknown>>(), process.env.KEYCHECK_STRICT === "1", built)
})

const prefix = keyPrefix(import.meta.url)

/** The Redis backend with this file's prefixes (the rate prefix per queue, as the suites' own files use it). */
const backend = (options?: Heimdall.Options) =>
  Heimdall.layerRedis({
    ...options,
    queuePrefix: `${prefix}q`,
    lockPrefix: `${prefix}lock:`,
    ratePrefix: `${prefix}rate:${options?.queue ?? ""}:`,
    concurrencyPrefix: `${prefix}sem:`
  })

/** What the queue, unique-task and inspector suites take: a fresh backend per queue, on the test server. */
const underTest = Effect.gen(function* () {
  const context = yield* Effect.context<Redis.Redis>()
  return {
    layer: (queue: string, options?: Heimdall.Options) =>
      backend({ ...options, queue }).pipe(Layer.provide(Layer.succeedContext(context))),
    redis: yield* Redis.Redis,
    prefix: `${prefix}q`
  }
})

const queues = Layer.effect(QueueUnderTest, underTest).pipe(Layer.provideMerge(redisLayer()))
const tasks = Layer.effect(TasksUnderTest, underTest).pipe(Layer.provideMerge(redisLayer()))
const inspected = Layer.effect(InspectorUnderTest, underTest).pipe(Layer.provideMerge(redisLayer()))
const administered = Layer.effect(AdminUnderTest, underTest).pipe(Layer.provideMerge(redisLayer()))
const scheduled = Layer.effect(ScheduleUnderTest, underTest).pipe(Layer.provideMerge(redisLayer()))
const primitives = backend().pipe(Layer.provideMerge(redisLayer()))

conformance("Key slots: task queue", [{ name: "redis, keys checked", layer: queues, redis: true }], queueSuite)
conformance(
  "Key slots: unique and rate-limited tasks",
  [{ name: "redis, keys checked", layer: tasks, redis: true }],
  uniqueSuite
)
conformance(
  "Key slots: per-key concurrency",
  [{ name: "redis, keys checked", layer: tasks, redis: true }],
  concurrencySuite
)
conformance("Key slots: inspector", [{ name: "redis, keys checked", layer: inspected, redis: true }], inspectorSuite)
conformance("Key slots: admin", [{ name: "redis, keys checked", layer: administered, redis: true }], adminSuite)
conformance("Key slots: schedules", [{ name: "redis, keys checked", layer: scheduled, redis: true }], scheduleSuite)
conformance("Key slots: primitives", [{ name: "redis, keys checked", layer: primitives, redis: true }], heimdallSuite)

describeRedis("Key slots: the check itself", () => {
  layer(redisLayer(), { excludeTestServices: true })((it) => {
    it.effect("fails a script that touches a key of another slot, passes one in the slot of KEYS[1]", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        // flagged as a script that builds keys (Dragonfly's allow-undeclared-keys), unless `unflagged`
        const run = (lua: string, strict = false, unflagged = false) =>
          Effect.exit(
            redis.send<unknown>(
              "EVAL",
              checkKeys(unflagged ? lua : `${undeclaredKeysFlag}\n${lua}`, strict),
              "1",
              `${prefix}{slot}:declared`
            )
          )
        const elsewhere = yield* run(`return redis.call("GET", "${prefix}{other}:key")`)
        assert.isTrue(Exit.isFailure(elsewhere))
        assert.include(String(Exit.isFailure(elsewhere) && elsewhere.cause), `${prefix}{other}:key`)
        const untagged = yield* run(`return redis.call("SET", "${prefix}plain", "1")`)
        assert.isTrue(Exit.isFailure(untagged), "a key without the tag is in another slot")
        assert.isTrue(Exit.isSuccess(yield* run(`return redis.call("GET", "${prefix}{slot}:derived")`)))
        assert.isTrue(Exit.isSuccess(yield* run(`return redis.call("GET", KEYS[1])`)))
        assert.isTrue(Exit.isSuccess(yield* run(`return redis.call("TIME")`)))
        assert.isTrue(Exit.isFailure(yield* run(`return redis.call("GET", "${prefix}{slot}:derived")`, true)), "strict")
        // Dragonfly's rule: a script without the flag touches only its KEYS, even in their slot
        const derived = yield* run(`return redis.call("GET", "${prefix}{slot}:derived")`, false, true)
        assert.isTrue(Exit.isFailure(derived), "unflagged")
        assert.include(String(Exit.isFailure(derived) && derived.cause), "undeclared key")
        assert.isTrue(Exit.isSuccess(yield* run(`return redis.call("GET", KEYS[1])`, false, true)))
      })
    )
  })
})

/** Each Lua script's export name (`claim` for claim-30.lua), its first line, and its source as shipped. */
const allScripts = (): ReadonlyArray<{ readonly name: string; readonly firstLine: string; readonly shipped: string }> =>
  ["queue", "redis"].flatMap((folder) => {
    const dir = new URL(`../src/internal/${folder}/lua/`, import.meta.url)
    const shipped = new Map<string, string>(scriptsOf(folder).map((s) => [s.name, s.source]))
    return readdirSync(dir)
      .filter((file) => file.endsWith(".lua") && file !== "includes.lua")
      .map((file) => {
        const name = file.replace(/-(\d+|N)\.lua$/, "")
        return {
          name,
          firstLine: readFileSync(new URL(file, dir), "utf8").split("\n")[0]!,
          shipped: shipped.get(name) ?? ""
        }
      })
  })

describeRedis("Key slots: no script builds a key", () => {
  layer(redisLayer(), { excludeTestServices: true })((it) => {
    it.effect(
      "no script is flagged allow-undeclared-keys, none names a key it built, none touched one in the suites",
      () =>
        Effect.gen(function* () {
          const redis = yield* Redis.Redis
          const recorded = (yield* redis.send<Array<string>>("SMEMBERS", built)).sort()
          yield* redis.send("DEL", built)
          const scripts = allScripts()
          assert.isAbove(scripts.length, 30, "every script was read")
          assert.deepStrictEqual(
            scripts.filter((s) => s.firstLine === undeclaredKeysFlag).map((s) => s.name),
            [],
            "flagged"
          )
          // statically: the key of every redis.call (its argument after the command) is a name, never text built or
          // written in the script (".." or a string literal); PUBLISH takes a channel
          for (const { name, shipped } of scripts) {
            assert.isNotEmpty(shipped, `${name} is generated`)
            const built = [...shipped.matchAll(/redis\.call\("(\w+)", ([^,)]*)/g)].filter(
              ([, command, key]) => command !== "PUBLISH" && /\.\.|"/.test(key!)
            )
            assert.deepStrictEqual(
              built.map((m) => m[0]),
              [],
              `${name}: a key built in the script`
            )
          }
          // while the suites ran (every script under Dragonfly's rule: an undeclared key fails the call), no script
          // touched a key outside its KEYS; the recording checker ran
          assert.deepStrictEqual(recorded, [], "scripts that touched a key they were not given")
        })
    )
  })
})
