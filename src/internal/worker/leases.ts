/**
 * A worker's leases: one keeper per worker renews the leases of every task its slots run, instead of a keeper fiber,
 * a timer and a cancel watcher raced against each task (those cost ~60 µs of the worker's CPU per task in a drain of
 * short tasks: bench/ab.ts, bench/README.md).
 *
 * - A task's handler runs in its own fiber (forked from its slot), so that a lost lease interrupts the handler and
 *   not the slot.
 * - Its lease is renewed every third of the lease, counted from its claim (the first renewal at once for a task
 *   handed over by its enqueue, which holds a short first lease). The keeper sleeps until the oldest lease is due:
 *   the leases are kept in due order, since each renewal moves its lease to the end.
 * - A renewal that answers `false` means the lease was lost (it lapsed, or an operator cancelled the task): the
 *   handler is interrupted, and the run ends `LeaseLost` (or `Cancelled`, when the check followed a cancel notice).
 *   A renewal that fails (a passing backend failure) counts as held, is reported, and is tried again when next due.
 * - A handler that ended on its own ends its run `Done` with its exit, whatever a renewal answered meanwhile (its
 *   completion then finds the lease gone, as before).
 */
import { Cause, Clock, Effect, Exit, Fiber, type Scope } from "effect"

/** How a task's run ended: its handler's exit, or its lease lost first (lapsed, or cancelled by an operator). */
export type Outcome =
  | { readonly _tag: "LeaseLost" }
  | { readonly _tag: "Cancelled" }
  | { readonly _tag: "Done"; readonly exit: Exit.Exit<unknown, unknown> }

/** A lease held by one of the worker's slots. */
interface Held {
  readonly id: string
  readonly token: string
  readonly name: string
  /** When the lease was taken or last renewed (the worker's clock): it is due a third of the lease later. */
  renewedAt: number
  /** The handler's fiber, once forked. */
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** Set when a check found the lease gone. */
  lost: "LeaseLost" | "Cancelled" | undefined
}

export interface Leases {
  /**
   * Runs `handler` (an `Effect.exit` of the task's handler) under the task's lease (`token`, from its claim): in its
   * own fiber, interrupted when the lease is lost. `immediately`: renew at once (a task handed over holds a short
   * first lease).
   */
  readonly run: (
    task: { readonly id: string; readonly token: string; readonly name: string },
    handler: Effect.Effect<Exit.Exit<unknown, unknown>>,
    immediately: boolean
  ) => Effect.Effect<Outcome>
  /** An operator cancelled task `id`: when a slot here runs it, its lease is checked at once. */
  readonly noticeCancel: (id: string) => void
}

/** The worker's lease keeper, running in the layer's scope. */
export const make = <E>(options: {
  /** Renews a lease: `false` when it is lost. */
  readonly renew: (id: string, token: string) => Effect.Effect<boolean, E>
  readonly leaseMillis: number
  /** Told of a renewal that failed (the lease counts as held): the task's name and id, and the failure. */
  readonly onFailure: (
    task: { readonly id: string; readonly name: string },
    cause: Cause.Cause<E>
  ) => Effect.Effect<void>
}): Effect.Effect<Leases, never, Scope.Scope> =>
  Effect.gen(function* () {
    const every = Math.max(1, Math.floor(options.leaseMillis / 3))
    // in due order: a renewal moves its lease to the end
    const held = new Map<string, Held>()
    const fork = Effect.runForkWith(yield* Effect.context<never>())

    const lose = (lease: Held, reason: "LeaseLost" | "Cancelled") =>
      Effect.suspend(() => {
        if (lease.lost !== undefined || held.get(lease.id) !== lease) return Effect.void
        lease.lost = reason
        return lease.fiber === undefined ? Effect.void : Fiber.interrupt(lease.fiber)
      })

    /** One renewal of `lease`; a lost lease interrupts its handler with `reason`. */
    const check = (lease: Held, reason: "LeaseLost" | "Cancelled") =>
      options.renew(lease.id, lease.token).pipe(
        Effect.flatMap((kept) => (kept ? Effect.void : lose(lease, reason))),
        Effect.catchCause((cause) => (reason === "LeaseLost" ? options.onFailure(lease, cause) : Effect.void))
      )

    const keeper = Effect.gen(function* () {
      while (true) {
        const first = held.values().next().value
        if (first === undefined) {
          // no lease: one taken meanwhile falls due a third of the lease after it was taken, so after this sleep
          yield* Effect.sleep(every)
          continue
        }
        const now = yield* Clock.currentTimeMillis
        const wait = first.renewedAt + every - now
        if (wait > 0) {
          yield* Effect.sleep(wait)
          continue
        }
        // every lease due now is renewed (each on its own fiber: a slow renewal holds back no other) and moved to
        // the end, due again a third of the lease later
        const due: Array<Held> = []
        for (const lease of held.values()) {
          if (lease.renewedAt + every > now) break
          due.push(lease)
        }
        for (const lease of due) {
          held.delete(lease.id)
          lease.renewedAt = now
          held.set(lease.id, lease)
          fork(check(lease, "LeaseLost"))
        }
      }
    })
    yield* Effect.forkScoped(keeper)

    const run: Leases["run"] = ({ id, token, name }, handler, immediately) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const lease: Held = { id, token, name, renewedAt: now, fiber: undefined, lost: undefined }
        held.delete(id)
        held.set(id, lease)
        // the renewal goes out before the handler runs (a handler that blocks the event loop cannot hold it back
        // past the short first lease)
        if (immediately) fork(check(lease, "LeaseLost"))
        return Effect.flatMap(Effect.forkChild(handler, { startImmediately: true }), (fiber) => {
          lease.fiber = fiber
          return Fiber.await(fiber).pipe(
            // the slot interrupted (shutdown): its handler first, so that the task is given back only once it ended
            Effect.onInterrupt(() => {
              if (held.get(id) === lease) held.delete(id)
              return Fiber.interrupt(fiber)
            }),
            Effect.map((exit): Outcome => {
              if (held.get(id) === lease) held.delete(id)
              const ended = Exit.isSuccess(exit) ? exit.value : exit
              // an interrupted handler: by a lost lease, or by the slot's own interruption
              return lease.lost !== undefined && Exit.isFailure(ended) && Cause.hasInterruptsOnly(ended.cause)
                ? { _tag: lease.lost }
                : { _tag: "Done", exit: ended }
            })
          )
        })
      })

    return {
      run,
      noticeCancel: (id) => {
        const lease = held.get(id)
        if (lease !== undefined) fork(check(lease, "Cancelled"))
      }
    }
  })
