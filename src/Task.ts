/**
 * Schema-typed background tasks: define a task once with `make`, share the
 * definition between producers (`enqueue`, `join`, `status`) and workers
 * (`implement`, then `Worker.layer`).
 *
 * A task's payload, success value and typed error travel as JSON encoded with
 * its schemas, so a producer and a worker in different processes agree on
 * them, and `join` hands back real values (class instances included).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schedule, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * class ReportFailed extends Schema.TaggedError<ReportFailed>()("ReportFailed", { reason: Schema.String }) {}
 *
 * const GenerateReport = Task.make("generate-report", {
 *   payload: Schema.Struct({ customerId: Schema.Number }),
 *   success: Schema.String,
 *   error: ReportFailed,
 *   timeout: "10 minutes",
 *   retry: Schedule.exponential("1 second").pipe(Schedule.upTo({ times: 3 }))
 * })
 *
 * const program = Effect.gen(function* () {
 *   const handle = yield* Task.enqueue(GenerateReport, { customerId: 1 })
 *   return yield* Task.join(handle) // string, or fails with ReportFailed | TaskTimeout | TaskDefect | ...
 * })
 * ```
 *
 * @since 0.1.0
 */
import { hash as cryptoHash } from "node:crypto"
import {
  Context,
  type DateTime,
  Duration,
  Effect,
  Layer,
  type Pipeable,
  Result,
  type Schedule,
  Schema,
  Tracer
} from "effect"
import { pipeArguments } from "effect/Pipeable"
import type * as Redis from "effect/persistence/Redis"
import {
  AlreadyQueued,
  InvalidArgument,
  TaskCancelled,
  TaskDeadLettered,
  TaskDefect,
  TaskNameMismatch,
  TaskNotFound,
  TaskSkipped,
  TaskTimeout
} from "./Errors.ts"
import * as Partitions from "./internal/queue/keys.ts"
import * as internal from "./internal/queue/task.ts"
import * as Scheduling from "./internal/schedule.ts"
import * as validate from "./internal/validate.ts"
import {
  type EnqueueResult,
  isTerminal,
  type NewTask,
  TaskQueue,
  type TaskRecord,
  type TaskState,
  type TraceContext
} from "./TaskQueue.ts"

const TypeId = "~effect-heimdall/Task" as const

/**
 * The schemas a task can use: any schema whose encoding and decoding need no services.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import type { Task } from "effect-heimdall"
 *
 * const payload: Task.AnySchema = Schema.Struct({ customerId: Schema.Number })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type AnySchema = Schema.Codec<any, any, never, never>

export {
  /** An operator cancelled the task (see `Errors.ts`). @category errors @since 0.2.0 */
  TaskCancelled,
  /** The task could not be run at all and was dead-lettered (see `Errors.ts`). @category errors @since 0.1.0 */
  TaskDeadLettered,
  /** The handler died, as opposed to failing with a typed error (see `Errors.ts`). @category errors @since 0.1.0 */
  TaskDefect,
  /** A handle of one task was used for a task of another name (see `Errors.ts`). @category errors @since 0.1.0 */
  TaskNameMismatch,
  /** No task with this id on this queue (see `Errors.ts`). @category errors @since 0.1.0 */
  TaskNotFound,
  /** A unique task that was not run: its key was held by another task (see `Errors.ts`). @category errors @since 0.1.0 */
  TaskSkipped,
  /** The task ran longer than its `timeout` (see `Errors.ts`). @category errors @since 0.1.0 */
  TaskTimeout
}

/**
 * What an enqueue does when the task's unique key is held (see `UniqueOptions.onDuplicate`).
 *
 * **Example**
 *
 * ```ts
 * import { Task } from "effect-heimdall"
 *
 * const policy: Task.DuplicatePolicy = "replace"
 * ```
 *
 * @category models
 * @since 0.3.0
 */
export type DuplicatePolicy = "existing" | "fail" | "replace" | "oneBehind" | Debounce

/**
 * `onDuplicate: { debounce, maxWait, edge }`: requests for one key come in *bursts* (each within `debounce` of the
 * one before); which of them run (see `UniqueOptions` and the README's "Debounce"):
 *
 * - `edge: "trailing"` (default): one run `debounce` after the latest request, with its payload, but at most
 *   `maxWait` after the first (default: no bound);
 * - `edge: "leading"`: the first request of a burst runs at once, with its payload; the others start nothing
 *   (with `maxWait`: a request `maxWait` or more after the burst's latest run starts another one at once);
 * - `edge: "both"`: as `"leading"`, plus one trailing run `debounce` after the latest of the others, with its
 *   payload (at most `maxWait` after the burst's latest run).
 *
 * **Example**
 *
 * ```ts
 * import { Task } from "effect-heimdall"
 *
 * const policy: Task.Debounce = { debounce: "2 seconds", maxWait: "30 seconds" }
 * const leading: Task.Debounce = { debounce: "2 seconds", edge: "both" }
 * ```
 *
 * @category models
 * @since 0.3.0
 */
export interface Debounce {
  readonly debounce: Duration.Input
  readonly maxWait?: Duration.Input | undefined
  readonly edge?: DebounceEdge | undefined
}

/**
 * Which requests of a debounced burst run (see `Debounce`): `"trailing"` (the latest, after the burst),
 * `"leading"` (the first, at once) or `"both"`.
 *
 * **Example**
 *
 * ```ts
 * import { Task } from "effect-heimdall"
 *
 * const edge: Task.DebounceEdge = "leading"
 * ```
 *
 * @category models
 * @since 0.3.0
 */
export type DebounceEdge = "trailing" | "leading" | "both"

/**
 * How long a unique task holds its key (see `UniqueOptions.hold`): while the key is held, a duplicate enqueue gets
 * the `onDuplicate` answer (the existing task by default); once it is free, a duplicate is a new task.
 *
 * - `"untilEnd"` (default): from enqueue until the task ends (succeeded, failed, dead, cancelled, skipped);
 *   retry waits included. At most one task per key, waiting or running.
 * - `"untilStart"`: from enqueue until a worker starts the task: at most one task per key *waits*; a duplicate
 *   while it runs (or waits for a retry) is a new task, which holds the key until it starts in turn, and may run
 *   while the first still runs.
 * - `"untilExpiry"`: from enqueue until `timeout`, even after the task ended: at most one run per `timeout` (a
 *   unique interval; what `waitForExpiry: true` means).
 * - `"whileRunning"`: only while the task runs: every enqueue creates a task (nothing is merged), and at most one
 *   task of the key runs at a time, the others waiting their turn in the key's line, oldest first. It is per-key
 *   concurrency with limit 1 on the unique key (see `ConcurrencyOptions`), so a dead worker's turn passes on when
 *   its lease lapses; `onDuplicate` stays `"existing"` (there is no waiting holder to answer with).
 *
 * In every mode `timeout` bounds the hold: a key is never held longer, whatever its task does.
 *
 * **Example**
 *
 * ```ts
 * import { Task } from "effect-heimdall"
 *
 * const hold: Task.UniqueHold = "untilStart"
 * ```
 *
 * @category models
 * @since 0.3.0
 */
export type UniqueHold = "untilStart" | "untilEnd" | "untilExpiry" | "whileRunning"

/**
 * How a unique task is unique.
 *
 * - `key`: the lock key, a constant or a function of the typed payload. Default: the task name and a
 *   stable hash of the payload's canonical JSON encoding (field order does not matter).
 * - `timeout`: how long the key is held at most, even if the task hangs or its worker dies for good.
 *   Default: the backend's `uniqueTimeout` (1 hour).
 * - `onDuplicate`: `"existing"` (default): `enqueue` returns the handle of the task holding the key;
 *   `"fail"`: `enqueue` fails with `AlreadyQueued`; `"replace"`: the duplicate's payload replaces the
 *   waiting task's (same id, same place in line, or the duplicate's own `delay` when it has one), and when
 *   the task is already running, the payload runs once after it (never two at once, never lost; later
 *   duplicates replace that one's payload). `enqueue` returns the handle of the task that will run the payload.
 *   `"oneBehind"`: at most one task runs and one waits per key ("run again after the current run, once,
 *   however many requests came in"): a duplicate of a waiting task gets its handle; a duplicate of a running
 *   task is created to run once after it (its own payload), unless one waits already (then its handle).
 *   `{ debounce: wait, maxWait }`: the task starts `wait` after the latest request (the first one waits too), with
 *   the latest payload, but at most `maxWait` after the first request (default: no bound); a request while it
 *   runs waits behind it as with `"replace"`, and starts `wait` after the latest request, not before it ends.
 *   `{ debounce: wait, edge: "leading" }`: the first request of a burst (requests each within `wait` of the one
 *   before) runs at once, the others get `Existing`; `edge: "both"` adds one trailing run `wait` after the latest
 *   (see `Debounce` and the README's "Leading edge" for every case).
 *   `enqueueOutcome` says which of these happened (`Debounced`, with the new start time).
 * - `hold`: how long the task holds its key (see `UniqueHold`): `"untilEnd"` (default), `"untilStart"` (the key
 *   is freed when a worker starts the task: only waiting duplicates are merged), `"untilExpiry"` (kept after the
 *   task ends, until `timeout`) or `"whileRunning"` (held only while it runs: one run of the key at a time, every
 *   request runs in turn). `"untilStart"` takes `onDuplicate` `"existing"`, `"fail"`, `"replace"` (the
 *   waiting task's payload) or a debounce (the waiting task's start), each acting on the waiting task only;
 *   `"oneBehind"` (which promises one running task per key) is `InvalidArgument` with it.
 * - `waitForExpiry`: `true` is `hold: "untilExpiry"` (a unique *interval*: at most one run per `timeout`);
 *   a `hold` that says otherwise is `InvalidArgument`. Default `false`.
 * - `prefix`: this task's lock prefix, instead of the backend's `lockPrefix`.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Report = Task.make("report", {
 *   payload: Schema.Struct({ customerId: Schema.Number }),
 *   unique: { key: ({ customerId }) => `report:${customerId}`, timeout: "10 minutes", onDuplicate: "fail" }
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface UniqueOptions<P, D extends DuplicatePolicy = DuplicatePolicy> {
  readonly key?: string | ((payload: P) => string) | undefined
  readonly timeout?: Duration.Input | undefined
  readonly onDuplicate?: D | undefined
  readonly hold?: UniqueHold | undefined
  readonly waitForExpiry?: boolean | undefined
  readonly prefix?: string | undefined
}

/**
 * Per-key concurrency: never more than `limit` tasks of one `key` run at once, across every worker and process,
 * and fair across keys. `key` is a constant or a function of the typed payload (tasks of other names with the same
 * key share it); `limit` a positive integer.
 *
 * Admission happens at enqueue: while fewer than `limit` tasks of the key are *admitted* (queued, scheduled for a
 * delay or a retry, or running), a new one is queued as any task; otherwise it waits in its key's own line (state
 * `"queued"`), oldest first, and is queued when an admitted task of its key ends for good (succeeds, fails for the
 * last time, is dead-lettered, cancelled or skipped). The queue's line then holds at most `limit` tasks per key:
 * one key with 10,000 waiting tasks does not hold up another key's task by more than the other keys' admitted
 * tasks. A task whose worker died keeps its admission: its lease lapses and it runs again, within the limit. A
 * delayed task takes its admission when enqueued (if free), and waits in its key's line otherwise (then after its
 * admission, until its run time). Combines with a rate limit and with each worker's `concurrency`; not with
 * `unique` (make throws).
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Sync = Task.make("sync", {
 *   payload: Schema.Struct({ tenant: Schema.String, page: Schema.Number }),
 *   concurrency: { limit: 2, key: ({ tenant }) => `tenant:${tenant}` }
 * })
 * ```
 *
 * @category models
 * @since 0.3.0
 */
export interface ConcurrencyOptions<P> {
  readonly limit: number
  readonly key: string | ((payload: P) => string)
}

/**
 * The resolved per-key concurrency of a task (see `ConcurrencyOptions`).
 *
 * @category models
 * @since 0.3.0
 */
export interface ConcurrencySettings {
  readonly limit: number
  readonly key: (payload: any) => string
}

/**
 * A task's global rate limit: at most `times` starts per `per`, across every
 * worker and process, keyed by the task name unless `key` says otherwise.
 * Over the limit, a task books the earliest free slot and is rescheduled to
 * it plus a random `jitter` (which spreads a burst of waiters), without
 * spending a retry. At its slot its start is checked again against the actual
 * starts. Default jitter: up to a fiftieth of `per`, at most 1 second.
 *
 * Starts are admitted on Redis' clock; each handler then begins a moment
 * later in its own worker (reply, decoding, the event loop), and that moment
 * differs between processes by a few milliseconds. `margin` spaces admissions
 * by `per` plus that much, so that the handlers' own starts, as a downstream
 * API sees them, stay within the limit too. Default: a hundredth of `per`, at
 * most 10 milliseconds (about 1% of the rate); `0` makes the admissions
 * themselves the only window. An admission whose reply reached the worker
 * late (by more than half the margin over the fastest recent round trip: a
 * busy event loop) is checked again just before the handler starts, so a
 * burst of starts keeps the limit with any `jitter`, 0 included.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Download = Task.make("download", {
 *   payload: Schema.Struct({ customerId: Schema.Number }),
 *   rateLimit: { times: 2, per: "60 seconds" }
 * })
 * // computed per payload: customer 1 gets 1 per 30 s, the others 2 per 30 s, each on its own key
 * const PerCustomer = Task.make("per-customer", {
 *   payload: Schema.Struct({ customerId: Schema.Number }),
 *   rateLimit: ({ customerId }) => ({ times: customerId === 1 ? 1 : 2, per: "30 seconds", key: `c:${customerId}` })
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface RateLimitOptions<P> {
  readonly times: number
  readonly per: Duration.Input
  readonly key?: string | ((payload: P) => string) | undefined
  readonly jitter?: Duration.Input | undefined
  readonly margin?: Duration.Input | undefined
}

/**
 * A rate limit computed from the payload.
 *
 * @category models
 * @since 0.1.0
 */
export type RateLimitFunction<P> = (payload: P) => validate.RateLimitSpec

/**
 * The resolved uniqueness of a task (see `UniqueOptions`).
 *
 * @category models
 * @since 0.1.0
 */
export interface UniqueSettings {
  readonly key: ((payload: any) => string) | undefined
  readonly timeout: Duration.Duration | undefined
  readonly onDuplicate: DuplicatePolicy
  /** How long the key is held (see `UniqueHold`). */
  readonly hold: UniqueHold
  /** `hold === "untilExpiry"`. */
  readonly waitForExpiry: boolean
  readonly prefix: string | undefined
}

/** What `enqueue` can fail with beyond encoding and backend errors: `AlreadyQueued` for tasks that fail on duplicates. */
type DuplicateError<D> = "fail" extends D ? AlreadyQueued : never

/**
 * A task's settings besides its schemas: its timeout and retry schedule, its
 * uniqueness and its rate limit, as `make` resolved them.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Ping = Task.make("ping", { payload: Schema.String, timeout: "5 seconds" })
 * Ping.settings.timeout // Duration of 5 seconds
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Settings {
  /** The handler is interrupted after this long and the attempt fails with `TaskTimeout`. */
  readonly timeout: Duration.Duration | undefined
  /** When and how often a failed attempt is retried; no retry when absent. */
  readonly retry: Schedule.Schedule<unknown, any> | undefined
  /** One copy per key at a time (or per interval); see `UniqueOptions`. */
  readonly unique: UniqueSettings | undefined
  /** At most `times` starts per `per` across all workers; see `RateLimitOptions`. */
  readonly rateLimit: RateLimitFunction<any> | undefined
  /** At most `limit` running per key across all workers, fair across keys; see `ConcurrencyOptions`. */
  readonly concurrency?: ConcurrencySettings | undefined
}

/**
 * A task definition, made by `make`. Pipeable, so modifiers can be added with
 * `.pipe(...)`.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Ping: Task.Task<"ping", typeof Schema.String> = Task.make("ping", { payload: Schema.String })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Task<
  out Name extends string,
  out Payload extends AnySchema,
  out Success extends AnySchema = typeof Schema.Void,
  out Error extends AnySchema = typeof Schema.Never,
  out EnqueueError = never
> extends Pipeable.Pipeable {
  readonly [TypeId]: typeof TypeId
  readonly name: Name
  readonly payload: Payload
  readonly success: Success
  readonly error: Error
  readonly settings: Settings
  /** Type-level only: what `enqueue` may fail with for this task (`AlreadyQueued` or never). */
  readonly "~enqueueError"?: EnqueueError
}

/**
 * Any task definition.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const nameOf = (task: Task.Any) => task.name
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Any extends Task<string, AnySchema, AnySchema, AnySchema, any> {}

/**
 * The decoded payload type of a task.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Ping = Task.make("ping", { payload: Schema.Struct({ text: Schema.String }) })
 * type PingPayload = Task.Payload<typeof Ping> // { readonly text: string }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Payload<T extends Any> = T["payload"]["Type"]
/**
 * The decoded success type of a task.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Double = Task.make("double", { payload: Schema.Number, success: Schema.Number })
 * type Doubled = Task.Success<typeof Double> // number
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Success<T extends Any> = T["success"]["Type"]
/**
 * The handler's own typed errors of a task.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * class Nope extends Schema.TaggedError<Nope>()("Nope", {}) {}
 * const T = Task.make("t", { payload: Schema.Number, error: Nope })
 * type E = Task.Error<typeof T> // Nope
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Error<T extends Any> = T["error"]["Type"]
/**
 * Every way an attempt can fail: the handler's errors, a timeout, a defect.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const T = Task.make("t", { payload: Schema.Number })
 * type F = Task.Failure<typeof T> // Task.TaskTimeout | Task.TaskDefect
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Failure<T extends Any> = Error<T> | TaskTimeout | TaskDefect

/**
 * What `enqueue` may fail with because of the task's settings: `AlreadyQueued`
 * for a unique task with `onDuplicate: "fail"`, otherwise nothing.
 *
 * @category models
 * @since 0.1.0
 */
export type EnqueueError<T extends Any> = T extends Task<any, any, any, any, infer E> ? E : never

const TaskProto = {
  [TypeId]: TypeId,
  pipe(...args: Array<unknown>) {
    // pipeArguments reads only `length` and indices, which an array has too
    return pipeArguments(this, args as unknown as IArguments)
  }
}

/**
 * Defines a task: its name (unique per queue), payload schema, and optionally
 * its success and error schemas, a `timeout` per attempt and a `retry`
 * schedule (fed the attempt's failure; its delays are the backoff).
 *
 * Options that can never work are rejected here: `make` **throws** the typed
 * `InvalidArgument` (naming the option and the value) for an empty name, a
 * `timeout` that is not a positive finite duration ("5 potatoes", 0, NaN,
 * Infinity), and the checks of `unique` and `rateLimit` (see `Task.unique`,
 * `Task.rateLimit`). A rate limit or unique key computed from the payload is
 * checked by `enqueue`.
 *
 * **Example**
 *
 * ```ts
 * import { Schedule, Schema } from "effect"
 * import { InvalidArgument, Task } from "effect-heimdall"
 *
 * const SendMail = Task.make("send-mail", {
 *   payload: Schema.Struct({ to: Schema.String }),
 *   timeout: "30 seconds",
 *   retry: Schedule.exponential("1 second").pipe(Schedule.upTo({ times: 5 }))
 * })
 *
 * try {
 *   Task.make("broken", { payload: Schema.String, timeout: "5 potatoes" })
 * } catch (e) {
 *   e instanceof InvalidArgument // true; e.message: invalid timeout = "5 potatoes": not a duration ...
 * }
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <
  const Name extends string,
  Payload extends AnySchema,
  Success extends AnySchema = typeof Schema.Void,
  Error extends AnySchema = typeof Schema.Never,
  const OnDuplicate extends DuplicatePolicy = "existing"
>(
  name: Name,
  options: {
    readonly payload: Payload
    readonly success?: Success | undefined
    readonly error?: Error | undefined
    readonly timeout?: Duration.Input | undefined
    readonly retry?: Schedule.Schedule<unknown, Error["Type"] | TaskTimeout | TaskDefect> | undefined
    readonly unique?: true | UniqueOptions<Payload["Type"], OnDuplicate> | undefined
    readonly rateLimit?: RateLimitOptions<Payload["Type"]> | RateLimitFunction<Payload["Type"]> | undefined
    readonly concurrency?: ConcurrencyOptions<Payload["Type"]> | undefined
  }
): Task<Name, Payload, Success, Error, DuplicateError<OnDuplicate>> => {
  validate.orThrow(validate.taskName("name", name))
  const timeout = validate.orThrow(validate.optionalDurationMillis("timeout", options.timeout, 1))
  const unique = resolveUnique(options.unique)
  const concurrency = resolveConcurrency(options.concurrency, unique)
  return makeTask(name, options.payload, options.success ?? Schema.Void, options.error ?? Schema.Never, {
    timeout: timeout === undefined ? undefined : Duration.millis(timeout),
    retry: options.retry,
    unique,
    rateLimit: resolveRateLimit(options.rateLimit, name),
    ...(concurrency === undefined ? {} : { concurrency })
  })
}

/** A concurrency key: a non-empty string without NUL (it separates a key from the order in its line). */
const concurrencyKeyOf = (key: unknown): string | InvalidArgument => {
  const checked = validate.nonEmpty("concurrency.key", key)
  return typeof checked === "string" && checked.includes("\0")
    ? validate.invalid("concurrency.key", key, "must not contain NUL characters")
    : checked
}

/** `concurrency` checked (throws `InvalidArgument`) and resolved. */
const resolveConcurrency = (
  concurrency: ConcurrencyOptions<any> | undefined,
  unique: UniqueSettings | undefined
): ConcurrencySettings | undefined => {
  if (concurrency === undefined) return undefined
  if (concurrency === null || typeof concurrency !== "object") {
    throw validate.invalid("concurrency", concurrency, "must be an object { limit, key }")
  }
  const limit = validate.orThrow(validate.integer("concurrency.limit", concurrency.limit, 1))
  const key = concurrency.key
  if (typeof key !== "function") validate.orThrow(concurrencyKeyOf(key))
  if (unique !== undefined) {
    throw validate.invalid("concurrency", concurrency, "cannot combine with unique: a unique key runs once at a time")
  }
  return { limit, key: typeof key === "function" ? key : () => key }
}

const makeTask = (name: string, payload: AnySchema, success: AnySchema, error: AnySchema, settings: Settings): any => {
  const task = Object.create(TaskProto)
  task.name = name
  task.payload = payload
  task.success = success
  task.error = error
  task.settings = settings
  return task
}

const duplicatePolicies: ReadonlyArray<unknown> = ["existing", "fail", "replace", "oneBehind"]

/** `onDuplicate` checked (throws `InvalidArgument`); a debounce's durations resolved. */
const resolveDuplicate = (policy: DuplicatePolicy): DuplicatePolicy => {
  if (duplicatePolicies.includes(policy)) return policy
  if (typeof policy !== "object" || policy === null || !("debounce" in policy)) {
    throw validate.invalid(
      "unique.onDuplicate",
      policy,
      'must be "existing", "fail", "replace", "oneBehind" or { debounce, maxWait }'
    )
  }
  const wait = validate.orThrow(validate.durationMillis("unique.onDuplicate.debounce", policy.debounce, 1))
  const maxWait = validate.orThrow(validate.optionalDurationMillis("unique.onDuplicate.maxWait", policy.maxWait, 1))
  if (maxWait !== undefined && maxWait < wait) {
    throw validate.invalid("unique.onDuplicate.maxWait", policy.maxWait, "must be at least the debounce wait")
  }
  const edge = policy.edge ?? "trailing"
  if (edge !== "trailing" && edge !== "leading" && edge !== "both") {
    throw validate.invalid("unique.onDuplicate.edge", policy.edge, 'must be "trailing", "leading" or "both"')
  }
  return {
    debounce: Duration.millis(wait),
    maxWait: maxWait === undefined ? undefined : Duration.millis(maxWait),
    edge
  }
}

const holds: ReadonlyArray<unknown> = ["untilStart", "untilEnd", "untilExpiry", "whileRunning"]

/** `hold` and `waitForExpiry` checked against each other and `onDuplicate` (throws `InvalidArgument`). */
const resolveHold = (hold: unknown, waitForExpiry: unknown, onDuplicate: DuplicatePolicy): UniqueHold => {
  if (hold !== undefined && !holds.includes(hold)) {
    throw validate.invalid("unique.hold", hold, 'must be "untilStart", "untilEnd", "untilExpiry" or "whileRunning"')
  }
  if (waitForExpiry !== undefined && typeof waitForExpiry !== "boolean") {
    throw validate.invalid("unique.waitForExpiry", waitForExpiry, "must be true or false")
  }
  if (waitForExpiry === true && hold !== undefined && hold !== "untilExpiry") {
    throw validate.invalid(
      "unique.hold",
      hold,
      'contradicts waitForExpiry: true (which means hold: "untilExpiry"); give one of them'
    )
  }
  if (waitForExpiry === false && hold === "untilExpiry") {
    throw validate.invalid("unique.hold", hold, "contradicts waitForExpiry: false; give one of them")
  }
  const resolved: UniqueHold = waitForExpiry === true ? "untilExpiry" : ((hold as UniqueHold | undefined) ?? "untilEnd")
  if (resolved === "untilStart" && onDuplicate === "oneBehind") {
    throw validate.invalid(
      "unique.hold",
      resolved,
      'cannot be combined with onDuplicate: "oneBehind" (one running task per key needs the key held while it ' +
        'runs: use hold "untilEnd"; with "untilStart" a duplicate of a waiting task gets it, as with "existing")'
    )
  }
  if (resolved === "whileRunning" && onDuplicate !== "existing") {
    throw validate.invalid(
      "unique.onDuplicate",
      typeof onDuplicate === "object" ? "{ debounce }" : onDuplicate,
      'cannot be combined with hold: "whileRunning" (no key is held while a task waits, so every request is a task ' +
        'of its own and runs in turn: leave onDuplicate at "existing")'
    )
  }
  return resolved
}

/** `unique` checked (throws `InvalidArgument`) and resolved. */
const resolveUnique = (unique: true | UniqueOptions<any> | undefined): UniqueSettings | undefined => {
  if (unique === undefined || (unique as unknown) === false) return undefined
  const options: UniqueOptions<any> = unique === true ? {} : unique
  if (options === null || typeof options !== "object") {
    throw validate.invalid("unique", options, "must be true or an object of unique options")
  }
  const key = options.key
  if (key !== undefined && typeof key !== "function") validate.orThrow(validate.nonEmpty("unique.key", key))
  const timeout = validate.orThrow(validate.optionalDurationMillis("unique.timeout", options.timeout, 1))
  const onDuplicate = resolveDuplicate(options.onDuplicate ?? "existing")
  const hold = resolveHold(options.hold, options.waitForExpiry, onDuplicate)
  if (options.prefix !== undefined) validate.orThrow(validate.hashTagSafe("unique.prefix", options.prefix, false))
  return {
    key: typeof key === "string" ? () => key : key,
    timeout: timeout === undefined ? undefined : Duration.millis(timeout),
    onDuplicate,
    hold,
    waitForExpiry: hold === "untilExpiry",
    prefix: options.prefix
  }
}

/** `rateLimit` as a function of the payload; static limits are checked now (throws `InvalidArgument`). */
const resolveRateLimit = (
  rateLimit: RateLimitOptions<any> | RateLimitFunction<any> | undefined,
  name: string
): RateLimitFunction<any> | undefined => {
  if (rateLimit === undefined || typeof rateLimit === "function") return rateLimit
  const { key, ...rest } = rateLimit
  if (typeof key === "function") {
    // everything but the key is known now; the key is checked by enqueue, per payload
    validate.orThrow(validate.rateLimit({ ...rest, key: undefined }, name))
    return (payload) => ({ ...rest, key: key(payload) })
  }
  validate.orThrow(validate.rateLimit(rateLimit, name))
  return () => ({ ...rest, key })
}

/**
 * Makes a task unique (see `UniqueOptions`): the pipeable form of `make`'s
 * `unique` option. (A `key` function gets a typed payload only in `make`'s option.)
 *
 * **Throws** the typed `InvalidArgument` (naming the option and the value) for
 * options that can never work, in `make` too: a `timeout` that is not a
 * positive finite duration (a unique timeout of 0 or -5 s would turn
 * uniqueness off), an empty constant `key`, a `prefix` with `{` or `}`, an
 * `onDuplicate` other than `"existing"`, `"fail"`, `"replace"`, `"oneBehind"` or a debounce, a `hold` other
 * than `"untilStart"`, `"untilEnd"` or `"untilExpiry"`, a `hold` that contradicts `waitForExpiry`, and
 * `hold: "untilStart"` with `onDuplicate: "oneBehind"`. A `key` function is
 * checked by `enqueue`: one that throws or returns an empty string fails the
 * enqueue with `InvalidArgument`, and nothing is written.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Report = Task.make("report", { payload: Schema.Struct({ customerId: Schema.Number }) }).pipe(
 *   Task.unique({ onDuplicate: "fail", timeout: "1 hour" })
 * )
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const unique =
  <T extends Any, const U extends true | UniqueOptions<Payload<T>> = true>(options?: U) =>
  (task: T): Task<T["name"], T["payload"], T["success"], T["error"], DuplicateError<U>> =>
    makeTask(task.name, task.payload, task.success, task.error, {
      ...task.settings,
      unique: resolveUnique(options ?? true),
      concurrency: resolveConcurrency(task.settings.concurrency, resolveUnique(options ?? true))
    })

/**
 * Gives a task a global rate limit (see `RateLimitOptions`): the pipeable form
 * of `make`'s `rateLimit` option.
 *
 * **Throws** the typed `InvalidArgument` (naming the option and the value) for
 * static limits that can never work, in `make` too: `times` that is not a
 * positive integer (0, -1, 1.5, NaN), `per` that is not a positive finite
 * duration (`"0 seconds"`, "5 potatoes"), a negative or non-finite `jitter` or
 * `margin`, an empty `key`. A rate limit computed from the payload (a function,
 * or a `key` function) gets the same checks in `enqueue`, which fails with
 * `InvalidArgument` before anything is written; a function that passes there
 * and fails on a worker (it differs there) dead-letters the task with the reason.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Download = Task.make("download", { payload: Schema.String }).pipe(Task.rateLimit({ times: 2, per: "1 minute" }))
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const rateLimit =
  (options: RateLimitOptions<any> | RateLimitFunction<any>) =>
  <T extends Any>(task: T): T =>
    makeTask(task.name, task.payload, task.success, task.error, {
      ...task.settings,
      rateLimit: resolveRateLimit(options, task.name)
    })

/**
 * Limits how many tasks of one key run at once, fair across keys (see `ConcurrencyOptions`): the pipeable form of
 * `make`'s `concurrency` option. (A `key` function gets a typed payload only in `make`'s option.) Throws the typed
 * `InvalidArgument` for a `limit` that is not a positive integer, an empty `key`, or a unique task.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Crawl = Task.make("crawl", { payload: Schema.String }).pipe(
 *   Task.concurrency({ limit: 3, key: (url: string) => new URL(url).host })
 * )
 * ```
 *
 * @category combinators
 * @since 0.3.0
 */
export const concurrency =
  (options: ConcurrencyOptions<any>) =>
  <T extends Any>(task: T): T =>
    makeTask(task.name, task.payload, task.success, task.error, {
      ...task.settings,
      concurrency: resolveConcurrency(options, task.settings.unique)
    })

/**
 * The key under which a unique task's payload is locked: its custom key, or
 * the task name and a stable hash of the payload's canonical JSON encoding.
 * Useful to look a lock up with `Heimdall.inspectLock` (prefixed by the
 * queue's hash tag: `{<queue>}:<key>`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Report = Task.make("report", { payload: Schema.Struct({ id: Schema.Number }), unique: true })
 * const key = Task.uniqueKey(Report, { id: 1 }) // Effect<string, SchemaError | InvalidArgument>: "report:3f1c…"
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const uniqueKey = <T extends Any>(
  task: T,
  payload: Payload<T>
): Effect.Effect<string, Schema.SchemaError | InvalidArgument> =>
  Effect.flatMap(Schema.encodeEffect(internal.codecs(task).payload)(payload), (encoded) => {
    const key = uniqueKeyOf(task, payload, encoded)
    return key instanceof InvalidArgument ? Effect.fail(key) : Effect.succeed(key)
  })

/** SHA-256 in hex, by the one-shot `crypto.hash` (about 3x faster per call than `createHash`). */
const sha256Hex = (text: string): string => cryptoHash("sha256", text, "hex")

/** The unique key of a payload; a custom key function's result is checked (a non-empty string). */
const uniqueKeyOf = (task: Any, payload: unknown, encoded: string): string | InvalidArgument => {
  const custom = task.settings.unique?.key
  if (custom) {
    const key = validate.computed("unique.key", custom, payload)
    return key instanceof InvalidArgument ? key : validate.nonEmpty("unique.key", key)
  }
  const hash = sha256Hex(canonicalJson(JSON.parse(encoded))).slice(0, 32)
  return `${task.name}:${hash}`
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * JSON with object keys sorted at every level: equal values give equal text, whatever the field order. The text is
 * part of every default unique key, so it must not change between versions (old and new producers must see each
 * other's duplicates): the UniqueSuite pins two keys. One pass with string appends and no entry arrays (about half
 * the time of `Object.entries`/`map`/`join` on a small payload).
 */
const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value)
  if (Array.isArray(value)) {
    let out = "["
    for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + (canonicalJson(value[i]) ?? "")
    return `${out}]`
  }
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  if (keys.length > 1) keys.sort(byCodeUnits)
  let out = "{"
  for (const key of keys) {
    const v = record[key]
    if (v === undefined) continue
    out += `${out.length === 1 ? "" : ","}${JSON.stringify(key)}:${canonicalJson(v)}`
  }
  return `${out}}`
}

/**
 * Who is running: provided to a handler while it runs.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Ping = Task.make("ping", { payload: Schema.String })
 * const PingLive = Task.implement(Ping, (text) =>
 *   Effect.gen(function* () {
 *     const current = yield* Task.CurrentTask
 *     yield* Effect.log(`${current.id} attempt ${current.attempt}: ${text}`)
 *   })
 * )
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class CurrentTask extends Context.Service<
  CurrentTask,
  {
    readonly id: string
    readonly name: string
    readonly attempt: number
    /**
     * When this attempt started, epoch milliseconds on the backend's clock
     * (Redis `TIME`): for a rate-limited task, the instant its start was
     * admitted, which is what the limit bounds.
     */
    readonly startedAt: number
  }
>()("effect-heimdall/Task/CurrentTask") {}

/**
 * A task's handler, ready for `Worker.layer`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Ping = Task.make("ping", { payload: Schema.String })
 * const impl: Task.Implementation<typeof Ping, never> = Task.implement(Ping, () => Effect.void)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Implementation<T extends Any, out R> {
  readonly task: T
  readonly handler: (payload: Payload<T>) => Effect.Effect<Success<T>, Error<T>, R>
}

/**
 * Attaches a handler to a task. `R` (minus `CurrentTask`) becomes a requirement
 * of the worker layer that runs it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Double = Task.make("double", { payload: Schema.Number, success: Schema.Number })
 * const DoubleLive = Task.implement(Double, (n) => Effect.succeed(n * 2))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const implement = <T extends Any, R = never>(
  task: T,
  handler: (payload: Payload<T>) => Effect.Effect<Success<T>, Error<T>, R>
): Implementation<T, Exclude<R, CurrentTask>> => ({
  task,
  // the worker provides `CurrentTask` around every run (internal/worker/runTask.ts)
  handler: handler as Implementation<T, Exclude<R, CurrentTask>>["handler"]
})

/**
 * A reference to one enqueued task, for `join` and `status`. Only the id is
 * stored anywhere: `handle(task, id)` makes an equivalent one.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Ping = Task.make("ping", { payload: Schema.String })
 * const idOf = (handle: Task.Handle<typeof Ping>) => handle.id
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Handle<out T extends Any> {
  readonly id: string
  readonly task: T
}

/**
 * A handle from an id alone (like Celery's `AsyncResult(id)`), e.g. an id
 * read from a request or a database.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Ping = Task.make("ping", { payload: Schema.String })
 * const handle = Task.handle(Ping, "0b6c3e8e-...")
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const handle = <T extends Any>(task: T, id: string): Handle<T> => ({ id, task })

/**
 * The task metrics, recorded through Effect's `Metric` in the process that
 * enqueues (`enqueued`) or runs the task (the others). Every series carries
 * the attribute `task` (the task's name); durations are in milliseconds, in
 * the buckets `Heimdall.durationBoundariesMs` (1 ms to 1 hour).
 *
 * | metric | type | attributes | changes when |
 * | --- | --- | --- | --- |
 * | `enqueued`: `heimdall_tasks_enqueued` | counter | `task` | `Task.enqueue` created a task (not a duplicate id or unique key) |
 * | `started`: `heimdall_tasks_started` | counter | `task` | a worker starts an attempt's handler |
 * | `succeeded`: `heimdall_tasks_succeeded` | counter | `task` | an attempt succeeded and was completed |
 * | `failed`: `heimdall_tasks_failed` | counter | `task` | an attempt failed and the task failed for good |
 * | `retried`: `heimdall_tasks_retried` | counter | `task` | an attempt failed and will be retried |
 * | `rescheduled`: `heimdall_tasks_rescheduled` | counter | `task` | a rate-limited task was put off to its booked slot (no attempt spent) |
 * | `deadLettered`: `heimdall_tasks_dead_lettered` | counter | `task` | a worker dead-lettered it: payload that does not decode, unusable rate limit, or (heartbeat) no worker runs its name |
 * | `passed`: `heimdall_tasks_passed` | counter | `task` | a worker met a task of a name it does not run and left it for one that does |
 * | `enqueueToStart`: `heimdall_tasks_enqueue_to_start_ms` | histogram | `task` | a first attempt starts: from the enqueue to the start, on the backend's clock |
 * | `runDuration`: `heimdall_tasks_run_duration_ms` | histogram | `task`, `outcome` | an attempt's handler ended (`outcome`: `"success"` or `"failure"`) |
 *
 * The enqueue-to-start time of a delayed task includes its `delay`, and of a
 * rate-limited one the wait for its slot; retries are not recorded (their
 * time would include the earlier attempts). A task handed to an idle worker
 * by its enqueue starts on the enqueue's timestamp: its time reads 0. The run
 * duration is measured on the worker's clock, from the handler's start to its
 * end (its `timeout` included, the settling round trip not); an attempt
 * interrupted (lost lease, shutdown) records none. Tasks dead-lettered by a
 * claim (a lease that lapsed more than `maxRedeliveries` times) are not
 * counted: the worker does not learn of them.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const report = Effect.gen(function* () {
 *   const failed = yield* Metric.value(Metric.withAttributes(Task.metrics.failed, { task: "generate-report" }))
 *   const waits = yield* Metric.value(Metric.withAttributes(Task.metrics.enqueueToStart, { task: "generate-report" }))
 *   yield* Effect.log(`failed: ${failed.count}, mean wait: ${waits.sum / Math.max(1, waits.count)} ms`)
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const metrics = internal.metrics

/**
 * Puts a task on the queue, now or after `delay`, and returns its handle. The
 * payload is encoded with the task's schema (a payload that does not encode
 * fails with `SchemaError`). `id` (default: 16 random URL-safe characters) makes enqueueing
 * idempotent: an id that exists already is not enqueued again.
 *
 * With a tracing backend installed (any `Tracer` other than Effect's default
 * native one), runs in a span `heimdall.task.enqueue` (attributes
 * `heimdall.task.name`, `heimdall.task.id`) whose context is stored with the
 * task, so the worker's run span links to it. Without one it makes no span of
 * its own (a span costs about as much client time as the rest of the call)
 * and stores the caller's span context, if there is one.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Ping = Task.make("ping", { payload: Schema.String })
 * const program = Effect.gen(function* () {
 *   const now = yield* Task.enqueue(Ping, "hello")
 *   const later = yield* Task.enqueue(Ping, "later", { delay: "5 minutes" })
 *   return [now.id, later.id]
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const enqueue = <T extends Any>(
  task: T,
  payload: Payload<T>,
  options?: { readonly delay?: Duration.Input | undefined; readonly id?: string | undefined }
): Effect.Effect<Handle<T>, Schema.SchemaError | InvalidArgument | Redis.RedisError | EnqueueError<T>, TaskQueue> =>
  Effect.map(enqueueTraced(task, payload, options), (enqueued) => enqueued.handle)

const enqueueTraced = <T extends Any>(
  task: T,
  payload: Payload<T>,
  options: { readonly delay?: Duration.Input | undefined; readonly id?: string | undefined } | undefined
) =>
  Effect.flatMap(Tracer.Tracer, (tracer) =>
    tracer === Tracer.nativeTracer
      ? enqueueWith(task, payload, options, false)
      : enqueueWith(task, payload, options, true).pipe(
          Effect.withSpan(
            "heimdall.task.enqueue",
            {
              kind: "producer",
              attributes: { "heimdall.task.name": task.name, "heimdall.queue.delay": options?.delay !== undefined }
            },
            // no stack trace (an Error per call): it was 8.9% of enqueue CPU; the span's name says where it is from
            { captureStackTrace: false }
          )
        )
  )

const enqueueWith = <T extends Any>(
  task: T,
  payload: Payload<T>,
  options: { readonly delay?: Duration.Input | undefined; readonly id?: string | undefined } | undefined,
  traced: boolean
): Effect.Effect<
  { readonly handle: Handle<T>; readonly result: EnqueueResult; readonly id: string },
  Schema.SchemaError | InvalidArgument | Redis.RedisError | EnqueueError<T>,
  TaskQueue
> =>
  Effect.gen(function* () {
    const queue = yield* TaskQueue
    const given = options?.id === undefined ? undefined : validate.nonEmpty("id", options.id)
    if (given instanceof InvalidArgument) return yield* given
    const delayMillis = validate.durationMillis("delay", options?.delay ?? 0, 0)
    if (delayMillis instanceof InvalidArgument) return yield* delayMillis
    const trace = yield* currentTrace
    const prepared = yield* prepare(task, payload, given, delayMillis, trace, queue.config)
    const id = prepared.task.id
    if (traced) yield* Effect.annotateCurrentSpan("heimdall.task.id", id)
    const result = yield* queue.enqueue(prepared.task)
    if (traced && result._tag === "Duplicate") {
      yield* Effect.annotateCurrentSpan("heimdall.task.duplicate_of", result.holder)
    }
    if (traced && result._tag === "Replaced") {
      yield* Effect.annotateCurrentSpan("heimdall.task.replaced", result.id)
    }
    const handle = yield* handleOf(task, prepared.key, id, result)
    return { handle, result, id }
  })

/**
 * What an enqueue did (see `enqueueOutcome`): `Created` a new task, found an `Existing` one (the same id, the
 * holder of the unique key with `onDuplicate: "existing"` or `"oneBehind"`, or the latest run of a burst with a
 * debounce's `edge: "leading"`), or `Replaced` the payload of the task that will run
 * it (`onDuplicate: "replace"`: the waiting holder, or the task waiting behind the running one, `created` when
 * this enqueue made it), or `Debounced` the start of the task that will run it (`onDuplicate: { debounce }`, also
 * the trailing run of `edge: "both"`). `state`: that task's state right after the enqueue.
 *
 * **Example**
 *
 * ```ts
 * import { Task } from "effect-heimdall"
 *
 * const describe = (outcome: Task.EnqueueOutcome<Task.Any>) =>
 *   outcome._tag === "Replaced" ? `payload replaced on ${outcome.handle.id}` : outcome._tag
 * ```
 *
 * @category models
 * @since 0.3.0
 */
export type EnqueueOutcome<T extends Any> =
  | { readonly _tag: "Created"; readonly handle: Handle<T>; readonly state: TaskState }
  | { readonly _tag: "Existing"; readonly handle: Handle<T> }
  | { readonly _tag: "Replaced"; readonly handle: Handle<T>; readonly state: TaskState; readonly created: boolean }
  | {
      readonly _tag: "Debounced"
      readonly handle: Handle<T>
      readonly state: TaskState
      /** When it starts (epoch ms, backend clock); behind a running task: not before then. */
      readonly startsAt: number
      readonly created: boolean
    }

/**
 * `enqueue`, reporting what happened (`EnqueueOutcome`): the same task, the same errors, the same span.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Sync = Task.make("sync", { payload: Schema.Number, unique: { key: "sync", onDuplicate: "replace" } })
 * const program = Effect.gen(function* () {
 *   const first = yield* Task.enqueueOutcome(Sync, 1) // { _tag: "Created", ... }
 *   const second = yield* Task.enqueueOutcome(Sync, 2) // { _tag: "Replaced", handle: first.handle, ... }
 *   return second._tag
 * })
 * ```
 *
 * @category constructors
 * @since 0.3.0
 */
export const enqueueOutcome = <T extends Any>(
  task: T,
  payload: Payload<T>,
  options?: { readonly delay?: Duration.Input | undefined; readonly id?: string | undefined }
): Effect.Effect<
  EnqueueOutcome<T>,
  Schema.SchemaError | InvalidArgument | Redis.RedisError | EnqueueError<T>,
  TaskQueue
> =>
  Effect.map(enqueueTraced(task, payload, options), ({ handle, result, id }): EnqueueOutcome<T> => {
    switch (result._tag) {
      case "Created":
        return { _tag: "Created", handle, state: result.state }
      case "Replaced":
        return { _tag: "Replaced", handle, state: result.state, created: result.id === id }
      case "Debounced":
        return { _tag: "Debounced", handle, state: result.state, startsAt: result.startsAt, created: result.id === id }
      default:
        return { _tag: "Existing", handle }
    }
  })

/** The enqueue span, or the caller's (also an external one), as stored with a task; an Option, not an error. */
const currentTrace: Effect.Effect<TraceContext | undefined> = Effect.map(
  Effect.serviceOption(Tracer.ParentSpan),
  (span) =>
    span._tag === "Some"
      ? { traceId: span.value.traceId, spanId: span.value.spanId, sampled: span.value.sampled }
      : undefined
)

/**
 * A payload as the queue takes it: encoded with the task's schema, its computed options (rate limit, unique key)
 * checked before anything is written; with its unique key, if any.
 */
const prepare = <T extends Any>(
  task: T,
  payload: Payload<T>,
  given: string | undefined,
  delayMillis: number,
  trace: TraceContext | undefined,
  config: TaskQueue["Service"]["config"]
): Effect.Effect<{ readonly task: NewTask; readonly key: string | undefined }, Schema.SchemaError | InvalidArgument> =>
  Effect.gen(function* () {
    const encoded = yield* Schema.encodeEffect(internal.codecs(task).payload)(payload)
    // options computed from the payload get the checks of static ones, before anything is written
    const rateLimit = task.settings.rateLimit
    if (rateLimit !== undefined) {
      const limit = validate.computedRateLimit(rateLimit, payload, task.name)
      if (limit instanceof InvalidArgument) return yield* limit
    }
    const settings = task.settings.unique
    const key = settings && uniqueKeyOf(task, payload, encoded)
    if (key instanceof InvalidArgument) return yield* key
    const policy = settings?.onDuplicate
    const debounce =
      typeof policy === "object"
        ? {
            waitMillis: Duration.toMillis(Duration.fromInputUnsafe(policy.debounce)),
            maxWaitMillis:
              policy.maxWait === undefined ? undefined : Duration.toMillis(Duration.fromInputUnsafe(policy.maxWait)),
            edge: policy.edge === "leading" || policy.edge === "both" ? policy.edge : undefined
          }
        : undefined
    // hold "whileRunning": no lock; per-key concurrency with limit 1 on the unique key (see UniqueHold)
    const whileRunning = settings?.hold === "whileRunning" && key !== undefined
    if (whileRunning && key.includes("\0")) {
      return yield* validate.invalid("unique.key", key, 'must not contain NUL characters with hold: "whileRunning"')
    }
    const unique =
      settings === undefined || key === undefined || whileRunning
        ? undefined
        : {
            key,
            ttlMillis:
              settings.timeout === undefined ? config.uniqueTimeoutMillis : Duration.toMillis(settings.timeout),
            keep: settings.hold === "untilExpiry",
            ...(settings.hold === "untilStart" ? { freeAtStart: true } : {}),
            prefix: settings.prefix,
            onDuplicate:
              debounce !== undefined
                ? ("debounce" as const)
                : settings.onDuplicate === "replace" || settings.onDuplicate === "oneBehind"
                  ? settings.onDuplicate
                  : undefined,
            debounce
          }
    // a (trailing) debounced task's first request waits too
    const delay =
      debounce === undefined || debounce.edge !== undefined ? delayMillis : Math.max(delayMillis, debounce.waitMillis)
    const cc = task.settings.concurrency
    let concurrency: { readonly key: string; readonly limit: number } | undefined = whileRunning
      ? { key: `unique:${key}`, limit: 1 }
      : undefined
    if (cc !== undefined) {
      const group = validate.computed("concurrency.key", cc.key, payload)
      const checked = group instanceof InvalidArgument ? group : concurrencyKeyOf(group)
      if (checked instanceof InvalidArgument) return yield* checked
      concurrency = { key: checked, limit: cc.limit }
    }
    // a drawn id falls in the partition of its unique key, or of its concurrency key (one partition holds a key's
    // admissions: the limit is the key's across the queue), see partitions.ts: the id alone finds the task
    const id = given ?? Partitions.taskId(config, unique?.key ?? concurrency?.key)
    if (concurrency === undefined)
      return { task: { id, name: task.name, payload: encoded, delayMillis: delay, trace, unique }, key }
    return { task: { id, name: task.name, payload: encoded, delayMillis: delay, trace, unique, concurrency }, key }
  })

/** What the caller of an enqueue gets for the queue's result: a handle, or `AlreadyQueued` (`onDuplicate: "fail"`). */
const handleOf = <T extends Any>(
  task: T,
  key: string | undefined,
  id: string,
  result: EnqueueResult
): Effect.Effect<Handle<T>, EnqueueError<T>> => {
  switch (result._tag) {
    case "Created":
      return Effect.as(internal.count("enqueued", task.name), handle(task, id))
    case "Exists":
      return Effect.succeed(handle(task, id))
    case "Duplicate":
      if (task.settings.unique?.onDuplicate === "fail") {
        return Effect.fail(
          new AlreadyQueued({
            taskName: task.name,
            key: key ?? "",
            likelyCulprit: result.holder,
            expiresIn: Duration.millis(result.expiresInMillis)
          }) as EnqueueError<T>
        )
      }
      return Effect.succeed(handle(task, result.holder))
    case "Replaced":
    case "Debounced":
      // a new task (behind the running holder) counts as enqueued
      return result.id === id
        ? Effect.as(internal.count("enqueued", task.name), handle(task, id))
        : Effect.succeed(handle(task, result.id))
  }
}

/**
 * Puts many tasks of one kind on the queue, in order, in as few round trips as the backend's `maxEnqueueBatch`
 * allows (25 tasks per call by default on Redis, two calls in flight), and returns one `Result` per payload, in order: the task's
 * handle, or why that payload was not enqueued: `SchemaError` (it does not encode), `InvalidArgument` (its `id`, or
 * a unique key or rate limit computed from it, is unusable) or `AlreadyQueued` (a unique task with
 * `onDuplicate: "fail"` whose key is held, by an earlier payload of the same call too). A payload whose unique key
 * is held gets the holder's handle otherwise, and an `id` that exists already gets its own handle, as with
 * `enqueue`; a payload that fails is not written, and does not stop the others.
 *
 * The whole call fails with `InvalidArgument` for an unusable `delay`, and with the `RedisError` of a failed call:
 * the tasks of the calls that went before it were created (give `id`s to make a retry idempotent). An interrupted
 * call may have created some of its tasks. Options: `delay` for every task, `id` to compute each task's id from its
 * payload and position (default: random ids). With a tracing backend installed it runs in one span
 * `heimdall.task.enqueueAll` (attributes `heimdall.task.name`, `heimdall.task.count`), stored with every task.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Result, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const SendMail = Task.make("send-mail", { payload: Schema.Struct({ to: Schema.String }) })
 * const program = Effect.gen(function* () {
 *   const results = yield* Task.enqueueAll(SendMail, [{ to: "a@example.com" }, { to: "b@example.com" }], {
 *     id: ({ to }) => `welcome:${to}`
 *   })
 *   return results.filter(Result.isSuccess).map((r) => r.success.id) // ["welcome:a@example.com", ...]
 * })
 * ```
 *
 * @category constructors
 * @since 0.2.0
 */
export const enqueueAll = <T extends Any>(
  task: T,
  payloads: Iterable<Payload<T>>,
  options?: {
    readonly delay?: Duration.Input | undefined
    readonly id?: ((payload: Payload<T>, index: number) => string) | undefined
  }
): Effect.Effect<
  Array<Result.Result<Handle<T>, Schema.SchemaError | InvalidArgument | EnqueueError<T>>>,
  InvalidArgument | Redis.RedisError,
  TaskQueue
> =>
  Effect.flatMap(Tracer.Tracer, (tracer) => {
    const list = Array.from(payloads)
    return tracer === Tracer.nativeTracer
      ? enqueueAllWith(task, list, options)
      : enqueueAllWith(task, list, options).pipe(
          Effect.withSpan(
            "heimdall.task.enqueueAll",
            { kind: "producer", attributes: { "heimdall.task.name": task.name, "heimdall.task.count": list.length } },
            { captureStackTrace: false }
          )
        )
  })

const enqueueAllWith = <T extends Any>(
  task: T,
  payloads: ReadonlyArray<Payload<T>>,
  options:
    | {
        readonly delay?: Duration.Input | undefined
        readonly id?: ((payload: Payload<T>, index: number) => string) | undefined
      }
    | undefined
): Effect.Effect<
  Array<Result.Result<Handle<T>, Schema.SchemaError | InvalidArgument | EnqueueError<T>>>,
  InvalidArgument | Redis.RedisError,
  TaskQueue
> =>
  Effect.gen(function* () {
    const queue = yield* TaskQueue
    const delayMillis = validate.durationMillis("delay", options?.delay ?? 0, 0)
    if (delayMillis instanceof InvalidArgument) return yield* delayMillis
    const trace = yield* currentTrace
    const idOf = options?.id
    // each payload prepared on its own: one that fails is left out of the queue's call, with its error
    const prepared = yield* Effect.forEach(payloads, (payload, index) => {
      const computed = idOf === undefined ? undefined : validate.computed("id", (p) => idOf(p, index), payload)
      const id =
        computed === undefined || computed instanceof InvalidArgument ? computed : validate.nonEmpty("id", computed)
      return id instanceof InvalidArgument
        ? Effect.succeed(Result.fail(id))
        : Effect.result(prepare(task, payload, id, delayMillis, trace, queue.config))
    })
    const sent = prepared.flatMap((p) => (Result.isSuccess(p) ? [p.success.task] : []))
    const results = yield* queue.enqueueAll(sent)
    let next = 0
    return yield* Effect.forEach(
      prepared,
      (p): Effect.Effect<Result.Result<Handle<T>, Schema.SchemaError | InvalidArgument | EnqueueError<T>>> =>
        Result.isFailure(p)
          ? Effect.succeed(Result.fail(p.failure))
          : Effect.result(handleOf(task, p.success.key, p.success.task.id, results[next++]!))
    )
  })

/**
 * The task's current state (see `TaskQueue.TaskState` for each one).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Ping = Task.make("ping", { payload: Schema.String })
 * const program = Effect.gen(function* () {
 *   const handle = yield* Task.enqueue(Ping, "hello", { delay: "1 minute" })
 *   return yield* Task.status(handle) // "scheduled"
 * })
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const status = <T extends Any>(
  handle: Handle<T>
): Effect.Effect<TaskState, TaskNotFound | TaskNameMismatch | Redis.RedisError, TaskQueue> =>
  Effect.flatMap(TaskQueue, (queue) => queue.get(handle.id)).pipe(
    Effect.flatMap((record) => {
      const mismatch = recordError(handle, record)
      return mismatch === undefined ? Effect.succeed(record!.state) : Effect.fail(mismatch)
    })
  )

/** `TaskNotFound` without a record, `TaskNameMismatch` for a record of another task; `undefined` when it fits. */
const recordError = (
  handle: Handle<Any>,
  record: TaskRecord | undefined
): TaskNotFound | TaskNameMismatch | undefined =>
  record === undefined
    ? new TaskNotFound({ taskId: handle.id })
    : record.name !== handle.task.name
      ? new TaskNameMismatch({ taskId: handle.id, expected: handle.task.name, actual: record.name })
      : undefined

/**
 * Waits for the task to finish: succeeds with its decoded success value, or
 * fails with its decoded error (the handler's typed error, `TaskTimeout`,
 * `TaskDefect`), `TaskDeadLettered`, `TaskSkipped`, `TaskCancelled` (an operator
 * cancelled it: `Admin.cancel`), or `TaskNotFound`. Waiting
 * is push-based (no polling); interrupting `join` does not affect the task.
 * A handle whose id belongs to a task of another name (`handle(OtherTask, id)`)
 * fails at once with `TaskNameMismatch`, before any decoding.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Double = Task.make("double", { payload: Schema.Number, success: Schema.Number })
 * const program = Effect.gen(function* () {
 *   const handle = yield* Task.enqueue(Double, 21)
 *   return yield* Task.join(handle) // 42, once a worker ran it
 * })
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const join = <T extends Any>(
  handle: Handle<T>
): Effect.Effect<
  Success<T>,
  | Failure<T>
  | TaskDeadLettered
  | TaskSkipped
  | TaskCancelled
  | TaskNotFound
  | TaskNameMismatch
  | Schema.SchemaError
  | Redis.RedisError,
  TaskQueue
> =>
  Effect.flatMap(TaskQueue, (queue) =>
    // the record is read first: a handle of another task fails now, not when that task ends; a finished task
    // settles from this one read
    Effect.flatMap(queue.get(handle.id), (record) => {
      const error = recordError(handle, record)
      if (error !== undefined) return Effect.fail(error)
      return isTerminal(record!.state)
        ? settle(handle, record)
        : Effect.flatMap(queue.awaitTerminal(handle.id), (record) => settle(handle, record))
    })
  )

const settle = <T extends Any>(
  handle: Handle<T>,
  record: TaskRecord | undefined
): Effect.Effect<
  Success<T>,
  Failure<T> | TaskDeadLettered | TaskSkipped | TaskCancelled | TaskNotFound | TaskNameMismatch | Schema.SchemaError
> => {
  const error = recordError(handle, record)
  if (error !== undefined) return Effect.fail(error)
  if (record === undefined) return Effect.fail(new TaskNotFound({ taskId: handle.id }))
  const { success, failure } = internal.codecs(handle.task)
  switch (record.state) {
    case "succeeded":
      return Schema.decodeUnknownEffect(success)(record.result ?? "null")
    case "failed":
      return Effect.flatMap(Schema.decodeUnknownEffect(failure)(record.error ?? "null"), (e) => Effect.fail(e))
    case "skipped":
      return Effect.fail(
        new TaskSkipped({ taskId: record.id, taskName: record.name, reason: record.reason ?? "unknown" })
      )
    case "cancelled":
      return Effect.fail(new TaskCancelled({ taskId: record.id, taskName: record.name }))
    default:
      return Effect.fail(
        new TaskDeadLettered({ taskId: record.id, taskName: record.name, reason: record.reason ?? "unknown" })
      )
  }
}

/**
 * When and how a task runs on a schedule (see `schedule`).
 *
 * - `cron`: a cron expression (5 fields, or 6 with seconds first), read by Effect's `Cron`, in `timeZone` (an IANA
 *   name such as `"Europe/Berlin"`, an offset, or a `DateTime.TimeZone`; default UTC): `"0 3 * * *"` in Berlin fires
 *   at 03:00 Berlin time in winter and in summer. Or `every`: a positive duration; its ticks are the multiples of it
 *   since the epoch (every process agrees on them: `"1 hour"` ticks on the hour, UTC).
 * - `payload`: the payload of every run.
 * - `name`: the schedule's name (default: the task's name); a second schedule of the same task needs its own.
 * - `overlap`: when a tick falls while the previous tick's run has not ended: `"skip"` (default: no new run while
 *   one is queued or running), `"bufferOne"` (one tick is held back while the previous run runs, and enqueued when it
 *   ends: at most one waiting behind the running one, never two running), `"allow"` (every tick runs).
 * - `catchUp`: the ticks that fell while no scheduler ran (every process down): `"none"` (wait for the next tick),
 *   `"last"` (default: run the latest missed tick once), `"all"` (run each missed tick, the latest 100 at most).
 *
 * **Example**
 *
 * ```ts
 * import type { Task } from "effect-heimdall"
 *
 * const options: Task.ScheduleOptions<{ readonly days: number }> = {
 *   cron: "0 3 * * *",
 *   timeZone: "Europe/Berlin",
 *   payload: { days: 30 },
 *   overlap: "bufferOne",
 *   catchUp: "none"
 * }
 * ```
 *
 * @category schedules
 * @since 0.3.0
 */
export interface ScheduleOptions<P> {
  readonly cron?: string | undefined
  readonly timeZone?: string | DateTime.TimeZone | undefined
  readonly every?: Duration.Input | undefined
  readonly payload: P
  readonly name?: string | undefined
  readonly overlap?: "skip" | "bufferOne" | "allow" | undefined
  readonly catchUp?: "none" | "last" | "all" | undefined
}

/**
 * A task on a schedule, made by `schedule`, run by `layerSchedules`.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Cleanup = Task.make("cleanup", { payload: Schema.Struct({ days: Schema.Number }) })
 * const nightly: Task.Scheduled = Task.schedule(Cleanup, { cron: "0 3 * * *", payload: { days: 30 } })
 * nightly.name // "cleanup"
 * ```
 *
 * @category schedules
 * @since 0.3.0
 */
export interface Scheduled<T extends Any = Any> {
  readonly name: string
  readonly task: T
  readonly payload: Payload<T>
  readonly timing: Scheduling.Timing
  readonly overlap: "skip" | "bufferOne" | "allow"
  readonly catchUp: "none" | "last" | "all"
}

/**
 * Puts a task on a schedule: a cron expression in a time zone, or a fixed period (see `ScheduleOptions`). The
 * schedule runs where `layerSchedules` runs it; run it in every worker process: each tick is enqueued exactly once
 * across all of them.
 *
 * **Throws** the typed `InvalidArgument` (naming the option and the value), as `make` does, for a schedule that can
 * never work: a cron expression `Cron` does not parse, an unknown `timeZone`, `every` that is not a positive
 * duration, both `cron` and `every` (or neither), an `overlap` or `catchUp` not listed, an empty `name`, and a
 * unique task (a schedule's `overlap` decides what runs at once; a unique key would be held by the previous tick).
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Report = Task.make("report", { payload: Schema.Struct({ kind: Schema.String }) })
 * const daily = Task.schedule(Report, {
 *   cron: "0 7 * * 1-5", // 07:00 on weekdays
 *   timeZone: "Europe/Berlin",
 *   payload: { kind: "daily" },
 *   overlap: "skip",
 *   catchUp: "last"
 * })
 * const heartbeat = Task.schedule(Report, { every: "30 seconds", payload: { kind: "ping" }, name: "ping" })
 * ```
 *
 * @category schedules
 * @since 0.3.0
 */
export const schedule = <T extends Any>(task: T, options: ScheduleOptions<Payload<T>>): Scheduled<T> => {
  const resolved = validate.orThrow(Scheduling.resolve(task.name, options))
  if (task.settings.unique !== undefined) {
    throw validate.invalid("task", task.name, "is unique: a schedule's overlap option says what may run at once")
  }
  if (task.settings.concurrency !== undefined) {
    throw validate.invalid(
      "task",
      task.name,
      "has a concurrency limit: a schedule's overlap option says what may run at once"
    )
  }
  return {
    name: resolved.name,
    task,
    payload: options.payload,
    timing: resolved.timing,
    overlap: resolved.overlap,
    catchUp: resolved.catchUp
  }
}

/**
 * Runs schedulers for `schedules` (see `schedule`) for the layer's lifetime: provide it next to `Worker.layer` in
 * every worker process (or in any process with the backend). Each scheduler reads the backend's clock (Redis `TIME`)
 * and the schedule's progress, enqueues the due ticks and sleeps until the next one. Each tick is one atomic step on
 * the backend (one Lua script on Redis): its task id is the schedule's name and the tick
 * (`<name>@<ISO instant>`), and the schedule's progress (the latest tick handled, kept without TTL under the queue's
 * hash tag in `<prefix>:{<queue>}:schedules`) only moves forward, so any number of schedulers racing on a tick
 * enqueue it once, and a scheduler restarted (or killed) never fires a tick again. A backend error is logged and
 * retried every second. The layer fails with `SchemaError` when a payload does not encode, and with
 * `InvalidArgument` when two schedules share a name. Closing the layer waits for a tick's step in flight (one round
 * trip), so the debug log `schedule <name>: tick <id> <result>` reports every tick this process enqueued.
 *
 * Ticks that fell while the scheduler ran but the backend was unreachable are enqueued when it is back (the latest
 * 100); ticks that fell while no scheduler ran at all follow `catchUp`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Layer, Schema } from "effect"
 * import { Heimdall, Task, Worker } from "effect-heimdall"
 *
 * const Cleanup = Task.make("cleanup", { payload: Schema.Struct({ days: Schema.Number }) })
 * const CleanupLive = Task.implement(Cleanup, ({ days }) => Effect.log(`cleaning up after ${days} days`))
 *
 * const WorkerLive = Layer.mergeAll(
 *   Worker.layer({ tasks: [CleanupLive] }),
 *   Task.layerSchedules([Task.schedule(Cleanup, { cron: "0 3 * * *", payload: { days: 30 } })])
 * ).pipe(Layer.provide(Heimdall.layerMemory))
 * ```
 *
 * @category schedules
 * @since 0.3.0
 */
export const layerSchedules = (
  schedules: ReadonlyArray<Scheduled>
): Layer.Layer<never, Schema.SchemaError | InvalidArgument, TaskQueue> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const queue = yield* TaskQueue
      const names = new Set<string>()
      for (const s of schedules) {
        if (names.has(s.name)) {
          return yield* validate.invalid("name", s.name, "two schedules have this name: give each its own")
        }
        names.add(s.name)
      }
      const runnables = yield* Effect.forEach(schedules, (s) =>
        Effect.map(Schema.encodeEffect(internal.codecs(s.task).payload)(s.payload), (payload) => ({
          spec: Scheduling.specOf(s.name, s.task.name, s.timing, s.overlap, s.catchUp),
          timing: s.timing,
          payload
        }))
      )
      for (const runnable of runnables) yield* Effect.forkScoped(Scheduling.run(queue, runnable))
    })
  )

/**
 * The id of the task a schedule enqueues for a tick: the schedule's name, `@`, and the tick as an ISO instant. Look
 * a tick's run up with `Task.handle(task, Task.scheduleTaskId(name, tick))`.
 *
 * **Example**
 *
 * ```ts
 * import { Task } from "effect-heimdall"
 *
 * Task.scheduleTaskId("nightly", Date.UTC(2026, 0, 1, 3)) // "nightly@2026-01-01T03:00:00.000Z"
 * ```
 *
 * @category schedules
 * @since 0.3.0
 */
export const scheduleTaskId: (schedule: string, tick: number) => string = Scheduling.taskIdOf
