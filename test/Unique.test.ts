import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Layer, Random, Ref, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import { TestClock } from "effect/testing"
import { Heimdall, Task, Worker } from "../src/index.ts"
import { backends, conformance } from "./support/backends.ts"
import { clusterLayer, keyPrefix, redisLayer } from "./support/redis.ts"
import { TasksUnderTest, uniqueSuite } from "./UniqueSuite.ts"

const prefix = keyPrefix(import.meta.url)

const memory = Layer.succeed(TasksUnderTest, {
  layer: (queue, options) => Heimdall.layerMemoryWith({ ...options, queue }),
  redis: undefined
})

const on = (redisLive: Layer.Layer<Redis.Redis, unknown>) =>
  Layer.effect(
    TasksUnderTest,
    Effect.gen(function* () {
      const context = yield* Effect.context<Redis.Redis>()
      return {
        layer: (queue: string, options?: Heimdall.Options) =>
          Heimdall.layerRedis({
            ...options,
            queue,
            queuePrefix: `${prefix}q`,
            lockPrefix: `${prefix}lock:`,
            ratePrefix: `${prefix}rate:${queue}:`,
            concurrencyPrefix: `${prefix}sem:`
          }).pipe(Layer.provide(Layer.succeedContext(context))),
        redis: yield* Redis.Redis
      }
    })
  ).pipe(Layer.provideMerge(redisLive))

conformance(
  "Unique and rate-limited tasks",
  [
    ...backends(memory, on(redisLayer())),
    { name: "redis cluster", layer: on(clusterLayer()), redis: true, cluster: true }
  ],
  uniqueSuite
)

describe("rate-limited tasks on the memory backend", () => {
  /** When two starts of a task limited to 1 per second begin, under TestClock, with `Random` giving `r` every time. */
  const startsWithRandom = (r: number) =>
    Effect.gen(function* () {
      const Limited = Task.make("jittered", {
        payload: Schema.Number,
        rateLimit: { times: 1, per: 1000, jitter: 400, margin: 0 }
      })
      const starts = yield* Ref.make<Array<number>>([])
      const t0 = yield* Clock.currentTimeMillis
      const record = Effect.flatMap(Task.CurrentTask, ({ startedAt }) =>
        Ref.update(starts, (s) => [...s, startedAt - t0])
      )
      yield* Layer.build(
        Worker.layer({ concurrency: 2, tasks: [Task.implement(Limited, () => record)], gracePeriod: 0 })
      )
      const handles = yield* Effect.forEach([1, 2], (n) => Task.enqueue(Limited, n))
      for (let t = 0; t < 2000; t += 50) yield* TestClock.adjust(50)
      for (const h of handles) yield* Task.join(h)
      return (yield* Ref.get(starts)).sort((a, b) => a - b)
    }).pipe(
      Effect.scoped,
      Effect.provide(Heimdall.layerMemoryWith({ queue: `jitter-${r}` })),
      Effect.provideService(Random.Random, { nextDoubleUnsafe: () => r, nextIntUnsafe: () => 0 })
    )

  it.effect("the jitter of a rescheduled start comes from Effect's Random", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* startsWithRandom(0), [0, 1000])
      assert.deepStrictEqual(yield* startsWithRandom(0.5), [0, 1200])
      assert.deepStrictEqual(yield* startsWithRandom(0.99), [0, 1396])
    })
  )
})
