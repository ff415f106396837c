/** What the concept modules share: argument checks adapted to Effects, waiting for a release. */
import { Clock, type Duration, Effect } from "effect"
import type * as Redis from "effect/persistence/Redis"
import { InvalidArgument } from "../../Errors.ts"
import type * as Store from "../../HeimdallStore.ts"
import * as validate from "../validate.ts"

// The checks are the shared policy of src/internal/validate.ts; these helpers adapt them to this module's calls.

export const invalid = (argument: string, value: unknown, reason: string) =>
  Effect.fail(validate.invalid(argument, value, reason))

/** `undefined` for a usable key (a non-empty string), else the error. */
export const keyError = (key: unknown, argument = "key"): InvalidArgument | undefined => {
  const checked = validate.nonEmpty(argument, key)
  return checked instanceof InvalidArgument ? checked : undefined
}

export const checkKey = (key: string) => {
  const error = keyError(key)
  return error === undefined ? Effect.void : Effect.fail(error)
}

/** A duration as whole milliseconds (rounded up), finite and at least `min` (0 or 1), or why not. */
export const millisOrInvalid = (argument: string, input: Duration.Input, min: 0 | 1): number | InvalidArgument =>
  validate.durationMillis(argument, input, min)

/** A duration as whole milliseconds, at least `min`. */
export const millisOf = (argument: string, input: Duration.Input, min: 0 | 1) =>
  Effect.suspend(() => {
    const ms = millisOrInvalid(argument, input, min)
    return typeof ms === "number" ? Effect.succeed(ms) : Effect.fail(ms)
  })

export const countOrInvalid = (argument: string, n: number, min: 0 | 1 = 1): number | InvalidArgument =>
  validate.integer(argument, n, min)

export type Attempt<A, B> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly busy: B }

/**
 * Tries `attempt` until it succeeds or `waitMs` has passed. Between tries it
 * sleeps until the key is released (announced by the backend) or until
 * `retryAfterMs` of the last refusal, whichever comes first: no polling loop.
 */
export const tryWithWait = <A, B>(
  store: Store.HeimdallStore["Service"],
  fullKey: string,
  waitMs: number,
  attempt: Effect.Effect<Attempt<A, B>, Redis.RedisError>,
  retryAfterMs: (busy: B) => number
): Effect.Effect<Attempt<A, B>, Redis.RedisError> =>
  waitMs <= 0
    ? attempt
    : Effect.gen(function* () {
        const deadline = (yield* Clock.currentTimeMillis) + waitMs
        while (true) {
          const next = yield* Effect.scoped(
            Effect.gen(function* () {
              const left = deadline - (yield* Clock.currentTimeMillis)
              if (left <= 0) return yield* attempt
              const released = yield* store.awaitRelease(fullKey)
              const result = yield* attempt
              if (result.ok) return result
              yield* Effect.timeoutOption(released, Math.max(1, Math.min(left, retryAfterMs(result.busy) + 1)))
              return undefined
            })
          )
          if (next !== undefined) return next
        }
      })

/**
 * A span around an acquisition that may wait (`waitMs` > 0), where the time
 * spent waiting is worth seeing in a trace. An instant attempt has none: it is
 * one Redis round trip, and a span would cost about as much client time.
 */
export const traceWait = <A, E, R>(name: string, key: string, waitMs: number, effect: Effect.Effect<A, E, R>) =>
  waitMs > 0 ? Effect.withSpan(effect, name, { attributes: { key, waitMs } }) : effect

/** An acquisition (lock or slot): `attempt`, retried by `tryWithWait` for up to `waitMs`, then `settle`d. */
export const acquireWaiting = <A, B, O, E>(
  name: string,
  key: string,
  store: Store.HeimdallStore["Service"],
  fullKey: string,
  waitMs: number,
  attempt: Effect.Effect<Attempt<A, B>, Redis.RedisError>,
  retryAfterMs: (busy: B) => number,
  settle: (result: Attempt<A, B>) => Effect.Effect<O, E>
): Effect.Effect<O, E | Redis.RedisError> =>
  traceWait(name, key, waitMs, Effect.flatMap(tryWithWait(store, fullKey, waitMs, attempt, retryAfterMs), settle))
