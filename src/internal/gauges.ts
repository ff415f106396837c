/**
 * The queue gauges (`Inspector.layerGauges`): a scoped fiber that reads `Inspector.counts` on a schedule and sets
 * Effect `Metric` gauges from it, so that a metrics exporter (OpenTelemetry, Prometheus) graphs the queue's depth
 * from every process' work, not only this one's.
 */
import { type Duration, Effect, Layer, Metric, Schedule } from "effect"
import { InvalidArgument } from "../Errors.ts"
import { Inspector } from "./inspector.ts"
import * as Inspect from "./queue/inspect.ts"
import type { QueueCounts, TaskState } from "./queue/model.ts"
import * as validate from "./validate.ts"

const names = {
  tasks: "heimdall_queue_tasks",
  oldestWaiting: "heimdall_queue_oldest_waiting_ms"
} as const
const descriptions = {
  tasks:
    "Tasks of a queue per state and task name (Inspector.counts): queued, scheduled and running now; succeeded, " +
    "failed, dead and skipped in total since the queue's bookkeeping began",
  oldestWaiting:
    "Milliseconds the oldest waiting task of a queue (with task: of a task name) has been due (0: none waits; a " +
    "task name past the counts' scan: how long the last task read has waited, see Inspector.WaitingAge)"
} as const

/**
 * The queue gauges, untagged: each series carries `queue`; `heimdall_queue_tasks` also `state` and `task`, and
 * `heimdall_queue_oldest_waiting_ms` has a series per queue and one per queue and `task`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Inspector } from "effect-heimdall"
 *
 * const queuedReports = Metric.value(
 *   Metric.withAttributes(Inspector.gauges.tasks, { queue: "default", state: "queued", task: "send-report" })
 * )
 * ```
 *
 * @category metrics
 * @since 0.2.0
 */
export const gauges = {
  tasks: Metric.gauge(names.tasks, { description: descriptions.tasks }),
  oldestWaiting: Metric.gauge(names.oldestWaiting, { description: descriptions.oldestWaiting })
}

/** Sets every gauge of `queue` from one reading of its counts. */
const record = (queue: string, counts: QueueCounts): Effect.Effect<void> =>
  Effect.sync(() => {
    const updates: Array<Effect.Effect<void>> = [
      Metric.update(Metric.withAttributes(gauges.oldestWaiting, { queue }), counts.oldestWaitingMillis ?? 0)
    ]
    for (const [task, byState] of Object.entries(counts.byName)) {
      for (const state of Inspect.states as ReadonlyArray<TaskState>) {
        updates.push(Metric.update(Metric.withAttributes(gauges.tasks, { queue, state, task }), byState[state]))
      }
    }
    for (const task of new Set([...Object.keys(counts.byName), ...Object.keys(counts.oldestByName)])) {
      const waiting = counts.oldestByName[task]
      const millis = waiting === undefined ? 0 : waiting._tag === "Found" ? waiting.millis : (waiting.lastMillis ?? 0)
      updates.push(Metric.update(Metric.withAttributes(gauges.oldestWaiting, { queue, task }), millis))
    }
    return updates
  }).pipe(Effect.flatMap((updates) => Effect.all(updates, { discard: true })))

/**
 * Options of `Inspector.layerGauges`.
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const options: Inspector.GaugeOptions = { every: "30 seconds" }
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export interface GaugeOptions {
  /** How often the counts are read (one round trip on Redis each). Default 10 seconds; at least 100 ms. */
  readonly every?: Duration.Input | undefined
}

/**
 * Queue gauges, opt-in: while the layer is alive, it reads `Inspector.counts` every `every` (default 10 s; the
 * first reading at once) and sets `heimdall_queue_tasks` (per `queue`, `state` and `task`: depth of queued,
 * scheduled and running; totals of the terminal states, dead letters included whoever made them) and
 * `heimdall_queue_oldest_waiting_ms` (per `queue`, and per `queue` and `task`: `QueueCounts.oldestByName`; for a
 * name past the counts' scan, the wait of the last task read, which its tasks usually waited less than; 0 for a name
 * with nothing waiting). A reading that fails (Redis down) is logged and the gauges keep
 * their last values until the next one. One process per queue is enough (the counts are the queue's, not the
 * process'). Fails with `InvalidArgument` for an `every` that is not a duration of at least 100 ms.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { Heimdall, Inspector, RedisIoredis } from "effect-heimdall"
 *
 * const GaugesLive = Inspector.layerGauges({ every: "15 seconds" }).pipe(
 *   Layer.provide(Heimdall.layerRedis({ queue: "emails" })),
 *   Layer.provide(RedisIoredis.layerConfig())
 * )
 * ```
 *
 * @category layers
 * @since 0.2.0
 */
export const layerGauges = (options?: GaugeOptions): Layer.Layer<never, InvalidArgument, Inspector> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const every = validate.durationMillis("every", options?.every ?? "10 seconds", 1)
      if (every instanceof InvalidArgument) return yield* Effect.fail(every)
      if (every < 100) return yield* Effect.fail(validate.invalid("every", options?.every, "must be at least 100 ms"))
      const inspector = yield* Inspector
      const tick = inspector.counts.pipe(
        Effect.flatMap((counts) => record(inspector.queue, counts)),
        Effect.catch((error) => Effect.logWarning("effect-heimdall: queue gauges: could not read the counts", error))
      )
      yield* Effect.forkScoped(Effect.repeat(tick, Schedule.spaced(every)))
    })
  )
