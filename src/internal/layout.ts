/**
 * The one key layout: every default prefix, and every key and channel name the primitives and the queue use outside
 * the queue's own keys (those are built by `internal/queue/keys.ts`, from the queue prefix and name resolved here).
 * Nothing else concatenates a prefix and a key.
 *
 * | what                         | key                                  |
 * | ---------------------------- | ------------------------------------ |
 * | a lock                       | `<lockPrefix><key>`                  |
 * | a unique task's lock         | `<lockPrefix>{<queue>}:<unique key>` |
 * | lock and slot releases       | channel `<lockPrefix>__released`     |
 * | a rate limit                 | `<ratePrefix><key>`                  |
 * | only-after                   | `<ratePrefix>after:<key>`            |
 * | a concurrency limit          | `<concurrencyPrefix><key>`           |
 * | the queue                    | `<queuePrefix>:{<queue>}:...`        |
 */

/** The defaults of every prefix, and of the queue's name. */
export const defaults = {
  lockPrefix: "h-lock:",
  ratePrefix: "h-rate:",
  concurrencyPrefix: "h-sem:",
  queuePrefix: "h-q",
  queue: "default"
} as const

/** The channel on which lock and slot releases are announced (`withLock` and `acquireSlot` waiters listen). */
export const releaseChannel = (lockPrefix: string): string => `${lockPrefix}__released`

/** A lock's key. */
export const lockKey = (lockPrefix: string, key: string): string => lockPrefix + key

/**
 * A unique task's lock key without its lock prefix: `{<queue>}:<unique key>`. It carries the queue's hash tag, so
 * that enqueue and lock are one Cluster-safe script; `Heimdall.inspectLock` takes it.
 */
export const uniqueLockKey = (queue: string, uniqueKey: string): string => `{${queue}}:${uniqueKey}`

/** A rate limit's key. */
export const rateKey = (ratePrefix: string, key: string): string => ratePrefix + key

/** An only-after key. */
export const onlyAfterKey = (ratePrefix: string, key: string): string => `${ratePrefix}after:${key}`

/** A concurrency limit's key. */
export const slotKey = (concurrencyPrefix: string, key: string): string => concurrencyPrefix + key
