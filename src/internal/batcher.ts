/**
 * Micro-batching without a timer: calls of one group (`key`) that wait at the same moment go out as one batch.
 *
 * When nothing of its group is in flight, a call goes at once, alone, from the caller's fiber (a lone call costs
 * what an unbatched one does). Calls made while one is in flight queue up; when it returns, a flusher sends them (at
 * most `maxBatch` per batch), then, until the queue is empty, the calls that queued up while that batch was in
 * flight. So under load each batch carries the calls that arrived during the previous round trip. Results come
 * back in the callers' order.
 *
 * The flusher runs in `scope` (the layer's), not in a caller's fiber: a queued caller that is interrupted stops
 * waiting, but its item may still be sent (as a single call already in flight would be). A batch that fails fails
 * each of its callers with the error.
 */
import { Deferred, Effect, type Scope } from "effect"

interface Pending<A, B, E> {
  readonly item: A
  readonly done: Deferred.Deferred<B, E>
}

interface Group<A, B, E> {
  queue: Array<Pending<A, B, E>>
  flushing: boolean
}

/**
 * A keyed batcher: `submit(key, item)` resolves with the result `run` gave for `item`. `run(key, items)` answers
 * one result per item, in order (a shorter answer fails the missing ones with `short()`).
 */
export const make = <A, B, E>(options: {
  readonly run: (key: string, items: ReadonlyArray<A>) => Effect.Effect<ReadonlyArray<B>, E>
  readonly maxBatch: number
  readonly scope: Scope.Scope
  readonly short: () => E
}) => {
  const groups = new Map<string, Group<A, B, E>>()
  const flush = (key: string, group: Group<A, B, E>): Effect.Effect<void> =>
    Effect.suspend(() => {
      const batch = group.queue.splice(0, options.maxBatch)
      if (batch.length === 0) {
        group.flushing = false
        groups.delete(key)
        return Effect.void
      }
      return options
        .run(
          key,
          batch.map((p) => p.item)
        )
        .pipe(
          Effect.matchCause({
            onFailure: (cause) => {
              for (const p of batch) Deferred.doneUnsafe(p.done, Effect.failCause(cause))
            },
            onSuccess: (results) => {
              batch.forEach((p, i) => {
                Deferred.doneUnsafe(
                  p.done,
                  i < results.length ? Effect.succeed(results[i]!) : Effect.fail(options.short())
                )
              })
            }
          }),
          Effect.andThen(flush(key, group))
        )
    })
  /** Flushes what queued up, in `scope` (the flusher outlives the call that started it); else the group is idle. */
  const handOver = (key: string, group: Group<A, B, E>): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (group.queue.length === 0) {
        group.flushing = false
        groups.delete(key)
        return Effect.void
      }
      const flusher = Effect.onInterrupt(flush(key, group), () =>
        Effect.sync(() => {
          // the scope closed under it: nothing more is sent, and nobody waits forever
          for (const p of group.queue.splice(0)) Deferred.doneUnsafe(p.done, Effect.interrupt)
        })
      )
      return Effect.asVoid(Effect.forkIn(flusher, options.scope))
    })
  return (key: string, item: A): Effect.Effect<B, E> =>
    Effect.suspend(() => {
      let group = groups.get(key)
      if (group === undefined) {
        group = { queue: [], flushing: false }
        groups.set(key, group)
      }
      if (group.flushing) {
        const done = Deferred.makeUnsafe<B, E>()
        group.queue.push({ item, done })
        return Deferred.await(done)
      }
      // nothing in flight: this call goes at once, from the caller's own fiber (a lone call costs what an unbatched
      // one does); what queues up meanwhile is flushed when it returns, however it ends
      group.flushing = true
      const idle = group
      return options.run(key, [item]).pipe(
        Effect.flatMap((results) => (results.length > 0 ? Effect.succeed(results[0]!) : Effect.fail(options.short()))),
        Effect.onExit(() => handOver(key, idle))
      )
    })
}
