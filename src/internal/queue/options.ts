import type { Config } from "../config.ts"
import * as Layout from "../layout.ts"
import type { NewTask } from "./model.ts"

/**
 * A unique task's lock key without the lock prefix: `{<queue>}:<unique key>`. It carries the queue's hash tag,
 * so that enqueue and lock are one Cluster-safe script.
 */
export const lockKeyOf = (config: Config) => (uniqueKey: string) => Layout.uniqueLockKey(config.queue, uniqueKey)

/** A unique task's full lock key: its own prefix, or the backend's. */
export const fullLockKey = (config: Config, unique: NonNullable<NewTask["unique"]>) =>
  Layout.lockKey(unique.prefix ?? config.lockPrefix, Layout.uniqueLockKey(config.queue, unique.key))
