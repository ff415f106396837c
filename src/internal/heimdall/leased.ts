/**
 * A leased resource: a lock (`lock.ts`) or a concurrency slot (`concurrency.ts`). Both are one key held by one
 * holder for a lease that lapses unless renewed; both are released and renewed only by their holder, and run an
 * effect while held the same way. This module is that one idea; the concept modules say what differs (the key's
 * prefix, the store calls, the field names of the held value).
 */
import { Cause, Duration, Effect, Exit } from "effect"
import type * as Redis from "effect/persistence/Redis"
import { type InvalidArgument, LockLost } from "../../Errors.ts"
import type * as Store from "../../HeimdallStore.ts"
import { randomId } from "../id.ts"
import { keepUntilLost } from "../keepAlive.ts"
import * as Metrics from "../metrics.ts"
import { type Attempt, acquireWaiting, keyError, millisOf, millisOrInvalid } from "./common.ts"
import { Heimdall } from "./service.ts"

/**
 * What a kind of leased resource is made of. `K` is what names a held one (key and holder: enough to release it),
 * `L` that and its lease (enough to renew it): parts of the held value (`Lock`, `Slot`).
 */
export interface Kind<K, L extends K> {
  /** The full key of a user key, under this kind's prefix. */
  readonly keyOf: (heimdall: Heimdall["Service"], key: string) => string
  readonly release: (
    store: Store.HeimdallStore["Service"],
    fullKey: string,
    holder: string
  ) => Effect.Effect<boolean, Redis.RedisError>
  readonly extend: (
    store: Store.HeimdallStore["Service"],
    fullKey: string,
    holder: string,
    leaseMs: number
  ) => Effect.Effect<boolean, Redis.RedisError>
  readonly key: (held: K) => string
  readonly holder: (held: K) => string
  readonly lease: (held: L) => Duration.Duration
  /** The option that names the lease (`ttl` for a lock, `lease` for a slot), for `InvalidArgument`. */
  readonly leaseOption: string
}

/**
 * How one kind takes its resource: `attempt` once (the store call, its answer as an `Attempt`: taken with `A`, or
 * busy with `B`), how long a busy answer says to wait (`retryAfterMs`), and what a success (`held`) or a final
 * refusal (`busy`) becomes.
 */
export interface Acquisition<L, A, B, E> {
  /** The span's name when the acquisition waits (e.g. `Heimdall.acquireLock`). */
  readonly span: string
  /** Whose metrics count its acquisitions, refusals and waits (`internal/metrics.ts`). */
  readonly metrics: Metrics.LeasedKind
  readonly attempt: (
    store: Store.HeimdallStore["Service"],
    fullKey: string,
    holder: string,
    leaseMs: number
  ) => Effect.Effect<Attempt<A, B>, Redis.RedisError>
  readonly retryAfterMs: (busy: B) => number
  readonly held: (key: string, holder: string, leaseMs: number, value: A) => L
  readonly busy: (key: string, busy: B) => E
}

/**
 * Takes a resource of `kind` for `holder` (default: a random id) for `lease` (its option is the kind's
 * `leaseOption`), waiting up to `wait` for a busy one (woken by releases): the held value, or the kind's refusal.
 * Invalid arguments fail with `InvalidArgument` naming the option and the value.
 */
export const acquire = <K, L extends K, A, B, E>(
  kind: Kind<K, L>,
  how: Acquisition<L, A, B, E>,
  key: string,
  options: {
    readonly holder?: string | undefined
    readonly lease: Duration.Input
    readonly wait?: Duration.Input | undefined
  }
): Effect.Effect<L, E | InvalidArgument | Redis.RedisError, Heimdall> =>
  Effect.flatMap(Heimdall, (heimdall): Effect.Effect<L, E | InvalidArgument | Redis.RedisError> => {
    const keyInvalid = keyError(key)
    if (keyInvalid !== undefined) return Effect.fail(keyInvalid)
    const leaseMs = millisOrInvalid(kind.leaseOption, options.lease, 1)
    if (typeof leaseMs !== "number") return Effect.fail(leaseMs)
    const waitMs = millisOrInvalid("wait", options.wait ?? 0, 0)
    if (typeof waitMs !== "number") return Effect.fail(waitMs)
    const holder = options.holder ?? randomId()
    const fullKey = kind.keyOf(heimdall, key)
    const run = (startedNanos: bigint | undefined) =>
      acquireWaiting(
        how.span,
        key,
        heimdall.store,
        fullKey,
        waitMs,
        how.attempt(heimdall.store, fullKey, holder, leaseMs),
        how.retryAfterMs,
        (result): Effect.Effect<L, E> =>
          result.ok
            ? Metrics.recordLeased(
                how.metrics,
                true,
                startedNanos,
                Effect.succeed(how.held(key, holder, leaseMs, result.value))
              )
            : Metrics.recordLeased(how.metrics, false, startedNanos, Effect.fail(how.busy(key, result.busy)))
      )
    // the time an acquisition that may wait takes is recorded (from here, its first attempt's round trip included)
    return waitMs > 0 ? Effect.flatMap(Metrics.monotonicNanos, run) : run(undefined)
  })

/** Releases a held resource if, and only if, its holder still holds it. Returns whether it did. */
export const release =
  <K, L extends K>(kind: Kind<K, L>) =>
  (held: K): Effect.Effect<boolean, Redis.RedisError, Heimdall> =>
    Effect.flatMap(Heimdall, (h) => kind.release(h.store, kind.keyOf(h, kind.key(held)), kind.holder(held)))

/** Renews a held resource's lease to `lease` from now (default: its own), only while its holder still holds it. */
export const extend =
  <K, L extends K>(kind: Kind<K, L>) =>
  (held: L, lease?: Duration.Input): Effect.Effect<boolean, Redis.RedisError | InvalidArgument, Heimdall> =>
    Effect.gen(function* () {
      const h = yield* Heimdall
      const leaseMs = yield* millisOf(kind.leaseOption, lease ?? kind.lease(held), 1)
      return yield* kind.extend(h.store, kind.keyOf(h, kind.key(held)), kind.holder(held), leaseMs)
    })

/**
 * Runs `self` while holding what `acquire` takes: released when `self` succeeds, fails or is interrupted (the
 * acquisition is uninterruptible, as an acquireRelease's, so what it took is always released); renewed every third
 * of its lease while `self` runs unless `keepAlive` is false, a lost lease interrupting `self` with `LockLost`.
 * The release is holder-checked: when it finds the resource no longer this holder's (it lapsed while `self` ran and
 * may have been taken by someone else), the result is `LockLost` instead of `self`'s success or typed failure
 * (defects and interruptions are kept as they are). A release that cannot reach the backend leaves the resource to
 * its lease and keeps `self`'s result.
 */
export const withHeld = <K, L extends K, A, E, R, E2>(
  kind: Kind<K, L>,
  acquire: Effect.Effect<L, E2, Heimdall>,
  self: Effect.Effect<A, E, R>,
  keepAlive: boolean
): Effect.Effect<A, E | E2 | LockLost | Redis.RedisError, R | Heimdall> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      const held = yield* acquire
      const h = yield* Heimdall
      const fullKey = kind.keyOf(h, kind.key(held))
      const holder = kind.holder(held)
      const lost = () => new LockLost({ key: kind.key(held), owner: holder })
      const leaseMs = Duration.toMillis(kind.lease(held))
      const running = keepAlive
        ? Effect.raceFirst(
            self,
            Effect.andThen(
              keepUntilLost(() => kind.extend(h.store, fullKey, holder, leaseMs), Math.max(1, Math.floor(leaseMs / 3))),
              Effect.suspend(() => Effect.fail(lost()))
            )
          )
        : self
      const exit = yield* Effect.exit(restore(running))
      // holder-checked: false when the resource lapsed (or was force-released) at some point while `self` ran
      const released = yield* Effect.exit(kind.release(h.store, fullKey, holder))
      const wasLost =
        Exit.isSuccess(released) &&
        !released.value &&
        (Exit.isSuccess(exit) || !(Cause.hasDies(exit.cause) || Cause.hasInterrupts(exit.cause)))
      return yield* wasLost ? Effect.fail(lost()) : exit
    })
  )
