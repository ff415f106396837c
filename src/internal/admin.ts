/**
 * The `Admin` service (public as `Admin.ts`): an operator's actions on one queue (retry, purge, cancel) and on the
 * primitives (force-release a lock, reset a rate-limit key), over the backend's action methods (`TaskQueue.Service`:
 * `retry`, `retryAll`, `purge`, `cancel`) and the store (`lockForceRelease`, `rateReset`). Built by the backend
 * layers (`internal/heimdall/layers.ts`) on the same queue and store as `Task`, `Worker` and `Inspector` use.
 */
import { Context, Duration, Effect } from "effect"
import type * as Redis from "effect/persistence/Redis"
import { AlreadyQueued, type InvalidArgument, TaskNotFound, TaskStateConflict } from "../Errors.ts"
import type { HeimdallStore } from "../HeimdallStore.ts"
import type { Config } from "./config.ts"
import * as Layout from "./layout.ts"
import * as Metrics from "./metrics.ts"
import type { Service as QueueService, TaskState } from "./queue/model.ts"
import * as validate from "./validate.ts"

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
    /**
     * Deletes the schedule `name`'s record (its definition and progress; see `Task.schedule`): it leaves
     * `Inspector.schedules`, and a scheduler that starts later starts afresh (no catch-up). A scheduler still
     * running it writes it again at its next step: remove the schedule from the processes' `layerSchedules` first.
     * The tasks it enqueued are not touched. `true` if there was one.
     */
    readonly removeSchedule: (name: string) => Effect.Effect<boolean, InvalidArgument | Redis.RedisError>
  }
>()("effect-heimdall/Admin") {}

const retryStates: ReadonlyArray<string> = ["failed", "dead"]
const purgeStates: ReadonlyArray<string> = ["failed", "dead", "skipped", "cancelled"]
const quoted = (states: ReadonlyArray<string>) => states.map((s) => `"${s}"`).join(", ")

/** The id or key as given, or the `InvalidArgument` naming `option`. */
const checked = (option: string, value: unknown): Effect.Effect<string, InvalidArgument> => {
  const ok = validate.nonEmpty(option, value)
  return typeof ok === "string" ? Effect.succeed(ok) : Effect.fail(ok)
}

/** A query's state (one of `states`) and optional task name, or the `InvalidArgument` naming the option. */
const checkQuery = <S extends string>(
  query: { readonly state: S; readonly name?: string | undefined } | undefined,
  states: ReadonlyArray<string>
): Effect.Effect<{ readonly state: S; readonly name: string | undefined }, InvalidArgument> => {
  const state = query?.state
  if (!states.includes(state as string)) {
    return Effect.fail(validate.invalid("state", state, `must be one of ${quoted(states)}`))
  }
  const name = query?.name
  if (name !== undefined) {
    const ok = validate.taskName("name", name)
    if (typeof ok !== "string") return Effect.fail(ok)
  }
  return Effect.succeed({ state: state as S, name })
}

/** The `Admin` over a backend's queue and store (see layers.ts). */
export const make = (queue: QueueService, store: HeimdallStore["Service"], config: Config): Admin["Service"] =>
  Admin.of({
    queue: queue.queue,
    retry: Effect.fn("Admin.retry")(function* (id: string) {
      const taskId = yield* checked("id", id)
      const result = yield* queue.retry(taskId)
      switch (result._tag) {
        case "Requeued":
          return yield* Metrics.countAdmin("retries")
        case "NotFound":
          return yield* new TaskNotFound({ taskId })
        case "Conflict":
          return yield* new TaskStateConflict({ taskId, state: result.state, action: "retry" })
        case "Duplicate": {
          const record = yield* queue.get(taskId)
          return yield* new AlreadyQueued({
            taskName: record?.name ?? "",
            key: record?.lockKey ?? "",
            likelyCulprit: result.holder,
            expiresIn: Duration.millis(result.expiresInMillis)
          })
        }
      }
    }),
    retryAll: Effect.fn("Admin.retryAll")(function* (query) {
      const { state, name } = yield* checkQuery(query, retryStates)
      const n = yield* queue.retryAll(state, name)
      yield* Metrics.countAdmin("retries", n)
      return n
    }),
    purge: Effect.fn("Admin.purge")(function* (query) {
      const { state, name } = yield* checkQuery(query, purgeStates)
      const n = yield* queue.purge(state, name)
      yield* Metrics.countAdmin("purged", n)
      return n
    }),
    cancel: Effect.fn("Admin.cancel")(function* (id: string) {
      const taskId = yield* checked("id", id)
      const result = yield* queue.cancel(taskId)
      switch (result._tag) {
        case "Cancelled":
          yield* Metrics.countAdmin("cancellations")
          return { previous: result.previous }
        case "NotFound":
          return yield* new TaskNotFound({ taskId })
        case "Conflict":
          return yield* new TaskStateConflict({ taskId, state: result.state, action: "cancel" })
      }
    }),
    releaseLock: Effect.fn("Admin.releaseLock")(function* (key: string) {
      const k = yield* checked("key", key)
      return yield* store.lockForceRelease(Layout.lockKey(config.lockPrefix, k))
    }),
    resetRateLimit: Effect.fn("Admin.resetRateLimit")(function* (key: string) {
      const k = yield* checked("key", key)
      return yield* store.rateReset(Layout.rateKey(config.ratePrefix, k))
    }),
    removeSchedule: Effect.fn("Admin.removeSchedule")(function* (name: string) {
      const n = yield* checked("name", name)
      return yield* queue.removeSchedule(n)
    })
  })
