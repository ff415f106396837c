/**
 * An operator's actions on a queue: retry failed and dead tasks (one, or all of a state and name), purge finished
 * tasks, cancel a queued, scheduled or running task (its worker, in any process, interrupts the handler),
 * force-release a lock, reset a rate-limit key. Every backend layer (`Heimdall.layerMemory`, `layerMemoryWith`,
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
