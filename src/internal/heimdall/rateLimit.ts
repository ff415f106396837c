/** Rate limits: `take`, `reserve` and `withRateLimit`, exact sliding windows on the backend's clock. */
import { Duration, Effect, Random } from "effect"
import { dual } from "effect/Function"
import type * as Redis from "effect/persistence/Redis"
import { InvalidArgument, RateLimited } from "../../Errors.ts"
import type * as Store from "../../HeimdallStore.ts"
import { randomId } from "../id.ts"
import * as Layout from "../layout.ts"
import * as Metrics from "../metrics.ts"
import * as RateStart from "../rateStart.ts"
import { crossSlotInvalid } from "../slot.ts"
import * as validate from "../validate.ts"
import { countOrInvalid, invalid, keyError, millisOrInvalid } from "./common.ts"
import { Heimdall } from "./service.ts"

/**
 * A rate limit: at most `times` units in any window of length `per`. `key`
 * lets one call check limits of other keys too (for example a per-customer
 * limit and a global one); by default a limit applies to the call's key.
 *
 * @category models
 * @since 0.1.0
 */
export interface Limit {
  readonly times: number
  readonly per: Duration.Input
  readonly key?: string | undefined
}

/**
 * One limit, several limits checked together (all or nothing), or a function
 * computing them from the key at call time (the dynamic rate limit), possibly
 * with an effect (e.g. a lookup of the customer's plan).
 *
 * @category models
 * @since 0.1.0
 */
export type Limits<E = never, R = never> =
  | Limit
  | ReadonlyArray<Limit>
  | ((key: string) => Limit | ReadonlyArray<Limit> | Effect.Effect<Limit | ReadonlyArray<Limit>, E, R>)

/**
 * An admission: `delay` until the booked slot (zero for `take`), and the
 * fewest units left in a window across the limits.
 *
 * @category models
 * @since 0.1.0
 */
export interface Admission {
  readonly delay: Duration.Duration
  readonly remaining: number
}

/**
 * Options of `take` and `reserve`.
 *
 * @category models
 * @since 0.1.0
 */
export interface RateOptions {
  /** Units this call takes from every limit (weighted calls). Default 1. */
  readonly cost?: number | undefined
}

/**
 * Options of `reserve`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReserveOptions extends RateOptions {
  /** Refuse (with `RateLimited`) a slot further away than this. Default: accept any. */
  readonly maxDelay?: Duration.Input | undefined
  /**
   * Random extra delay before the earliest slot, drawn uniformly from zero to
   * this, or computed by a function of the call. It is booked, not added
   * after the slot, so the limit stays exact. Default: none.
   */
  readonly jitter?: Duration.Input | Effect.Effect<Duration.Duration> | undefined
}

/** The limits of a call, checked, each with its key; or why they are invalid. */
const resolveLimits = (
  key: string,
  value: Limit | ReadonlyArray<Limit>
): ReadonlyArray<{ readonly key: string; readonly times: number; readonly perMs: number }> | InvalidArgument => {
  const list: ReadonlyArray<Limit> = Array.isArray(value) ? value : [value as Limit]
  if (list.length === 0) return validate.invalid("limits", value, "at least one limit is needed")
  const resolved = []
  for (const limit of list) {
    if (limit === null || typeof limit !== "object") {
      return validate.invalid("limits", limit, "each limit must be an object { times, per, key? }")
    }
    const times = countOrInvalid("times", limit.times)
    if (typeof times !== "number") return times
    const perMs = millisOrInvalid("per", limit.per, 1)
    if (typeof perMs !== "number") return perMs
    const limitKey = limit.key ?? key
    const error = keyError(limitKey)
    if (error !== undefined) return error
    resolved.push({ key: limitKey, times, perMs })
  }
  return resolved
}

/**
 * How `withRateLimit` admits its effect: the admission stands for the
 * effect's start (see internal/rateStart.ts). Each limit's window is widened
 * by its margin; a reply that came back late is checked again; `wait` sleeps
 * until the booked slot and checks the booking again there.
 */
interface AtStart {
  readonly margin: Duration.Input | undefined
  readonly wait: boolean
}

// A hot path (a take per request): plain checks and one flatMap chain, no generator.
const rateCall = <E, R>(
  operation: Metrics.RateOperation,
  key: string,
  limits: Limits<E, R>,
  mode: "take" | "reserve",
  options: ReserveOptions | undefined,
  atStart?: AtStart
): Effect.Effect<Admission, RateLimited | InvalidArgument | Redis.RedisError | E, Heimdall | R> =>
  Effect.suspend(() => {
    const keyInvalid = keyError(key)
    if (keyInvalid !== undefined) return Effect.fail(keyInvalid)
    const given = typeof limits === "function" ? limits(key) : limits
    return Effect.isEffect(given)
      ? Effect.flatMap(given, (value) => admit(operation, key, value, mode, options, atStart))
      : admit(operation, key, given, mode, options, atStart)
  })

const admit = (
  operation: Metrics.RateOperation,
  key: string,
  value: Limit | ReadonlyArray<Limit>,
  mode: "take" | "reserve",
  options: ReserveOptions | undefined,
  atStart?: AtStart
): Effect.Effect<Admission, RateLimited | InvalidArgument | Redis.RedisError, Heimdall> => {
  const resolved = resolveLimits(key, value)
  if (!Array.isArray(resolved)) return Effect.fail(resolved as InvalidArgument)
  const cost = countOrInvalid("cost", options?.cost ?? 1)
  if (typeof cost !== "number") return Effect.fail(cost)
  for (const limit of resolved) {
    if (cost > limit.times) return invalid("cost", cost, `${cost} units can never fit a limit of ${limit.times}`)
  }
  const maxDelayMs = options?.maxDelay === undefined ? undefined : millisOrInvalid("maxDelay", options.maxDelay, 0)
  if (maxDelayMs instanceof InvalidArgument) return Effect.fail(maxDelayMs)
  const marginMs = atStart?.margin === undefined ? undefined : millisOrInvalid("margin", atStart.margin, 0)
  if (marginMs instanceof InvalidArgument) return Effect.fail(marginMs)
  const marginOf = (perMs: number) => (atStart === undefined ? 0 : (marginMs ?? RateStart.defaultMarginMs(perMs)))
  // `waitedMs`: what withRateLimit slept (undefined when it did not); reserve's wait is the delay it booked
  const settle = (result: Store.RateResult, waitedMs?: number): Effect.Effect<Admission, RateLimited> => {
    if (!result.admitted) {
      const full = resolved[result.limitIndex] ?? resolved[0]!
      return Metrics.recordRate(
        operation,
        false,
        undefined,
        Effect.fail(
          new RateLimited({
            key: full.key,
            retryAfter: Duration.millis(Math.max(0, result.delayMs)),
            limit: { times: full.times, per: Duration.millis(full.perMs) },
            remaining: Math.max(0, result.remaining)
          })
        )
      )
    }
    return Metrics.recordRate(
      operation,
      true,
      waitedMs ?? (operation === "reserve" && result.delayMs > 0 ? result.delayMs : undefined),
      Effect.succeed({ delay: Duration.millis(result.delayMs), remaining: Math.max(0, result.remaining) })
    )
  }
  const run = (jitterMs: number) =>
    Effect.flatMap(Heimdall, (heimdall): Effect.Effect<Admission, RateLimited | InvalidArgument | Redis.RedisError> => {
      const request: Store.RateRequest = {
        limits: resolved.map((l) => ({
          key: Layout.rateKey(heimdall.config.ratePrefix, l.key),
          times: l.times,
          perMs: l.perMs + marginOf(l.perMs)
        })),
        cost,
        mode,
        maxDelayMs,
        offsetMs: mode === "reserve" ? jitterMs : 0
      }
      if (request.limits.length > 1 && heimdall.store.crossSlot?.(request.limits.map((l) => l.key))) {
        return Effect.fail(crossSlotInvalid([...new Set(resolved.map((l) => l.key))]))
      }
      if (atStart === undefined) return Effect.flatMap(heimdall.store.rateTake(request), settle)
      return startAdmission(
        heimdall.store,
        request,
        Math.min(...resolved.map((l) => marginOf(l.perMs))) / 2,
        atStart
      ).pipe(Effect.flatMap(([result, waitedMs]) => settle(result, waitedMs)))
    })
  const jitter = options?.jitter
  if (jitter === undefined) return run(0)
  if (Effect.isEffect(jitter)) {
    return Effect.flatMap(
      jitter,
      (d): Effect.Effect<Admission, RateLimited | InvalidArgument | Redis.RedisError, Heimdall> => {
        const jitterMs = millisOrInvalid("jitter", d, 0)
        return typeof jitterMs === "number" ? run(jitterMs) : Effect.fail(jitterMs)
      }
    )
  }
  const jitterMs = millisOrInvalid("jitter", jitter, 0)
  if (typeof jitterMs !== "number") return Effect.fail(jitterMs)
  return Effect.flatMap(Random.next, (r) => run(Math.round(r * jitterMs)))
}

/**
 * The admission of an effect about to start: an admission now (checked again
 * if its reply came back late), or, with `wait`, a booked slot slept until and
 * checked again there against the actual starts, as often as it takes. Not
 * waiting, a late reply's second check books nothing (`maxDelayMs` 0). With the
 * result: how long it waited (ms, from the call), when it slept.
 */
const startAdmission = (
  store: Store.HeimdallStore["Service"],
  request: Store.RateRequest,
  freshMs: number,
  atStart: AtStart
): Effect.Effect<readonly [Store.RateResult, number | undefined], Redis.RedisError> =>
  Effect.gen(function* () {
    const id = randomId()
    const startedNanos = atStart.wait ? yield* Metrics.monotonicNanos : undefined
    let result = yield* RateStart.admitFresh(store, { ...request, id }, freshMs, atStart.wait ? undefined : 0)
    if (startedNanos === undefined || !result.admitted || result.delayMs <= 0) return [result, undefined] as const
    while (result.admitted && result.delayMs > 0) {
      yield* Effect.sleep(result.delayMs)
      // `maxDelay` bounded the booking; checking it again at its slot is not refused for being late
      const booked: Store.RateRequest = { ...request, id, mode: "booked", maxDelayMs: undefined, offsetMs: 0 }
      result = yield* RateStart.admitFresh(store, { ...booked, id }, freshMs, undefined)
    }
    return [result, yield* Metrics.elapsedMsSince(startedNanos)] as const
  })

/**
 * Admits one call now or denies it, in one atomic step. A denial is a
 * `RateLimited` with `retryAfter`: when a slot opens. Exact: never more than
 * `times` admissions in any window of length `per` (a sliding window).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const program = Heimdall.take("emails:42", { times: 10, per: "1 minute" }).pipe(
 *   Effect.andThen(Effect.log("sending")),
 *   Effect.catchTag("RateLimited", (e) => Effect.log(`later: ${e.retryAfter}`))
 * )
 * ```
 *
 * @category rate limits
 * @since 0.1.0
 */
export const take = <E = never, R = never>(
  key: string,
  limits: Limits<E, R>,
  options?: RateOptions
): Effect.Effect<Admission, RateLimited | InvalidArgument | Redis.RedisError | E, Heimdall | R> =>
  rateCall("take", key, limits, "take", options)

/**
 * Books the earliest free slot and returns its `delay`, in one atomic step:
 * N callers get N distinct future slots instead of retrying together. The
 * slot counts from the moment it is booked, so the caller should start after
 * `delay`, not before.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const program = Effect.gen(function* () {
 *   const { delay } = yield* Heimdall.reserve("partner-api", { times: 2, per: "1 second" })
 *   yield* Effect.sleep(delay)
 *   yield* Effect.log("calling")
 * })
 * ```
 *
 * @category rate limits
 * @since 0.1.0
 */
export const reserve = <E = never, R = never>(
  key: string,
  limits: Limits<E, R>,
  options?: ReserveOptions
): Effect.Effect<Admission, RateLimited | InvalidArgument | Redis.RedisError | E, Heimdall | R> =>
  rateCall("reserve", key, limits, "reserve", options)

/**
 * Options of `withRateLimit`.
 *
 * @category models
 * @since 0.1.0
 */
export interface WithRateLimitOptions<E = never, R = never> extends ReserveOptions {
  readonly limits: Limits<E, R>
  /**
   * `"wait"` (default): book the earliest slot (plus jitter), sleep until it,
   * and check the booking again there against the actual starts (booked again,
   * keeping its place, if a late start left no room); `maxDelay` refuses a
   * first slot further away. `"fail"`: run now or fail with `RateLimited`
   * carrying `retryAfter`.
   */
  readonly onLimit?: "wait" | "fail" | undefined
  /**
   * Spaces the admissions by `per` plus this much, so that the effects' own
   * starts, which follow their admissions by a few milliseconds (the reply,
   * the event loop), also keep the limit. An admission whose reply took longer
   * than half the margin is checked again before the effect starts. Default: a
   * hundredth of `per`, at most 10 milliseconds (about 1% of the rate), as for
   * tasks; `0` makes the admissions themselves the only window.
   */
  readonly margin?: Duration.Input | undefined
}

/**
 * Runs an effect under rate limits: waits for its slot, or fails with
 * `RateLimited`, as the caller chooses. The limit holds for the effect's own
 * start, as the API it calls sees it: at most `times` starts in any window of
 * `per`, across every process, however late a sleep ends (the booking is
 * checked again at its slot, and a late reply is checked again before the
 * effect starts; `margin` covers the rest).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const perCustomer = (customerId: number) =>
 *   Effect.log(`report for ${customerId}`).pipe(
 *     Heimdall.withRateLimit(`reports:${customerId}`, {
 *       // dynamic: customer 1 gets 1 per 30 s, the others 2 per 30 s
 *       limits: () => ({ times: customerId === 1 ? 1 : 2, per: "30 seconds" }),
 *       onLimit: "wait",
 *       jitter: "200 millis"
 *     })
 *   )
 * ```
 *
 * @category rate limits
 * @since 0.1.0
 */
export const withRateLimit: {
  <E2 = never, R2 = never>(
    key: string,
    options: WithRateLimitOptions<E2, R2>
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | E2 | RateLimited | InvalidArgument | Redis.RedisError, R | R2 | Heimdall>
  <A, E, R, E2 = never, R2 = never>(
    self: Effect.Effect<A, E, R>,
    key: string,
    options: WithRateLimitOptions<E2, R2>
  ): Effect.Effect<A, E | E2 | RateLimited | InvalidArgument | Redis.RedisError, R | R2 | Heimdall>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R, E2, R2>(self: Effect.Effect<A, E, R>, key: string, options: WithRateLimitOptions<E2, R2>) =>
    Effect.andThen(
      options.onLimit === "fail"
        ? rateCall("withRateLimit", key, options.limits, "take", options, { margin: options.margin, wait: false })
        : rateCall("withRateLimit", key, options.limits, "reserve", options, { margin: options.margin, wait: true }),
      self
    )
)
