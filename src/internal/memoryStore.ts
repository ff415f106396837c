/**
 * The in-memory store of the primitives: the `HeimdallStore` contract on Effect's `Clock`, so under `TestClock`
 * locks expire and windows open exactly when the test moves time. Its lock table is shared with the memory queue
 * (a unique task's lock is a lock like any other): `Heimdall.layerMemory` builds both on one table.
 */
import { Clock, Effect, Option } from "effect"
import { HeimdallStore, type RateResult, type SlotResult } from "../HeimdallStore.ts"
import { randomId } from "./id.ts"
import * as KnownLimits from "./knownLimits.ts"
import type { LockTable } from "./locks.ts"

/** A memory store over `table`. */
export const make = (table: LockTable): HeimdallStore["Service"] => {
  const rates = new Map<string, Array<{ readonly at: number; readonly id: string }>>() // by time (µs)
  const rateExpiry = new Map<string, number>() // when a key's log is all out of every window (µs), as Redis' PEXPIRE
  const slots = new Map<string, Map<string, number>>() // holder -> lease end
  const onlyAfters = new Map<string, number>() // key -> expiry
  const known = KnownLimits.make()
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
    rateReset: (key) =>
      withNow((_, nowUs) => {
        // as Redis' DEL: the log exists while it has entries, until its expiry (its last entry out of every window)
        const had = (rates.get(key)?.length ?? 0) > 0 && (rateExpiry.get(key) ?? Number.POSITIVE_INFINITY) > nowUs
        rates.delete(key)
        rateExpiry.delete(key)
        return had
      }),
    rateList: (prefix) =>
      withNow((_, nowUs) =>
        [...rates.keys()]
          .filter((key) => key.startsWith(prefix) && (rateExpiry.get(key) ?? 0) > nowUs && rates.get(key)!.length > 0)
          .sort()
          .map((key) => ({
            key,
            nowUs,
            admissions: rates.get(key)!.map((e) => e.at),
            expiresAtUs: rateExpiry.get(key)!,
            known: known.rateOf(key)
          }))
      ),
    slotList: (prefix) =>
      withNow((now) =>
        [...slots.keys()]
          .filter((key) => key.startsWith(prefix))
          .sort()
          .flatMap((key) => {
            const holders = [...(liveLeases(key, now) ?? [])]
              .map(([holder, leaseEndMs]) => ({ holder, leaseEndMs }))
              .sort((a, b) => a.leaseEndMs - b.leaseEndMs)
            return holders.length === 0 ? [] : [{ key, nowMs: now, holders, limit: known.slotOf(key) }]
          })
      ),
    rateTake: (request) =>
      withNow((_, now): RateResult => {
        // microseconds, as in Redis: the bound holds in real time, not only in whole milliseconds
        const { cost, mode } = request
        known.rate(request.limits)
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
        known.slot(key, limit)
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
}
