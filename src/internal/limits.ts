/**
 * `Inspector.limits`: the rate limits and concurrency limits of a backend's store, with their usage, computed the
 * same way for both stores from what they hold (`HeimdallStore.rateList`, `slotList`).
 */
import { Effect } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { HeimdallStore, RateUsage, SlotUsage } from "../HeimdallStore.ts"

/**
 * A rate limit's key and its usage, as `Inspector.limits` lists it. A key holds its admissions' times only, so the
 * limit (`times` per window) is known where this process called the key (`limits`); the window comes from those
 * limits, else from the key's expiry (its latest admission plus the longest window it was booked with).
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const line = (r: Inspector.RateLimitEntry) =>
 *   `${r.key}: ${r.admitted} in the last ${r.windowMillis} ms, ${r.booked} booked` +
 *   (r.limits.length > 0 ? ` (limit ${r.limits[0]!.times})` : "")
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export interface RateLimitEntry {
  /** The key without the rate-limit prefix. */
  readonly key: string
  /** The longest window the key is used with (ms). */
  readonly windowMillis: number
  /** Units admitted in the window that ends now. */
  readonly admitted: number
  /** Units booked for later (reservations, rate-limited tasks' slots). */
  readonly booked: number
  /** When the latest booked unit is due (epoch ms), `undefined` when none is booked. */
  readonly bookedUntil: number | undefined
  /** The limits this process called the key with, each with the units used in its window now; `[]` when unknown. */
  readonly limits: ReadonlyArray<{ readonly times: number; readonly perMillis: number; readonly used: number }>
  /**
   * When a call of one unit would be admitted next (epoch ms: now, or a later slot behind bookings and full
   * windows), by the known limits; `undefined` when none is known.
   */
  readonly nextFreeAt: number | undefined
}

/**
 * A concurrency limit's key and its holders, as `Inspector.limits` lists it: holders whose lease has not ended,
 * soonest end first, and the limit when this process called the key with it.
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const line = (c: Inspector.ConcurrencyLimitEntry) => `${c.key}: ${c.holders.length}/${c.limit ?? "?"} held`
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export interface ConcurrencyLimitEntry {
  /** The key without the concurrency-limit prefix. */
  readonly key: string
  readonly limit: number | undefined
  readonly holders: ReadonlyArray<{ readonly holder: string; readonly expiresInMillis: number }>
}

/**
 * What `Inspector.limits` returns: rate limits and concurrency limits in use, each sorted by key.
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const busy = (l: Inspector.Limits) => l.concurrency.filter((c) => c.holders.length === c.limit).map((c) => c.key)
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export interface Limits {
  readonly rate: ReadonlyArray<RateLimitEntry>
  readonly concurrency: ReadonlyArray<ConcurrencyLimitEntry>
}

/** A rate limit's entry from its stored log (times in µs). */
export const rateEntry = (usage: RateUsage, prefixLength: number): RateLimitEntry => {
  const { nowUs: now, admissions, known } = usage
  const last = admissions[admissions.length - 1]!
  const windowUs =
    known.length > 0 ? Math.max(...known.map((l) => l.perMs)) * 1000 : Math.max(0, usage.expiresAtUs - last)
  let admitted = 0
  let booked = 0
  for (const at of admissions) {
    if (at > now) booked++
    else if (at > now - windowUs) admitted++
  }
  // as a take of one unit: behind every booking, and where a window holds `times`, after its oldest unit leaves
  let next = Math.max(now, last)
  const limits = known.map(({ times, perMs }) => {
    const per = perMs * 1000
    const live = admissions.filter((at) => at > now - per)
    if (live.length >= times) next = Math.max(next, live[live.length - times]! + per)
    return { times, perMillis: perMs, used: live.filter((at) => at <= now).length }
  })
  return {
    key: usage.key.slice(prefixLength),
    windowMillis: Math.round(windowUs / 1000),
    admitted,
    booked,
    bookedUntil: booked > 0 ? Math.floor(last / 1000) : undefined,
    limits,
    nextFreeAt: known.length > 0 ? Math.ceil(next / 1000) : undefined
  }
}

/** A concurrency limit's entry from its stored holders. */
export const slotEntry = (usage: SlotUsage, prefixLength: number): ConcurrencyLimitEntry => ({
  key: usage.key.slice(prefixLength),
  limit: usage.limit,
  holders: usage.holders.map((h) => ({ holder: h.holder, expiresInMillis: Math.max(0, h.leaseEndMs - usage.nowMs) }))
})

/** Every rate limit under `ratePrefix + prefix` and concurrency limit under `concurrencyPrefix + prefix`. */
export const list = (
  store: HeimdallStore["Service"],
  ratePrefix: string,
  concurrencyPrefix: string,
  prefix: string
): Effect.Effect<Limits, Redis.RedisError> =>
  Effect.map(
    Effect.all([store.rateList(ratePrefix + prefix), store.slotList(concurrencyPrefix + prefix)]),
    ([rates, slots]) => ({
      rate: rates.map((u) => rateEntry(u, ratePrefix.length)),
      concurrency: slots.map((u) => slotEntry(u, concurrencyPrefix.length))
    })
  )
