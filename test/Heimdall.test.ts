import { createHash } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, type Duration, Effect, Exit, Layer, Option, Result } from "effect"
import * as Redis from "effect/persistence/Redis"
import { TestClock } from "effect/testing"
import { Heimdall, HeimdallStore, RedisIoredis, TaskQueue } from "../src/index.ts"
import { makeLockTable } from "../src/internal/locks.ts"
import * as MemoryStore from "../src/internal/memoryStore.ts"
import * as Lua from "../src/internal/redis/lua.generated.ts"
import { heimdallSuite } from "./HeimdallSuite.ts"
import { backends, conformance } from "./support/backends.ts"
import { assertInvalid } from "./support/invalid.ts"
import {
  clusterLayer,
  describeRedis,
  keyPrefix,
  keysWithoutTtl,
  redisLayer,
  redisUrl,
  scanKeys
} from "./support/redis.ts"
import { startRedisServer } from "./support/redisServer.ts"

const prefix = keyPrefix(import.meta.url)
const options = {
  lockPrefix: `${prefix}lock:`,
  ratePrefix: `${prefix}rate:`,
  concurrencyPrefix: `${prefix}sem:`
}
const RedisBackend = Heimdall.layerRedis(options).pipe(Layer.provideMerge(redisLayer()))

const ClusterBackend = Heimdall.layerRedis(options).pipe(Layer.provideMerge(clusterLayer()))

conformance(
  "Heimdall",
  [
    ...backends(Heimdall.layerMemory, RedisBackend),
    { name: "redis cluster", layer: ClusterBackend, redis: true, cluster: true }
  ],
  heimdallSuite
)

describeRedis("Heimdall on Redis only", () => {
  it.live("50 concurrent takes on one limit: the first 20 admitted in order, in at most 2 script calls", () =>
    Effect.gen(function* () {
      // a private server: its command statistics count this test's calls only
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => startRedisServer()),
        (s) => Effect.promise(() => s.stop())
      )
      yield* Effect.gen(function* () {
        const redis = yield* Redis.Redis
        yield* Heimdall.take("warm-up", { times: 1, per: 1000 })
        yield* redis.send("CONFIG", "RESETSTAT")
        const answers = yield* Effect.all(
          Array.from({ length: 50 }, () => Effect.result(Heimdall.take("burst", { times: 20, per: "10 seconds" }))),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(
          answers.map((a) => (Result.isSuccess(a) ? a.success.remaining : -1)),
          [...Array.from({ length: 20 }, (_, i) => 19 - i), ...Array.from({ length: 30 }, () => -1)]
        )
        for (const a of answers.slice(20)) {
          assert.isTrue(Result.isFailure(a) && a.failure._tag === "RateLimited" && a.failure.remaining === 0)
        }
        const stats = yield* redis.send<string>("INFO", "commandstats")
        const calls = Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0)
        assert.isTrue(calls >= 1 && calls <= 2, `${calls} EVALSHA calls for 50 takes`)
        // 20 admissions in the window, no more
        assert.strictEqual(yield* redis.send<number>("ZCARD", "h-rate:burst"), 20)
      }).pipe(Effect.provide(Heimdall.layerRedis().pipe(Layer.provideMerge(RedisIoredis.layer(server.url)))))
    }).pipe(Effect.scoped)
  )

  it.effect("time comes from Redis, not the caller: moving the caller's clock expires nothing", () =>
    Effect.gen(function* () {
      const lock = yield* Heimdall.acquireLock("clock", { owner: "A", ttl: "5 seconds" })
      yield* Heimdall.take("clock", { times: 1, per: "5 seconds" })
      yield* TestClock.adjust("1 hour")
      const held = yield* Heimdall.inspectLock("clock")
      assert.strictEqual(Option.getOrThrow(held).holder, "A")
      assert.strictEqual(
        (yield* Heimdall.take("clock", { times: 1, per: "5 seconds" }).pipe(Effect.flip))._tag,
        "RateLimited"
      )
      yield* Heimdall.releaseLock(lock)
    }).pipe(
      Effect.provide(
        Heimdall.layerRedis({ ...options, lockPrefix: `${prefix}clock-lock:` }).pipe(Layer.provide(redisLayer()))
      )
    )
  )

  it.live("scripts run by EVALSHA and are loaded again after SCRIPT FLUSH", () =>
    Effect.gen(function* () {
      const redis = yield* Redis.Redis
      // a take on one limit runs rateTakeBatch (concurrent takes on one limit share a call)
      const sha = createHash("sha1").update(Lua.rateTakeBatch).digest("hex")
      yield* Heimdall.take("flush", { times: 3, per: "5 seconds" })
      assert.deepStrictEqual(yield* redis.send<Array<number>>("SCRIPT", "EXISTS", sha), [1])
      yield* redis.send("SCRIPT", "FLUSH")
      assert.deepStrictEqual(yield* redis.send<Array<number>>("SCRIPT", "EXISTS", sha), [0])
      // NOSCRIPT: loaded, then run once; the window still holds the first take
      const admission = yield* Heimdall.take("flush", { times: 3, per: "5 seconds" })
      assert.strictEqual(admission.remaining, 1)
      assert.deepStrictEqual(yield* redis.send<Array<number>>("SCRIPT", "EXISTS", sha), [1])
      assert.strictEqual((yield* Heimdall.take("flush", { times: 3, per: "5 seconds" })).remaining, 0)
    }).pipe(Effect.provide(RedisBackend))
  )

  it.live("keys use the documented layout and the default prefixes", () =>
    Effect.gen(function* () {
      const redis = yield* Redis.Redis
      const id = `${prefix}layout`
      const lock = yield* Heimdall.acquireLock(id, { owner: "A:b", ttl: 2000 })
      yield* Heimdall.take(id, { times: 1, per: 2000 })
      yield* Heimdall.acquireSlot(id, { limit: 1, lease: 2000 })
      yield* Heimdall.onlyAfter(id, 2000)
      // one string "<fence>:<owner>" (an owner may contain ":")
      assert.strictEqual(yield* redis.send<string>("TYPE", `h-lock:${id}`), "string")
      assert.strictEqual(yield* redis.send<string>("GET", `h-lock:${id}`), `${lock.fence}:A:b`)
      const taken = yield* Effect.flip(Heimdall.acquireLock(id, { owner: "C", ttl: 2000 }))
      assert.strictEqual(taken._tag === "LockTaken" && taken.holder, "A:b")
      const info = yield* Heimdall.inspectLock(id)
      assert.strictEqual(info._tag === "Some" && info.value.holder, "A:b")
      assert.strictEqual(yield* redis.send<string>("TYPE", `h-rate:${id}`), "zset")
      assert.strictEqual(yield* redis.send<string>("TYPE", `h-sem:${id}`), "zset")
      assert.strictEqual(yield* redis.send<string>("GET", `h-rate:after:${id}`), "1")
      for (const key of [`h-lock:${id}`, `h-rate:${id}`, `h-sem:${id}`, `h-rate:after:${id}`]) {
        const ttl = yield* redis.send<number>("PTTL", key)
        assert.isTrue(ttl > 0 && ttl <= 2000, `${key} ttl ${ttl}`)
        yield* redis.send("DEL", key)
      }
    }).pipe(Effect.provide(Heimdall.layerRedis().pipe(Layer.provideMerge(redisLayer()))))
  )

  it.live("layerRedisConfig: one layer from REDIS_URL provides the primitives, the queue and the Redis service", () =>
    Effect.gen(function* () {
      const key = `${prefix}config`
      assert.isTrue(yield* Heimdall.onlyAfter(key, 2000))
      const redis = yield* Redis.Redis
      // the layer's own connection reached the configured server: the key is there, with its ttl
      const ttl = yield* redis.send<number>("PTTL", `${prefix}rate:after:${key}`)
      assert.isTrue(ttl > 0 && ttl <= 2000, `ttl ${ttl}`)
      const queue = yield* TaskQueue.TaskQueue
      assert.strictEqual(queue.queue, "config-queue")
      yield* redis.send("DEL", `${prefix}rate:after:${key}`)
    }).pipe(
      Effect.provide(
        Heimdall.layerRedisConfig({ ...options, queue: "config-queue", redis: { commandTimeout: "2 seconds" } }).pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ REDIS_URL: redisUrl })))
        )
      )
    )
  )

  it.live("every key the suite wrote expires or was deleted: none without a TTL", () =>
    Effect.gen(function* () {
      const keys = yield* scanKeys(prefix)
      assert.isAbove(keys.length, 0, "the suite wrote keys under its prefix")
      assert.deepStrictEqual(yield* keysWithoutTtl(prefix), [])
    }).pipe(Effect.provide(redisLayer()))
  )
})

describe("Heimdall layers: options that can never work fail the layer with InvalidArgument, on both backends", () => {
  const cases: ReadonlyArray<readonly [Heimdall.Options, string, string]> = [
    [{ uniqueTimeout: 0 }, "uniqueTimeout", "0"],
    [{ uniqueTimeout: "5 potatoes" as Duration.Input }, "uniqueTimeout", '"5 potatoes"'],
    [{ retention: Number.NaN }, "retention", "NaN"],
    [{ queue: "" }, "queue", '""'],
    [{ queue: "{q}" }, "queue", '"{q}"'],
    [{ queuePrefix: "p{x}" }, "queuePrefix", '"p{x}"'],
    [{ lockPrefix: "l{x}:" }, "lockPrefix", '"l{x}:"'],
    [{ concurrencyPrefix: 5 as unknown as string }, "concurrencyPrefix", "5"],
    [{ indexSize: -1 }, "indexSize", "-1"],
    [{ indexSize: 2.5 }, "indexSize", "2.5"],
    [{ waitingScan: 0 }, "waitingScan", "0"],
    [{ partitions: 0 }, "partitions", "0"],
    [{ partitions: 1.5 }, "partitions", "1.5"],
    [{ partitions: 65 }, "partitions", "65"],
    [{ partitions: "3" as unknown as number }, "partitions", '"3"']
  ]
  const failure = <A, E>(layer: Layer.Layer<A, E>) =>
    Effect.map(Effect.exit(Effect.scoped(Layer.build(layer))), (exit) =>
      Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
    )
  it.effect("memory: layerMemoryWith and layerStore", () =>
    Effect.gen(function* () {
      for (const [options, option, value] of cases) {
        assertInvalid(yield* failure(Heimdall.layerMemoryWith(options)), option, value)
        assertInvalid(
          yield* failure(
            Heimdall.layerStore(options).pipe(
              Layer.provide(Layer.succeed(HeimdallStore.HeimdallStore, MemoryStore.make(makeLockTable())))
            )
          ),
          option,
          value
        )
      }
    })
  )
  describeRedis("redis", () => {
    it.effect("layerRedis fails with it too", () =>
      Effect.gen(function* () {
        for (const [options, option, value] of cases) {
          assertInvalid(yield* failure(Heimdall.layerRedis(options).pipe(Layer.provide(redisLayer()))), option, value)
        }
      })
    )
  })
})
