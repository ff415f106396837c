/**
 * Workers: run implemented tasks from the queue, on any number of processes.
 *
 * `Worker.layer` claims tasks while it has free slots (`concurrency`), runs
 * each under a lease that it renews while the handler runs, and records the
 * outcome. Delivery is at-least-once: if the process dies, the lease lapses
 * and another worker runs the task again. An idle worker blocks on the queue
 * (no polling) until new work arrives or the next delayed task is due.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Layer, Schema } from "effect"
 * import { Task, TaskQueue, Worker } from "effect-heimdall"
 *
 * const Double = Task.make("double", { payload: Schema.Number, success: Schema.Number })
 * const DoubleLive = Task.implement(Double, (n) => Effect.succeed(n * 2))
 *
 * const WorkerLive = Worker.layer({ tasks: [DoubleLive], concurrency: 8 })
 * // runs until the layer's scope closes:
 * Layer.launch(WorkerLive).pipe(Effect.provide(TaskQueue.layerMemory), Effect.runFork)
 * ```
 *
 * @since 0.1.0
 */
import {
  Cause,
  Clock,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Metric,
  Pull,
  Random,
  Schedule,
  Schema,
  Semaphore,
  Tracer
} from "effect"
import { InvalidArgument } from "./Errors.ts"
import { millisOr } from "./internal/duration.ts"
import { randomId } from "./internal/id.ts"
import * as internal from "./internal/queue/task.ts"
import * as RateStart from "./internal/rateStart.ts"
import * as validate from "./internal/validate.ts"
import * as Task from "./Task.ts"
import { type ClaimedTask, TaskQueue } from "./TaskQueue.ts"

/**
 * Options of `Worker.layer`.
 *
 * - `tasks`: the implementations this worker runs. A task of another name is
 *   never run or given up by this worker: the queue leaves it for a worker
 *   that runs it (handed to an idle one, or parked until one claims it), so a
 *   mixed fleet or a rolling deploy loses nothing. The first time this worker
 *   meets such a name it logs it, and it counts each one in
 *   `heimdall_tasks_passed`.
 * - `deadLetterUnknownAfter` (default: never): a task whose name no live worker
 *   on the queue runs is dead-lettered, with the reason, once no worker running
 *   its name has been seen for this long and the task has waited this long.
 *   Workers announce their names every few seconds; with several values in one
 *   fleet, the shortest applies.
 * - `concurrency`: how many tasks run at once.
 * - `lease` (default 30 seconds): how long a claim holds without renewal; it is
 *   renewed every third of it while the handler runs. A task whose worker
 *   died runs again at most this long after its last renewal.
 * - `gracePeriod` (default 10 seconds): on shutdown, how long in-flight tasks
 *   may take to finish before they are interrupted and released.
 * - `maxIdleWait` (default 30 seconds): the longest an idle worker blocks
 *   before it looks at the queue again (it is woken earlier by new work).
 * - `maxRedeliveries` (default 5): a task whose lease lapsed more often than
 *   this (its worker keeps dying on it, a poison task) is dead-lettered with
 *   the reason instead of being redelivered forever.
 *
 * Options that can never work make `Worker.layer` fail with `InvalidArgument` (naming the option
 * and the value) before it claims anything: a `concurrency` that is not a positive integer (0, -1,
 * 1.5, NaN), a `lease` or `maxIdleWait` that is not a positive finite duration, a negative
 * `gracePeriod`, a `maxRedeliveries` that is not a non-negative integer, no `tasks`, or a task
 * implemented twice.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task, Worker } from "effect-heimdall"
 *
 * const Ping = Task.make("ping", { payload: Schema.String })
 * const options: Worker.Options<[Task.Implementation<typeof Ping, never>]> = {
 *   tasks: [Task.implement(Ping, () => Effect.void)],
 *   concurrency: 4,
 *   lease: "30 seconds",
 *   gracePeriod: "10 seconds"
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<Impls extends ReadonlyArray<Task.Implementation<any, any>>> {
  readonly tasks: Impls
  readonly concurrency: number
  readonly lease?: Duration.Input | undefined
  readonly gracePeriod?: Duration.Input | undefined
  readonly maxIdleWait?: Duration.Input | undefined
  readonly maxRedeliveries?: number | undefined
  readonly deadLetterUnknownAfter?: Duration.Input | undefined
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

/** The messages of an error and of its causes, for one log line (a RedisError names its cause's message). */
const describeCause = (cause: Cause.Cause<unknown>): string => {
  const parts: Array<string> = []
  let error: unknown = Cause.squash(cause)
  for (let depth = 0; error !== undefined && depth < 4; depth++) {
    const text = error instanceof Error ? error.message || error.name : String(error)
    if (text && !parts.includes(text)) parts.push(text)
    error = error instanceof Error ? error.cause : undefined
  }
  return parts.join(": ") || "unknown error"
}

/**
 * A worker that runs `tasks` from the queue of the `TaskQueue` service, with
 * at most `concurrency` at once, until the layer's scope closes. Then it stops
 * taking work, gives in-flight tasks `gracePeriod` to finish, and releases the
 * rest for immediate redelivery (without spending their attempt).
 *
 * Each attempt:
 *
 * - unknown task name, or a payload that does not decode: dead-lettered with the reason;
 * - runs the handler in a span `heimdall.task.run` (attributes `heimdall.task.name`,
 *   `heimdall.task.id`, `heimdall.task.attempt`) linked to the enqueue span, when a tracing
 *   backend is installed (any `Tracer` other than Effect's default native one; without one,
 *   no span is made: it would cost a few µs per task for nothing);
 * - `timeout` exceeded: interrupted, fails with `TaskTimeout`; a defect fails with `TaskDefect`;
 * - a failure is retried after the delay of the task's `retry` schedule (stepped once per
 *   attempt so far), or ends the task as `"failed"` when it has none or it is exhausted;
 * - a rate-limited task starts only when its limit has room; otherwise it books its slot and
 *   goes back to the queue until then, without spending an attempt;
 * - a lease that is lost while the handler runs (the task was requeued, e.g. after this
 *   process stalled for longer than the lease) interrupts the handler, and this worker
 *   settles nothing: the task is someone else's now.
 *
 * Metrics (counters, attribute `task`): `heimdall_tasks_started`, `_succeeded`, `_failed`,
 * `_retried`, `_dead_lettered` (and `_enqueued`, counted by `Task.enqueue`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Layer, Schema } from "effect"
 * import { Task, Worker } from "effect-heimdall"
 *
 * const Ping = Task.make("ping", { payload: Schema.String })
 * const PingLive = Task.implement(Ping, (text) => Effect.log(text))
 * const WorkerLive = Worker.layer({ tasks: [PingLive], concurrency: 4, gracePeriod: "30 seconds" })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <const Impls extends ReadonlyArray<Task.Implementation<any, any>>>(
  options: Options<Impls>
): Layer.Layer<
  never,
  InvalidArgument,
  TaskQueue | (Impls[number] extends Task.Implementation<any, infer R> ? R : never)
> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const invalid = validate.workerOptions(options)
      if (invalid !== undefined) return yield* invalid
      const queue = yield* TaskQueue
      const leaseMillis = millisOr(options.lease, "30 seconds")
      const graceMillis = millisOr(options.gracePeriod, "10 seconds")
      const maxIdleMillis = millisOr(options.maxIdleWait, "30 seconds")
      const maxRedeliveries = options.maxRedeliveries ?? 5
      const deadUnknownMillis =
        options.deadLetterUnknownAfter === undefined ? undefined : millisOr(options.deadLetterUnknownAfter, 0)
      const byName = new Map<string, Task.Implementation<Task.Any, any>>(
        options.tasks.map((impl) => [impl.task.name, impl])
      )
      // claims hand this worker only tasks of these names (the queue routes the others, see TaskQueue.ClaimOptions)
      const names = [...byName.keys()]
      /** Names of other workers' tasks this worker met, each logged once. */
      const metNames = new Set<string>()
      const notePassed = (passed: ReadonlyArray<string> | undefined): Effect.Effect<void> =>
        passed === undefined
          ? Effect.void
          : Effect.forEach(
              passed,
              (name) =>
                Effect.andThen(
                  internal.count("passed", name),
                  metNames.has(name)
                    ? Effect.void
                    : Effect.suspend(() => {
                        metNames.add(name)
                        return Effect.logInfo(
                          `effect-heimdall: this worker does not run task "${name}": its tasks are left for a worker ` +
                            "that runs it"
                        )
                      })
                ),
              { discard: true }
            )
      /**
       * A state change that must reach the queue (a settlement): retried through a short outage of Redis, for at
       * most a lease (past that the task's lease has lapsed and it is someone else's). Applied only on failure, so
       * the common case pays nothing.
       */
      const settleSchedule = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("1 second")]).pipe(
        Schedule.upTo({ duration: leaseMillis })
      )
      const settle = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
        Effect.catch(effect, () => Effect.retry(effect, settleSchedule))
      const concurrency = Math.max(1, options.concurrency)
      const slots = yield* Semaphore.make(concurrency)
      const running = new Set<Fiber.Fiber<void>>()
      const waiter = yield* queue.waiter
      const traced = (yield* Tracer.Tracer) !== Tracer.nativeTracer

      /** Set on shutdown: a finished task's slot then takes no next task. */
      let stopping = false

      /**
       * Runs one claimed task and settles it. A success is completed together with the claim of the slot's
       * next task (one round trip), which is returned, and stored in `slot.current` in the same
       * uninterruptible step, so an interruption can always release it.
       */
      const runClaimed = (
        claimed: ClaimedTask,
        slot: { current: ClaimedTask | undefined }
      ): Effect.Effect<ClaimedTask | undefined> => {
        const { id, token, name } = claimed
        const deadLetter = (reason: string) =>
          settle(queue.deadLetter(id, token, reason)).pipe(Effect.andThen(internal.count("deadLettered", name)))
        const impl = byName.get(name)
        // succeeds with the slot's next task, or with nothing (undefined) when there is none
        const body: Effect.Effect<unknown, unknown> =
          impl === undefined
            ? // not routed here by a claim (a generic claim, or a hand-off by an older enqueue): back to the queue,
              // whose next claim routes it to a worker that runs it
              Effect.andThen(settle(queue.release(id, token)), notePassed([name]))
            : Effect.gen(function* () {
                const attemptStarted = yield* Clock.currentTimeMillis
                const task = impl.task
                const codecs = internal.codecs(task)
                const decoded = yield* Effect.result(Schema.decodeUnknownEffect(codecs.payload)(claimed.payload))
                if (decoded._tag === "Failure") {
                  return yield* deadLetter(`payload does not decode: ${decoded.failure.message}`)
                }
                const rateLimit = task.settings.rateLimit
                let startedAt = claimed.claimedAt
                if (rateLimit !== undefined) {
                  const limit = resolveLimit(rateLimit, decoded.success, name)
                  if (typeof limit === "string") return yield* deadLetter(limit)
                  const { store, ratePrefix } = queue.primitives
                  // One step: start now if the limit has room, else book the earliest slot (after a random
                  // jitter, booked with it) and wait in the queue until then, without spending a retry.
                  // At a booked slot the booking is checked again against the actual starts, and so is an
                  // admission whose reply came back late (by more than half the margin over the fastest recent
                  // round trip): handlers start after their admissions by an even lag (see internal/rateStart.ts).
                  const slot = yield* RateStart.admitFresh(
                    store,
                    {
                      // the margin widens the window: handlers start a few ms after admission, unevenly
                      limits: [
                        { key: ratePrefix + limit.key, times: limit.times, perMs: limit.perMs + limit.marginMs }
                      ],
                      cost: 1,
                      mode: claimed.booked ? "booked" : "task",
                      maxDelayMs: undefined,
                      offsetMs: Math.round((yield* Random.next) * limit.jitterMs),
                      id
                    },
                    limit.marginMs / 2,
                    undefined
                  )
                  if (slot.delayMs > 0) {
                    if (yield* settle(queue.reschedule(id, token, slot.delayMs, true))) {
                      yield* internal.count("rescheduled", name)
                    }
                    return
                  }
                  startedAt = slot.nowMs
                }
                yield* internal.count("started", name)
                // The handler's own services (the layer's requirements) need no providing: a slot fiber inherits
                // the layer's context (merging it in again per task cost 1–2 µs of a drain's ~35 µs per task).
                let handler = impl
                  .handler(decoded.success)
                  .pipe(
                    Effect.provideService(Task.CurrentTask, { id, name, attempt: claimed.attempts, startedAt })
                  ) as Effect.Effect<unknown, unknown>
                const timeout = task.settings.timeout
                if (timeout !== undefined) {
                  handler = handler.pipe(
                    Effect.timeoutOrElse({
                      duration: timeout,
                      orElse: () =>
                        Effect.fail(
                          new Task.TaskTimeout({
                            taskId: id,
                            taskName: name,
                            timeoutMillis: Duration.toMillis(timeout)
                          })
                        )
                    })
                  )
                }
                // Renews the lease every third of it; ends when the lease is lost (another worker may run the
                // task now), which interrupts the handler. A renewal that fails is retried on the next tick.
                const every = Math.max(1, Math.floor(leaseMillis / 3))
                // a task handed over by its enqueue holds a short first lease: renewed at once
                let first = claimed.handedOff === true
                const leaseLost = Effect.gen(function* () {
                  while (true) {
                    if (first) first = false
                    else yield* Effect.sleep(every)
                    const held = yield* queue
                      .renew(id, token, leaseMillis)
                      .pipe(
                        Effect.catchCause((cause) =>
                          Effect.as(
                            Effect.logWarning(
                              `effect-heimdall: lease renewal of task ${name} ${id} failed (${describeCause(cause)}); ` +
                                "retrying"
                            ),
                            true
                          )
                        )
                      )
                    if (!held) return
                  }
                })
                const run = traced
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
                // the lease keeper starts first: a handed-over task's renewal is on the wire before the handler runs
                // (a handler that blocks the event loop cannot hold it back past the short first lease)
                const outcome = yield* Effect.raceFirst(
                  Effect.as(leaseLost, { _tag: "LeaseLost" as const }),
                  Effect.map(run, (exit) => ({ _tag: "Done" as const, exit }))
                )
                if (outcome._tag === "LeaseLost") {
                  return yield* Effect.logWarning(
                    `effect-heimdall: lease of task ${name} ${id} lost; the attempt was interrupted (it may run elsewhere)`
                  )
                }
                const exit = outcome.exit
                if (Exit.isSuccess(exit)) {
                  const result = yield* Effect.result(Schema.encodeUnknownEffect(codecs.success)(exit.value))
                  if (result._tag === "Success") {
                    if (stopping) {
                      if (yield* settle(queue.complete(id, token, result.success))) {
                        yield* internal.count("succeeded", name)
                      }
                      return
                    }
                    // each try is uninterruptible (a claimed next task is always in `slot.current`, for release);
                    // the waits between tries, through an outage, are not
                    const settled = yield* settle(
                      queue
                        .completeAndClaim(id, token, result.success, {
                          token: randomId(),
                          leaseMillis,
                          maxRedeliveries,
                          max: 1,
                          names
                        })
                        .pipe(
                          Effect.tap(({ next }) =>
                            Effect.sync(() => {
                              if (next._tag === "Claimed") slot.current = next.task
                            })
                          ),
                          Effect.uninterruptible
                        )
                    )
                    if (settled.completed) yield* internal.count("succeeded", name)
                    if (settled.next.passed !== undefined) yield* notePassed(settled.next.passed)
                    return settled.next._tag === "Claimed" ? settled.next.task : undefined
                  }
                  return yield* settleFailure(
                    task,
                    claimed,
                    attemptStarted,
                    new Task.TaskDefect({
                      taskId: id,
                      taskName: name,
                      defect: `result does not encode: ${result.failure.message}`
                    })
                  )
                }
                if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.interrupt
                const error = Cause.findErrorOption(exit.cause)
                const failure =
                  error._tag === "Some"
                    ? error.value
                    : new Task.TaskDefect({
                        taskId: id,
                        taskName: name,
                        defect: defectMessage(Cause.squash(exit.cause))
                      })
                return yield* settleFailure(task, claimed, attemptStarted, failure)
              })
        return body.pipe(
          Effect.onInterrupt(() => queue.release(id, token).pipe(Effect.ignore)),
          Effect.catchCause((cause) =>
            Cause.hasInterruptsOnly(cause)
              ? Effect.interrupt
              : Effect.logError(`effect-heimdall: task ${name} ${id} could not be settled`, cause)
          ),
          Effect.map((next) => (next === undefined ? undefined : (next as ClaimedTask)))
        )
      }

      /** One worker slot: runs its task, then each next task its completion claimed, until there is none. */
      const runSlot = (first: ClaimedTask): Effect.Effect<void> => {
        const slot: { current: ClaimedTask | undefined } = { current: first }
        return Effect.gen(function* () {
          while (slot.current !== undefined) {
            if (stopping) {
              // claimed as shutdown began (a complete-and-claim in flight): not started, back to the queue now
              const { id, token } = slot.current
              yield* queue.release(id, token).pipe(Effect.ignore)
              slot.current = undefined
              return
            }
            slot.current = yield* runClaimed(slot.current, slot)
          }
        }).pipe(
          Effect.onInterrupt(() => {
            const current = slot.current
            return current === undefined ? Effect.void : queue.release(current.id, current.token).pipe(Effect.ignore)
          })
        )
      }

      const settleFailure = (task: Task.Any, claimed: ClaimedTask, attemptStarted: number, failure: unknown) =>
        Effect.gen(function* () {
          const { id, token, name } = claimed
          const codecs = internal.codecs(task)
          const encoded = yield* Schema.encodeUnknownEffect(codecs.failure)(failure).pipe(
            Effect.catch((e) =>
              Schema.encodeUnknownEffect(codecs.failure)(
                new Task.TaskDefect({ taskId: id, taskName: name, defect: `error does not encode: ${e.message}` })
              )
            )
          )
          const retry = task.settings.retry
          let delay: number | undefined
          if (retry !== undefined) {
            // this failure's time on the backend's clock: the claim's time plus what passed here since
            const failedAt = claimed.claimedAt + ((yield* Clock.currentTimeMillis) - attemptStarted)
            delay = yield* retryDelay(retry, [...(claimed.failures ?? []), failedAt], failure)
          }
          if (yield* settle(queue.fail(id, token, encoded, delay))) {
            yield* internal.count(delay === undefined ? "failed" : "retried", name)
          }
        })

      const start = (claimed: ClaimedTask) =>
        Effect.gen(function* () {
          const fiber = yield* runSlot(claimed).pipe(
            Effect.interruptible, // forked from the uninterruptible claim below
            Effect.ensuring(
              Effect.suspend(() => {
                running.delete(fiber)
                return slots.release(1)
              })
            ),
            Effect.forkDetach
          )
          running.add(fiber)
        })

      // One claim round trip hands out up to every free slot's task: wait for one slot, then take the others
      // that are free now, claim that many, and give back the slots the claim did not fill.
      // An outage of the queue (Redis unreachable, restarting, failing over): one warning when it starts, one line
      // with its length when the queue answers again, and retries 100 ms apart, doubling up to 1 s, meanwhile.
      let outage: { readonly since: number; failures: number } | undefined
      const onQueueError = (cause: Cause.Cause<unknown>) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          if (outage === undefined) {
            outage = { since: now, failures: 0 }
            yield* Effect.logWarning(
              `effect-heimdall: worker lost the queue "${queue.queue}" (${describeCause(cause)}); ` +
                "retrying until it is back"
            )
          } else yield* Effect.logDebug(`effect-heimdall: queue still unreachable (${describeCause(cause)})`)
          outage.failures++
          yield* Effect.sleep(Math.min(1000, 100 * 2 ** (outage.failures - 1)))
        })
      const onQueueBack = Effect.suspend(() => {
        const lost = outage
        if (lost === undefined) return Effect.void
        outage = undefined
        return Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.logInfo(
            `effect-heimdall: worker reached the queue "${queue.queue}" again after ${now - lost.since} ms ` +
              `(${lost.failures} failed tries)`
          )
        )
      })

      const takeSome = Effect.gen(function* () {
        yield* slots.take(1)
        let free = 1
        while (free < concurrency && (yield* slots.takeIfAvailable(1))) free++
        // uninterruptible from the claim to the forks: a shutdown never strands claimed tasks unstarted
        const claimed = yield* waiter
          .claim({ token: randomId(), leaseMillis, maxRedeliveries, max: free, names }, maxIdleMillis)
          .pipe(
            Effect.tap((result) =>
              result._tag === "Claimed" ? Effect.forEach(result.tasks, start, { discard: true }) : Effect.void
            ),
            Effect.onExit((exit) => {
              const filled = Exit.isSuccess(exit) && exit.value._tag === "Claimed" ? exit.value.tasks.length : 0
              return filled < free ? slots.release(free - filled) : Effect.void
            }),
            Effect.uninterruptible
          )
        if (outage !== undefined) yield* onQueueBack
        if (claimed.passed !== undefined) yield* notePassed(claimed.passed)
        if (claimed._tag === "Idle") {
          // uninterruptible from the wait's reply to the start: a task handed over is never left unstarted
          return yield* Effect.uninterruptibleMask((restore) =>
            restore(waiter.wait(Math.min(claimed.waitMillis ?? maxIdleMillis, maxIdleMillis))).pipe(
              Effect.flatMap((handed) =>
                handed === undefined
                  ? Effect.void
                  : Effect.flatMap(slots.takeIfAvailable(1), (taken) =>
                      // a slot is free: this worker registered with free slots, and only this loop takes them
                      taken
                        ? // started before the loop's next claim goes out
                          Effect.andThen(start(handed), Effect.yieldNow)
                        : queue.release(handed.id, handed.token).pipe(Effect.ignore)
                    )
              )
            )
          )
        }
        // the slots forked above run before the next claim; the loop yields nowhere else (see below)
        yield* Effect.yieldNow
      }).pipe(Effect.catchCause((cause) => (Cause.hasInterruptsOnly(cause) ? Effect.interrupt : onQueueError(cause))))

      // The heartbeat: announces this worker's task names (so that tasks of a name no live worker runs can be told
      // apart, see `deadLetterUnknownAfter`), and reports tasks parked for a worker that runs them, once per name.
      const parkedNoted = new Set<string>()
      const beatEvery = Math.max(100, Math.min(5000, Math.floor((deadUnknownMillis ?? 15_000) / 3)))
      const beat = queue.beat(names, deadUnknownMillis).pipe(
        Effect.flatMap((parked) =>
          Effect.forEach(
            parked,
            ({ name, parked: waiting, deadLettered }) =>
              Effect.gen(function* () {
                if (deadLettered > 0) {
                  yield* Metric.update(
                    Metric.withAttributes(internal.metrics.deadLettered, { task: name }),
                    deadLettered
                  )
                  yield* Effect.logWarning(
                    `effect-heimdall: dead-lettered ${deadLettered} tasks "${name}": no worker that runs it was seen ` +
                      `for ${deadUnknownMillis} ms`
                  )
                }
                if (waiting > 0 && !parkedNoted.has(name) && !byName.has(name)) {
                  parkedNoted.add(name)
                  yield* Effect.logWarning(
                    `effect-heimdall: ${waiting} tasks "${name}" wait for a worker that runs them`
                  )
                }
              }),
            { discard: true }
          )
        ),
        Effect.catchCause((cause) => Effect.logDebug(`effect-heimdall: heartbeat failed (${describeCause(cause)})`))
      )
      yield* Effect.forkScoped(Effect.repeat(beat, Schedule.spaced(beatEvery)))

      // No yield between iterations: a worker woken from its blocking pop sends its claim at once (a yield
      // there took 0.03–0.05 ms of the enqueue-to-start latency, `npm run bench:timeline`). Every iteration
      // still waits on Redis, and yields after starting what it claimed.
      const fetcher = yield* Effect.forkDetach(Effect.forever(takeSome, { disableYield: true }))
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          stopping = true
          yield* Fiber.interrupt(fetcher)
          yield* Effect.forEach([...running], Fiber.await, { concurrency: "unbounded", discard: true }).pipe(
            Effect.timeoutOrElse({ duration: graceMillis, orElse: () => Effect.void })
          )
          yield* Effect.forEach([...running], Fiber.interrupt, { concurrency: "unbounded", discard: true })
        })
      )
    })
  ) as any

/**
 * A task's rate limit for one payload, by the check `Task.enqueue` ran (validate.rateLimit); a string says why it
 * cannot be used (the function throws or gives another limit on this worker), and the task is dead-lettered with it.
 */
const resolveLimit = (
  rateLimit: Task.RateLimitFunction<any>,
  payload: unknown,
  name: string
): validate.ResolvedRateLimit | string => {
  const spec = validate.computed("rateLimit", rateLimit, payload)
  const limit = spec instanceof InvalidArgument ? spec : validate.rateLimit(spec, name)
  return limit instanceof InvalidArgument ? `its rate limit cannot be used: ${limit.message}` : limit
}

const defectMessage = (defect: unknown): string =>
  defect instanceof Error ? `${defect.name}: ${defect.message}` : typeof defect === "string" ? defect : String(defect)
