/**
 * The typed errors of effect-heimdall. Each one is a `Schema.TaggedError`:
 * `Effect.catchTag` selects it, and it survives JSON encoding and decoding
 * (`Schema.toCodecJson(LockTaken)`), so it can cross a process boundary, for
 * example as a task's failure. Durations travel as milliseconds.
 *
 * Every denial says why and when: who holds what, and how long until it may
 * succeed.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { roundedMillis } from "./internal/duration.ts"

/**
 * A lock is held by someone else (after the optional wait ran out).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const report = Effect.log("generating").pipe(
 *   Heimdall.withLock("report:42", { ttl: "10 minutes" }),
 *   Effect.catchTag("LockTaken", (e) => Effect.log(`busy: ${e.holder}, free in ${e.expiresIn}`))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class LockTaken extends Schema.TaggedError<LockTaken>()("LockTaken", {
  /** The lock's key, without the backend's prefix. */
  key: Schema.String,
  /** The owner holding the lock when it was tried (for unique tasks: the task id). */
  holder: Schema.String,
  /** How long until the holder's lock expires, unless it is released or extended first. */
  expiresIn: Schema.DurationFromMillis
}) {
  override get message() {
    return `lock "${this.key}" is held by ${this.holder} for ${roundedMillis(this.expiresIn)} ms more`
  }
}

/**
 * A lock held by `Heimdall.withLock` was lost while its effect ran: it expired
 * (its keep-alive could not reach the backend in time, the event loop was
 * blocked past the ttl, or `keepAlive` was off) and may now be held by someone
 * else. Either the keep-alive found out and the effect was interrupted, or the
 * effect ran to its end and the owner-checked release found the lock gone: its
 * result is then not returned, since it was not protected.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const report = Effect.log("generating").pipe(
 *   Heimdall.withLock("report:42", { ttl: "10 minutes" }),
 *   Effect.catchTag("LockLost", (e) => Effect.logWarning(`${e.owner} lost ${e.key}: the report may have run twice`))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class LockLost extends Schema.TaggedError<LockLost>()("LockLost", {
  key: Schema.String,
  /** The owner that lost the lock. */
  owner: Schema.String
}) {
  override get message() {
    return `lock "${this.key}" was lost by ${this.owner} while its effect ran`
  }
}

/**
 * A rate limit denied the call (or the wait for a slot would be longer than
 * the caller accepts).
 *
 * @category errors
 * @since 0.1.0
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  /** The key of the limit that is full, without the backend's prefix. */
  key: Schema.String,
  /** How long until the call would be admitted, if nobody else takes the slot first. */
  retryAfter: Schema.DurationFromMillis,
  /** The limit that is full. */
  limit: Schema.Struct({ times: Schema.Number, per: Schema.DurationFromMillis }),
  /** Units left in the current window of that limit. */
  remaining: Schema.Number
}) {
  override get message() {
    return `rate limit "${this.key}" is full; retry after ${roundedMillis(this.retryAfter)} ms`
  }
}

/**
 * All slots of a concurrency limit are taken (after the optional wait ran out).
 *
 * @category errors
 * @since 0.1.0
 */
export class ConcurrencyLimited extends Schema.TaggedError<ConcurrencyLimited>()("ConcurrencyLimited", {
  key: Schema.String,
  /** The limit: at most this many holders at once. */
  limit: Schema.Number,
  /** Holders when it was tried. */
  holders: Schema.Number,
  /** How long until the first lease ends, at the latest (a release frees a slot sooner). */
  retryAfter: Schema.DurationFromMillis
}) {
  override get message() {
    return `concurrency limit "${this.key}" is full (${this.holders}/${this.limit})`
  }
}

/**
 * A unique task is already queued or running (or, for an interval task, ran
 * within its timeout): `Task.enqueue` of a task with `onDuplicate: "fail"`
 * fails with this instead of returning the existing task's handle. The holder
 * and the remaining time are read in the same atomic step as the failed
 * acquire.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { AlreadyQueued, Task } from "effect-heimdall"
 *
 * const Report = Task.make("report", {
 *   payload: Schema.Struct({ customerId: Schema.Number }),
 *   unique: { onDuplicate: "fail" }
 * })
 * const start = (customerId: number) =>
 *   Task.enqueue(Report, { customerId }).pipe(
 *     Effect.map((handle) => ({ status: "STARTED", taskId: handle.id })),
 *     Effect.catchTag("AlreadyQueued", (e) => Effect.succeed({ status: "ALREADY_RUNNING", taskId: e.likelyCulprit }))
 *   )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class AlreadyQueued extends Schema.TaggedError<AlreadyQueued>()("AlreadyQueued", {
  /** The task's name. */
  taskName: Schema.String,
  /** The unique key that is taken. */
  key: Schema.String,
  /** The id of the task holding the key. */
  likelyCulprit: Schema.UndefinedOr(Schema.String),
  /** How long until the key expires at the latest (it is freed sooner when that task ends). */
  expiresIn: Schema.DurationFromMillis
}) {
  override get message() {
    return `task ${this.taskName} is already queued as ${this.likelyCulprit ?? "an unknown task"} (key ${this.key}, expires in ${roundedMillis(this.expiresIn)} ms)`
  }
}

/**
 * An argument or option that can never work: a limit that is not a positive
 * integer, a duration that does not parse or is not positive, a negative
 * delay, an empty key or name, a task implemented twice in one worker.
 * Raised where the value is given, before anything is sent or written: by the
 * synchronous constructors (`Task.make`, `Task.unique`, `Task.rateLimit`
 * throw it), by the layers (`Worker.layer`, `Heimdall.layerRedis`, ... fail
 * with it), and by the calls (`Task.enqueue`, `Heimdall.take`, ... fail with
 * it). The same on every backend.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const program = Heimdall.take("emails", { times: 0, per: "1 minute" }).pipe(
 *   // e.message: invalid times = 0: must be a positive integer
 *   Effect.catchTag("InvalidArgument", (e) => Effect.logError(e.message))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", {
  /** Which argument or option, e.g. `"times"` or `"rateLimit.per"`. */
  argument: Schema.String,
  /** The value as given, as text (strings quoted, so an empty one shows as `""`). */
  value: Schema.String,
  /** What is wrong with it, or what is expected. */
  reason: Schema.String
}) {
  override get message() {
    return `invalid ${this.argument} = ${this.value}: ${this.reason}`
  }
}

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
}) {
  override get message() {
    return `task ${this.taskName} ${this.taskId} timed out after ${this.timeoutMillis} ms`
  }
}

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
 * // e.defect: "Error: boom"; e.message: "task report 7Kq… died: Error: boom"
 * Task.join(handle).pipe(Effect.catchTag("TaskDefect", (e) => Effect.logError(e.message)))
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TaskDefect extends Schema.TaggedError<TaskDefect>()("TaskDefect", {
  taskId: Schema.String,
  taskName: Schema.String,
  /** What the handler died of: the exception's name and message, or the defect as text. */
  defect: Schema.String
}) {
  override get message() {
    return `task ${this.taskName} ${this.taskId} died: ${this.defect}`
  }
}

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
}) {
  override get message() {
    return `task ${this.taskName} ${this.taskId} was dead-lettered: ${this.reason}`
  }
}

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
}) {
  override get message() {
    return `no task ${this.taskId} on this queue (never enqueued here, or finished longer ago than the retention)`
  }
}

/**
 * A handle of one task was used for a task of another name
 * (`Task.handle(OtherTask, id)`): the record of `taskId` belongs to the task
 * `actual`, not to `expected`, so its payload and result cannot be read with
 * the handle's schemas. `Task.join` and `Task.status` fail with it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * const Report = Task.make("report", { payload: Schema.Number })
 * const program = Task.status(Task.handle(Report, "id-of-an-invoice-task")).pipe(
 *   // e.message: task id-of-an-invoice-task belongs to task "invoice", not "report"
 *   Effect.catchTag("TaskNameMismatch", (e) => Effect.logWarning(`${e.taskId} belongs to ${e.actual}`))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TaskNameMismatch extends Schema.TaggedError<TaskNameMismatch>()("TaskNameMismatch", {
  taskId: Schema.String,
  /** The handle's task name. */
  expected: Schema.String,
  /** The name stored in the task's record. */
  actual: Schema.String
}) {
  override get message() {
    return `task ${this.taskId} belongs to task ${JSON.stringify(this.actual)}, not ${JSON.stringify(this.expected)}`
  }
}

/**
 * A unique task that was not run: when a worker picked it up, its unique key
 * was held by another task (its own lock had expired meanwhile, and a newer
 * task took the key). `reason` names that task.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * declare const handle: Task.Handle<Task.Any>
 * Task.join(handle).pipe(Effect.catchTag("TaskSkipped", (e) => Effect.logInfo(e.reason)))
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TaskSkipped extends Schema.TaggedError<TaskSkipped>()("TaskSkipped", {
  taskId: Schema.String,
  taskName: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `task ${this.taskName} ${this.taskId} was skipped: ${this.reason}`
  }
}

/**
 * An operator's action (`Admin.retry`, `Admin.cancel`) that the task's current state does not allow: retrying a task
 * that is not `failed` or `dead`, cancelling one that already ended. `state` is the state the action found, read in
 * the same atomic step (a cancel that lost the race to the task's completion sees `"succeeded"`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Admin } from "effect-heimdall"
 *
 * const cancel = (id: string) =>
 *   Admin.Admin.use((admin) => admin.cancel(id)).pipe(
 *     // e.message: cannot cancel task 7Kq…: it is succeeded
 *     Effect.catchTag("TaskStateConflict", (e) => Effect.logWarning(`${e.taskId} already ${e.state}`))
 *   )
 * ```
 *
 * @category errors
 * @since 0.2.0
 */
export class TaskStateConflict extends Schema.TaggedError<TaskStateConflict>()("TaskStateConflict", {
  taskId: Schema.String,
  /** The task's state when the action was tried. */
  state: Schema.String,
  /** The action refused: `"retry"` or `"cancel"`. */
  action: Schema.String
}) {
  override get message() {
    return `cannot ${this.action} task ${this.taskId}: it is ${this.state}`
  }
}

/**
 * The task was cancelled by an operator (`Admin.cancel`): while it waited, or while it ran (its handler was
 * interrupted). `Task.join` fails with it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Task } from "effect-heimdall"
 *
 * declare const handle: Task.Handle<Task.Any>
 * // e.message: task report 7Kq… was cancelled
 * Task.join(handle).pipe(Effect.catchTag("TaskCancelled", (e) => Effect.logInfo(e.message)))
 * ```
 *
 * @category errors
 * @since 0.2.0
 */
export class TaskCancelled extends Schema.TaggedError<TaskCancelled>()("TaskCancelled", {
  taskId: Schema.String,
  taskName: Schema.String
}) {
  override get message() {
    return `task ${this.taskName} ${this.taskId} was cancelled`
  }
}

/**
 * A write made with `durability: { replicas, timeout }` (an enqueue, a lock
 * acquisition, a rate-limit admission) was not confirmed by `required`
 * replicas within `timeout`: `WAIT` answered that only `acknowledged` have it.
 *
 * The write **did happen** on the master: the task is queued, the lock is
 * held, the admission is counted, as without `durability`. It is only not
 * known to be on enough replicas, so it may or may not survive a failover of
 * that master. Retrying an enqueue with the same `id` is safe (a second call
 * finds the task); a lock whose acquisition timed out is released by its ttl.
 *
 * It arrives as the `cause` of the `RedisError` the call fails with (every
 * backend call fails with `RedisError`), with the same `message`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ReplicationTimeout } from "effect-heimdall"
 *
 * declare const enqueue: Effect.Effect<void, import("effect/persistence/Redis").RedisError>
 * // e.message: 0 of 1 replicas confirmed the write within 250 ms (it is on the master: ...)
 * enqueue.pipe(
 *   Effect.catchIf(
 *     (e) => e.cause instanceof ReplicationTimeout,
 *     (e) => Effect.logWarning(e.message)
 *   )
 * )
 * ```
 *
 * @category errors
 * @since 0.2.0
 */
export class ReplicationTimeout extends Schema.TaggedError<ReplicationTimeout>()("ReplicationTimeout", {
  /** How many replicas confirmed the write (`WAIT`'s answer). */
  acknowledged: Schema.Number,
  /** How many were required (`durability.replicas`). */
  required: Schema.Number,
  /** How long `WAIT` waited (`durability.timeout`), in milliseconds. */
  timeoutMillis: Schema.Number
}) {
  override get message() {
    return `${this.acknowledged} of ${this.required} replicas confirmed the write within ${this.timeoutMillis} ms (it is on the master: it may or may not survive a failover)`
  }
}
