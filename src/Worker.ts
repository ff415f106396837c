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
import { randomUUID } from "node:crypto"
import { Cause, Clock, Duration, Effect, Exit, Fiber, Layer, Pull, Schedule, Schema, Semaphore, Tracer } from "effect"
import { finiteMillis } from "./internal/duration.ts"
import * as internal from "./internal/queue/task.ts"
import * as RateStart from "./internal/rateStart.ts"
import * as Task from "./Task.ts"
import { type ClaimedTask, TaskQueue } from "./TaskQueue.ts"

/**
 * Options of `Worker.layer`.
 *
 * - `tasks`: the implementations this worker runs. A task whose name is not
 *   among them is dead-lettered.
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
}

const millis = (input: Duration.Input | undefined, fallback: Duration.Input) =>
  Duration.toMillis(Duration.fromInputUnsafe(input ?? fallback))

/** The delay the schedule asks for after the `attempt`-th failure, or `undefined` when it gives up. */
const retryDelay = (schedule: Schedule.Schedule<unknown, any>, attempt: number, failure: unknown) =>
  Effect.gen(function* () {
    const step = yield* Schedule.toStep(schedule)
    const now = yield* Clock.currentTimeMillis
    let delay: Duration.Duration | undefined
    for (let i = 0; i < attempt; i++) {
      const next = yield* step(now, failure).pipe(
        Effect.map(([, d]) => d),
        Pull.catchDone(() => Effect.succeed(undefined))
      )
      if (next === undefined) return undefined
      delay = next
    }
    return delay === undefined ? undefined : Duration.toMillis(delay)
  })

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
): Layer.Layer<never, never, TaskQueue | (Impls[number] extends Task.Implementation<any, infer R> ? R : never)> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const queue = yield* TaskQueue
      const leaseMillis = millis(options.lease, "30 seconds")
      const graceMillis = millis(options.gracePeriod, "10 seconds")
      const maxIdleMillis = millis(options.maxIdleWait, "30 seconds")
      const maxRedeliveries = options.maxRedeliveries ?? 5
      const byName = new Map<string, Task.Implementation<Task.Any, any>>(
        options.tasks.map((impl) => [impl.task.name, impl])
      )
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
          queue.deadLetter(id, token, reason).pipe(Effect.andThen(internal.count("deadLettered", name)))
        const impl = byName.get(name)
        // succeeds with the slot's next task, or with nothing (undefined) when there is none
        const body: Effect.Effect<unknown, unknown> =
          impl === undefined
            ? deadLetter(`unknown task name "${name}"`)
            : Effect.gen(function* () {
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
                      offsetMs: Math.round(Math.random() * limit.jitterMs),
                      id
                    },
                    limit.marginMs / 2,
                    undefined
                  )
                  if (slot.delayMs > 0) {
                    if (yield* queue.reschedule(id, token, slot.delayMs, true)) {
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
                          Effect.as(Effect.logWarning("effect-heimdall: lease renewal failed", cause), true)
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
                      if (yield* queue.complete(id, token, result.success)) yield* internal.count("succeeded", name)
                      return
                    }
                    const settled = yield* queue
                      .completeAndClaim(id, token, result.success, {
                        token: randomUUID(),
                        leaseMillis,
                        maxRedeliveries,
                        max: 1
                      })
                      .pipe(
                        Effect.tap(({ next }) =>
                          Effect.sync(() => {
                            if (next._tag === "Claimed") slot.current = next.task
                          })
                        ),
                        Effect.uninterruptible
                      )
                    if (settled.completed) yield* internal.count("succeeded", name)
                    return settled.next._tag === "Claimed" ? settled.next.task : undefined
                  }
                  return yield* settleFailure(
                    task,
                    claimed,
                    new Task.TaskDefect({
                      taskId: id,
                      taskName: name,
                      message: `result does not encode: ${result.failure.message}`
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
                        message: defectMessage(Cause.squash(exit.cause))
                      })
                return yield* settleFailure(task, claimed, failure)
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

      const settleFailure = (task: Task.Any, claimed: ClaimedTask, failure: unknown) =>
        Effect.gen(function* () {
          const { id, token, name } = claimed
          const codecs = internal.codecs(task)
          const encoded = yield* Schema.encodeUnknownEffect(codecs.failure)(failure).pipe(
            Effect.catch((e) =>
              Schema.encodeUnknownEffect(codecs.failure)(
                new Task.TaskDefect({ taskId: id, taskName: name, message: `error does not encode: ${e.message}` })
              )
            )
          )
          const retry = task.settings.retry
          const delay = retry === undefined ? undefined : yield* retryDelay(retry, claimed.attempts, failure)
          if (yield* queue.fail(id, token, encoded, delay)) {
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
      const takeSome = Effect.gen(function* () {
        yield* slots.take(1)
        let free = 1
        while (free < concurrency && (yield* slots.takeIfAvailable(1))) free++
        // uninterruptible from the claim to the forks: a shutdown never strands claimed tasks unstarted
        const claimed = yield* waiter
          .claim({ token: randomUUID(), leaseMillis, maxRedeliveries, max: free }, maxIdleMillis)
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
      }).pipe(
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause)
            ? Effect.interrupt
            : Effect.logWarning("effect-heimdall: worker could not reach the queue, retrying in 1 s", cause).pipe(
                Effect.andThen(Effect.sleep("1 second"))
              )
        )
      )

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

/** A task's rate limit for one payload, validated; a string says why it cannot be used. */
const resolveLimit = (rateLimit: Task.RateLimitFunction<any>, payload: unknown, name: string) => {
  let spec: ReturnType<Task.RateLimitFunction<any>>
  try {
    spec = rateLimit(payload)
  } catch (error) {
    return `its rate limit could not be computed: ${defectMessage(error)}`
  }
  const per = finiteMillis(spec.per)
  const perMs = per === undefined ? 0 : Math.ceil(per)
  if (!Number.isSafeInteger(spec.times) || spec.times < 1 || perMs < 1) {
    return `invalid rate limit: ${spec.times} per ${String(spec.per)}`
  }
  // an option that is not a finite duration counts as 0
  const option = (input: Duration.Input | undefined, byDefault: number) =>
    input === undefined ? byDefault : Math.max(0, finiteMillis(input) ?? 0)
  const jitterMs = option(spec.jitter, Math.min(1000, Math.floor(perMs / 50)))
  const marginMs = Math.ceil(option(spec.margin, Math.min(10, Math.floor(perMs / 100))))
  return { key: spec.key ?? name, times: spec.times, perMs, jitterMs, marginMs }
}

const defectMessage = (defect: unknown): string =>
  defect instanceof Error ? `${defect.name}: ${defect.message}` : typeof defect === "string" ? defect : String(defect)
