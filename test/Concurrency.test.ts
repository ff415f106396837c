import { Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import { Heimdall } from "../src/index.ts"
import { concurrencySuite } from "./ConcurrencySuite.ts"
import { backends, conformance } from "./support/backends.ts"
import { clusterLayer, keyPrefix, redisLayer } from "./support/redis.ts"
import { TasksUnderTest } from "./UniqueSuite.ts"

const prefix = keyPrefix(import.meta.url)

const memory = Layer.succeed(TasksUnderTest, {
  layer: (queue, options) => Heimdall.layerMemoryWith({ ...options, queue }),
  redis: undefined
})

const on = (redisLive: Layer.Layer<Redis.Redis, unknown>, extra?: Heimdall.Options) =>
  Layer.effect(
    TasksUnderTest,
    Effect.gen(function* () {
      const context = yield* Effect.context<Redis.Redis>()
      return {
        layer: (queue: string, options?: Heimdall.Options) =>
          Heimdall.layerRedis({
            ...extra,
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
  "Per-key concurrency",
  [
    ...backends(memory, on(redisLayer())),
    { name: "redis cluster", layer: on(clusterLayer()), redis: true, cluster: true },
    // a key's tasks live in its partition: the limit holds across the partitions of one queue
    { name: "redis, 3 partitions", layer: on(redisLayer(), { partitions: 3 }), redis: true }
  ],
  concurrencySuite
)
