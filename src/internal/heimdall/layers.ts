/**
 * The backend layers: each resolves one configuration and builds, on it, the `Heimdall` service, the primitives'
 * store and the task queue. The one backend seam: nothing else builds a store or a queue.
 */
import { Context, Effect, type Config as EffectConfig, Layer } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { InvalidArgument } from "../../Errors.ts"
import * as Store from "../../HeimdallStore.ts"
import * as RedisIoredis from "../../RedisIoredis.ts"
import { TaskQueue } from "../../TaskQueue.ts"
import * as Admin from "../admin.ts"
import * as Config from "../config.ts"
import * as Inspector from "../inspector.ts"
import * as Layout from "../layout.ts"
import { makeLockTable } from "../locks.ts"
import * as MemoryStore from "../memoryStore.ts"
import { partitionTags } from "../queue/keys.ts"
import { makeMemory as makeMemoryQueue } from "../queue/memory.ts"
import { makeRedisPartitioned } from "../queue/partitions.ts"
import { makeRedis as makeRedisQueue } from "../queue/redis.ts"
import * as RedisStore from "../redisStore.ts"
import * as validate from "../validate.ts"
import { Heimdall, type Options } from "./service.ts"

type Backend = Heimdall | Store.HeimdallStore | TaskQueue | Inspector.Inspector | Admin.Admin

/**
 * The five services of one backend, built on one resolved configuration (the `Inspector` reads the queue, the
 * `Admin` acts on it).
 */
const backendContext = (
  config: Config.Config,
  store: Store.HeimdallStore["Service"],
  queue: TaskQueue["Service"]
): Context.Context<Backend> =>
  Context.make(Heimdall, Heimdall.of({ store, config })).pipe(
    Context.add(Store.HeimdallStore, store),
    Context.add(TaskQueue, queue),
    Context.add(Inspector.Inspector, Inspector.make(queue, store, config.lockPrefix, config)),
    Context.add(Admin.Admin, Admin.make(queue, store, config))
  )

/** The first option that can never work (see `Options`), checked when a layer is made. */
const checkOptions = (options: Options | undefined) =>
  validate.heimdallOptions(options as Record<string, unknown> | undefined)

/**
 * `Heimdall` over any `HeimdallStore`: for a custom backend of the primitives (see `HeimdallStore` for the
 * contract). It provides no task queue: a custom queue backend provides `TaskQueue` itself.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { Heimdall, HeimdallStore } from "effect-heimdall"
 *
 * declare const MyStore: Layer.Layer<HeimdallStore.HeimdallStore>
 * const HeimdallLive = Heimdall.layerStore({ lockPrefix: "myapp-lock:" }).pipe(Layer.provide(MyStore))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerStore = (options?: Options): Layer.Layer<Heimdall, InvalidArgument, Store.HeimdallStore> =>
  validate.layerOrFail(checkOptions(options), () =>
    Layer.effect(
      Heimdall,
      Effect.map(Store.HeimdallStore, (store) => Heimdall.of({ store, config: Config.resolve(options) }))
    )
  )

/**
 * The in-memory backend with options (prefixes, default lock ttl, the queue's name and retention): `layerMemory`
 * is this with the defaults.
 *
 * **Example**
 *
 * ```ts
 * import { Heimdall } from "effect-heimdall"
 *
 * const TestBackend = Heimdall.layerMemoryWith({ retention: "1 hour", uniqueTimeout: "5 minutes" })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemoryWith = (options?: Options): Layer.Layer<Backend, InvalidArgument> =>
  validate.layerOrFail(checkOptions(options), () => memoryLayer(options))

// one lock table for the primitives and the queue: a unique task's lock is a lock like any other
const memoryLayer = (options: Options | undefined): Layer.Layer<Backend> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const config = Config.resolve(options)
      const table = makeLockTable()
      const store = MemoryStore.make(table)
      return backendContext(config, store, yield* makeMemoryQueue(config, table, store))
    })
  )

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
export const layerMemory: Layer.Layer<Backend> = memoryLayer(undefined)

/**
 * The Redis backend, shared by every process using the same Redis and
 * prefixes. Requires the `Redis` service of `effect/persistence/Redis`.
 * Provides the primitives (`Heimdall`, its `HeimdallStore`) and the task queue
 * (`TaskQueue`, for `Task` and `Worker`), on one configuration.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { Heimdall, RedisIoredis } from "effect-heimdall"
 *
 * const HeimdallLive = Heimdall.layerRedis({ lockPrefix: "myapp-lock:", queue: "reports" }).pipe(
 *   Layer.provide(RedisIoredis.layer("redis://127.0.0.1:6379"))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRedis = (options?: Options): Layer.Layer<Backend, InvalidArgument, Redis.Redis> =>
  validate.layerOrFail(checkOptions(options), () =>
    Layer.effectContext(
      Effect.gen(function* () {
        const config = Config.resolve(options)
        const store = yield* RedisStore.make({
          channel: Layout.releaseChannel(config.lockPrefix),
          durability: config.durability,
          taskLocks: { queuePrefix: config.queuePrefix, tags: partitionTags(config.queue, config.partitions) }
        })
        const queue =
          config.partitions > 1 ? yield* makeRedisPartitioned(config, store) : yield* makeRedisQueue(config, store)
        return backendContext(config, store, queue)
      })
    )
  )

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
  Backend | Redis.Redis | RedisIoredis.Client,
  InvalidArgument | Redis.RedisError | EffectConfig.ConfigError
> => {
  const { redis, ...heimdall } = options ?? {}
  return layerRedis(heimdall).pipe(Layer.provideMerge(RedisIoredis.layerConfig(redis)))
}
