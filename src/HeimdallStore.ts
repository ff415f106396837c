/**
 * The low-level contract every effect-heimdall backend implements, and the
 * in-memory backend. `Heimdall` builds locks, rate limits, concurrency limits
 * and only-after on it; users normally never call a store directly, but a
 * custom backend is one `HeimdallStore` layer.
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
 *   than every earlier fence of that key.
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

import { Clock, Context, Effect, Layer, Option, type Scope } from "effect"
import type { RedisError } from "effect/persistence/Redis"
import { randomId } from "./internal/id.ts"
import type { LockAcquireResult, LockState } from "./internal/locks.ts"
import { lockTable } from "./internal/locks.ts"

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
  }
>()("effect-heimdall/HeimdallStore") {}

/**
 * The in-memory backend: the same contract on Effect's `Clock`, so under
 * `TestClock` locks expire and windows open exactly when the test moves time.
 * For tests and single-process apps; state lives in this layer instance.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<HeimdallStore> = Layer.effect(
  HeimdallStore,
  Effect.map(lockTable, (table) => {
    const rates = new Map<string, Array<{ readonly at: number; readonly id: string }>>() // by time (µs)
    const rateExpiry = new Map<string, number>() // when a key's log is all out of every window (µs), as Redis' PEXPIRE
    const slots = new Map<string, Map<string, number>>() // holder -> lease end
    const onlyAfters = new Map<string, number>() // key -> expiry
    let operations = 0

    /** Drops expired state now and then, so that abandoned keys do not pile up. */
    const sweep = (now: number) => {
      if (++operations % 1024 !== 0) return
      table.sweep(now)
      for (const [key, until] of onlyAfters) if (until <= now) onlyAfters.delete(key)
      for (const [key, leases] of slots) {
        for (const [holder, end] of leases) if (end <= now) leases.delete(holder)
        if (leases.size === 0) slots.delete(key)
      }
      for (const [key, until] of rateExpiry) {
        if (until <= now * 1000) {
          rateExpiry.delete(key)
          rates.delete(key)
        }
      }
    }
    const withNow = <A>(f: (nowMs: number, nowUs: number) => A): Effect.Effect<A> =>
      Effect.map(Clock.currentTimeNanos, (nanos) => {
        const nowUs = Number(nanos / 1000n)
        const nowMs = Math.floor(nowUs / 1000)
        sweep(nowMs)
        return f(nowMs, nowUs)
      })
    const liveLeases = (key: string, now: number) => {
      const leases = slots.get(key)
      if (!leases) return undefined
      for (const [holder, end] of leases) if (end <= now) leases.delete(holder)
      return leases
    }

    return HeimdallStore.of({
      lockAcquire: (key, owner, ttlMs) => withNow((now, nowUs) => table.take(key, owner, ttlMs, now, nowUs)),
      lockRelease: (key, owner) => withNow((now) => table.free(key, owner, now)),
      lockForceRelease: (key) => withNow((now) => table.free(key, undefined, now)),
      lockExtend: (key, owner, ttlMs) => withNow((now) => table.extend(key, owner, ttlMs, now)),
      lockInspect: (key) => withNow((now) => Option.fromUndefinedOr(table.holder(key, now))),
      lockList: (prefix) =>
        withNow((now) =>
          table
            .keys()
            .filter((key) => key.startsWith(prefix))
            .sort()
            .flatMap((key) => {
              const state = table.holder(key, now)
              return state === undefined ? [] : [{ key, ...state }]
            })
        ),
      rateTake: (request) =>
        withNow((_, now): RateResult => {
          // microseconds, as in Redis: the bound holds in real time, not only in whole milliseconds
          const { cost, mode } = request
          const id = request.id ?? randomId()
          const limits = request.limits.map((l) => ({ key: l.key, times: l.times, per: l.perMs * 1000 }))
          const longest = new Map<string, number>()
          for (const limit of limits) longest.set(limit.key, Math.max(longest.get(limit.key) ?? 0, limit.per))
          for (const [key, per] of longest) {
            const live = (rates.get(key) ?? []).filter((e) => e.at > now - per && !(mode === "booked" && e.id === id))
            rates.set(key, live)
          }
          const earliest = (from: number): [number, number] => {
            let at = from
            let full = 0
            limits.forEach((limit, i) => {
              const live = rates.get(limit.key)!
              let slot = at
              if (live.length > 0) {
                slot = Math.max(slot, live[live.length - 1]!.at)
                const keep = limit.times - cost
                if (live.length > keep) slot = Math.max(slot, live[live.length - keep - 1]!.at + limit.per)
              }
              if (slot > at) {
                at = slot
                full = i
              }
            })
            return [at, full]
          }
          const roomFrom = (): [number, number] => {
            let at = now
            let full = 0
            limits.forEach((limit, i) => {
              const inWindow = rates.get(limit.key)!.filter((e) => e.at > now - limit.per && e.at <= now)
              const excess = inWindow.length + cost - limit.times
              if (excess > 0) {
                const slot = inWindow[excess - 1]!.at + limit.per
                if (slot > at) {
                  at = slot
                  full = i
                }
              }
            })
            return [at, full]
          }
          const offset = request.offsetMs * 1000
          let at: number
          let wake: number | undefined
          let full = 0
          let admitted = true
          if (mode === "take") {
            ;[at, full] = earliest(now)
            admitted = at === now
          } else if (mode === "reserve") {
            ;[at, full] = earliest(now + offset)
            admitted = request.maxDelayMs === undefined || at - now <= request.maxDelayMs * 1000
          } else {
            // the booking holds the slot itself; the caller wakes up after it plus its jitter
            ;[at, full] = mode === "booked" ? roomFrom() : earliest(now)
            if (mode === "booked" && request.maxDelayMs !== undefined && at - now > request.maxDelayMs * 1000) {
              admitted = false
            } else if (at > now) wake = at - now + offset
          }
          if (admitted) {
            for (const [key, per] of longest) {
              const entries = rates.get(key)!
              let index = entries.length
              while (index > 0 && entries[index - 1]!.at > at) index--
              for (let j = 0; j < cost; j++) entries.splice(index, 0, { at, id })
              rateExpiry.set(key, entries[entries.length - 1]!.at + per)
            }
          }
          const ref = admitted ? at : now
          let remaining = Number.POSITIVE_INFINITY
          let remainingAt = full
          limits.forEach((limit, i) => {
            const left = limit.times - rates.get(limit.key)!.filter((e) => e.at > ref - limit.per).length
            if (left < remaining) {
              remaining = left
              remainingAt = i
            }
          })
          return {
            admitted,
            delayMs: Math.ceil((wake ?? at - now) / 1000),
            remaining,
            limitIndex: admitted ? remainingAt : full,
            nowMs: now / 1000
          }
        }),
      slotAcquire: (key, holder, limit, leaseMs) =>
        withNow((now): SlotResult => {
          const leases = liveLeases(key, now) ?? new Map<string, number>()
          slots.set(key, leases)
          if (leases.has(holder) || leases.size < limit) {
            leases.set(holder, now + leaseMs)
            return { _tag: "Acquired", holders: leases.size }
          }
          return { _tag: "Full", holders: leases.size, retryAfterMs: Math.min(...leases.values()) - now }
        }),
      slotRelease: (key, holder) =>
        withNow((now) => {
          const leases = liveLeases(key, now)
          if (!leases?.delete(holder)) return false
          table.releases.wakeAll(key)
          return true
        }),
      slotExtend: (key, holder, leaseMs) =>
        withNow((now) => {
          const leases = liveLeases(key, now)
          if (!leases?.has(holder)) return false
          leases.set(holder, now + leaseMs)
          return true
        }),
      onlyAfter: (key, periodMs) =>
        withNow((now) => {
          const until = onlyAfters.get(key)
          if (until !== undefined && until > now) return false
          onlyAfters.set(key, now + periodMs)
          return true
        }),
      awaitRelease: (key) => table.releases.register(key)
    })
  })
)
