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
import { randomUUID } from "node:crypto"
import { Context, Duration, Effect, type Pipeable, type Schedule, Schema } from "effect"
import { pipeArguments } from "effect/Pipeable"
import type * as Redis from "effect/persistence/Redis"
import * as internal from "./internal/queue/task.ts"
import { TaskQueue, type TaskRecord, type TaskState, type TraceContext } from "./TaskQueue.ts"

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

/**
 * The task ran longer than its `timeout`: it was interrupted.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * declare const handle: Task.Handle<Task.Any>
 * Task.join(handle).pipe(Effect.catchTag("TaskTimeout", (e) => Effect.log(`gave up after ${e.timeoutMillis} ms`)))
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TaskTimeout extends Schema.TaggedError<TaskTimeout>()("TaskTimeout", {
  taskId: Schema.String,
  taskName: Schema.String,
  timeoutMillis: Schema.Number
}) {}

/**
 * The handler died (a thrown exception or `Effect.die`), as opposed to failing
 * with one of its typed errors.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * declare const handle: Task.Handle<Task.Any>
 * Task.join(handle).pipe(Effect.catchTag("TaskDefect", (e) => Effect.logError(e.message)))
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TaskDefect extends Schema.TaggedError<TaskDefect>()("TaskDefect", {
  taskId: Schema.String,
  taskName: Schema.String,
  message: Schema.String
}) {}

/**
 * The task could not be run at all and was dead-lettered: no worker knows its
 * name, or its payload no longer decodes with the worker's schema.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * declare const handle: Task.Handle<Task.Any>
 * Task.join(handle).pipe(Effect.catchTag("TaskDeadLettered", (e) => Effect.logWarning(e.reason)))
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TaskDeadLettered extends Schema.TaggedError<TaskDeadLettered>()("TaskDeadLettered", {
  taskId: Schema.String,
  taskName: Schema.String,
  reason: Schema.String
}) {}

/**
 * No task with this id: never enqueued on this queue, or finished longer ago
 * than the retention.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * declare const handle: Task.Handle<Task.Any>
 * Task.status(handle).pipe(Effect.catchTag("TaskNotFound", () => Effect.succeed("expired" as const)))
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TaskNotFound extends Schema.TaggedError<TaskNotFound>()("TaskNotFound", {
  taskId: Schema.String
}) {}

/**
 * A task's settings besides its schemas. Later features (uniqueness, rate
 * limits) add their settings here.
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
  out Error extends AnySchema = typeof Schema.Never
> extends Pipeable.Pipeable {
  readonly [TypeId]: typeof TypeId
  readonly name: Name
  readonly payload: Payload
  readonly success: Success
  readonly error: Error
  readonly settings: Settings
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
export interface Any extends Task<string, AnySchema, AnySchema, AnySchema> {}

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
 * **Example**
 *
 * ```ts
 * import { Schedule, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const SendMail = Task.make("send-mail", {
 *   payload: Schema.Struct({ to: Schema.String }),
 *   timeout: "30 seconds",
 *   retry: Schedule.exponential("1 second").pipe(Schedule.upTo({ times: 5 }))
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <
  const Name extends string,
  Payload extends AnySchema,
  Success extends AnySchema = typeof Schema.Void,
  Error extends AnySchema = typeof Schema.Never
>(
  name: Name,
  options: {
    readonly payload: Payload
    readonly success?: Success | undefined
    readonly error?: Error | undefined
    readonly timeout?: Duration.Input | undefined
    readonly retry?: Schedule.Schedule<unknown, Error["Type"] | TaskTimeout | TaskDefect> | undefined
  }
): Task<Name, Payload, Success, Error> => {
  const task = Object.create(TaskProto)
  task.name = name
  task.payload = options.payload
  task.success = options.success ?? Schema.Void
  task.error = options.error ?? Schema.Never
  task.settings = {
    timeout: options.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout),
    retry: options.retry
  } satisfies Settings
  return task
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
  { readonly id: string; readonly name: string; readonly attempt: number }
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
): Implementation<T, Exclude<R, CurrentTask>> => ({ task, handler: handler as any })

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
 * The task counters (each tagged with the attribute `task`, the task's name):
 * `heimdall_tasks_enqueued` (by `enqueue`), `_started`, `_succeeded`,
 * `_failed` (for good), `_retried` and `_dead_lettered` (by workers).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const failedReports = Metric.value(Metric.withAttributes(Task.metrics.failed, { task: "generate-report" }))
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const metrics = internal.metrics

/**
 * Puts a task on the queue, now or after `delay`, and returns its handle. The
 * payload is encoded with the task's schema (a payload that does not encode
 * fails with `SchemaError`). `id` (default: a random UUID) makes enqueueing
 * idempotent: an id that exists already is not enqueued again.
 *
 * Runs in a span `heimdall.task.enqueue` (attributes `heimdall.task.name`,
 * `heimdall.task.id`) whose context is stored with the task, so the worker's
 * run span links to it.
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
): Effect.Effect<Handle<T>, Schema.SchemaError | Redis.RedisError, TaskQueue> =>
  Effect.gen(function* () {
    const queue = yield* TaskQueue
    const id = options?.id ?? randomUUID()
    yield* Effect.annotateCurrentSpan("heimdall.task.id", id)
    const encoded = yield* Schema.encodeEffect(internal.codecs(task).payload)(payload)
    const span = yield* Effect.orElseSucceed(Effect.currentSpan, () => undefined)
    const trace: TraceContext | undefined = span && {
      traceId: span.traceId,
      spanId: span.spanId,
      sampled: span.sampled
    }
    const delayMillis = options?.delay === undefined ? 0 : Duration.toMillis(Duration.fromInputUnsafe(options.delay))
    const result = yield* queue.enqueue({ id, name: task.name, payload: encoded, delayMillis, trace })
    if (result.created) yield* internal.count("enqueued", task.name)
    return handle(task, id)
  }).pipe(
    Effect.withSpan("heimdall.task.enqueue", {
      kind: "producer",
      attributes: { "heimdall.task.name": task.name, "heimdall.queue.delay": options?.delay !== undefined }
    })
  )

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
): Effect.Effect<TaskState, TaskNotFound | Redis.RedisError, TaskQueue> =>
  Effect.flatMap(TaskQueue, (queue) => queue.get(handle.id)).pipe(
    Effect.flatMap((record) =>
      record === undefined ? Effect.fail(new TaskNotFound({ taskId: handle.id })) : Effect.succeed(record.state)
    )
  )

/**
 * Waits for the task to finish: succeeds with its decoded success value, or
 * fails with its decoded error (the handler's typed error, `TaskTimeout`,
 * `TaskDefect`), `TaskDeadLettered`, or `TaskNotFound`. Waiting is push-based
 * (no polling); interrupting `join` does not affect the task.
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
  Failure<T> | TaskDeadLettered | TaskNotFound | Schema.SchemaError | Redis.RedisError,
  TaskQueue
> =>
  Effect.flatMap(TaskQueue, (queue) => queue.awaitTerminal(handle.id)).pipe(
    Effect.flatMap((record) => settle(handle, record))
  )

const settle = <T extends Any>(
  handle: Handle<T>,
  record: TaskRecord | undefined
): Effect.Effect<Success<T>, Failure<T> | TaskDeadLettered | TaskNotFound | Schema.SchemaError> => {
  if (record === undefined) return Effect.fail(new TaskNotFound({ taskId: handle.id }))
  const { success, failure } = internal.codecs(handle.task)
  switch (record.state) {
    case "succeeded":
      return Schema.decodeUnknownEffect(success)(record.result ?? "null")
    case "failed":
      return Effect.flatMap(Schema.decodeUnknownEffect(failure)(record.error ?? "null"), (e) => Effect.fail(e))
    default:
      return Effect.fail(
        new TaskDeadLettered({ taskId: record.id, taskName: record.name, reason: record.reason ?? "unknown" })
      )
  }
}
