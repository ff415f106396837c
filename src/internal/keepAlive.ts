/**
 * Keeping a leased resource alive: a lock held by `withLock`, a slot held by `withConcurrencyLimit`, a task's lease
 * held by the worker running it. One loop for all three.
 */
import { type Cause, Effect } from "effect"

/**
 * Renews a lease (`renew()`, built when due) every `everyMs` (at least 1 ms; the first renewal at once when `immediately`) until `renew`
 * answers `false`: the lease is lost (it lapsed, and may be someone else's now). Completes then. A renewal that
 * fails (a passing backend failure) counts as held, is reported to `onFailure`, and is tried again on the next tick.
 */
export const keepUntilLost = <E>(
  renew: () => Effect.Effect<boolean, E>,
  everyMs: number,
  options?: {
    readonly immediately?: boolean | undefined
    readonly onFailure?: ((cause: Cause.Cause<E>) => Effect.Effect<void>) | undefined
  }
): Effect.Effect<void> => {
  const every = Math.max(1, everyMs)
  const onFailure = options?.onFailure
  // the renewal is built only when it is due: most leases end (their task finishes) before their first renewal
  const tick = () =>
    renew().pipe(
      Effect.catchCause((cause) => (onFailure === undefined ? Effect.succeed(true) : Effect.as(onFailure(cause), true)))
    )
  return Effect.gen(function* () {
    if (options?.immediately !== true) yield* Effect.sleep(every)
    while (yield* tick()) yield* Effect.sleep(every)
  })
}
