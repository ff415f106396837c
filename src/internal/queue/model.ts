/**
 * The task queue's model: task states, records, claims and the service contract every backend implements. The
 * ground floor of the queue: the backends (memory.ts, redis.ts) and `TaskQueue.ts` import it; it imports no
 * backend. `TaskQueue.ts` re-exports every name, with these docs.
 */
import type { Effect, Scope } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type * as MemoryStore from "../../HeimdallStore.ts"
import type { Config } from "../config.ts"

export type { Config } from "../config.ts"

/**
 * Where a task is in its life:
 *
 * - `"queued"`: ready, waiting for a free worker.
 * - `"scheduled"`: waiting for its run time (a `delay`, a retry's backoff, or a reschedule).
 * - `"running"`: claimed by a worker that holds a lease on it; if the lease
 *   lapses (the worker died) it goes back to `"queued"`.
 * - `"succeeded"`: done; the result is kept for the retention.
 * - `"failed"`: the last attempt failed and the retry schedule gave up; the error is kept for the retention.
 * - `"dead"`: dead-lettered: it could not be run at all (unknown task name, payload that no longer decodes);
 *   the reason is kept for the retention.
 * - `"skipped"`: a unique task that was not run because, when a worker picked it up, its unique key was
 *   held by another task (its own lock had expired meanwhile); the reason names that task.
 * - `"cancelled"`: an operator cancelled it (`Admin.cancel`) while it waited or ran (its handler was interrupted).
 *
 * **Example**
 *
 * ```ts
 * import { TaskQueue } from "effect-heimdall"
 *
 * const finished = (state: TaskQueue.TaskState) => TaskQueue.isTerminal(state) // succeeded, failed, dead, skipped, cancelled
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type TaskState = "queued" | "scheduled" | "running" | "succeeded" | "failed" | "dead" | "skipped" | "cancelled"

/**
 * Whether a state is final.
 *
 * **Example**
 *
 * ```ts
 * import { TaskQueue } from "effect-heimdall"
 *
 * TaskQueue.isTerminal("failed") // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const isTerminal = (state: TaskState): boolean =>
  state === "succeeded" || state === "failed" || state === "dead" || state === "skipped" || state === "cancelled"

/**
 * The trace context of the span that enqueued a task, so the span that runs it
 * (in any process) can link to it.
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const trace: TaskQueue.TraceContext = { traceId: "4bf92f35", spanId: "00f067aa", sampled: true }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TraceContext {
  readonly traceId: string
  readonly spanId: string
  readonly sampled: boolean
}

/**
 * A stored task, as `get` returns it. `payload`, `result`, `error` and
 * `lastError` are JSON text, encoded by `Task` with the task's schemas.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { TaskQueue } from "effect-heimdall"
 *
 * const attemptsOf = (id: string) => Effect.map(TaskQueue.TaskQueue, (q) => q.get(id))
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TaskRecord {
  readonly id: string
  readonly name: string
  readonly state: TaskState
  readonly payload: string
  /** Claims that counted: a reschedule or a release gives its attempt back. */
  readonly attempts: number
  /** Times the task went back to the queue because its lease lapsed. */
  readonly redeliveries: number
  /** Times the task was rescheduled without spending an attempt. */
  readonly reschedules: number
  /** Epoch milliseconds on the backend's clock. */
  readonly enqueuedAt: number
  /** When it is (or was) due, epoch milliseconds on the backend's clock. */
  readonly runAt: number
  readonly trace: TraceContext | undefined
  /** The encoded success value, once `"succeeded"`. */
  readonly result: string | undefined
  /** The encoded error, once `"failed"`. */
  readonly error: string | undefined
  /** The encoded error of the last failed attempt that was retried. */
  readonly lastError: string | undefined
  /** Why the task was dead-lettered or skipped, once `"dead"` or `"skipped"`. */
  readonly reason: string | undefined
  /** A unique task's lock: the full key in the backend (lock prefix included). */
  readonly lockKey: string | undefined
  /** When each failed attempt failed, epoch milliseconds on the backend's clock, oldest first. */
  readonly failures: ReadonlyArray<number>
  /** When the last claim started it, epoch milliseconds on the backend's clock (undefined before the first). */
  readonly startedAt?: number | undefined
  /** When it reached its terminal state, epoch milliseconds on the backend's clock. */
  readonly finishedAt?: number | undefined
  /** The id of the worker that claimed it last (see `ClaimOptions.worker`), when that claimer gave one. */
  readonly worker?: string | undefined
}

/**
 * A task to create with `enqueue`.
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const task: TaskQueue.NewTask = { id: "t1", name: "send-mail", payload: "{}", delayMillis: 0, trace: undefined }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface NewTask {
  readonly id: string
  readonly name: string
  readonly payload: string
  /** 0: ready now; otherwise scheduled this many milliseconds after the backend's now. */
  readonly delayMillis: number
  readonly trace: TraceContext | undefined
  /**
   * A unique task: its lock is taken, in the same atomic step as the record is
   * created, under `key` (see `lockKey`), for `ttlMillis`; `keep` keeps it
   * after the task ends, until it expires; `freeAtStart` frees it when a
   * worker starts the task (`hold: "untilStart"`).
   */
  readonly unique?:
    | {
        readonly key: string
        readonly ttlMillis: number
        readonly keep: boolean
        readonly freeAtStart?: boolean | undefined
        /** This task's lock prefix instead of the backend's. */
        readonly prefix?: string | undefined
        /**
         * `"replace"`: a duplicate replaces the payload of the task waiting under the key, or waits behind the
         * running one (`Replaced`). `"oneBehind"`: a duplicate waits behind the running one (`Created`, scheduled
         * until the running one ends) unless a task waits already (`Duplicate`, naming it). `"debounce"`: as
         * `"replace"`, and each duplicate moves the start to `debounce.waitMillis` from now, at most
         * `debounce.maxWaitMillis` after the waiting task's enqueue (`Debounced`). With `debounce.edge`
         * `"leading"` or `"both"`, the key's burst window decides instead (see `Task.Debounce` and
         * debounceEdge in includes.lua): a request outside it runs at once (`Created`, or `Replaced` when it gave
         * its payload to the key's waiting task); inside it, `"leading"` starts nothing (`Duplicate`, naming the
         * burst's latest run) and `"both"` moves the one trailing run (`Debounced`, or `Replaced` for a run that
         * has not started yet). Otherwise it is reported (`Duplicate`).
         */
        readonly onDuplicate?: "replace" | "oneBehind" | "debounce" | undefined
        readonly debounce?:
          | {
              readonly waitMillis: number
              readonly maxWaitMillis: number | undefined
              /** Default (undefined): trailing. */
              readonly edge?: "leading" | "both" | undefined
            }
          | undefined
      }
    | undefined
  /**
   * A task of a concurrency group (ignored with `unique`): at most `limit` tasks of group `key` are admitted at once
   * (queued, scheduled or running); the others wait in the group's line (state `"queued"`), oldest first, and each
   * is admitted when an admitted task of its group ends.
   */
  readonly concurrency?: { readonly key: string; readonly limit: number } | undefined
}

/**
 * What `enqueue` did: created the task; found a task with the same id (nothing
 * changed); found the unique key held by another task (nothing changed); or,
 * with `onDuplicate: "replace"`, gave its payload to task `id` (the waiting
 * holder, or the task queued behind the running holder, created if need be);
 * or, with `onDuplicate: "debounce"`, also moved its start to `startsAt` (ms, backend clock; for a task behind a
 * running one: not before then).
 *
 * @category models
 * @since 0.1.0
 */
export type EnqueueResult =
  | { readonly _tag: "Created"; readonly state: TaskState }
  | { readonly _tag: "Exists"; readonly state: TaskState }
  | { readonly _tag: "Duplicate"; readonly holder: string; readonly expiresInMillis: number }
  | { readonly _tag: "Replaced"; readonly id: string; readonly state: TaskState }
  | { readonly _tag: "Debounced"; readonly id: string; readonly state: TaskState; readonly startsAt: number }

/**
 * A task handed to a worker by `claim`, with the lease `token` that every
 * later state change must present.
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const describe = (task: TaskQueue.ClaimedTask) => `${task.name}#${task.id} attempt ${task.attempts}`
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ClaimedTask {
  readonly id: string
  readonly name: string
  readonly payload: string
  readonly attempts: number
  readonly trace: TraceContext | undefined
  readonly enqueuedAt: number
  readonly token: string
  /** A rate-limit slot was booked for this start when the task was rescheduled (it is checked again now). */
  readonly booked: boolean
  /** When it was claimed, epoch milliseconds on the backend's clock. */
  readonly claimedAt: number
  /**
   * An enqueue handed it to this idle worker directly (`Waiter.wait`): its first lease is short (at most 2 s), so
   * that it goes back to the queue soon if the worker is gone; renew the lease as the task starts.
   */
  readonly handedOff?: boolean | undefined
  /**
   * When each earlier attempt failed, epoch milliseconds on the backend's clock, oldest first: the worker steps the
   * task's retry schedule on these times. Empty for a task that has not failed.
   */
  readonly failures?: ReadonlyArray<number> | undefined
}

/**
 * An idle worker's side of the queue, held for the worker's scope (see `Service.waiter`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import type { TaskQueue } from "effect-heimdall"
 *
 * // one fetch: claim, or wait for work (and take what was handed over)
 * const fetch = (waiter: TaskQueue.Waiter, options: TaskQueue.ClaimOptions) =>
 *   Effect.flatMap(waiter.claim(options, 30_000), (result) =>
 *     result._tag === "Claimed" ? Effect.succeed(result.tasks) : Effect.map(waiter.wait(30_000), (t) => (t ? [t] : []))
 *   )
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Waiter {
  /**
   * `claim`, for this worker: it first takes the tasks handed to it since its last claim, and when it finds
   * nothing it registers the worker as idle (for at most `maxIdleMillis` and a second), so that the next enqueue
   * of a task to run now can hand the task over directly.
   */
  readonly claim: (options: ClaimOptions, maxIdleMillis: number) => Effect.Effect<ClaimResult, Redis.RedisError>
  /**
   * Blocks until woken by new work or until `maxMillis` passed, whichever comes first. Returns the task an enqueue
   * handed to this worker meanwhile (claimed for it already, `handedOff`), if any.
   */
  readonly wait: (maxMillis: number) => Effect.Effect<ClaimedTask | undefined, Redis.RedisError>
}

/**
 * What `claim` found: one or more tasks, or nothing yet (`waitMillis`: until the next
 * scheduled task or lease end, `undefined` when there is none).
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const waitFor = (r: TaskQueue.ClaimResult) => (r._tag === "Idle" ? (r.waitMillis ?? 30_000) : 0)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ClaimResult =
  | {
      readonly _tag: "Claimed"
      /** The first (oldest) task claimed: `tasks[0]`. */
      readonly task: ClaimedTask
      /** Every task claimed, oldest first: at least one, at most the claim's `max`. */
      readonly tasks: ReadonlyArray<ClaimedTask>
      /** The names of the tasks this claim met and left for other workers (see `ClaimOptions.names`). */
      readonly passed?: ReadonlyArray<string> | undefined
      /** The names of the tasks this claim dead-lettered (their lease lapsed past `maxRedeliveries`), one per task. */
      readonly deadLettered?: ReadonlyArray<string> | undefined
    }
  | {
      readonly _tag: "Idle"
      readonly waitMillis: number | undefined
      /** The names of the tasks this claim met and left for other workers (see `ClaimOptions.names`). */
      readonly passed?: ReadonlyArray<string> | undefined
      /** The names of the tasks this claim dead-lettered (their lease lapsed past `maxRedeliveries`), one per task. */
      readonly deadLettered?: ReadonlyArray<string> | undefined
    }

/**
 * What `claim` (and `completeAndClaim`) is asked for.
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const options: TaskQueue.ClaimOptions = { token: "worker-1:42", leaseMillis: 30_000, max: 8 }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ClaimOptions {
  readonly token: string
  readonly leaseMillis: number
  /** A task whose lease lapsed more often than this is dead-lettered instead of redelivered. Default: no limit. */
  readonly maxRedeliveries?: number | undefined
  /**
   * Hand out up to this many tasks in one atomic step (a worker passes its free slots). Default 1. The first
   * gets `token`, the n-th `<token>:<n>`.
   */
  readonly max?: number | undefined
  /**
   * The id of the claiming worker (see `WorkerRegistration`): stored in the record of each task claimed (the
   * `Inspector` shows who runs what). Default: none.
   */
  readonly worker?: string | undefined
  /**
   * The task names this claimer runs (default: every name). A waiting task of another name is never handed to
   * it: the claim hands it to an idle worker that runs it, or parks it for one (tasks parked for a name come
   * first in the claims of workers that run it), and reports its name in `passed`.
   */
  readonly names?: ReadonlyArray<string> | undefined
}

/**
 * A task to complete with `completeAndClaimMany`: its id, its lease token and its result (JSON text).
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const done: TaskQueue.Completion = { id: "t1", token: "worker-1:42", result: "{}" }
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export interface Completion {
  readonly id: string
  readonly token: string
  readonly result: string
}

/**
 * What `completeAndClaimMany` did for one completion: whether it completed the task (false: the lease was no
 * longer the caller's), and what the claim after it took for its slot.
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const nextTask = (o: TaskQueue.CompletionOutcome) => (o.next._tag === "Claimed" ? o.next.task : undefined)
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export interface CompletionOutcome {
  readonly completed: boolean
  readonly next: ClaimResult
}

/**
 * What a worker's `beat` reports: a task name with tasks parked for a worker that runs it, how many, and how many
 * this beat dead-lettered because no worker running the name was seen for the timeout.
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const describe = (p: TaskQueue.Parked) => `${p.parked} tasks named ${p.name} wait for a worker that runs them`
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Parked {
  readonly name: string
  readonly parked: number
  readonly deadLettered: number
}

/**
 * The queue operations. See the module documentation for the contract.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { TaskQueue } from "effect-heimdall"
 *
 * const state = (id: string) =>
 *   Effect.flatMap(TaskQueue.TaskQueue, (queue) => queue.get(id)).pipe(Effect.map((r) => r?.state))
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Service {
  /** The queue's name (the Redis hash tag). */
  readonly queue: string
  /** The backend's resolved configuration (shared with the `Heimdall` service). */
  readonly config: Config
  /** The primitives' store the queue shares (rate-limited tasks take their limits from it). */
  readonly store: MemoryStore.HeimdallStore["Service"]
  /** The key (without the lock prefix) of a unique task's lock: `{<queue>}:<unique key>`, as `Heimdall.inspectLock` takes it. */
  readonly lockKey: (uniqueKey: string) => string
  /**
   * Creates a task, or reports why not (`EnqueueResult`). On Redis, enqueues that wait at the same moment (while
   * earlier calls are in flight) go to Redis as one script call (at most `config.maxEnqueueBatch` tasks), in the
   * callers' order, each caller with its own result; a lone enqueue is sent at once. A Redis error fails every
   * caller of that call (the script is atomic: none of its tasks was created). An interrupted caller's task may
   * still be created when its call was sent already; one not sent yet is left out.
   */
  readonly enqueue: (task: NewTask) => Effect.Effect<EnqueueResult, Redis.RedisError>
  /**
   * Creates the tasks in order, as `enqueue` would one after the other (a later task sees an earlier one: a unique
   * key taken by an earlier task names it as the holder), in as few calls as `config.maxEnqueueBatch` allows; one
   * result per task, in order. A Redis error fails the whole call; the calls that succeeded before it (or beside
   * it, two being in flight) created their tasks.
   */
  readonly enqueueAll: (tasks: ReadonlyArray<NewTask>) => Effect.Effect<ReadonlyArray<EnqueueResult>, Redis.RedisError>
  readonly claim: (options: ClaimOptions) => Effect.Effect<ClaimResult, Redis.RedisError>
  /**
   * An idle worker's claims and waits, held for the scope (on Redis: a reserved connection, and a hand-off
   * registration; when the scope closes, tasks handed over and not started go back to the queue at once).
   */
  readonly waiter: Effect.Effect<Waiter, Redis.RedisError, Scope.Scope>
  readonly renew: (id: string, token: string, leaseMillis: number) => Effect.Effect<boolean, Redis.RedisError>
  readonly complete: (id: string, token: string, result: string) => Effect.Effect<boolean, Redis.RedisError>
  /**
   * `complete`, then `claim` with `next`, in one atomic step (one round trip: a busy worker slot takes its next
   * task as it settles the last). The claim runs whether or not the lease was still the caller's.
   */
  readonly completeAndClaim: (
    id: string,
    token: string,
    result: string,
    next: ClaimOptions
  ) => Effect.Effect<CompletionOutcome, Redis.RedisError>
  /**
   * `completeAndClaim` for several completions of one claimer (a worker's slots that finished together), in one
   * atomic step (one round trip): each task is completed if its lease is still the caller's (`completed` false for
   * that one only, changing nothing of it), then one claim with `next` takes up to `next.max` tasks per completion.
   * The n-th task claimed gets `next.token` for n = 1, `<next.token>:<n>` after; they are dealt in order, `next.max`
   * to each completion, so a completion's `next` is `Claimed` with its own tasks or `Idle` (the claim's wait) once
   * the claim ran out. The names the claim passed on and dead-lettered are reported once, on the first outcome.
   * One outcome per completion, in order.
   */
  readonly completeAndClaimMany: (
    completions: ReadonlyArray<Completion>,
    next: ClaimOptions
  ) => Effect.Effect<ReadonlyArray<CompletionOutcome>, Redis.RedisError>
  /** `retryInMillis` undefined: the task ends `"failed"`; otherwise it is scheduled again after that delay. */
  readonly fail: (
    id: string,
    token: string,
    error: string,
    retryInMillis: number | undefined
  ) => Effect.Effect<boolean, Redis.RedisError>
  /** `booked`: a rate-limit slot is booked for the new run time (the next claim reports it). */
  readonly reschedule: (
    id: string,
    token: string,
    delayMillis: number,
    booked?: boolean
  ) => Effect.Effect<boolean, Redis.RedisError>
  readonly release: (id: string, token: string) => Effect.Effect<boolean, Redis.RedisError>
  readonly deadLetter: (id: string, token: string, reason: string) => Effect.Effect<boolean, Redis.RedisError>
  readonly get: (id: string) => Effect.Effect<TaskRecord | undefined, Redis.RedisError>
  /**
   * A worker's heartbeat: records that a worker running `names` is alive now, and reports the names with parked
   * tasks. With `deadAfterMillis`, parked tasks of a name that no worker has run for that long (and enqueued at
   * least that long ago) are dead-lettered with the reason. With `worker`, the worker's registration is written
   * (or renewed) for its `ttlMillis`, and registrations that lapsed are dropped (see `workers`).
   */
  readonly beat: (
    names: ReadonlyArray<string>,
    deadAfterMillis: number | undefined,
    worker?: WorkerRegistration | undefined
  ) => Effect.Effect<ReadonlyArray<Parked>, Redis.RedisError>
  /** Waits until the task is terminal and returns it; `undefined` when there is no such task. */
  readonly awaitTerminal: (id: string) => Effect.Effect<TaskRecord | undefined, Redis.RedisError>
  /**
   * `waiter` for the worker `worker` (its registry id): a task handed to it records that id, as a claim's
   * `ClaimOptions.worker` does.
   */
  readonly waiterAs: (worker: string) => Effect.Effect<Waiter, Redis.RedisError, Scope.Scope>
  /** Removes a worker's registration (see `beat`) at once: a worker that stops cleanly calls it. */
  readonly leave: (worker: string) => Effect.Effect<void, Redis.RedisError>
  /** Read-only: counts by state, per task name, and the oldest waiting task (one round trip on Redis). */
  readonly counts: Effect.Effect<QueueCounts, Redis.RedisError>
  /** Read-only: one page of the tasks in a state, newest first (one round trip on Redis). See `ListQuery`. */
  readonly list: (query: ListQuery) => Effect.Effect<TaskPage, Redis.RedisError>
  /** Read-only: a task's record with its lease, its unique lock and its booking (one round trip on Redis). */
  readonly detail: (id: string) => Effect.Effect<TaskDetail | undefined, Redis.RedisError>
  /** Read-only: the live workers' registrations, oldest first (one round trip on Redis). */
  readonly workers: Effect.Effect<ReadonlyArray<WorkerInfo>, Redis.RedisError>
  /**
   * An operator's retry: a `failed` or `dead` task queued again now, at the back of the line, under the same id
   * (attempts, failure times and outcome reset; the error or reason kept as `lastError`; out of the bounded index).
   * A unique task takes its lock again, or nothing changes (`Duplicate`).
   */
  readonly retry: (id: string) => Effect.Effect<RetryResult, Redis.RedisError>
  /** `retry` of every task of the bounded index of `state` (of the task `name`, if given), oldest first: how many. */
  readonly retryAll: (state: "failed" | "dead", name: string | undefined) => Effect.Effect<number, Redis.RedisError>
  /** Deletes the records of the bounded index of `state` (of the task `name`, if given) and their entries: how many. */
  readonly purge: (
    state: "failed" | "dead" | "skipped" | "cancelled",
    name: string | undefined
  ) => Effect.Effect<number, Redis.RedisError>
  /**
   * An operator's cancel: a `queued`, `scheduled` or `running` task ends `cancelled` (out of its list, unique lock
   * freed if it holds it, joiners told, in the bounded index); a running task's id is announced to `watchCancels`.
   */
  readonly cancel: (id: string) => Effect.Effect<CancelResult, Redis.RedisError>
  /**
   * Calls `onCancel` with the id of each running task an operator cancels (in any process on Redis), for the scope:
   * a worker checks whether it runs it.
   */
  readonly watchCancels: (onCancel: (id: string) => void) => Effect.Effect<void, Redis.RedisError, Scope.Scope>
  /**
   * A scheduler's read (see `Task.layerSchedules`): writes the schedule's definition into its record (created if
   * absent, its progress kept) and returns the backend's clock and the record, in one atomic step.
   */
  readonly syncSchedule: (spec: ScheduleSpec) => Effect.Effect<ScheduleState, Redis.RedisError>
  /**
   * Enqueues the run of one tick of a schedule, in one atomic step: nothing when the schedule's progress is past the
   * tick (another scheduler handled it) or its task exists; nothing but progress when the overlap rule says so.
   */
  readonly fireSchedule: (fire: ScheduleFire) => Effect.Effect<FireResult, Redis.RedisError>
  /** Read-only: every schedule's record, by name, with the backend's clock (one round trip on Redis). */
  readonly schedules: Effect.Effect<
    ScheduleState & { readonly records: ReadonlyArray<ScheduleRecord> },
    Redis.RedisError
  >
  /** Deletes a schedule's record (its progress); `true` if there was one. */
  readonly removeSchedule: (name: string) => Effect.Effect<boolean, Redis.RedisError>
}

/**
 * A schedule's definition as its record stores it (see `Task.schedule`): `cron` (with its `timeZone`) or `every`.
 *
 * @category schedules
 * @since 0.3.0
 */
export interface ScheduleSpec {
  readonly name: string
  readonly task: string
  readonly cron: string | undefined
  readonly timeZone: string | undefined
  readonly everyMillis: number | undefined
  readonly overlap: "skip" | "bufferOne" | "allow"
  readonly catchUp: "none" | "last" | "all"
}

/**
 * A schedule's record: its definition and its progress. `last`: the latest tick handled (enqueued, or passed over
 * by the overlap rule); `fired`, `taskId`: the latest tick enqueued and its task; `pending`: a tick held back behind
 * a running run (`overlap: "bufferOne"`), enqueued when that run ends.
 *
 * @category schedules
 * @since 0.3.0
 */
export interface ScheduleRecord extends ScheduleSpec {
  readonly last: number | undefined
  readonly fired: number | undefined
  readonly taskId: string | undefined
  readonly pending: number | undefined
}

/**
 * `syncSchedule`'s and `schedules`' clock, epoch milliseconds on the backend's clock, with a schedule's record.
 *
 * @category schedules
 * @since 0.3.0
 */
export interface ScheduleState {
  readonly now: number
  readonly record?: ScheduleRecord | undefined
}

/**
 * One tick to fire: the schedule, the tick (epoch ms), and the task to create for it (its id names the tick).
 *
 * @category schedules
 * @since 0.3.0
 */
export interface ScheduleFire {
  readonly schedule: string
  readonly overlap: ScheduleSpec["overlap"]
  readonly tick: number
  readonly task: NewTask
}

/**
 * What `fireSchedule` did: `Created` the tick's task; `Passed`: the tick was handled already (by any scheduler);
 * `Skipped`: the previous run (`previous`) has not ended (`overlap: "skip"`, or `"bufferOne"` with one already
 * waiting); `Deferred`: held back as the schedule's `pending` tick until the running `previous` ends.
 *
 * @category schedules
 * @since 0.3.0
 */
export type FireResult =
  | { readonly _tag: "Created"; readonly state: TaskState }
  | { readonly _tag: "Passed" }
  | { readonly _tag: "Skipped"; readonly previous: string }
  | { readonly _tag: "Deferred"; readonly previous: string }

/**
 * What `retry` did: requeued; no such task; a task in a state that cannot be retried; a unique task whose key is held.
 *
 * @category models
 * @since 0.2.0
 */
export type RetryResult =
  | { readonly _tag: "Requeued" }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "Conflict"; readonly state: TaskState }
  | { readonly _tag: "Duplicate"; readonly holder: string; readonly expiresInMillis: number }

/**
 * What `cancel` did: cancelled (from `previous`); no such task; a task that already ended (`state`).
 *
 * @category models
 * @since 0.2.0
 */
export type CancelResult =
  | { readonly _tag: "Cancelled"; readonly previous: TaskState }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "Conflict"; readonly state: TaskState }

/**
 * How many tasks are in each state. `queued`, `scheduled` and `running` are current counts (a queued task includes
 * one parked for a worker that runs its name; a running task whose lease lapsed counts as running until a claim
 * requeues it). `succeeded`, `failed`, `dead`, `skipped` and `cancelled` count how many tasks reached that state since the queue's
 * bookkeeping began (totals that only grow: a dashboard derives throughput from two readings).
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const waiting = (c: TaskQueue.StateCounts) => c.queued + c.scheduled
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export interface StateCounts {
  readonly queued: number
  readonly scheduled: number
  readonly running: number
  readonly succeeded: number
  readonly failed: number
  readonly dead: number
  readonly skipped: number
  readonly cancelled: number
}

/**
 * How long a task name's oldest waiting task has waited, as `counts` reads it (`QueueCounts.oldestByName`). A
 * waiting task is queued (in the ready list, or parked for a worker that runs its name) or scheduled and due (the
 * next claim moves it to the ready list). `counts` reads a bounded number of entries (`waitingScan` of
 * `Heimdall.Options`, default 1,000) from the old end of the ready list, and as many due scheduled tasks:
 *
 * - `Found`: exact. The name's next in line in the ready list, the oldest entry of its parked list, and its due
 *   scheduled task due longest were read; of them, the one due longest: its `id`, `since` when it has been due (its
 *   run time: the enqueue time of a task to run now, epoch ms) and for how long (`millis`).
 * - `BeyondScan`: the name has queued tasks (its `queued` count says so) but none among the `scanned` entries read
 *   from the old end of the ready list (at least that many tasks are ahead of it in line). Its age is not known:
 *   `lastSince`/`lastMillis` are those of the last queued task read there (`undefined`: none). The name's tasks
 *   entered the line after that entry, so they usually waited less; not always: a task whose lease lapsed goes back
 *   to the front of the line, and a scheduled task enters the line when a claim moves it, which may be long after
 *   it came due.
 *
 * A name whose only waiting tasks are due scheduled tasks past the `waitingScan` first due ones is not listed.
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const ageText = (w: TaskQueue.WaitingAge) =>
 *   w._tag === "Found" ? `${w.millis} ms (${w.id})` : `not in the first ${w.scanned} in line`
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export type WaitingAge =
  | {
      readonly _tag: "Found"
      readonly id: string
      readonly since: number
      readonly millis: number
    }
  | {
      readonly _tag: "BeyondScan"
      readonly scanned: number
      readonly lastSince: number | undefined
      readonly lastMillis: number | undefined
    }

/**
 * What `counts` reads: the queue's totals, the same per task name, the oldest waiting task, and each task name's
 * oldest waiting task (see `WaitingAge` for what is waiting and what is read).
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const lagSeconds = (c: TaskQueue.QueueCounts) => (c.oldestWaitingMillis ?? 0) / 1000
 * const emailLag = (c: TaskQueue.QueueCounts) => c.oldestByName["send-email"]
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export interface QueueCounts {
  /** The backend's clock when it was read, epoch milliseconds. */
  readonly now: number
  readonly total: StateCounts
  /** Per task name, for every name the queue has seen since its bookkeeping began. */
  readonly byName: Readonly<Record<string, StateCounts>>
  /**
   * The waiting task due longest, of those `oldestByName` found: its id and since when it has been due (its run
   * time: the enqueue time of a task to run now), and how long ago that was. `undefined` when nothing waits (or none
   * was found within the scan).
   */
  readonly oldestWaiting: { readonly id: string; readonly since: number } | undefined
  readonly oldestWaitingMillis: number | undefined
  /** Per task name with waiting tasks: its oldest waiting task (exact, or what is known past the scan). */
  readonly oldestByName: Readonly<Record<string, WaitingAge>>
}

/**
 * The states `list` pages through, and what orders each (newest first: the greatest first):
 * `queued` by place in line (the newest enqueued first), `scheduled` by run time, `running` by lease end, `failed`,
 * `dead`, `skipped` and `cancelled` (the bounded index) by finish time.
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const problems: ReadonlyArray<Inspector.ListState> = ["failed", "dead"]
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export type ListState = "queued" | "scheduled" | "running" | "failed" | "dead" | "skipped" | "cancelled"

/**
 * A page request. `after` continues after a task already listed: for the sorted states, its (`key`: score as
 * decimal text, `id`); for `queued`, its list (`key`: `"ready"`, `"parked:<name>"` or `"held"`) and its entry there
 * (`id`: the task id in `"ready"`; in a parked list or `"held"`, the backend's own mark of the task's place, which a
 * page goes on after whether or not the task is still there). Backends get it checked (`Inspector.tasks` validates
 * the user's query and decodes the cursor).
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const next: TaskQueue.ListQuery = { state: "scheduled", limit: 50, after: { key: "1767225600000", id: "t1" } }
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export interface ListQuery {
  readonly state: ListState
  readonly name?: string | undefined
  /** 1 to 500. */
  readonly limit: number
  readonly after?: { readonly key: string; readonly id: string } | undefined
}

/**
 * A task as a page lists it.
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const line = (t: Inspector.TaskSummary) => `${t.id} ${t.name} ${t.state} attempt ${t.attempts}: ${t.error ?? ""}`
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export interface TaskSummary {
  readonly id: string
  readonly name: string
  readonly state: TaskState
  /** What orders the page: run time, lease end, finish time; for `queued`, since when it is due (its run time). */
  readonly at: number
  readonly enqueuedAt: number
  readonly attempts: number
  /** The encoded error of a failed task, the reason of a dead or skipped one. */
  readonly error: string | undefined
}

/**
 * One page: its tasks, newest first, and where the next page starts (`undefined`: this was the last). A page may
 * hold fewer tasks than asked and still have a next one (a name filter scans a bounded number of entries per page).
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const isLast = (page: TaskQueue.TaskPage) => page.next === undefined
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export interface TaskPage {
  readonly tasks: ReadonlyArray<TaskSummary>
  readonly next: { readonly key: string; readonly id: string } | undefined
}

/**
 * A task's detail: its record (with its worker, start and finish times), its lease end while running, its unique
 * lock (who holds it, for how much longer), and whether a rate-limit slot is booked for its next start.
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const leaseLeft = (d: Inspector.TaskDetail) => (d.leaseEndsAt === undefined ? undefined : d.leaseEndsAt - d.now)
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export interface TaskDetail {
  readonly record: TaskRecord
  /** The backend's clock when it was read, epoch milliseconds. */
  readonly now: number
  readonly leaseEndsAt: number | undefined
  readonly lock:
    | {
        readonly key: string
        /** The task holding the key now (this task, another one, or undefined: free). */
        readonly holder: string | undefined
        readonly expiresInMillis: number | undefined
      }
    | undefined
  readonly booked: boolean
}

/**
 * What a worker registers with each heartbeat (see `Service.beat`).
 *
 * **Example**
 *
 * ```ts
 * import type { TaskQueue } from "effect-heimdall"
 *
 * const me: TaskQueue.WorkerRegistration = {
 *   id: "w1", host: "box-1", pid: 4242, startedAt: Date.now(), concurrency: 8, running: [], ttlMillis: 15_000
 * }
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export interface WorkerRegistration {
  readonly id: string
  readonly host: string
  readonly pid: number
  readonly startedAt: number
  readonly concurrency: number
  /** The ids of the tasks it runs now. */
  readonly running: ReadonlyArray<string>
  /** The registration lapses this long after the beat unless renewed (the worker's beat interval times three). */
  readonly ttlMillis: number
}

/**
 * A live worker, as the registry holds it.
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const busy = (w: Inspector.WorkerInfo) => `${w.host}:${w.pid} runs ${w.running.length}/${w.concurrency}`
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export interface WorkerInfo {
  readonly id: string
  readonly host: string
  readonly pid: number
  readonly startedAt: number
  readonly queue: string
  readonly concurrency: number
  /** The task names it implements. */
  readonly names: ReadonlyArray<string>
  readonly running: ReadonlyArray<string>
  readonly lastBeatAt: number
  /** When its registration lapses unless it beats again. */
  readonly expiresAt: number
}
