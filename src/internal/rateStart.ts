/**
 * Admissions that stand for a start: shared by `Heimdall.withRateLimit` and
 * the worker's rate-limited tasks.
 *
 * A rate limit is decided on the backend's clock, and the effect it admits
 * begins once the reply has reached its fiber. The limit holds for the
 * effects' own starts only if that lag is about the same for every start: a
 * start that begins late bunches with the on-time starts of the next window.
 * Two things keep the lag even:
 *
 * - a booked slot is checked again when the caller reaches it (store mode
 *   `booked`), so the admission is taken at the real start, however late the
 *   caller's sleep or claim was;
 * - an admission whose reply took more than `freshMs` longer than the fastest
 *   recent round trip (a busy event loop, a stalled process) is checked again
 *   the same way, which moves it to the backend's now: each start then follows
 *   its admission by the usual lag, give or take `freshMs`. A slow but steady
 *   network shifts every start alike and is not checked again.
 *
 * The `margin` (half of it is `freshMs`) widens the window by what is left.
 */
import { Clock, Effect } from "effect"
import type { RedisError } from "effect/persistence/Redis"
import type { HeimdallStore, RateRequest, RateResult } from "../HeimdallStore.ts"

/** How many times a late reply is checked again before the admission is kept as it is. */
const freshTries = 8

/** The default margin of a limit of `perMs`: a hundredth of it, at most 10 ms. */
export const defaultMarginMs = (perMs: number): number => Math.min(10, Math.floor(perMs / 100))

/** The last round trips of `rateTake` per store (ms): their minimum is the usual lag's floor. */
const recent = new WeakMap<object, { readonly samples: Array<number>; next: number }>()
const samplesKept = 32

const fastest = (store: object, tookMs: number): number => {
  let log = recent.get(store)
  if (log === undefined) {
    log = { samples: [], next: 0 }
    recent.set(store, log)
  }
  log.samples[log.next] = tookMs
  log.next = (log.next + 1) % samplesKept
  return Math.min(...log.samples)
}

/**
 * `request`, then, while the answer is an admission now whose reply took
 * more than `freshMs` longer than the fastest recent one (on Effect's
 * `Clock`), the same call in `booked` mode (same id) with
 * `recheckMaxDelayMs`: the admission moves to the backend's now, or is booked
 * again a little later (or denied, past that delay). `freshMs` <= 0 turns the
 * check off.
 */
export const admitFresh = (
  store: HeimdallStore["Service"],
  request: RateRequest & { readonly id: string },
  freshMs: number,
  recheckMaxDelayMs: number | undefined
): Effect.Effect<RateResult, RedisError> =>
  Effect.gen(function* () {
    let next: RateRequest = request
    for (let tries = 0; ; tries++) {
      const sent = yield* Clock.currentTimeNanos
      const result = yield* store.rateTake(next)
      if (freshMs <= 0) return result
      const tookMs = Number((yield* Clock.currentTimeNanos) - sent) / 1e6
      const floor = fastest(store, tookMs)
      if (tries >= freshTries || !result.admitted || result.delayMs > 0 || tookMs - floor <= freshMs) return result
      next = { ...request, mode: "booked", maxDelayMs: recheckMaxDelayMs }
    }
  })
