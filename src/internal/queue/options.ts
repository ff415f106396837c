import { Duration } from "effect"
import type { HeimdallStore } from "../../HeimdallStore.ts"
import { millisOr } from "../duration.ts"
import * as Layout from "../layout.ts"
import type { NewTask, Options, Service } from "./model.ts"

/** `TaskQueue.Options` with every default filled in. */
export const resolveOptions = (options: Options = {}) => ({
  queue: options.queue ?? Layout.defaults.queue,
  prefix: options.prefix ?? Layout.defaults.queuePrefix,
  retentionMillis: millisOr(options.retention, Duration.days(1)),
  lockPrefix: options.lockPrefix ?? Layout.defaults.lockPrefix,
  ratePrefix: options.ratePrefix ?? Layout.defaults.ratePrefix,
  uniqueTimeoutMillis: millisOr(options.uniqueTimeout, Duration.hours(1))
})

export type Resolved = ReturnType<typeof resolveOptions>

/** What both backends expose of the primitives they share: the store and the key layout. */
export const primitivesOf = (options: Resolved, store: HeimdallStore["Service"]): Service["primitives"] => ({
  store,
  lockPrefix: options.lockPrefix,
  ratePrefix: options.ratePrefix,
  uniqueTimeoutMillis: options.uniqueTimeoutMillis
})

/**
 * A unique task's lock key without the lock prefix: `{<queue>}:<unique key>`. It carries the queue's hash tag,
 * so that enqueue and lock are one Cluster-safe script.
 */
export const lockKeyOf = (options: Resolved) => (uniqueKey: string) => Layout.uniqueLockKey(options.queue, uniqueKey)

/** A unique task's full lock key: its own prefix, or the backend's. */
export const fullLockKey = (options: Resolved, unique: NonNullable<NewTask["unique"]>) =>
  Layout.lockKey(unique.prefix ?? options.lockPrefix, Layout.uniqueLockKey(options.queue, unique.key))
