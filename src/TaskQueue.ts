/**
 * The storage behind `Task` and `Worker`: a reliable queue of task records.
 *
 * `Task.enqueue`, `Task.join`, `Task.status` and `Worker.layer` all talk to
 * this service; a backend is only a layer for it. `layerMemory` keeps
 * everything in the process on Effect's `Clock` (drive it with `TestClock` in
 * tests); `layerRedis` keeps it in Redis, shared by every process, and needs
 * only the `Redis` service of `effect/persistence/Redis` (for example from
 * `RedisIoredis.layer`).
 *
 * **The contract every backend honours** (checked by one conformance suite on both):
 *
 * - Every operation below is atomic. On Redis each is one Lua script whose keys
 *   share the hash tag `{<queue>}` and whose time comes from Redis `TIME`.
 * - `enqueue` is the only operation that creates a record. An id that exists
 *   already is left untouched (`created: false`).
 * - `claim` first moves due `scheduled` tasks to `queued`, and requeues
 *   `running` tasks whose lease lapsed (their attempt stays spent; past
 *   `maxRedeliveries` they are dead-lettered instead), then hands
 *   out the oldest `queued` task with a fresh lease (`attempts + 1`) — up to
 *   `max` of them, oldest first, in the same atomic step — or says how long
 *   until something becomes due. Each task of one claim has its own lease
 *   token: the first gets the `token` passed in, the n-th `<token>:<n>`.
 * - `completeAndClaim` is `complete` then `claim`, atomically, in one step.
 * - `renew`, `complete`, `fail`, `reschedule`, `release` and `deadLetter` act
 *   only for the holder of the lease (its `token`) and return `false`
 *   otherwise, changing nothing.
 * - `reschedule` and `release` give the claim's attempt back; `fail` with a
 *   retry delay keeps it spent.
 * - Terminal records (`succeeded`, `failed`, `dead`, `skipped`) expire after `retention`;
 *   `get` then answers `undefined`.
 * - Every state change that can make work available (enqueue, retry,
 *   reschedule, release) wakes one blocked `waiter`.
 * - A claim with `names` is handed only tasks of those names. A waiting task of
 *   another name that it meets is left for a claimer that runs it: on Redis
 *   handed to an idle worker that runs it, else parked (on memory parked, and a
 *   waiting worker that runs it woken); tasks parked for a name come first in
 *   the claims of workers that run it. Its name is reported in `passed`.
 * - `fail` records the failure's time (`failures`), for retry schedules.
 * - On Redis, an enqueue of a task to run now may instead hand it directly to
 *   an idle worker that runs its name (registered by its `Waiter.claim`; the
 *   longest idle first): the task is claimed for that worker in the enqueue's
 *   own step (state `running`, `attempts` 1, a first lease of at most 2 s) and
 *   returned by its `Waiter.wait`, one round trip sooner than a wake-up and a
 *   claim. The same step wakes one other idle worker, whose claim then waits
 *   only until that short lease ends: a task handed to a worker that died
 *   while idle is taken over about 2 s later.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { InvalidArgument } from "./Errors.ts"
import * as MemoryStore from "./HeimdallStore.ts"
import * as Layout from "./internal/layout.ts"
import { lockTable } from "./internal/locks.ts"
import { makeMemory } from "./internal/queue/memory.ts"
import type { Options, Service } from "./internal/queue/model.ts"
import { resolveOptions } from "./internal/queue/options.ts"
import { makeRedis } from "./internal/queue/redis.ts"
import * as RedisStore from "./internal/redisStore.ts"
import * as validate from "./internal/validate.ts"

export * from "./internal/queue/model.ts"

/**
 * The queue service. Provide it with `layerMemory` or `layerRedis`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { TaskQueue } from "effect-heimdall"
 *
 * const program = Effect.gen(function* () {
 *   const queue = yield* TaskQueue.TaskQueue
 *   return yield* queue.get("some-id")
 * }).pipe(Effect.provide(TaskQueue.layerMemory))
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class TaskQueue extends Context.Service<TaskQueue, Service>()("effect-heimdall/TaskQueue") {}

/**
 * The queue in this process's memory, on Effect's `Clock`, with options.
 *
 * **Example**
 *
 * ```ts
 * import { TaskQueue } from "effect-heimdall"
 *
 * const QueueLive = TaskQueue.layerMemoryWith({ retention: "1 hour" })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemoryWith = (options?: Options): Layer.Layer<TaskQueue, InvalidArgument> =>
  validate.layerOrFail(validate.queueOptions(options as Record<string, unknown> | undefined), () =>
    memoryLayer(options)
  )

const memoryLayer = (options: Options | undefined): Layer.Layer<TaskQueue> =>
  Layer.effect(
    TaskQueue,
    Effect.gen(function* () {
      // the lock table is shared with the memory HeimdallStore when Heimdall.layerMemory provides one
      const table = yield* lockTable
      const shared = yield* Effect.serviceOption(MemoryStore.HeimdallStore)
      const store =
        shared._tag === "Some"
          ? shared.value
          : yield* MemoryStore.HeimdallStore.pipe(Effect.provide(MemoryStore.layerMemory))
      return yield* makeMemory(resolveOptions(options), table, store)
    })
  )

/**
 * The queue in this process's memory, on Effect's `Clock`: same semantics as
 * Redis, for tests (with `TestClock`) and single-process apps.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Task, TaskQueue } from "effect-heimdall"
 *
 * declare const program: Effect.Effect<void, never, TaskQueue.TaskQueue>
 * program.pipe(Effect.provide(TaskQueue.layerMemory), Effect.runPromise)
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<TaskQueue> = memoryLayer(undefined)

/**
 * The queue in Redis, shared by every process using the same `prefix` and
 * `queue`. Needs the `Redis` service of `effect/persistence/Redis`.
 *
 * Keys (all under the hash tag `{<queue>}`; see the README for the layout):
 * `<prefix>:{<queue>}:task:<id>`, `:ready`, `:scheduled`, `:running`, `:wake`,
 * and the pub/sub channel `:events`.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { RedisIoredis, TaskQueue } from "effect-heimdall"
 *
 * const QueueLive = TaskQueue.layerRedis({ queue: "reports" }).pipe(
 *   Layer.provide(RedisIoredis.layer("redis://127.0.0.1:6379"))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRedis = (options?: Options): Layer.Layer<TaskQueue, InvalidArgument, Redis.Redis> =>
  validate.layerOrFail(validate.queueOptions(options as Record<string, unknown> | undefined), () =>
    Layer.effect(
      TaskQueue,
      Effect.gen(function* () {
        const resolved = resolveOptions(options)
        const shared = yield* Effect.serviceOption(MemoryStore.HeimdallStore)
        const store =
          shared._tag === "Some"
            ? shared.value
            : yield* RedisStore.make({ channel: Layout.releaseChannel(resolved.lockPrefix) })
        return yield* makeRedis(resolved, store)
      })
    )
  )
