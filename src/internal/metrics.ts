/**
 * Every metric the library records, and the cheap ways it records them. The public documentation is on
 * `Task.metrics` and `Heimdall.metrics` (and the README's table); this module is where they are defined.
 *
 * Cost: a metric with attributes built by `Metric.withAttributes` adds a context per update and, when one base
 * metric serves several attribute sets in turn, recomputes its series key (a JSON string) on each switch. So the
 * tagged metrics here are built once per attribute set (per task name, per operation), each with its attributes in
 * its own options: an update then finds its series with one map lookup. They address the same series as
 * `Metric.withAttributes(base, attributes)` (same name, type, description and attributes), so users read them that
 * way. Updates are synchronous (`updateUnsafe` on the running fiber's context), one effect per event at most.
 */
import { Clock, Effect, type Fiber, Metric } from "effect"

/**
 * The bucket boundaries of every duration histogram, in milliseconds: 1 ms to 1 hour, roughly ×2–2.5 per step.
 * Values above the last boundary are counted in the overflow bucket (and in `count` and `sum`).
 */
export const durationBoundariesMs: ReadonlyArray<number> = [
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000
]

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })
const histogram = (name: string, description: string) =>
  Metric.histogram(name, { description, boundaries: durationBoundariesMs })

// ---------------------------------------------------------------------------------------------------------------
// Tasks

const descriptions = {
  enqueued: "Tasks enqueued",
  started: "Task attempts started",
  succeeded: "Tasks succeeded",
  failed: "Tasks failed for good",
  retried: "Failed attempts retried",
  rescheduled: "Starts put off by a rate limit (no attempt spent)",
  deadLettered: "Tasks dead-lettered",
  passed: "Tasks a worker met and left for a worker that runs their name (mixed fleets)",
  enqueueToStart: "Milliseconds from a task's enqueue to the start of its first attempt (the backend's clock)",
  runDuration: "Milliseconds from a handler's start to its end (each attempt)"
} as const

const names = {
  enqueued: "heimdall_tasks_enqueued",
  started: "heimdall_tasks_started",
  succeeded: "heimdall_tasks_succeeded",
  failed: "heimdall_tasks_failed",
  retried: "heimdall_tasks_retried",
  rescheduled: "heimdall_tasks_rescheduled",
  deadLettered: "heimdall_tasks_dead_lettered",
  passed: "heimdall_tasks_passed",
  enqueueToStart: "heimdall_tasks_enqueue_to_start_ms",
  runDuration: "heimdall_tasks_run_duration_ms"
} as const

type TaskCounter =
  | "enqueued"
  | "started"
  | "succeeded"
  | "failed"
  | "retried"
  | "rescheduled"
  | "deadLettered"
  | "passed"

const taskCounters = [
  "enqueued",
  "started",
  "succeeded",
  "failed",
  "retried",
  "rescheduled",
  "deadLettered",
  "passed"
] as const satisfies ReadonlyArray<TaskCounter>

/** The task metrics, untagged: `Task.metrics`. */
export const taskMetrics = {
  enqueued: counter(names.enqueued, descriptions.enqueued),
  started: counter(names.started, descriptions.started),
  succeeded: counter(names.succeeded, descriptions.succeeded),
  failed: counter(names.failed, descriptions.failed),
  retried: counter(names.retried, descriptions.retried),
  rescheduled: counter(names.rescheduled, descriptions.rescheduled),
  deadLettered: counter(names.deadLettered, descriptions.deadLettered),
  passed: counter(names.passed, descriptions.passed),
  enqueueToStart: histogram(names.enqueueToStart, descriptions.enqueueToStart),
  runDuration: histogram(names.runDuration, descriptions.runDuration)
}

/** One task name's metrics, each tagged `task: <name>` (and `outcome` for the run duration). */
export interface TaskSeries {
  readonly counters: Readonly<Record<TaskCounter, Metric.Metric<number, unknown>>>
  readonly enqueueToStart: Metric.Metric<number, unknown>
  readonly runSucceeded: Metric.Metric<number, unknown>
  readonly runFailed: Metric.Metric<number, unknown>
}

const buildTaskSeries = (task: string): TaskSeries => {
  const counters = {} as Record<TaskCounter, Metric.Metric<number, unknown>>
  for (const c of taskCounters) {
    counters[c] = Metric.counter(names[c], { description: descriptions[c], incremental: true, attributes: { task } })
  }
  const run = (outcome: string) =>
    Metric.histogram(names.runDuration, {
      description: descriptions.runDuration,
      boundaries: durationBoundariesMs,
      attributes: { task, outcome }
    })
  return {
    counters,
    enqueueToStart: Metric.histogram(names.enqueueToStart, {
      description: descriptions.enqueueToStart,
      boundaries: durationBoundariesMs,
      attributes: { task }
    }),
    runSucceeded: run("success"),
    runFailed: run("failure")
  }
}

const seriesByTask = new Map<string, TaskSeries>()

/** A task name's tagged metrics, built once per name. */
export const taskSeries = (task: string): TaskSeries => {
  let found = seriesByTask.get(task)
  if (found === undefined) {
    found = buildTaskSeries(task)
    seriesByTask.set(task, found)
  }
  return found
}

/** Adds `by` (default 1) to one of the task counters, tagged with the task's name. */
export const countTask = (metric: TaskCounter, task: string, by = 1): Effect.Effect<void> =>
  Effect.withFiberSucceed((fiber) => taskSeries(task).counters[metric].updateUnsafe(by, fiber.context))

/**
 * An attempt starts: counts it, and for a first attempt records its enqueue-to-start time (`waitedMs`, on the
 * backend's clock). Returns the local monotonic time of the start (for `recordRun`).
 */
export const recordStart = (task: string, waitedMs: number | undefined): Effect.Effect<bigint> =>
  Effect.withFiberSucceed((fiber) => {
    const series = taskSeries(task)
    const context = fiber.context
    series.counters.started.updateUnsafe(1, context)
    if (waitedMs !== undefined) series.enqueueToStart.updateUnsafe(Math.max(0, waitedMs), context)
    return fiber.getRef(Clock.Clock).monotonicTimeNanosUnsafe()
  })

/** An attempt's handler ended (`startedNanos` from `recordStart`): records its run duration with its outcome. */
export const recordRun = (task: string, startedNanos: bigint, succeeded: boolean): Effect.Effect<void> =>
  Effect.withFiberSucceed((fiber) => {
    const series = taskSeries(task)
    const metric = succeeded ? series.runSucceeded : series.runFailed
    metric.updateUnsafe(elapsedMs(fiber, startedNanos), fiber.context)
  })

/** Milliseconds (fractional) on the fiber's monotonic clock since `startedNanos`. */
const elapsedMs = (fiber: Fiber.Fiber<unknown, unknown>, startedNanos: bigint): number =>
  Number(fiber.getRef(Clock.Clock).monotonicTimeNanosUnsafe() - startedNanos) / 1_000_000

/** The fiber's monotonic clock now, in nanoseconds (the start of a wait, for `recordLeased` / `recordRateWait`). */
export const monotonicNanos: Effect.Effect<bigint> = Effect.withFiberSucceed((fiber) =>
  fiber.getRef(Clock.Clock).monotonicTimeNanosUnsafe()
)

// ---------------------------------------------------------------------------------------------------------------
// Primitives

/** The public calls of the rate limits, the `operation` attribute of their metrics. */
export type RateOperation = "take" | "reserve" | "withRateLimit"

const rateNames = {
  admissions: "heimdall_rate_limit_admissions",
  denials: "heimdall_rate_limit_denials",
  wait: "heimdall_rate_limit_wait_ms"
} as const
const rateDescriptions = {
  admissions: "Rate-limit calls admitted (take, reserve, withRateLimit)",
  denials: "Rate-limit calls denied with RateLimited",
  wait:
    "Milliseconds a rate-limited call waited: withRateLimit's sleep until its slot, or the delay reserve booked " +
    "(recorded only when there was one)"
} as const

const leasedNames = {
  lock: {
    acquisitions: "heimdall_lock_acquisitions",
    denials: "heimdall_lock_denials",
    wait: "heimdall_lock_wait_ms"
  },
  concurrency: {
    acquisitions: "heimdall_concurrency_acquisitions",
    denials: "heimdall_concurrency_denials",
    wait: "heimdall_concurrency_wait_ms"
  }
} as const
const leasedDescriptions = {
  lock: {
    acquisitions: "Locks acquired (acquireLock, withLock)",
    denials: "Lock acquisitions refused with LockTaken",
    wait: "Milliseconds an acquisition with `wait` took, until acquired or refused"
  },
  concurrency: {
    acquisitions: "Concurrency slots acquired (acquireSlot, withConcurrencyLimit)",
    denials: "Slot acquisitions refused with ConcurrencyLimited",
    wait: "Milliseconds an acquisition with `wait` took, until acquired or refused"
  }
} as const

/** The primitives' metrics, untagged: `Heimdall.metrics`. */
export const primitiveMetrics = {
  rateLimitAdmissions: counter(rateNames.admissions, rateDescriptions.admissions),
  rateLimitDenials: counter(rateNames.denials, rateDescriptions.denials),
  rateLimitWait: histogram(rateNames.wait, rateDescriptions.wait),
  lockAcquisitions: counter(leasedNames.lock.acquisitions, leasedDescriptions.lock.acquisitions),
  lockDenials: counter(leasedNames.lock.denials, leasedDescriptions.lock.denials),
  lockWait: histogram(leasedNames.lock.wait, leasedDescriptions.lock.wait),
  concurrencyAcquisitions: counter(leasedNames.concurrency.acquisitions, leasedDescriptions.concurrency.acquisitions),
  concurrencyDenials: counter(leasedNames.concurrency.denials, leasedDescriptions.concurrency.denials),
  concurrencyWait: histogram(leasedNames.concurrency.wait, leasedDescriptions.concurrency.wait)
}

interface RateSeries {
  readonly admissions: Metric.Metric<number, unknown>
  readonly denials: Metric.Metric<number, unknown>
  readonly wait: Metric.Metric<number, unknown>
}

const rateSeriesOf = (operation: RateOperation): RateSeries => ({
  admissions: Metric.counter(rateNames.admissions, {
    description: rateDescriptions.admissions,
    incremental: true,
    attributes: { operation }
  }),
  denials: Metric.counter(rateNames.denials, {
    description: rateDescriptions.denials,
    incremental: true,
    attributes: { operation }
  }),
  wait: Metric.histogram(rateNames.wait, {
    description: rateDescriptions.wait,
    boundaries: durationBoundariesMs,
    attributes: { operation }
  })
})

const rateSeries: Record<RateOperation, RateSeries> = {
  take: rateSeriesOf("take"),
  reserve: rateSeriesOf("reserve"),
  withRateLimit: rateSeriesOf("withRateLimit")
}

/** A rate-limit call was admitted (`waitedMs`: what it waited or booked, when it did) or denied; then `then`. */
export const recordRate = <A, E>(
  operation: RateOperation,
  admitted: boolean,
  waitedMs: number | undefined,
  then: Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  Effect.withFiber((fiber) => {
    const series = rateSeries[operation]
    const context = fiber.context
    if (admitted) series.admissions.updateUnsafe(1, context)
    else series.denials.updateUnsafe(1, context)
    if (waitedMs !== undefined) series.wait.updateUnsafe(waitedMs, context)
    return then
  })

/** Milliseconds on the fiber's monotonic clock since `startedNanos`, as an Effect. */
export const elapsedMsSince = (startedNanos: bigint): Effect.Effect<number> =>
  Effect.withFiberSucceed((fiber) => elapsedMs(fiber, startedNanos))

/** The kinds of leased resource (`leased.ts`). */
export type LeasedKind = "lock" | "concurrency"

interface LeasedSeries {
  readonly acquisitions: Metric.Metric<number, unknown>
  readonly denials: Metric.Metric<number, unknown>
  readonly waitAcquired: Metric.Metric<number, unknown>
  readonly waitDenied: Metric.Metric<number, unknown>
}

const leasedSeriesOf = (kind: LeasedKind): LeasedSeries => {
  const wait = (outcome: string) =>
    Metric.histogram(leasedNames[kind].wait, {
      description: leasedDescriptions[kind].wait,
      boundaries: durationBoundariesMs,
      attributes: { outcome }
    })
  return {
    acquisitions: primitiveMetrics[kind === "lock" ? "lockAcquisitions" : "concurrencyAcquisitions"],
    denials: primitiveMetrics[kind === "lock" ? "lockDenials" : "concurrencyDenials"],
    waitAcquired: wait("acquired"),
    waitDenied: wait("denied")
  }
}

const leasedSeries: Record<LeasedKind, LeasedSeries> = {
  lock: leasedSeriesOf("lock"),
  concurrency: leasedSeriesOf("concurrency")
}

/**
 * An acquisition of a lock or slot ended: acquired or refused. `startedNanos` (monotonic) is given when it could
 * wait (`wait` > 0): its duration is recorded then, with its outcome. Then `then`.
 */
export const recordLeased = <A, E>(
  kind: LeasedKind,
  acquired: boolean,
  startedNanos: bigint | undefined,
  then: Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  Effect.withFiber((fiber) => {
    const series = leasedSeries[kind]
    const context = fiber.context
    if (acquired) series.acquisitions.updateUnsafe(1, context)
    else series.denials.updateUnsafe(1, context)
    if (startedNanos !== undefined) {
      const wait = acquired ? series.waitAcquired : series.waitDenied
      wait.updateUnsafe(elapsedMs(fiber, startedNanos), context)
    }
    return then
  })

// ---------------------------------------------------------------------------------------------------------------
// Operator actions (Admin)

/** The operators' actions, counted in the process that acts: `Admin.metrics`. */
export const adminMetrics = {
  cancellations: counter("heimdall_tasks_cancelled", "Tasks cancelled by an operator (Admin.cancel)"),
  retries: counter("heimdall_tasks_retried_by_operator", "Failed or dead tasks requeued by an operator (Admin.retry)"),
  purged: counter("heimdall_tasks_purged", "Finished task records deleted by an operator (Admin.purge)")
}

/** Adds `by` to one of the operator counters. */
export const countAdmin = (metric: keyof typeof adminMetrics, by = 1): Effect.Effect<void> =>
  by === 0 ? Effect.void : Effect.withFiberSucceed((fiber) => adminMetrics[metric].updateUnsafe(by, fiber.context))
