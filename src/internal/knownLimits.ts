/**
 * The limits a store was called with, per key, so that `Inspector.limits` can show usage against them (the keys
 * hold only usage). At most `maxKeys` keys each, the oldest recorded dropped first; one map lookup per call when
 * nothing changed.
 */
import type { RateLimitSpec } from "../HeimdallStore.ts"

const maxKeys = 10_000

export interface KnownLimits {
  readonly rate: (limits: ReadonlyArray<RateLimitSpec>) => void
  readonly slot: (key: string, limit: number) => void
  readonly rateOf: (key: string) => ReadonlyArray<{ readonly times: number; readonly perMs: number }>
  readonly slotOf: (key: string) => number | undefined
}

const bounded = <V>(map: Map<string, V>, key: string, value: V) => {
  map.delete(key)
  map.set(key, value)
  if (map.size > maxKeys) map.delete(map.keys().next().value!)
}

export const make = (): KnownLimits => {
  const rates = new Map<string, ReadonlyArray<{ readonly times: number; readonly perMs: number }>>()
  const slots = new Map<string, number>()
  return {
    rate: (limits) => {
      if (limits.length === 1) {
        const { key, times, perMs } = limits[0]!
        const known = rates.get(key)
        if (known?.length !== 1 || known[0]!.times !== times || known[0]!.perMs !== perMs) {
          bounded(rates, key, [{ times, perMs }])
        }
        return
      }
      for (const { key } of limits) {
        const mine = limits.filter((l) => l.key === key)
        const known = rates.get(key)
        const same =
          known !== undefined &&
          known.length === mine.length &&
          known.every((k, i) => k.times === mine[i]!.times && k.perMs === mine[i]!.perMs)
        if (!same)
          bounded(
            rates,
            key,
            mine.map(({ times, perMs }) => ({ times, perMs }))
          )
      }
    },
    slot: (key, limit) => {
      if (slots.get(key) !== limit) bounded(slots, key, limit)
    },
    rateOf: (key) => rates.get(key) ?? [],
    slotOf: (key) => slots.get(key)
  }
}
