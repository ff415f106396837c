/**
 * The waiter registry: fibers waiting for something to happen to a key (a
 * lock's release, a task's end), each a `Deferred` in a set per key. One
 * `wakeAll` wakes every waiter registered for the key at that moment; a
 * waiter leaves the registry when its wait ends, however it ends, so an
 * interrupted wait leaves nothing behind. Used by both stores (release
 * announcements) and both task queues (joiners).
 */
import { Deferred, Effect, type Scope } from "effect"

/** A keyed set of waiters (see the module doc). */
export interface Waiters {
  /**
   * Registers a waiter for `key` for the life of the current scope, and returns its wait: it ends at the first
   * `wakeAll(key)` after the registration, even one that came before the wait began.
   */
  readonly register: (key: string) => Effect.Effect<Effect.Effect<void>, never, Scope.Scope>
  /**
   * Runs `f` with a waiter registered for `key` (its wait as `woken`, as `register` gives it) and removes the
   * waiter when `f` ends.
   */
  readonly waiting: <A, E, R>(
    key: string,
    f: (woken: Effect.Effect<void>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E, R>
  /** Wakes every waiter registered for `key` now; later registrations wait for the next `wakeAll`. */
  readonly wakeAll: (key: string) => void
}

/** A new, empty waiter registry. */
export const make = (): Waiters => {
  const byKey = new Map<string, Set<Deferred.Deferred<void>>>()
  const add = (key: string) => {
    const waiter = Deferred.makeUnsafe<void>()
    let set = byKey.get(key)
    if (!set) {
      set = new Set()
      byKey.set(key, set)
    }
    set.add(waiter)
    return waiter
  }
  // a woken waiter's set is no longer in the map: the key's current set (if any) is left as it is
  const remove = (key: string, waiter: Deferred.Deferred<void>) => {
    const set = byKey.get(key)
    if (set?.delete(waiter) && set.size === 0) byKey.delete(key)
  }
  return {
    register: (key) =>
      Effect.acquireRelease(
        Effect.sync(() => add(key)),
        (waiter) => Effect.sync(() => remove(key, waiter))
      ).pipe(Effect.map((waiter) => Deferred.await(waiter))),
    waiting: (key, f) =>
      Effect.suspend(() => {
        const waiter = add(key)
        return f(Deferred.await(waiter)).pipe(Effect.ensuring(Effect.sync(() => remove(key, waiter))))
      }),
    wakeAll: (key) => {
      const set = byKey.get(key)
      if (!set) return
      byKey.delete(key)
      for (const waiter of set) Deferred.doneUnsafe(waiter, Effect.void)
    }
  }
}
