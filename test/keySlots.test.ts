/**
 * Where the scripts' keys live, checked while they run: the Redis conformance suites of the queue, of unique and
 * rate-limited tasks, of per-key concurrency, of the inspector, of the admin, of the schedules and of the primitives run here once more, with every script wrapped by `support/keyCheck.ts`.
 * A script that touched a key outside `KEYS` and outside the slot of `KEYS[1]` (what Redis Cluster would refuse, or
 * worse, serve from another node) fails its call, and so the test that made it. Keys a script builds from ids it
 * finds while running (a claim pops ids from lists) are not in `KEYS`; they must share the queue's hash tag.
 * `KEYCHECK_STRICT=1 npx vitest run test/keySlots.test.ts` fails every key not in `KEYS` instead: it lists, for
 * exploration, which scripts build keys (ARCHITECTURE.md, "Keys", says which and why).
 * A script without Dragonfly's `allow-undeclared-keys` flag is checked as Dragonfly runs it: any key outside its
 * `KEYS` fails the call, so every suite here proves that the scripts without the flag touch only the keys they are
 * given. While the suites run, every script that builds a key is recorded. The last test requires, statically, the scripts
 * whose first line is Dragonfly's `allow-undeclared-keys` flag (scripts/gen-lua.mjs) to be exactly those that ship
 * a helper that builds a key (`keyBuilders`: a unique task's lock key from its record), and the recorded ones to be
 * among them.
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

/**
 * The helpers that build a key inside a script: a unique task's lock key, from the record's lock prefix and unique
 * key and the queue's hash tag (every other key a script touches is in its `KEYS`).
 */
const keyBuilders = ["lockKeyOf"]

/**
 * Each Lua script's export name (`claim` for claim-29.lua), whether its first line is Dragonfly's flag, and whether
 * it ships a helper that builds a key (scripts/gen-lua.mjs ships each script the helpers it calls).
 */
const flaggedScripts = (): ReadonlyArray<{
  readonly name: string
  readonly flagged: boolean
  readonly builds: boolean
}> =>
  ["queue", "redis"].flatMap((folder) => {
    const dir = new URL(`../src/internal/${folder}/lua/`, import.meta.url)
    const shipped = new Map<string, ReadonlyArray<string>>(scriptsOf(folder).map((s) => [s.name, s.helpers]))
    return readdirSync(dir)
      .filter((file) => file.endsWith(".lua") && file !== "includes.lua")
      .map((file) => {
        const name = file.replace(/-(\d+|N)\.lua$/, "")
        return {
          name,
          flagged: readFileSync(new URL(file, dir), "utf8").startsWith(`${undeclaredKeysFlag}\n`),
          builds: (shipped.get(name) ?? []).some((helper) => keyBuilders.includes(helper))
        }
      })
  })

describeRedis("Key slots: the scripts that build keys", () => {
  layer(redisLayer(), { excludeTestServices: true })((it) => {
    it.effect("are exactly the scripts flagged allow-undeclared-keys (statically; recorded while the suites ran)", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        const recorded = (yield* redis.send<Array<string>>("SMEMBERS", built)).sort()
        yield* redis.send("DEL", built)
        const scripts = flaggedScripts()
        const flagged = scripts
          .filter((s) => s.flagged)
          .map((s) => s.name)
          .sort()
        assert.isAbove(scripts.length, 30, "every script was read")
        assert.deepStrictEqual(
          flagged,
          scripts
            .filter((s) => s.builds)
            .map((s) => s.name)
            .sort(),
          "flagged: the scripts that ship a key builder"
        )
        assert.include(recorded, "claim", "the suites ran with the recording checker")
        for (const name of recorded) assert.include(flagged, name, `${name} built a key: it needs the flag`)
      })
    )
  })
})
