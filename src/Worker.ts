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
 * import { Heimdall, Task, Worker } from "effect-heimdall"
 *
 * const Double = Task.make("double", { payload: Schema.Number, success: Schema.Number })
 * const DoubleLive = Task.implement(Double, (n) => Effect.succeed(n * 2))
 *
 * const WorkerLive = Worker.layer({ tasks: [DoubleLive], concurrency: 8 })
 * // runs until the layer's scope closes:
 * Layer.launch(WorkerLive).pipe(Effect.provide(Heimdall.layerMemory), Effect.runFork)
 * ```
 *
 * @since 0.1.0
 */

import { hostname } from "node:os"
import { Cause, Clock, type Duration, Effect, Exit, Fiber, Layer, Ref, Schedule, Semaphore, Tracer } from "effect"
import type { InvalidArgument } from "./Errors.ts"
import { millisOr } from "./internal/duration.ts"
import { randomId } from "./internal/id.ts"
import * as internal from "./internal/queue/task.ts"
import * as validate from "./internal/validate.ts"
import * as Completions from "./internal/worker/completions.ts"
import * as Leases from "./internal/worker/leases.ts"
import { countDeadLettered, describeCause, type RunContext, runSlot } from "./internal/worker/runTask.ts"
import type * as Task from "./Task.ts"
import { type ClaimedTask, TaskQueue, type WorkerRegistration } from "./TaskQueue.ts"

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
 * - `batchCompletions` (default `true`): a slot whose task succeeded completes
 *   it and claims its next task in one call; with batching, the completions of
 *   this worker's slots that finish while such a call is in flight are sent
 *   together as one call when it returns (one script run on Redis for all of
 *   them, each slot with its own outcome). A lone completion is sent at once:
 *   batching adds no timer, and a completion waits at most for the one call in
 *   flight. `false`: one call per completion, sent at once. Failures,
 *   reschedules, releases and completions during shutdown are single calls
 *   either way.
 *
 * Options that can never work make `Worker.layer` fail with `InvalidArgument` (naming the option
 * and the value) before it claims anything: a `concurrency` that is not a positive integer (0, -1,
 * 1.5, NaN), a `lease` or `maxIdleWait` that is not a positive finite duration, a negative
 * `gracePeriod`, a `maxRedeliveries` that is not a non-negative integer, a `batchCompletions` that is
 * not a boolean, no `tasks`, or a task implemented twice.
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
  readonly batchCompletions?: boolean | undefined
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
 * Metrics (attribute `task`, see `Task.metrics`): counters `heimdall_tasks_started`,
 * `_succeeded`, `_failed`, `_retried`, `_rescheduled`, `_dead_lettered`, `_passed` (and
 * `_enqueued`, counted by `Task.enqueue`); histograms `heimdall_tasks_enqueue_to_start_ms`
 * and `heimdall_tasks_run_duration_ms`.
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
      // this worker in the queue's registry (see the heartbeat below, and `Inspector.workers`)
      const workerId = randomId()
      const startedAt = yield* Clock.currentTimeMillis
      const host = hostname()
      const runningIds = new Set<string>()
      // the leases of the tasks this worker runs, renewed by one keeper (internal/worker/leases.ts)
      const leases = yield* Leases.make({
        renew: (id, token) => queue.renew(id, token, leaseMillis),
        leaseMillis,
        onFailure: ({ id, name }, cause) =>
          Effect.logWarning(
            `effect-heimdall: lease renewal of task ${name} ${id} failed (${describeCause(cause)}); retrying`
          )
      })
      // an operator's cancel of a task running here (in any process) interrupts its handler at once; without the
      // subscription, the lease's next renewal finds it (a third of the lease later)
      yield* queue
        .watchCancels(leases.noticeCancel)
        .pipe(
          Effect.catchCause((cause) =>
            Effect.logWarning(
              `effect-heimdall: could not listen for cancelled tasks (${describeCause(cause)}); a cancelled task's ` +
                "handler is interrupted at its next lease renewal"
            )
          )
        )
      // a backend acquires its blocking connection on first use (and again after a failure): nothing can fail here
      const waiter = yield* Effect.orDie(queue.waiterAs(workerId))
      const traced = (yield* Tracer.Tracer) !== Tracer.nativeTracer

      /** Set on shutdown: a finished task's slot then takes no next task. */
      const stopping = yield* Ref.make(false)
      const run: RunContext = {
        queue,
        completeAndClaim: Completions.make(
          queue,
          { leaseMillis, maxRedeliveries, max: 1, names, worker: workerId },
          options.batchCompletions ?? true,
          concurrency
        ),
        byName,
        names,
        leaseMillis,
        maxRedeliveries,
        traced,
        stopping: Ref.get(stopping),
        notePassed,
        settle,
        worker: workerId,
        running: runningIds,
        leases
      }

      const start = (claimed: ClaimedTask) =>
        Effect.gen(function* () {
          const fiber = yield* runSlot(run, claimed).pipe(
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
          .claim({ token: randomId(), leaseMillis, maxRedeliveries, max: free, names, worker: workerId }, maxIdleMillis)
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
        if (claimed.deadLettered !== undefined) yield* countDeadLettered(claimed.deadLettered)
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
      // It also registers the worker (`Inspector.workers`) for three beats: a worker that died lapses within three
      // beat intervals of its last beat (15 s by default); one that stops leaves at once (below).
      const parkedNoted = new Set<string>()
      const beatEvery = Math.max(100, Math.min(5000, Math.floor((deadUnknownMillis ?? 15_000) / 3)))
      const registration = Effect.sync(
        (): WorkerRegistration => ({
          id: workerId,
          host,
          pid: process.pid,
          startedAt,
          concurrency,
          running: [...runningIds],
          ttlMillis: 3 * beatEvery
        })
      )
      const beat = Effect.flatMap(registration, (worker) => queue.beat(names, deadUnknownMillis, worker)).pipe(
        Effect.flatMap((parked) =>
          Effect.forEach(
            parked,
            ({ name, parked: waiting, deadLettered }) =>
              Effect.gen(function* () {
                if (deadLettered > 0) {
                  yield* internal.count("deadLettered", name, deadLettered)
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
      // finalizers run in reverse: the worker leaves the registry once its tasks ended and its beat stopped
      yield* Effect.addFinalizer(() => queue.leave(workerId).pipe(Effect.ignore))
      yield* Effect.forkScoped(Effect.repeat(beat, Schedule.spaced(beatEvery)))

      // No yield between iterations: a worker woken from its blocking pop sends its claim at once (a yield
      // there took 0.03–0.05 ms of the enqueue-to-start latency, `npm run bench:timeline`). Every iteration
      // still waits on Redis, and yields after starting what it claimed.
      const fetcher = yield* Effect.forkDetach(Effect.forever(takeSome, { disableYield: true }))
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          yield* Ref.set(stopping, true)
          yield* Fiber.interrupt(fetcher)
          yield* Effect.forEach([...running], Fiber.await, { concurrency: "unbounded", discard: true }).pipe(
            Effect.timeoutOrElse({ duration: graceMillis, orElse: () => Effect.void })
          )
          yield* Effect.forEach([...running], Fiber.interrupt, { concurrency: "unbounded", discard: true })
        })
      )
    })
  )
