/**
 * A worker slot's run of its tasks, as named steps. `Worker.ts` owns the fetch loop, the slots and shutdown; this
 * module owns what happens to one claimed task:
 *
 * 1. `admit`: routed here by mistake (a name this worker does not run) goes back to the queue; a payload that does
 *    not decode is dead-lettered; a rate-limited task takes its limit, or is rescheduled to its booked slot.
 * 2. `runUnderLease`: the handler, with `CurrentTask`, its `timeout` and its span, raced against the lease keeper
 *    (a lost lease interrupts it: the task is someone else's now).
 * 3. `settleSuccess` / `settleFailure`: complete and claim the slot's next task in one step, or fail with the
 *    retry schedule's delay, stepped with each failure's own time.
 *
 * Nothing here is shared between fibers but what the worker passes in: `stopping` (read, never written) and the
 * slot's own `next` reference, which always holds the task the slot must give back if it is interrupted.
 */
import { Cause, Clock, Duration, Effect, Exit, Pull, Random, Ref, Schedule, Schema } from "effect"
import { InvalidArgument } from "../../Errors.ts"
import * as Task from "../../Task.ts"
import * as Layout from "../layout.ts"
import * as Metrics from "../metrics.ts"
import type { ClaimedTask, Service as QueueService } from "../queue/model.ts"
import * as internal from "../queue/task.ts"
import * as RateStart from "../rateStart.ts"
import * as validate from "../validate.ts"
import type { Completer } from "./completions.ts"
import type { Leases } from "./leases.ts"

/** Counts the tasks a claim dead-lettered (lapsed past `maxRedeliveries` on another worker) in `Task.metrics`. */
export const countDeadLettered = (names: ReadonlyArray<string>): Effect.Effect<void> =>
  Effect.forEach(names, (name) => internal.count("deadLettered", name), { discard: true })

/** What a worker gives the run of its tasks. */
export interface RunContext {
  readonly queue: QueueService
  readonly byName: ReadonlyMap<string, Task.Implementation<Task.Any, unknown>>
  /** The task names this worker runs (its claims carry them). */
  readonly names: ReadonlyArray<string>
  readonly leaseMillis: number
  readonly maxRedeliveries: number
  /** Whether a tracing backend is installed (spans are made only then). */
  readonly traced: boolean
  /** Whether the worker is stopping: a finished task's slot then takes no next task. */
  readonly stopping: Effect.Effect<boolean>
  /** Counts (and logs once per name) the tasks of other names that a claim left for other workers. */
  readonly notePassed: (passed: ReadonlyArray<string> | undefined) => Effect.Effect<void>
  /**
   * Completes a task and claims its slot's next (one task), batched with the other slots' completions of this
   * worker unless batching is off (see completions.ts).
   */
  readonly completeAndClaim: Completer
  /** A settlement that must reach the queue: retried through a short outage (see Worker.ts). */
  readonly settle: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
  /** This worker's id (its claims record it in the task). */
  readonly worker: string
  /** The ids of the tasks the worker's slots run now (its heartbeat registers them). */
  readonly running: Set<string>
  /** The worker's lease keeper: a task's handler runs under it (leases.ts). */
  readonly leases: Leases
}

/**
 * One worker slot: runs its first task, then each next task its completion claimed, until there is none. An
 * interruption gives back the task the slot holds (started or claimed for it and not started yet).
 */
export const runSlot = (ctx: RunContext, first: ClaimedTask): Effect.Effect<void> =>
  Effect.flatMap(Ref.make<ClaimedTask | undefined>(first), (next) =>
    Effect.gen(function* () {
      // `next` already holds each task this loop runs: the first, then each one a completion claimed (put there in
      // the completion's own uninterruptible step)
      let current: ClaimedTask | undefined = first
      while (current !== undefined) {
        if (yield* ctx.stopping) {
          // claimed as shutdown began (a complete-and-claim in flight): not started, back to the queue now
          yield* ctx.queue.release(current.id, current.token).pipe(Effect.ignore)
          return yield* Ref.set(next, undefined)
        }
        const task: ClaimedTask = current
        ctx.running.add(task.id)
        current = yield* runTask(ctx, task, next).pipe(Effect.ensuring(Effect.sync(() => ctx.running.delete(task.id))))
      }
    }).pipe(
      Effect.onInterrupt(() =>
        Effect.flatMap(Ref.get(next), (current) =>
          current === undefined ? Effect.void : ctx.queue.release(current.id, current.token).pipe(Effect.ignore)
        )
      )
    )
  )

/**
 * Runs one claimed task and settles it. Succeeds with the slot's next task (claimed by the completion, and put in
 * `next` in the same uninterruptible step, so that an interruption can always give it back), or with nothing.
 */
const runTask = (
  ctx: RunContext,
  claimed: ClaimedTask,
  next: Ref.Ref<ClaimedTask | undefined>
): Effect.Effect<ClaimedTask | undefined> => {
  const { id, token, name } = claimed
  return Effect.gen(function* () {
    const attemptStarted = yield* Clock.currentTimeMillis
    const admitted = yield* admit(ctx, claimed)
    if (admitted._tag === "Settled") return undefined
    const outcome = yield* runUnderLease(ctx, claimed, admitted)
    if (outcome._tag === "Cancelled") {
      yield* Effect.logInfo(
        `effect-heimdall: task ${name} ${id} was cancelled by an operator; its handler was interrupted`
      )
      return undefined
    }
    if (outcome._tag === "LeaseLost") {
      yield* Effect.logWarning(
        `effect-heimdall: lease of task ${name} ${id} lost; the attempt was interrupted (it may run elsewhere)`
      )
      return undefined
    }
    const task = admitted.impl.task
    const exit = outcome.exit
    if (Exit.isSuccess(exit)) return yield* settleSuccess(ctx, claimed, task, exit.value, attemptStarted, next)
    if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.interrupt
    const error = Cause.findErrorOption(exit.cause)
    const failure =
      error._tag === "Some"
        ? error.value
        : new Task.TaskDefect({ taskId: id, taskName: name, defect: defectMessage(Cause.squash(exit.cause)) })
    yield* settleFailure(ctx, claimed, task, attemptStarted, failure)
    return undefined
  }).pipe(
    Effect.onInterrupt(() => ctx.queue.release(id, token).pipe(Effect.ignore)),
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.interrupt
        : Effect.as(Effect.logError(`effect-heimdall: task ${name} ${id} could not be settled`, cause), undefined)
    )
  )
}

/**
 * A step of a task's run: a generator that the run's one `Effect.gen` delegates to (`yield*`), so that the steps
 * cost no fiber work of their own (an `Effect.gen` per step cost ~5 µs per task, measured on the memory backend).
 */
type Step<A> = Generator<Effect.Effect<any, unknown>, A, any>

type Admitted =
  | {
      readonly _tag: "Start"
      readonly impl: Task.Implementation<Task.Any, unknown>
      readonly payload: unknown
      /** The instant the start was admitted, on the backend's clock. */
      readonly startedAt: number
    }
  | { readonly _tag: "Settled" }

const settled: Admitted = { _tag: "Settled" }

/** Step 1: whether the task starts now (see the module documentation). */
function* admit(ctx: RunContext, claimed: ClaimedTask): Step<Admitted> {
  const { id, token, name } = claimed
  const impl = ctx.byName.get(name)
  if (impl === undefined) {
    // not routed here by a claim (a generic claim, or a hand-off by an older enqueue): back to the queue, whose
    // next claim routes it to a worker that runs it
    yield* ctx.settle(ctx.queue.release(id, token))
    yield* ctx.notePassed([name])
    return settled
  }
  const deadLetter = (reason: string) =>
    ctx
      .settle(ctx.queue.deadLetter(id, token, reason))
      .pipe(Effect.andThen(internal.count("deadLettered", name)), Effect.as(settled))
  const task = impl.task
  const decoded = yield* Effect.result(Schema.decodeUnknownEffect(internal.codecs(task).payload)(claimed.payload))
  if (decoded._tag === "Failure") return yield* deadLetter(`payload does not decode: ${decoded.failure.message}`)
  const rateLimit = task.settings.rateLimit
  if (rateLimit === undefined) {
    return { _tag: "Start", impl, payload: decoded.success, startedAt: claimed.claimedAt }
  }
  const limit = resolveLimit(rateLimit, decoded.success, name)
  if (typeof limit === "string") return yield* deadLetter(limit)
  const { store } = ctx.queue
  const { ratePrefix } = ctx.queue.config
  // One step: start now if the limit has room, else book the earliest slot (after a random jitter, booked with
  // it) and wait in the queue until then, without spending a retry. At a booked slot the booking is checked
  // again against the actual starts, and so is an admission whose reply came back late (by more than half the
  // margin over the fastest recent round trip): handlers start after their admissions by an even lag (see
  // internal/rateStart.ts).
  const jitter = yield* Random.next
  const slot = yield* RateStart.admitFresh(
    store,
    {
      // the margin widens the window: handlers start a few ms after admission, unevenly
      limits: [{ key: Layout.rateKey(ratePrefix, limit.key), times: limit.times, perMs: limit.perMs + limit.marginMs }],
      cost: 1,
      mode: claimed.booked ? "booked" : "task",
      maxDelayMs: undefined,
      offsetMs: Math.round(jitter * limit.jitterMs),
      id
    },
    limit.marginMs / 2,
    undefined
  )
  if (slot.delayMs > 0) {
    if (yield* ctx.settle(ctx.queue.reschedule(id, token, slot.delayMs, true))) {
      yield* internal.count("rescheduled", name)
    }
    return settled
  }
  return { _tag: "Start", impl, payload: decoded.success, startedAt: slot.nowMs }
}

/** Step 2: the handler raced against its lease keeper; `LeaseLost` when the lease was lost first. */
function* runUnderLease(
  ctx: RunContext,
  claimed: ClaimedTask,
  admitted: Extract<Admitted, { _tag: "Start" }>
): Step<
  | { readonly _tag: "LeaseLost" }
  | { readonly _tag: "Cancelled" }
  | { readonly _tag: "Done"; readonly exit: Exit.Exit<unknown, unknown> }
> {
  const { id, name } = claimed
  const task = admitted.impl.task
  // the first attempt's enqueue-to-start on the backend's clock (a retry's would include its earlier attempts)
  const startedNanos = yield* Metrics.recordStart(
    name,
    claimed.attempts === 1 ? admitted.startedAt - claimed.enqueuedAt : undefined
  )
  // The handler's own services (the layer's requirements) need no providing: a slot fiber inherits the layer's
  // context (merging it in again per task cost 1–2 µs of a drain's ~35 µs per task).
  // suspended: a handler function that throws instead of returning an Effect fails its task with a defect
  let handler = Effect.suspend(() => admitted.impl.handler(admitted.payload)).pipe(
    Effect.provideService(Task.CurrentTask, {
      id,
      name,
      attempt: claimed.attempts,
      startedAt: admitted.startedAt
    })
  ) as Effect.Effect<unknown, unknown>
  const timeout = task.settings.timeout
  if (timeout !== undefined) {
    handler = handler.pipe(
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () =>
          Effect.fail(new Task.TaskTimeout({ taskId: id, taskName: name, timeoutMillis: Duration.toMillis(timeout) }))
      })
    )
  }
  const run = ctx.traced
    ? Effect.exit(handler).pipe(
        Effect.withSpan(
          "heimdall.task.run",
          {
            kind: "consumer",
            root: true,
            links: internal.linkTo(claimed.trace),
            attributes: {
              "heimdall.task.name": name,
              "heimdall.task.id": id,
              "heimdall.task.attempt": claimed.attempts
            }
          },
          { captureStackTrace: false } // no Error per task for a stack that is always the worker's
        )
      )
    : Effect.exit(handler)
  // under the worker's lease keeper (leases.ts): a lost lease, or an operator's cancel (Admin.cancel, announced to
  // the worker: the lease is checked at once), interrupts the handler
  const outcome = yield* ctx.leases.run(claimed, run, claimed.handedOff === true)
  // an interrupted handler (lease lost, interruption) has no run duration: it did not end
  if (outcome._tag === "Done" && !(Exit.isFailure(outcome.exit) && Cause.hasInterruptsOnly(outcome.exit.cause))) {
    yield* Metrics.recordRun(name, startedNanos, Exit.isSuccess(outcome.exit))
  }
  return outcome
}

/**
 * Step 3, success: the result encoded and the task completed, together with the claim of the slot's next task
 * (one round trip), unless the worker is stopping.
 */
function* settleSuccess(
  ctx: RunContext,
  claimed: ClaimedTask,
  task: Task.Any,
  value: unknown,
  attemptStarted: number,
  next: Ref.Ref<ClaimedTask | undefined>
): Step<ClaimedTask | undefined> {
  const { id, token, name } = claimed
  const result = yield* Effect.result(Schema.encodeUnknownEffect(internal.codecs(task).success)(value))
  if (result._tag === "Failure") {
    const defect = new Task.TaskDefect({
      taskId: id,
      taskName: name,
      defect: `result does not encode: ${result.failure.message}`
    })
    yield* settleFailure(ctx, claimed, task, attemptStarted, defect)
    return undefined
  }
  if (yield* ctx.stopping) {
    if (yield* ctx.settle(ctx.queue.complete(id, token, result.success))) yield* internal.count("succeeded", name)
    return undefined
  }
  // each try is uninterruptible (a claimed next task is always in `next`, for release); the waits between tries,
  // through an outage, are not. A try may wait for the worker's completion call in flight (completions.ts).
  const done = yield* ctx.settle(
    ctx.completeAndClaim({ id, token, result: result.success }).pipe(
      Effect.tap(({ next: claim }) => (claim._tag === "Claimed" ? Ref.set(next, claim.task) : Effect.void)),
      Effect.uninterruptible
    )
  )
  if (done.completed) yield* internal.count("succeeded", name)
  if (done.next.passed !== undefined) yield* ctx.notePassed(done.next.passed)
  if (done.next.deadLettered !== undefined) yield* countDeadLettered(done.next.deadLettered)
  return done.next._tag === "Claimed" ? done.next.task : undefined
}

/** Step 3, failure: the error encoded, and the task retried after the schedule's delay, or failed for good. */
function* settleFailure(
  ctx: RunContext,
  claimed: ClaimedTask,
  task: Task.Any,
  attemptStarted: number,
  failure: unknown
): Step<void> {
  const { id, token, name } = claimed
  const codecs = internal.codecs(task)
  const encoded = yield* Schema.encodeUnknownEffect(codecs.failure)(failure).pipe(
    Effect.catch((e) =>
      Schema.encodeUnknownEffect(codecs.failure)(
        new Task.TaskDefect({ taskId: id, taskName: name, defect: `error does not encode: ${e.message}` })
      )
    ),
    Effect.orDie
  )
  const retry = task.settings.retry
  let delay: number | undefined
  if (retry !== undefined) {
    // this failure's time on the backend's clock: the claim's time plus what passed here since
    const failedAt = claimed.claimedAt + ((yield* Clock.currentTimeMillis) - attemptStarted)
    delay = yield* retryDelay(retry, [...(claimed.failures ?? []), failedAt], failure)
  }
  if (yield* ctx.settle(ctx.queue.fail(id, token, encoded, delay))) {
    yield* internal.count(delay === undefined ? "failed" : "retried", name)
  }
}

/**
 * The delay the retry schedule asks for after a failed attempt, or `undefined` when it gives up. The schedule is
 * stepped once per failure so far, each time with that failure's own time (`failedAt`, oldest first; the last is
 * the current one), as `Effect.retry` would have stepped it, so that elapsed-time schedules (`upTo({ duration })`,
 * `during`) stop on time.
 */
const retryDelay = (
  schedule: Schedule.Schedule<unknown, any>,
  failedAt: ReadonlyArray<number>,
  failure: unknown
): Effect.Effect<number | undefined> =>
  Effect.gen(function* () {
    const step = yield* Schedule.toStep(schedule)
    let delay: Duration.Duration | undefined
    for (const at of failedAt) {
      const next = yield* step(at, failure).pipe(
        Effect.map(([, d]) => d),
        Pull.catchDone(() => Effect.succeed(undefined))
      )
      if (next === undefined) return undefined
      delay = next
    }
    return delay === undefined ? undefined : Duration.toMillis(delay)
  })

/** A task's rate limit for one payload, checked by the one policy (`validate.rateLimit`); a string says why not. */
const resolveLimit = (
  rateLimit: Task.RateLimitFunction<any>,
  payload: unknown,
  name: string
): validate.ResolvedRateLimit | string => {
  const limit = validate.computedRateLimit(rateLimit, payload, name)
  return limit instanceof InvalidArgument ? `its rate limit cannot be used: ${limit.message}` : limit
}

const defectMessage = (defect: unknown): string =>
  defect instanceof Error ? `${defect.name}: ${defect.message}` : typeof defect === "string" ? defect : String(defect)

/** The messages of an error and of its causes, for one log line (a RedisError names its cause's message). */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const parts: Array<string> = []
  let error: unknown = Cause.squash(cause)
  for (let depth = 0; error !== undefined && depth < 4; depth++) {
    const text = error instanceof Error ? error.message || error.name : String(error)
    if (text && !parts.includes(text)) parts.push(text)
    error = error instanceof Error ? error.cause : undefined
  }
  return parts.join(": ") || "unknown error"
}
