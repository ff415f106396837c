/**
 * **For backend authors.** The low-level contract every effect-heimdall
 * backend implements for the primitives. `Heimdall` builds locks, rate limits,
 * concurrency limits and only-after on it; users never call a store directly
 * (`Heimdall.layerMemory` and `Heimdall.layerRedis` provide one), but a custom
 * backend is one `HeimdallStore` service, given to `Heimdall.layerStore`.
 *
 * **Contract** (the conformance suite checks each point on every backend)
 *
 * - Every operation is atomic: no other operation on the same key interleaves
 *   with it. In Redis each one is a single Lua script or command.
 * - Time is the backend's own: Redis `TIME` in Redis, Effect's `Clock` in
 *   memory. Callers pass durations, never timestamps.
 * - Keys arrive fully prefixed; the store adds nothing.
 * - Locks: a lock is held by one owner until released by that owner, force
 *   released, or expired. `lockAcquire` by the current owner extends the lock
 *   and keeps its fence. Each acquisition by a new owner gets a fence greater
 *   than every earlier fence of that key. (Redis: `max(previous + 1, TIME in
 *   µs)`, so after a failover that lost the last acquisitions the promoted
 *   replica's clock keeps fences increasing; see the README, "Durability and
 *   failover", for the clock condition.)
 * - Rate limits: `rateTake` never lets any window of length `per` hold more
 *   than `times` units of a limit, reservations included. Admissions are
 *   booked in non-decreasing time order: a reservation holds its place, and a
 *   later take waits behind it. All limits of a call admit together or not at
 *   all.
 * - Slots: at most `limit` holders with a live lease; a lease that ended frees
 *   its slot. Re-acquiring renews the holder's lease.
 * - Releases of locks and slots are announced: `awaitRelease(key)` registers
 *   first, then returns an effect that completes on the next release of `key`
 *   (it may also complete spuriously; callers re-check).
 * - Every key written expires or is deleted: nothing grows forever.
 *
 * @since 0.1.0
 */

import { Context, type Effect, type Option, type Scope } from "effect"
import type { RedisError } from "effect/persistence/Redis"
import type { LockAcquireResult, LockState } from "./internal/locks.ts"

export type { LockAcquireResult, LockState } from "./internal/locks.ts"

/**
 * One limit of a rate-limit call: at most `times` units in any window of `perMs`.
 *
 * @category models
 * @since 0.1.0
 */
export interface RateLimitSpec {
  readonly key: string
  readonly times: number
  readonly perMs: number
}

/**
 * A rate limit's key as a store holds it (`rateList`): the admissions' times (µs, oldest first, booked ones after
 * `nowUs`), when its log expires (µs: its latest admission plus the longest window it was booked with), and the
 * limits this store was called with for it (none in a process that did not use the key).
 *
 * @category models
 * @since 0.2.0
 */
export interface RateUsage {
  readonly key: string
  readonly nowUs: number
  readonly admissions: ReadonlyArray<number>
  readonly expiresAtUs: number
  readonly known: ReadonlyArray<{ readonly times: number; readonly perMs: number }>
}

/**
 * A concurrency limit's key as a store holds it (`slotList`): its holders whose lease has not ended (lease end, ms,
 * soonest first), and its limit when this store was called with it.
 *
 * @category models
 * @since 0.2.0
 */
export interface SlotUsage {
  readonly key: string
  readonly nowMs: number
  readonly holders: ReadonlyArray<{ readonly holder: string; readonly leaseEndMs: number }>
  readonly limit: number | undefined
}

/**
 * A rate-limit call.
 *
 * - `take` admits now or denies; admissions are booked in non-decreasing time
 *   order, so a take waits behind existing reservations.
 * - `reserve` books the earliest free slot at or after `offsetMs` from now,
 *   unless it is more than `maxDelayMs` away.
 * - `task`: take, else book the earliest slot, in one step, for a task about
 *   to start; the answered delay adds `offsetMs` (the caller's jitter) to the
 *   slot, so waiters spread out while bookings stay where they are.
 * - `booked`: a task at the slot it booked (under the same `id`): the booking
 *   becomes an admission now if the admissions up to now leave room in the
 *   window ending now (later bookings are places in line, not admissions);
 *   else it books again at the moment they leave room (delay plus `offsetMs`),
 *   keeping its place in line. So actual starts never exceed the limit, even
 *   late ones. With `maxDelayMs`, a booking again that would be further away
 *   is denied instead, and the old booking is dropped (a denial holds
 *   nothing). An admission checked again this way (its reply came late) moves
 *   to now.
 *
 * @category models
 * @since 0.1.0
 */
export interface RateRequest {
  readonly limits: ReadonlyArray<RateLimitSpec>
  readonly cost: number
  readonly mode: "take" | "reserve" | "task" | "booked"
  readonly maxDelayMs: number | undefined
  /** The earliest booked slot, in ms from now (a caller's jitter). */
  readonly offsetMs: number
  /** Names this call's units (`booked` replaces the units booked under the same id). Default: random. */
  readonly id?: string | undefined
}

/**
 * The answer of `rateTake`.
 *
 * - admitted: `delayMs` until the booked slot (0 for an immediate take);
 *   `remaining` is the fewest units left in a window, on `limitIndex`.
 * - denied: `delayMs` until a slot opens; `limitIndex` is the full limit.
 *
 * @category models
 * @since 0.1.0
 */
export interface RateResult {
  readonly admitted: boolean
  readonly delayMs: number
  readonly remaining: number
  readonly limitIndex: number
  /** The backend's time of the decision, epoch milliseconds (fractional: microsecond precision). */
  readonly nowMs: number
}

/**
 * The answer of `slotAcquire`.
 *
 * @category models
 * @since 0.1.0
 */
export type SlotResult =
  | { readonly _tag: "Acquired"; readonly holders: number }
  | { readonly _tag: "Full"; readonly holders: number; readonly retryAfterMs: number }

/**
 * The backend operations, each atomic (see the module documentation).
 *
 * @category services
 * @since 0.1.0
 */
export class HeimdallStore extends Context.Service<
  HeimdallStore,
  {
    readonly lockAcquire: (key: string, owner: string, ttlMs: number) => Effect.Effect<LockAcquireResult, RedisError>
    readonly lockRelease: (key: string, owner: string) => Effect.Effect<boolean, RedisError>
    readonly lockForceRelease: (key: string) => Effect.Effect<boolean, RedisError>
    readonly lockExtend: (key: string, owner: string, ttlMs: number) => Effect.Effect<boolean, RedisError>
    readonly lockInspect: (key: string) => Effect.Effect<Option.Option<LockState>, RedisError>
    /** Held locks whose key starts with `prefix`, sorted by key. */
    readonly lockList: (
      prefix: string
    ) => Effect.Effect<ReadonlyArray<LockState & { readonly key: string }>, RedisError>
    readonly rateTake: (request: RateRequest) => Effect.Effect<RateResult, RedisError>
    /** Forgets every admission and booking of a rate limit's key (`Admin.resetRateLimit`); `true` if it had any. */
    readonly rateReset: (key: string) => Effect.Effect<boolean, RedisError>
    /** Rate limits whose key starts with `prefix`, sorted by key, as stored (read only; `Inspector.limits`). */
    readonly rateList: (prefix: string) => Effect.Effect<ReadonlyArray<RateUsage>, RedisError>
    /** Concurrency limits whose key starts with `prefix`, sorted by key, as stored (read only; `Inspector.limits`). */
    readonly slotList: (prefix: string) => Effect.Effect<ReadonlyArray<SlotUsage>, RedisError>
    readonly slotAcquire: (
      key: string,
      holder: string,
      limit: number,
      leaseMs: number
    ) => Effect.Effect<SlotResult, RedisError>
    readonly slotRelease: (key: string, holder: string) => Effect.Effect<boolean, RedisError>
    readonly slotExtend: (key: string, holder: string, leaseMs: number) => Effect.Effect<boolean, RedisError>
    /** `true` at most once per `periodMs` for a key. */
    readonly onlyAfter: (key: string, periodMs: number) => Effect.Effect<boolean, RedisError>
    /** Registers interest in the next release of `key` (a lock or slot) for the current scope. */
    readonly awaitRelease: (key: string) => Effect.Effect<Effect.Effect<void>, RedisError, Scope.Scope>
    /**
     * Whether `keys` cannot be checked in one atomic call: on a Redis Cluster, keys in different hash slots (a
     * `rateTake` with several limits needs their keys in one slot). Absent: any keys can (one server, memory).
     */
    readonly crossSlot?: ((keys: ReadonlyArray<string>) => boolean) | undefined
  }
>()("effect-heimdall/HeimdallStore") {}
