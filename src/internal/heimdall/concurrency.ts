/** Concurrency limits: `acquireSlot`, `releaseSlot`, `extendSlot` and `withConcurrencyLimit`. */
import { Duration, Effect } from "effect"
import { dual } from "effect/Function"
import type * as Redis from "effect/persistence/Redis"
import { ConcurrencyLimited, type InvalidArgument, LockLost } from "../../Errors.ts"
import { randomId } from "../id.ts"
import * as Layout from "../layout.ts"
import {
  type Attempt,
  acquireWaiting,
  countOrInvalid,
  keyError,
  millisOf,
  millisOrInvalid,
  whileKept
} from "./common.ts"
import { Heimdall } from "./service.ts"

/**
 * A held concurrency slot.
 *
 * @category models
 * @since 0.1.0
 */
export interface Slot {
  readonly key: string
  readonly holder: string
  readonly lease: Duration.Duration
  /** Holders, this one included, right after it acquired. */
  readonly holders: number
}

/**
 * Options of `acquireSlot` and `withConcurrencyLimit`.
 *
 * @category models
 * @since 0.1.0
 */
export interface SlotOptions {
  /** At most this many holders at once. */
  readonly limit: number
  /** How long a slot lives unless released or renewed; a dead holder frees it after this. Default 1 minute. */
  readonly lease?: Duration.Input | undefined
  /** Who holds it. Default: a random id (16 URL-safe characters). */
  readonly holder?: string | undefined
  /** How long to wait for a free slot, woken by releases. Default: 0, fail at once. */
  readonly wait?: Duration.Input | undefined
}

/**
 * Takes one of `limit` slots of a key (a distributed semaphore with leases),
 * or fails with `ConcurrencyLimited`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const program = Effect.gen(function* () {
 *   const slot = yield* Heimdall.acquireSlot("exports", { limit: 3, lease: "1 minute" })
 *   yield* Effect.log(`holding one of 3 slots (${slot.holders} in use)`)
 *   yield* Heimdall.releaseSlot(slot)
 * })
 * ```
 *
 * @category concurrency limits
 * @since 0.1.0
 */
export const acquireSlot = (
  key: string,
  options: SlotOptions
): Effect.Effect<Slot, ConcurrencyLimited | InvalidArgument | Redis.RedisError, Heimdall> =>
  Effect.flatMap(Heimdall, (heimdall): Effect.Effect<Slot, ConcurrencyLimited | InvalidArgument | Redis.RedisError> => {
    const keyInvalid = keyError(key)
    if (keyInvalid !== undefined) return Effect.fail(keyInvalid)
    const limit = countOrInvalid("limit", options.limit)
    if (typeof limit !== "number") return Effect.fail(limit)
    const leaseMs = millisOrInvalid("lease", options.lease ?? "1 minute", 1)
    if (typeof leaseMs !== "number") return Effect.fail(leaseMs)
    const waitMs = millisOrInvalid("wait", options.wait ?? 0, 0)
    if (typeof waitMs !== "number") return Effect.fail(waitMs)
    const holder = options.holder ?? randomId()
    const fullKey = Layout.slotKey(heimdall.concurrencyPrefix, key)
    return acquireWaiting(
      "Heimdall.acquireSlot",
      key,
      heimdall.store,
      fullKey,
      waitMs,
      Effect.map(
        heimdall.store.slotAcquire(fullKey, holder, limit, leaseMs),
        (r): Attempt<number, { holders: number; retryAfterMs: number }> =>
          r._tag === "Acquired" ? { ok: true, value: r.holders } : { ok: false, busy: r }
      ),
      (full) => full.retryAfterMs,
      (result): Effect.Effect<Slot, ConcurrencyLimited> =>
        result.ok
          ? Effect.succeed({ key, holder, lease: Duration.millis(leaseMs), holders: result.value })
          : Effect.fail(
              new ConcurrencyLimited({
                key,
                limit,
                holders: result.busy.holders,
                retryAfter: Duration.millis(Math.max(0, result.busy.retryAfterMs))
              })
            )
    )
  })

/**
 * Gives a slot back, only if its holder still has it. Returns whether it did.
 *
 * @category concurrency limits
 * @since 0.1.0
 */
export const releaseSlot = (slot: Pick<Slot, "key" | "holder">): Effect.Effect<boolean, Redis.RedisError, Heimdall> =>
  Effect.flatMap(Heimdall, (h) => h.store.slotRelease(Layout.slotKey(h.concurrencyPrefix, slot.key), slot.holder))

/**
 * Renews a slot's lease (default: its own lease), only while its holder still
 * has it. Returns whether it did.
 *
 * @category concurrency limits
 * @since 0.1.0
 */
export const extendSlot = (
  slot: Pick<Slot, "key" | "holder" | "lease">,
  lease?: Duration.Input
): Effect.Effect<boolean, Redis.RedisError | InvalidArgument, Heimdall> =>
  Effect.gen(function* () {
    const h = yield* Heimdall
    const leaseMs = yield* millisOf("lease", lease ?? slot.lease, 1)
    return yield* h.store.slotExtend(Layout.slotKey(h.concurrencyPrefix, slot.key), slot.holder, leaseMs)
  })

/**
 * Runs an effect in one of `limit` slots of a key: at most `limit` such
 * effects run at once across every process. The slot is released when the
 * effect ends and renewed while it runs (a lost lease interrupts it with
 * `LockLost`). All slots taken: `ConcurrencyLimited`, after the optional wait.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const render = Effect.log("rendering").pipe(
 *   Heimdall.withConcurrencyLimit("renderer", { limit: 4, wait: "30 seconds" })
 * )
 * ```
 *
 * @category concurrency limits
 * @since 0.1.0
 */
export const withConcurrencyLimit: {
  (
    key: string,
    options: SlotOptions
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | ConcurrencyLimited | LockLost | InvalidArgument | Redis.RedisError, R | Heimdall>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    key: string,
    options: SlotOptions
  ): Effect.Effect<A, E | ConcurrencyLimited | LockLost | InvalidArgument | Redis.RedisError, R | Heimdall>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, key: string, options: SlotOptions) =>
    Effect.scoped(
      Effect.gen(function* () {
        const slot = yield* Effect.acquireRelease(acquireSlot(key, options), (slot) => Effect.ignore(releaseSlot(slot)))
        const heimdall = yield* Heimdall
        const leaseMs = Duration.toMillis(slot.lease)
        return yield* whileKept(
          self,
          Math.max(1, Math.floor(leaseMs / 3)),
          heimdall.store.slotExtend(Layout.slotKey(heimdall.concurrencyPrefix, key), slot.holder, leaseMs),
          () => new LockLost({ key, owner: slot.holder })
        )
      })
    )
)
