/** The backend layers of the primitives and the task queue: each builds the `Heimdall` service, the store and the queue. */
import { type Config, Effect, Layer } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { InvalidArgument } from "../../Errors.ts"
import * as Store from "../../HeimdallStore.ts"
import * as RedisIoredis from "../../RedisIoredis.ts"
import * as TaskQueueModule from "../../TaskQueue.ts"
import * as Layout from "../layout.ts"
import { MemoryLockTable, makeLockTable } from "../locks.ts"
import * as RedisStore from "../redisStore.ts"
import * as validate from "../validate.ts"
import { Heimdall, type Options, resolveOptions } from "./service.ts"

type TaskQueue = TaskQueueModule.TaskQueue

const queueOptions = (options: Options | undefined): TaskQueueModule.Options => ({
  queue: options?.queue,
  prefix: options?.queuePrefix,
  retention: options?.retention,
  lockPrefix: options?.lockPrefix,
  ratePrefix: options?.ratePrefix,
  uniqueTimeout: options?.uniqueTimeout
})

/**
 * `Heimdall` over any `HeimdallStore` (for custom backends).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerStore = (options?: Options): Layer.Layer<Heimdall, InvalidArgument, Store.HeimdallStore> =>
  validate.layerOrFail(checkOptions(options), () => storeLayer(options))

const storeLayer = (options: Options | undefined): Layer.Layer<Heimdall, never, Store.HeimdallStore> =>
  Layer.effect(
    Heimdall,
    Effect.map(Store.HeimdallStore, (store) => Heimdall.of({ store, ...resolveOptions(options) }))
  )

/** The first option that can never work (see `Options`), checked when a layer is made. */
const checkOptions = (options: Options | undefined) =>
  validate.heimdallOptions(options as Record<string, unknown> | undefined)

/**
 * The in-memory backend with options (prefixes, default lock ttl).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemoryWith = (
  options?: Options
): Layer.Layer<Heimdall | Store.HeimdallStore | TaskQueue, InvalidArgument> =>
  validate.layerOrFail(checkOptions(options), () => memoryLayer(options))

// one lock table and one store for the primitives and the queue: a unique task's lock is a lock like any other
const memoryLayer = (options: Options | undefined): Layer.Layer<Heimdall | Store.HeimdallStore | TaskQueue> =>
  Layer.merge(
    storeLayer(options),
    // checked above, under this module's option names
    TaskQueueModule.layerMemoryWith(queueOptions(options)) as Layer.Layer<TaskQueue>
  ).pipe(Layer.provideMerge(Store.layerMemory), Layer.provide(Layer.sync(MemoryLockTable, makeLockTable)))

/**
 * The in-memory backend: one process, Effect's `Clock`. For tests (with
 * `TestClock`) and single-process apps.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const once = Heimdall.onlyAfter("nightly-report", "1 day")
 * Effect.runPromise(Effect.provide(once, Heimdall.layerMemory)) // true, then false for a day
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<Heimdall | Store.HeimdallStore | TaskQueue> = memoryLayer(undefined)

/**
 * The Redis backend, shared by every process using the same Redis and
 * prefixes. Requires the `Redis` service of `effect/persistence/Redis`.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { Heimdall, RedisIoredis } from "effect-heimdall"
 *
 * const HeimdallLive = Heimdall.layerRedis({ lockPrefix: "myapp-lock:" }).pipe(
 *   Layer.provide(RedisIoredis.layer("redis://127.0.0.1:6379"))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRedis = (
  options?: Options
): Layer.Layer<Heimdall | Store.HeimdallStore | TaskQueue, InvalidArgument, Redis.Redis> =>
  validate.layerOrFail(checkOptions(options), () => {
    const resolved = resolveOptions(options)
    return Layer.merge(
      storeLayer(options),
      // checked above, under this module's option names
      TaskQueueModule.layerRedis(queueOptions(options)) as Layer.Layer<TaskQueue, never, Redis.Redis>
    ).pipe(Layer.provideMerge(RedisStore.layer({ channel: Layout.releaseChannel(resolved.lockPrefix) })))
  })

/**
 * The Redis backend with its own connection, from configuration: the URL is read from `REDIS_URL` through Effect's
 * `Config` (default `redis://127.0.0.1:6379`) and connected by `RedisIoredis` (with `redis`, its options). Provides
 * everything `layerRedis` does, and the `Redis` service too: one layer for an application that keeps its Redis
 * settings in its environment.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const HeimdallLive = Heimdall.layerRedisConfig({ queue: "reports", redis: { commandTimeout: "2 seconds" } })
 * Effect.runPromise(Effect.provide(Heimdall.onlyAfter("nightly-report", "1 day"), HeimdallLive))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRedisConfig = (
  options?: Options & { readonly redis?: Omit<RedisIoredis.Options, "url"> | undefined }
): Layer.Layer<
  Heimdall | Store.HeimdallStore | TaskQueue | Redis.Redis | RedisIoredis.Client,
  InvalidArgument | Redis.RedisError | Config.ConfigError
> => {
  const { redis, ...heimdall } = options ?? {}
  return layerRedis(heimdall).pipe(Layer.provideMerge(RedisIoredis.layerConfig(redis)))
}
