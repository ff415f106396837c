import { Effect, Layer } from "effect"
import type * as Redis from "effect/persistence/Redis"
import * as Heimdall from "../src/Heimdall.ts"
import { ScheduleUnderTest, scheduleSuite } from "./ScheduleSuite.ts"
import { conformance } from "./support/backends.ts"
import { keyPrefix, redisLayer } from "./support/redis.ts"

const prefix = keyPrefix(import.meta.url)

const redis = Layer.effect(
  ScheduleUnderTest,
  Effect.gen(function* () {
    const context = yield* Effect.context<Redis.Redis>()
    return {
      layer: (queue: string, options?: Heimdall.Options) =>
        Heimdall.layerRedis({ ...options, queue, queuePrefix: `${prefix}q`, lockPrefix: `${prefix}lock:` }).pipe(
          Layer.provide(Layer.succeedContext(context))
        )
    }
  })
).pipe(Layer.provideMerge(redisLayer()))

conformance("Schedules", [{ name: "redis", layer: redis, redis: true }], scheduleSuite)
