/**
 * Durations as milliseconds: the one place a `Duration.Input` becomes a number
 * of milliseconds (`validate.ts` adds the checks and the `InvalidArgument` on
 * top). Fit for hot paths (a rate-limit take per call, a rate-limited task's
 * limit per start): duration strings are parsed once.
 */
import { Duration } from "effect"

/** Parsed duration strings ("30 seconds" -> 30000). Bounded: cleared when full. */
const parsedMillis = new Map<string, number>()

/** A duration input as milliseconds (not rounded, possibly infinite); `undefined` when it is not a duration. */
export const toMillis = (input: Duration.Input): number | undefined => {
  if (typeof input === "string") {
    const cached = parsedMillis.get(input)
    if (cached !== undefined) return cached
  }
  let ms: number
  try {
    ms = Duration.toMillis(Duration.fromInputUnsafe(input))
  } catch {
    return undefined
  }
  if (typeof input === "string") {
    if (parsedMillis.size >= 1024) parsedMillis.clear()
    parsedMillis.set(input, ms)
  }
  return ms
}

/** A finite duration input as milliseconds; `undefined` when it is not one. */
export const finiteMillis = (input: Duration.Input): number | undefined => {
  const ms = toMillis(input)
  return ms !== undefined && Number.isFinite(ms) ? ms : undefined
}

/**
 * A duration input that was validated already (see `validate.ts`), or `fallback` when it is absent, as
 * milliseconds (not rounded). Throws, as `Duration.fromInputUnsafe` does, on an input that is not a duration.
 */
export const millisOr = (input: Duration.Input | undefined, fallback: Duration.Input): number => {
  const value = input ?? fallback
  return toMillis(value) ?? Duration.toMillis(Duration.fromInputUnsafe(value))
}

/** A duration as whole milliseconds, rounded to the nearest (for messages). */
export const roundedMillis = (duration: Duration.Duration): number => Math.round(Duration.toMillis(duration))
