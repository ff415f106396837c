/**
 * An operator's actions on a queue: retry failed and dead tasks (one, or all of a state and name), purge finished
 * tasks, cancel a queued, scheduled or running task (its worker, in any process, interrupts the handler),
 * force-release a lock, reset a rate-limit key, remove a schedule (`Task.schedule`). Every backend layer (`Heimdall.layerMemory`, `layerMemoryWith`,
 * `layerRedis`, `layerRedisConfig`) provides it next to the `Inspector`. On Redis each action is one Lua script (one
 * atomic step, one round trip); the memory backend has the same outcomes.
 *
 * @since 0.2.0
 */
export {
  /** An action the task's state does not allow (see `Errors.ts`). @category errors @since 0.2.0 */
  TaskStateConflict
} from "./Errors.ts"
export { Admin, type CancelOutcome, type PurgeState } from "./internal/admin.ts"

import { adminMetrics } from "./internal/metrics.ts"

/**
 * The operators' actions, counted through Effect's `Metric` in the process that acts (untagged counters):
 * `cancellations` (`heimdall_tasks_cancelled`), `retries` (`heimdall_tasks_retried_by_operator`, one per task
 * requeued by `retry` or `retryAll`) and `purged` (`heimdall_tasks_purged`, records deleted).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Admin } from "effect-heimdall"
 *
 * const cancelledHere = Metric.value(Admin.metrics.cancellations)
 * ```
 *
 * @category metrics
 * @since 0.2.0
 */
export const metrics = adminMetrics
