/** The primitives' metrics, exported as `Heimdall.metrics` (defined in `internal/metrics.ts`). */
import * as Metrics from "../metrics.ts"

/**
 * The metrics of the primitives, recorded through Effect's `Metric` in the
 * calling process (export them with any Effect metrics exporter, e.g. OTLP or
 * Prometheus from `effect/observability`). Durations are in milliseconds, in
 * the histogram buckets `Heimdall.durationBoundariesMs`.
 *
 * | metric | type | attributes | counts |
 * | --- | --- | --- | --- |
 * | `rateLimitAdmissions`: `heimdall_rate_limit_admissions` | counter | `operation` | calls of `take`, `reserve`, `withRateLimit` admitted |
 * | `rateLimitDenials`: `heimdall_rate_limit_denials` | counter | `operation` | the same calls failed with `RateLimited` |
 * | `rateLimitWait`: `heimdall_rate_limit_wait_ms` | histogram | `operation` | `withRateLimit` (`onLimit: "wait"`): time from the call to its admission, when it slept; `reserve`: the delay booked, when not zero |
 * | `lockAcquisitions`: `heimdall_lock_acquisitions` | counter | | `acquireLock` / `withLock` acquired |
 * | `lockDenials`: `heimdall_lock_denials` | counter | | the same refused with `LockTaken` (after any wait) |
 * | `lockWait`: `heimdall_lock_wait_ms` | histogram | `outcome` | an acquisition with `wait` > 0: its time until acquired or refused |
 * | `concurrencyAcquisitions`: `heimdall_concurrency_acquisitions` | counter | | `acquireSlot` / `withConcurrencyLimit` acquired |
 * | `concurrencyDenials`: `heimdall_concurrency_denials` | counter | | the same refused with `ConcurrencyLimited` |
 * | `concurrencyWait`: `heimdall_concurrency_wait_ms` | histogram | `outcome` | as `lockWait`, for slots |
 *
 * `operation` is `"take"`, `"reserve"` or `"withRateLimit"`; `outcome` is
 * `"acquired"` or `"denied"`. No metric carries the key: keys are unbounded
 * (a key per customer makes a series per customer), so count per key in your
 * own code if you need it. Calls that fail with `InvalidArgument` or a
 * `RedisError` are not counted. Rate limits of tasks are counted by
 * `Task.metrics` (`heimdall_tasks_rescheduled`), unique tasks' locks not at
 * all: these metrics count the calls above only.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const program = Effect.gen(function* () {
 *   const denied = yield* Metric.value(
 *     Metric.withAttributes(Heimdall.metrics.rateLimitDenials, { operation: "take" })
 *   )
 *   const lockWaits = yield* Metric.value(Metric.withAttributes(Heimdall.metrics.lockWait, { outcome: "acquired" }))
 *   yield* Effect.log(`takes denied: ${denied.count}; lock waits: ${lockWaits.count}, ${lockWaits.sum} ms in all`)
 * })
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const metrics = Metrics.primitiveMetrics

/**
 * The bucket boundaries of every duration histogram of this library
 * (`Heimdall.metrics` and `Task.metrics`), in milliseconds: 1, 2, 5, 10, 25,
 * 50, 100, 250, 500, 1 000, 2 500, 5 000, 10 000, 30 000, 60 000, 300 000,
 * 900 000 and 3 600 000 (1 hour). A value above the last is counted in the
 * overflow bucket (and in `count` and `sum`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Heimdall, Task } from "effect-heimdall"
 *
 * // the share of first attempts of "send-email" that started within 100 ms of their enqueue
 * const startedWithin100ms = Effect.map(
 *   Metric.value(Metric.withAttributes(Task.metrics.enqueueToStart, { task: "send-email" })),
 *   (state) => {
 *     const i = Heimdall.durationBoundariesMs.indexOf(100)
 *     return state.count === 0 ? 1 : state.buckets[i]![1] / state.count
 *   }
 * )
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const durationBoundariesMs: ReadonlyArray<number> = Metrics.durationBoundariesMs
