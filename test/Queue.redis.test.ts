import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as TaskQueue from "../src/TaskQueue.ts"
import { QueueUnderTest, queueSuite } from "./QueueSuite.ts"
import type { Backend } from "./support/backends.ts"
import { conformance } from "./support/backends.ts"
import { describeRedis, keyPrefix, keysWithoutTtl, redisLayer, scanKeys } from "./support/redis.ts"

const prefix = keyPrefix(import.meta.url).slice(0, -1) // keys: <prefix>:{<queue>}:...

const redisBackend: Backend<QueueUnderTest | Redis.Redis, unknown> = {
  name: "redis",
  redis: true,
  layer: Layer.effect(
    QueueUnderTest,
    Effect.gen(function* () {
      const context = yield* Effect.context<Redis.Redis>()
      return {
        layer: (queue: string, options?: TaskQueue.Options) =>
          TaskQueue.layerRedis({ ...options, queue, prefix }).pipe(Layer.provide(Layer.succeedContext(context))),
        redis: yield* Redis.Redis,
        prefix
      }
    })
  ).pipe(Layer.provideMerge(redisLayer()))
}

conformance("Task queue", [redisBackend], queueSuite)

describeRedis("Task queue leaves nothing behind", () => {
  layer(redisLayer(), { excludeTestServices: true })((it) => {
    it.effect("after the suite, every key has a TTL or is a documented long-lived one", () =>
      Effect.gen(function* () {
        const keys = yield* scanKeys(prefix)
        assert.isAbove(keys.length, 0) // the suite wrote here
        const forever = yield* keysWithoutTtl(prefix)
        // Long-lived by design: the ready/scheduled/running structures, which exist only while they hold
        // ids, and records of tasks that have not finished (tests that leave delayed tasks scheduled).
        const allowed = /:(scheduled|task:[^:]+)$/
        const unexpected = forever.filter((k) => !allowed.test(k))
        assert.deepStrictEqual(unexpected, [])
        const redis = yield* Redis.Redis
        for (const key of forever.filter((k) => /:task:/.test(k))) {
          assert.strictEqual(yield* redis.send<string>("HGET", key, "state"), "scheduled", key)
        }
      })
    )
  })
})
