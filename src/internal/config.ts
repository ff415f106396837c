/**
 * The one configuration of a backend: `Heimdall.Options` as the user writes them, and `Config`, the same with every
 * default filled in. A backend layer resolves it once and hands the same `Config` to the `Heimdall` service, the
 * store's key layout and the queue; nothing else holds a default (the prefixes' defaults are `Layout.defaults`).
 */
import type { Duration } from "effect"
import { millisOr } from "./duration.ts"
import * as Layout from "./layout.ts"

/**
 * Options shared by both backends. A layer given an option that can never
 * work fails with `InvalidArgument` naming it and its value: an empty `queue`
 * or one with `{` or `}`, a `queuePrefix` or `lockPrefix` with `{` or `}` (the
 * queue's hash tag follows them), a `retention` or `uniqueTimeout` that is not
 * a positive finite duration, a `maxEnqueueBatch` that is not an integer from 1 to 1,000, `partitions` that is not
 * an integer from 1 to 64.
 *
 * **Example**
 *
 * ```ts
 * import { Heimdall } from "effect-heimdall"
 *
 * const options: Heimdall.Options = { lockPrefix: "myapp-lock:", uniqueTimeout: "30 minutes", queue: "reports" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Prefix of lock keys (unique tasks' locks too). Default `"h-lock:"`. */
  readonly lockPrefix?: string | undefined
  /** Prefix of rate-limit and only-after keys. Default `"h-rate:"`. */
  readonly ratePrefix?: string | undefined
  /** Prefix of concurrency-limit keys. Default `"h-sem:"`. */
  readonly concurrencyPrefix?: string | undefined
  /** Default lock time-to-live (and unique-task timeout). Default 1 hour. */
  readonly uniqueTimeout?: Duration.Input | undefined
  /** The task queue's name; on Redis also its hash tag. Default `"default"`. */
  readonly queue?: string | undefined
  /** Prefix of the task queue's keys (Redis). Default `"h-q"`. */
  readonly queuePrefix?: string | undefined
  /** How long finished tasks and their results are kept. Default 1 day. */
  readonly retention?: Duration.Input | undefined
  /**
   * How many of the newest `failed`, `dead` and `skipped` tasks each the queue's index keeps for the `Inspector` to
   * list (entries older than `retention` are trimmed too, as new ones arrive). A non-negative integer; 0 keeps
   * none. Default 10,000 per state.
   */
  readonly indexSize?: number | undefined
  /**
   * How many entries `Inspector.counts` reads from the old end of the ready list, and how many due scheduled tasks,
   * to find each task name's oldest waiting task (`QueueCounts.oldestByName`: names found within it are exact). One
   * `HMGET` per entry read, in the one read-only script of `counts`. A positive integer; default 1,000.
   */
  readonly waitingScan?: number | undefined
  /**
   * The most tasks one enqueue call to Redis carries. Enqueues to the queue that wait at the same moment (while
   * earlier calls are in flight: two at most) go to Redis as one script call, and `Task.enqueueAll` sends its tasks
   * in calls of this size; each caller still gets its own result. An integer from 1 to 1,000; 1 turns batching off
   * (every enqueue is its own call, as before 0.2). Default 25 (calls of 25 with two in flight outran calls of 100
   * with one: bench/README.md). The memory backend checks it and has nothing to batch.
   */
  readonly maxEnqueueBatch?: number | undefined
  /**
   * Redis only: wait until `replicas` replicas have each write that must survive a failover, at most `timeout`.
   * Every enqueue (single, unique, batched: one wait per call), lock acquisition (`Heimdall.lock`, `withLock`, a
   * unique task's lock) and rate-limit admission (`take`, `reserve`, a task's start) sends `WAIT replicas timeout`
   * right after its script, on the same connection and in the same round trip. Fewer confirmations in time fail
   * the call with a `RedisError` whose cause is `ReplicationTimeout` (the write is on the master; it may or may
   * not survive a failover). `replicas` is an integer from 1; `timeout` a positive duration. Default: off. The
   * memory backend checks it and has nothing to replicate. See the README, "Durability and failover".
   *
   * **Example**
   *
   * ```ts
   * import { Heimdall } from "effect-heimdall"
   *
   * const options: Heimdall.Options = { queue: "emails", durability: { replicas: 1, timeout: "500 millis" } }
   * ```
   */
  readonly durability?: { readonly replicas: number; readonly timeout: Duration.Input } | undefined
  /**
   * Spreads the queue over this many partitions, each a complete copy of the queue's keys under its own hash tag
   * (on a Redis Cluster with evenly split slots, on different masters): `{<queue>}` for partition 0, tags chosen
   * for the others (see the README's "Partitions"). A unique task lives in the partition of its unique key, any
   * other in the partition of its id; workers claim from every partition in turn. Order is FIFO within a
   * partition, not across them. Every process of a queue must use the same count (a process with another count
   * does not see the other partitions' tasks). An integer from 1 to 64; default 1: one hash tag, the layout of
   * earlier versions. The memory backend checks it and keeps one partition.
   */
  readonly partitions?: number | undefined
}

/**
 * `Options` resolved: every default filled in, durations in milliseconds.
 *
 * @category models
 * @since 0.1.0
 */
export interface Config {
  readonly queue: string
  readonly queuePrefix: string
  readonly retentionMillis: number
  readonly lockPrefix: string
  readonly ratePrefix: string
  readonly concurrencyPrefix: string
  readonly uniqueTimeoutMillis: number
  readonly indexSize: number
  readonly waitingScan: number
  readonly maxEnqueueBatch: number
  /** `Options.durability` resolved, or `undefined` when off. */
  readonly durability: Durability | undefined
  readonly partitions: number
}

/**
 * How many replicas must confirm a write, and how long to wait for them (`WAIT replicas timeoutMillis`).
 *
 * @category models
 * @since 0.2.0
 */
export interface Durability {
  readonly replicas: number
  readonly timeoutMillis: number
}

/** `Options` (checked already: see `validate.heimdallOptions`) with every default filled in. */
export const resolve = (options: Options | undefined): Config => ({
  queue: options?.queue ?? Layout.defaults.queue,
  queuePrefix: options?.queuePrefix ?? Layout.defaults.queuePrefix,
  retentionMillis: millisOr(options?.retention, "1 day"),
  lockPrefix: options?.lockPrefix ?? Layout.defaults.lockPrefix,
  ratePrefix: options?.ratePrefix ?? Layout.defaults.ratePrefix,
  concurrencyPrefix: options?.concurrencyPrefix ?? Layout.defaults.concurrencyPrefix,
  uniqueTimeoutMillis: millisOr(options?.uniqueTimeout, "1 hour"),
  indexSize: options?.indexSize ?? 10_000,
  waitingScan: options?.waitingScan ?? 1_000,
  maxEnqueueBatch: options?.maxEnqueueBatch ?? 25,
  durability:
    options?.durability === undefined
      ? undefined
      : {
          replicas: options.durability.replicas,
          timeoutMillis: Math.ceil(millisOr(options.durability.timeout, "1 second"))
        },
  partitions: options?.partitions ?? 1
})
