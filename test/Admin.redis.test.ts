import { Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Heimdall from "../src/Heimdall.ts"
import { AdminUnderTest, adminSuite } from "./AdminSuite.ts"
import type { Backend } from "./support/backends.ts"
import { conformance } from "./support/backends.ts"
import { clusterLayer, keyPrefix, redisLayer } from "./support/redis.ts"

const base = keyPrefix(import.meta.url).slice(0, -1) // keys: <prefix>:{<queue>}:...

const backendOn = (
  name: string,
  redisLive: Layer.Layer<Redis.Redis, unknown>,
  cluster = false,
  extra: Heimdall.Options = {}
): Backend<AdminUnderTest | Redis.Redis, unknown> => ({
  name,
  redis: true,
  cluster,
  layer: Layer.effect(
    AdminUnderTest,
    Effect.gen(function* () {
      const context = yield* Effect.context<Redis.Redis>()
      // the partitioned queue shares the server with the plain one: keys of its own
      const prefix = extra.partitions === undefined ? base : `${base}p`
      return {
        layer: (queue: string, options?: Heimdall.Options) =>
          Heimdall.layerRedis({
            ...extra,
            ...options,
            queue,
            queuePrefix: prefix,
            lockPrefix: `${prefix}lock:`,
            ratePrefix: `${prefix}rate:${queue}:`
          }).pipe(Layer.provide(Layer.succeedContext(context))),
        redis: yield* Redis.Redis,
        prefix
      }
    })
  ).pipe(Layer.provideMerge(redisLive))
})

conformance(
  "Admin",
  [
    backendOn("redis", redisLayer()),
    backendOn("redis cluster", clusterLayer(), true),
    backendOn("redis, 3 partitions", redisLayer(), false, { partitions: 3 })
  ],
  adminSuite
)
