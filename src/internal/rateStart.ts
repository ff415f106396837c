/**
 * Admissions that stand for a start: shared by `Heimdall.withRateLimit` and
 * the worker's rate-limited tasks.
 *
 * A rate limit is decided on the backend's clock, and the effect it admits
 * begins once the reply has reached its fiber. The limit holds for the
 * effects' own starts only if that lag is about the same for every start: a
 * start that begins late bunches with the on-time starts of the next window.
 * Two things keep the lag small and even:
 *
 * - a booked slot is checked again when the caller reaches it (store mode
 *   `booked`), so the admission is taken at the real start, however late the
 *   caller's sleep or claim was;
 * - an admission whose reply took longer than `freshMs` to come back (a busy
 *   event loop, a stalled process) is checked again the same way, which moves
 *   it to the backend's now: the admission is then at most `freshMs` older than
 *   the start.
 *
 * The `margin` (half of it is `freshMs`) widens the window by what is left.
 */
import { Clock, Effect } from "effect"
import type { RedisError } from "effect/persistence/Redis"
import type { HeimdallStore, RateRequest, RateResult } from "../HeimdallStore.ts"

/** How many times a late reply is checked again before the admission is kept as it is. */
const freshTries = 3

/** The default margin of a limit of `perMs`: a hundredth of it, at most 10 ms. */
export const defaultMarginMs = (perMs: number): number => Math.min(10, Math.floor(perMs / 100))

/**
 * `request`, then, while the answer is an admission now whose reply took
 * longer than `freshMs` (on Effect's `Clock`), the same call in `booked` mode
 * (same id) with `recheckMaxDelayMs`: the admission moves to the backend's
 * now, or is booked again a little later (or denied, past that delay).
 * `freshMs` <= 0 turns the check off.
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
      if (freshMs <= 0 || tries >= freshTries || !result.admitted || result.delayMs > 0) return result
      const tookMs = Number((yield* Clock.currentTimeNanos) - sent) / 1e6
      if (tookMs <= freshMs) return result
      next = { ...request, mode: "booked", maxDelayMs: recheckMaxDelayMs }
    }
  })
