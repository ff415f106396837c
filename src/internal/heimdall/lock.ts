/** Locks: acquire, release, extend, inspect, list, force-release, and `withLock`. */
import { Duration, Effect, Option } from "effect"
import { dual } from "effect/Function"
import type * as Redis from "effect/persistence/Redis"
import { type InvalidArgument, type LockLost, LockTaken } from "../../Errors.ts"
import type * as Store from "../../HeimdallStore.ts"
import * as Layout from "../layout.ts"
import { type Attempt, checkKey } from "./common.ts"
import * as Leased from "./leased.ts"
import { Heimdall } from "./service.ts"

/**
 * A held lock. `fence` strictly increases with every new acquisition of the
 * key: pass it to downstream systems so they can reject a stale holder.
 *
 * @category models
 * @since 0.1.0
 */
export interface Lock {
  readonly key: string
  readonly owner: string
  readonly fence: number
  readonly ttl: Duration.Duration
}

/**
 * A lock as seen by an operator.
 *
 * @category models
 * @since 0.1.0
 */
export interface LockInfo {
  readonly key: string
  readonly holder: string
  readonly expiresIn: Duration.Duration
  readonly fence: number
}

/**
 * Options of `acquireLock` and `withLock`.
 *
 * @category models
 * @since 0.1.0
 */
export interface LockOptions {
  /** How long the lock lives unless released or extended. Default: the layer's `uniqueTimeout` (1 hour). */
  readonly ttl?: Duration.Input | undefined
  /** Who holds it (for unique tasks, the task id). Default: a random id (16 URL-safe characters). */
  readonly owner?: string | undefined
  /** How long to wait for a taken lock, woken by its release. Default: 0, fail at once. */
  readonly wait?: Duration.Input | undefined
}

/**
 * Takes a lock, or fails with `LockTaken` naming the holder and when its lock
 * expires, read in the same atomic step. With `wait`, a taken lock is awaited
 * (woken by its release, or at its expiry) until the wait runs out.
 * Acquiring a lock the same owner already holds extends it and keeps its fence.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const program = Effect.gen(function* () {
 *   const lock = yield* Heimdall.acquireLock("invoice:7", { ttl: "1 minute", wait: "1 second" })
 *   yield* Effect.log(`fence ${lock.fence}`)
 *   yield* Heimdall.releaseLock(lock)
 * })
 * ```
 *
 * @category locks
 * @since 0.1.0
 */
export const acquireLock = (
  key: string,
  options?: LockOptions
): Effect.Effect<Lock, LockTaken | InvalidArgument | Redis.RedisError, Heimdall> =>
  Effect.flatMap(Heimdall, (heimdall) =>
    Leased.acquire(lockKind, lockAcquisition, key, {
      holder: options?.owner,
      lease: options?.ttl ?? heimdall.config.uniqueTimeoutMillis,
      wait: options?.wait
    })
  )

const lockAcquisition: Leased.Acquisition<Lock, number, Store.LockState, LockTaken> = {
  span: "Heimdall.acquireLock",
  metrics: "lock",
  attempt: (store, fullKey, owner, ttlMs) =>
    Effect.map(
      store.lockAcquire(fullKey, owner, ttlMs),
      (r): Attempt<number, Store.LockState> =>
        r._tag === "Acquired" ? { ok: true, value: r.fence } : { ok: false, busy: r }
    ),
  retryAfterMs: (held) => held.expiresInMs,
  held: (key, owner, ttlMs, fence) => ({ key, owner, fence, ttl: Duration.millis(ttlMs) }),
  busy: (key, held) =>
    new LockTaken({ key, holder: held.holder, expiresIn: Duration.millis(Math.max(0, held.expiresInMs)) })
}

const lockKind: Leased.Kind<Pick<Lock, "key" | "owner">, Pick<Lock, "key" | "owner" | "ttl">> = {
  keyOf: (h, key) => Layout.lockKey(h.config.lockPrefix, key),
  release: (store, fullKey, owner) => store.lockRelease(fullKey, owner),
  extend: (store, fullKey, owner, ttlMs) => store.lockExtend(fullKey, owner, ttlMs),
  key: (lock) => lock.key,
  holder: (lock) => lock.owner,
  lease: (lock) => lock.ttl,
  leaseOption: "ttl"
}

/**
 * Releases a lock if, and only if, its owner still holds it: a late finisher
 * never frees a lock that expired and was taken by someone else. Returns
 * whether it released.
 *
 * @category locks
 * @since 0.1.0
 */
export const releaseLock: (lock: Pick<Lock, "key" | "owner">) => Effect.Effect<boolean, Redis.RedisError, Heimdall> =
  Leased.release(lockKind)

/**
 * Extends a lock to `ttl` from now (default: its own ttl), only while its
 * owner still holds it. Returns whether it did.
 *
 * @category locks
 * @since 0.1.0
 */
export const extendLock: (
  lock: Pick<Lock, "key" | "owner" | "ttl">,
  ttl?: Duration.Input
) => Effect.Effect<boolean, Redis.RedisError | InvalidArgument, Heimdall> = Leased.extend(lockKind)

/**
 * Who holds a lock, for how long, with which fence; `None` when it is free.
 *
 * @category locks
 * @since 0.1.0
 */
export const inspectLock = (
  key: string
): Effect.Effect<Option.Option<LockInfo>, InvalidArgument | Redis.RedisError, Heimdall> =>
  Effect.andThen(
    checkKey(key),
    Effect.flatMap(Heimdall, (h) =>
      Effect.map(
        h.store.lockInspect(Layout.lockKey(h.config.lockPrefix, key)),
        Option.map((s) => toInfo(key, s))
      )
    )
  )

/**
 * Held locks whose key starts with `prefix` (default: all), sorted by key,
 * unique tasks' locks included (on Redis they are fields of their queue's
 * `:locks` hash, listed with the rest). For operators: it scans the keyspace,
 * so it is not for hot paths.
 *
 * @category locks
 * @since 0.1.0
 */
export const listLocks = (prefix = ""): Effect.Effect<ReadonlyArray<LockInfo>, Redis.RedisError, Heimdall> =>
  Effect.flatMap(Heimdall, (h) =>
    Effect.map(h.store.lockList(Layout.lockKey(h.config.lockPrefix, prefix)), (locks) =>
      locks.map((s) => toInfo(s.key.slice(h.config.lockPrefix.length), s))
    )
  )

/**
 * Releases a lock whoever holds it. For operators clearing a lock they know
 * is stale; the holder's own release and extend then report `false`.
 *
 * @category locks
 * @since 0.1.0
 */
export const forceReleaseLock = (key: string): Effect.Effect<boolean, InvalidArgument | Redis.RedisError, Heimdall> =>
  Effect.andThen(
    checkKey(key),
    Effect.flatMap(Heimdall, (h) => h.store.lockForceRelease(Layout.lockKey(h.config.lockPrefix, key)))
  )

const toInfo = (key: string, s: Store.LockState): LockInfo => ({
  key,
  holder: s.holder,
  expiresIn: Duration.millis(Math.max(0, s.expiresInMs)),
  fence: s.fence
})

/**
 * Options of `withLock`.
 *
 * @category models
 * @since 0.1.0
 */
export interface WithLockOptions extends LockOptions {
  /**
   * Extend the lock while the effect runs, every third of its ttl. Default
   * `true`. If an extension finds the lock lost anyway (the backend was
   * unreachable for longer than the ttl and someone else took it), the effect
   * is interrupted and fails with `LockLost`. With or without it, the release
   * at the end also tells: see `withLock`.
   */
  readonly keepAlive?: boolean | undefined
}

/**
 * Runs an effect while holding a lock: released when the effect succeeds,
 * fails or is interrupted; kept alive while it runs. A taken lock fails with
 * `LockTaken` (holder and `expiresIn`) without running the effect.
 *
 * It succeeds only if the lock was held the whole time: the release is
 * owner-checked, and if it finds the lock no longer this owner's (it expired
 * while the keep-alive could not run, e.g. the event loop was blocked past the
 * ttl or `keepAlive` is off, and may have been taken by someone else), the
 * result is `LockLost` instead of the effect's success or typed failure
 * (defects and interruptions are kept as they are). A release that cannot
 * reach the backend leaves the lock to its ttl and keeps the effect's result.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const migrate = Effect.log("migrating").pipe(Heimdall.withLock("migrations", { ttl: "30 seconds", wait: "5 seconds" }))
 * ```
 *
 * @category locks
 * @since 0.1.0
 */
export const withLock: {
  (
    key: string,
    options?: WithLockOptions
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | LockTaken | LockLost | InvalidArgument | Redis.RedisError, R | Heimdall>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    key: string,
    options?: WithLockOptions
  ): Effect.Effect<A, E | LockTaken | LockLost | InvalidArgument | Redis.RedisError, R | Heimdall>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, key: string, options?: WithLockOptions) =>
    Leased.withHeld(lockKind, acquireLock(key, options), self, options?.keepAlive !== false)
)
