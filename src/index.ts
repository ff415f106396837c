/**
 * effect-heimdall: globally unique and globally rate-limited background tasks
 * for Effect, on Redis.
 *
 * @since 0.1.0
 */

/**
 * An operator's actions on a queue: retry, purge, cancel, force-release a lock, reset a rate-limit key.
 *
 * @since 0.2.0
 */
export * as Admin from "./Admin.ts"
export {
  /** @since 0.1.0 */
  AlreadyQueued,
  /** @since 0.1.0 */
  ConcurrencyLimited,
  /** @since 0.1.0 */
  InvalidArgument,
  /** @since 0.1.0 */
  LockLost,
  /** @since 0.1.0 */
  LockTaken,
  /** @since 0.1.0 */
  RateLimited,
  /** @since 0.2.0 */
  ReplicationTimeout,
  /** @since 0.2.0 */
  TaskCancelled,
  /** @since 0.2.0 */
  TaskStateConflict
} from "./Errors.ts"
/**
 * Locks, rate limits, concurrency limits and only-after around any Effect,
 * with the Redis and in-memory backends.
 *
 * @since 0.1.0
 */
export * as Heimdall from "./Heimdall.ts"
/**
 * The low-level backend contract and the in-memory store.
 *
 * @since 0.1.0
 */
export * as HeimdallStore from "./HeimdallStore.ts"
/**
 * The read side of a queue: counts, tasks by state, a task's detail, live workers, locks.
 *
 * @since 0.2.0
 */
export * as Inspector from "./Inspector.ts"
/**
 * The `Redis` service of `effect/persistence/Redis` from an ioredis client.
 *
 * @since 0.1.0
 */
export * as RedisIoredis from "./RedisIoredis.ts"

/**
 * Schema-typed tasks: define, enqueue, join, status.
 *
 * @since 0.1.0
 */
export * as Task from "./Task.ts"

/**
 * The task queue service and its memory and Redis backends.
 *
 * @since 0.1.0
 */
export * as TaskQueue from "./TaskQueue.ts"

/**
 * Workers that run tasks from the queue.
 *
 * @since 0.1.0
 */
export * as Worker from "./Worker.ts"
