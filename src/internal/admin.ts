/**
 * The `Admin` service (public as `Admin.ts`): an operator's actions on one queue (retry, purge, cancel) and on the
 * primitives (force-release a lock, reset a rate-limit key), over the backend's action methods (`TaskQueue.Service`:
 * `retry`, `retryAll`, `purge`, `cancel`) and the store (`forceRelease`, `resetRateLimit`). Built by the backend
 * layers (`internal/heimdall/layers.ts`) on the same queue and store as `Task`, `Worker` and `Inspector` use.
 */

import type { Effect } from "effect"
import { Context } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { AlreadyQueued, InvalidArgument, TaskNotFound, TaskStateConflict } from "../Errors.ts"
import type { TaskState } from "./queue/model.ts"

/**
 * The finished states `purge` deletes: `succeeded` is not one (succeeded tasks are not indexed, so finding them
 * would mean scanning the keyspace; their records expire after the retention).
 *
 * **Example**
 *
 * ```ts
 * import type { Admin } from "effect-heimdall"
 *
 * const everyProblem: ReadonlyArray<Admin.PurgeState> = ["failed", "dead"]
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export type PurgeState = "failed" | "dead" | "skipped" | "cancelled"

/**
 * What `cancel` did: the state the task was in when it was cancelled (`queued`, `scheduled` or `running`; a running
 * task's worker interrupts its handler).
 *
 * **Example**
 *
 * ```ts
 * import type { Admin } from "effect-heimdall"
 *
 * const wasRunning = (o: Admin.CancelOutcome) => o.previous === "running"
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export interface CancelOutcome {
  readonly previous: TaskState
}

/**
 * An operator's actions on a queue, for a CLI, a dashboard or a script. `Heimdall.layerMemory`, `layerMemoryWith`,
 * `layerRedis` and `layerRedisConfig` provide it, on the queue they configure. Each action is atomic: on Redis one
 * Lua script (one round trip), on memory one step; the same outcomes on both.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Admin, Heimdall } from "effect-heimdall"
 *
 * const requeueDead = Effect.gen(function* () {
 *   const admin = yield* Admin.Admin
 *   const requeued = yield* admin.retryAll({ state: "dead", name: "send-mail" })
 *   const purged = yield* admin.purge({ state: "failed" })
 *   return { requeued, purged }
 * }).pipe(Effect.provide(Heimdall.layerMemory))
 * ```
 *
 * @category services
 * @since 0.2.0
 */
export class Admin extends Context.Service<
  Admin,
  {
    /** The queue's name. */
    readonly queue: string
    /**
     * A `failed` or `dead` task is queued again now (at the back of the line, as a new task), under the same id:
     * attempts, failure times and the outcome are reset (the last error is kept as `lastError`), it leaves the
     * bounded index. A unique task takes its lock again; if another task holds the key, it fails with
     * `AlreadyQueued` and nothing changes.
     */
    readonly retry: (
      id: string
    ) => Effect.Effect<void, TaskNotFound | TaskStateConflict | AlreadyQueued | InvalidArgument | Redis.RedisError>
    /**
     * `retry` of every task in the bounded index of `state` (of the task `name` only, when given), in one atomic
     * step; a unique task whose key is held by another task stays where it is. How many were requeued.
     */
    readonly retryAll: (query: {
      readonly state: "failed" | "dead"
      readonly name?: string | undefined
    }) => Effect.Effect<number, InvalidArgument | Redis.RedisError>
    /**
     * Deletes every task of the bounded index of `state` (of the task `name` only, when given): the records and
     * their index entries, in one atomic step. How many were deleted. See `PurgeState`.
     */
    readonly purge: (query: {
      readonly state: PurgeState
      readonly name?: string | undefined
    }) => Effect.Effect<number, InvalidArgument | Redis.RedisError>
    /**
     * Ends a `queued`, `scheduled` or `running` task `cancelled` at once: it leaves its list, its unique lock is
     * freed, `Task.join` fails with `TaskCancelled`. A running task's worker (in any process) is told and
     * interrupts the handler (its finalizers run); its completion, if it comes first, wins: the cancel then fails
     * with `TaskStateConflict` naming the state found.
     */
    readonly cancel: (
      id: string
    ) => Effect.Effect<CancelOutcome, TaskNotFound | TaskStateConflict | InvalidArgument | Redis.RedisError>
    /**
     * Frees the lock `key` (without the lock prefix, as `Inspector.locks` lists it) whoever holds it; its fence is
     * kept, so the next holder's fence is larger. `true` if it was held.
     */
    readonly releaseLock: (key: string) => Effect.Effect<boolean, InvalidArgument | Redis.RedisError>
    /**
     * Forgets every admission and booking of the rate-limit key `key` (without the rate-limit prefix): the next
     * call is admitted as on a fresh key. `true` if there was any.
     */
    readonly resetRateLimit: (key: string) => Effect.Effect<boolean, InvalidArgument | Redis.RedisError>
  }
>()("effect-heimdall/Admin") {}
