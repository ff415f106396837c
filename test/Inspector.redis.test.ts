import { randomUUID } from "node:crypto"
import { assert, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Heimdall from "../src/Heimdall.ts"
import * as Inspector from "../src/Inspector.ts"
import * as TaskQueue from "../src/TaskQueue.ts"
import { InspectorUnderTest, inspectorSuite } from "./InspectorSuite.ts"
import type { Backend } from "./support/backends.ts"
import { conformance } from "./support/backends.ts"
import { clusterLayer, describeRedis, keyPrefix, redisLayer } from "./support/redis.ts"

const base = keyPrefix(import.meta.url).slice(0, -1) // keys: <prefix>:{<queue>}:...
const prefix = base

const backendOn = (
  name: string,
  redisLive: Layer.Layer<Redis.Redis, unknown>,
  cluster = false,
  extra: Heimdall.Options = {}
): Backend<InspectorUnderTest | Redis.Redis, unknown> => ({
  name,
  redis: true,
  cluster,
  layer: Layer.effect(
    InspectorUnderTest,
    Effect.gen(function* () {
      const context = yield* Effect.context<Redis.Redis>()
      // the partitioned queue shares the server with the plain one: keys of its own
      const prefix = extra.partitions === undefined ? base : `${base}p`
      return {
        layer: (queue: string, options?: Heimdall.Options) =>
          Heimdall.layerRedis({ ...extra, ...options, queue, queuePrefix: prefix, lockPrefix: `${prefix}lock:` }).pipe(
            Layer.provide(Layer.succeedContext(context))
          ),
        redis: yield* Redis.Redis,
        prefix
      }
    })
  ).pipe(Layer.provideMerge(redisLive))
})

conformance(
  "Inspector",
  [
    backendOn("redis", redisLayer()),
    backendOn("redis cluster", clusterLayer(), true),
    backendOn("redis, 3 partitions", redisLayer(), false, { partitions: 3 })
  ],
  inspectorSuite
)

/** Every command sent while `recording` is on, with its reply. */
interface Sent {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly reply: unknown
}

/** The tests' Redis, each command recorded while `recording.on`. A real server: the recorder only listens. */
const recordingRedis = (recording: { on: boolean; sent: Array<Sent> }) =>
  Layer.effect(
    Redis.Redis,
    Effect.map(Redis.Redis, (redis) =>
      Redis.Redis.of({
        ...redis,
        send: <A>(command: string, ...args: ReadonlyArray<string>) =>
          Effect.tap(redis.send<A>(command, ...args), (reply) =>
            Effect.sync(() => {
              if (recording.on) recording.sent.push({ command, args, reply })
            })
          )
      })
    )
  ).pipe(Layer.provide(redisLayer()))

describeRedis("Inspector.limits cost", () => {
  it.effect(
    "one SCAN per 1,000 keys and one script call per SCAN page, whatever the number of keys",
    () =>
      Effect.gen(function* () {
        const recording = { on: false, sent: [] as Array<Sent> }
        const limitPrefix = `${prefix}:cost-${randomUUID().slice(0, 8)}:`
        const backend = Heimdall.layerRedis({
          queue: "cost",
          queuePrefix: prefix,
          ratePrefix: `${limitPrefix}rate:`,
          concurrencyPrefix: `${limitPrefix}sem:`
        }).pipe(Layer.provideMerge(recordingRedis(recording)))
        const rateKeys = Array.from({ length: 1_500 }, (_, i) => `k${String(i).padStart(4, "0")}`)
        const slotKeys = Array.from({ length: 1_200 }, (_, i) => `s${String(i).padStart(4, "0")}`)
        yield* Effect.gen(function* () {
          yield* Effect.forEach(rateKeys, (key) => Heimdall.take(key, { times: 3, per: "1 minute" }), {
            concurrency: 32,
            discard: true
          })
          yield* Effect.forEach(
            slotKeys,
            (key) => Heimdall.acquireSlot(key, { limit: 2, lease: "1 minute", holder: "h" }),
            { concurrency: 32, discard: true }
          )
          const inspector = yield* Inspector.Inspector
          recording.on = true
          const limits = yield* inspector.limits()
          recording.on = false
          assert.deepStrictEqual(
            limits.rate.map((r) => [r.key, r.admitted]),
            rateKeys.map((key) => [key, 1])
          )
          assert.deepStrictEqual(
            limits.concurrency.map((c) => [c.key, c.holders.map((h) => h.holder)]),
            slotKeys.map((key) => [key, ["h"]])
          )
        }).pipe(Effect.provide(backend))
        const scans = recording.sent.filter((s) => s.command === "SCAN")
        const scripts = recording.sent.filter((s) => s.command === "EVALSHA")
        // nothing but the scans and the scripts: no call per key
        assert.strictEqual(scans.length + scripts.length, recording.sent.length)
        const pages = scans.filter((s) => (s.reply as [string, Array<string>])[1].length > 0)
        assert.strictEqual(scripts.length, pages.length, "one script call per page that found keys")
        // each script call read every key of its page, and only those
        const read = scripts.flatMap((s) => s.args.slice(2, 2 + Number(s.args[1])))
        const found = [...new Set(pages.flatMap((s) => (s.reply as [string, Array<string>])[1]))]
        assert.deepStrictEqual(read, found)
        assert.strictEqual(read.length, rateKeys.length + slotKeys.length)
        assert.isAtLeast(scans.length, 2, "1,500 rate keys take two SCAN pages at least")
      }),
    { timeout: 60_000 }
  )
})

describeRedis("Inspector.counts cost", () => {
  it.effect(
    "one script call, whatever the number of waiting tasks and names; names past the scan flagged",
    () =>
      Effect.gen(function* () {
        const recording = { on: false, sent: [] as Array<Sent> }
        const backend = Heimdall.layerRedis({
          queue: `cost-${randomUUID().slice(0, 8)}`,
          queuePrefix: prefix,
          waitingScan: 50
        }).pipe(Layer.provideMerge(recordingRedis(recording)))
        yield* Effect.gen(function* () {
          const q = yield* TaskQueue.TaskQueue
          const task = (id: string, name: string) =>
            q.enqueue({ id, name, payload: "1", delayMillis: 0, trace: undefined })
          yield* Effect.forEach(
            Array.from({ length: 200 }, (_, i) => i),
            (i) => task(`t${i}`, `n${i % 4}`),
            {
              discard: true
            }
          )
          yield* task("late", "late")
          const inspector = yield* Inspector.Inspector
          recording.on = true
          const counts = yield* inspector.counts
          recording.on = false
          assert.deepStrictEqual(
            Object.entries(counts.oldestByName)
              .map(([name, w]) => [name, w._tag === "Found" ? w.id : w._tag])
              .sort(),
            [
              ["late", "BeyondScan"],
              ["n0", "t0"],
              ["n1", "t1"],
              ["n2", "t2"],
              ["n3", "t3"]
            ]
          )
        }).pipe(Effect.provide(backend))
        assert.deepStrictEqual(
          recording.sent.map((s) => s.command),
          ["EVALSHA"]
        )
      }),
    { timeout: 60_000 }
  )
})
