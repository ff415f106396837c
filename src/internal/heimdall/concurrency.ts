/** Concurrency limits: `acquireSlot`, `releaseSlot`, `extendSlot` and `withConcurrencyLimit`. */
import { Duration, Effect } from "effect"
import { dual } from "effect/Function"
import type * as Redis from "effect/persistence/Redis"
import { ConcurrencyLimited, type InvalidArgument, type LockLost } from "../../Errors.ts"
import * as Layout from "../layout.ts"
import { type Attempt, countOrInvalid, keyError } from "./common.ts"
import * as Leased from "./leased.ts"
import type { Heimdall } from "./service.ts"

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
  Effect.suspend(() => {
    // the key first, as every call checks it first
    const keyInvalid = keyError(key)
    if (keyInvalid !== undefined) return Effect.fail(keyInvalid)
    const limit = countOrInvalid("limit", options.limit)
    if (typeof limit !== "number") return Effect.fail(limit)
    return Leased.acquire(slotKind, slotAcquisition(limit), key, {
      holder: options.holder,
      lease: options.lease ?? "1 minute",
      wait: options.wait
    })
  })

type Full = { readonly holders: number; readonly retryAfterMs: number }

const slotAcquisition = (limit: number): Leased.Acquisition<Slot, number, Full, ConcurrencyLimited> => ({
  span: "Heimdall.acquireSlot",
  metrics: "concurrency",
  attempt: (store, fullKey, holder, leaseMs) =>
    Effect.map(
      store.slotAcquire(fullKey, holder, limit, leaseMs),
      (r): Attempt<number, Full> => (r._tag === "Acquired" ? { ok: true, value: r.holders } : { ok: false, busy: r })
    ),
  retryAfterMs: (full) => full.retryAfterMs,
  held: (key, holder, leaseMs, holders) => ({ key, holder, lease: Duration.millis(leaseMs), holders }),
  busy: (key, full) =>
    new ConcurrencyLimited({
      key,
      limit,
      holders: full.holders,
      retryAfter: Duration.millis(Math.max(0, full.retryAfterMs))
    })
})

const slotKind: Leased.Kind<Pick<Slot, "key" | "holder">, Pick<Slot, "key" | "holder" | "lease">> = {
  keyOf: (h, key) => Layout.slotKey(h.config.concurrencyPrefix, key),
  release: (store, fullKey, holder) => store.slotRelease(fullKey, holder),
  extend: (store, fullKey, holder, leaseMs) => store.slotExtend(fullKey, holder, leaseMs),
  key: (slot) => slot.key,
  holder: (slot) => slot.holder,
  lease: (slot) => slot.lease,
  leaseOption: "lease"
}

/**
 * Gives a slot back, only if its holder still has it. Returns whether it did.
 *
 * @category concurrency limits
 * @since 0.1.0
 */
export const releaseSlot: (slot: Pick<Slot, "key" | "holder">) => Effect.Effect<boolean, Redis.RedisError, Heimdall> =
  Leased.release(slotKind)

/**
 * Renews a slot's lease (default: its own lease), only while its holder still
 * has it. Returns whether it did.
 *
 * @category concurrency limits
 * @since 0.1.0
 */
export const extendSlot: (
  slot: Pick<Slot, "key" | "holder" | "lease">,
  lease?: Duration.Input
) => Effect.Effect<boolean, Redis.RedisError | InvalidArgument, Heimdall> = Leased.extend(slotKind)

/**
 * Runs an effect in one of `limit` slots of a key: at most `limit` such
 * effects run at once across every process. The slot is released when the
 * effect ends and renewed while it runs (a lost lease interrupts it with
 * `LockLost`). All slots taken: `ConcurrencyLimited`, after the optional wait.
 * As with `withLock`, it succeeds only if the slot was held the whole time:
 * when the release finds the slot no longer this holder's (its lease lapsed
 * while renewals could not run, so another holder may have run beside it), the
 * result is `LockLost` instead of the effect's success or typed failure.
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
    Leased.withHeld(slotKind, acquireSlot(key, options), self, true)
)
