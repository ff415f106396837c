/**
 * A micro-batcher without a timer (the Redis queue's enqueues, the Redis store's takes on one limit): an item is
 * sent at once when fewer than `inFlight` calls are in flight (a lone one from the caller's own fiber); items that
 * arrive while the calls are busy wait, and go together (at most `max` items, at most `maxWeight` of weight, at
 * least one item) in the next call, sent as soon as one returns. So a lone
 * item pays no wait, and a crowd pays one round trip per batch instead of one per item. Items keep their order:
 * first come, first sent, and a call's items in that order.
 *
 * Each caller gets its own results (`send` answers one result per item, in order). A failed call fails every caller
 * with an item in it, and every caller waiting behind it, with the call's cause (their items are not sent: Redis
 * was unreachable or too slow a moment ago, and each caller learns of it within one command timeout, as without
 * batching); a caller's items not sent yet are then dropped. An interrupted caller's
 * items not sent yet are dropped too; those in a call already sent are not taken back.
 */
import type { Fiber } from "effect"
import { Effect, Exit } from "effect"

/** One caller's items and results: `resume` is cleared once the caller is answered or gone. */
interface Group<B, E> {
  readonly results: Array<B>
  left: number
  resume: ((exit: Exit.Exit<ReadonlyArray<B>, E>) => void) | undefined
}

interface Entry<A, B, E> {
  readonly item: A
  readonly group: Group<B, E>
  readonly index: number
}

export interface Options<A, B, E> {
  /** Sends items as one call; answers one result per item, in order. */
  readonly send: (items: ReadonlyArray<A>) => Effect.Effect<ReadonlyArray<B>, E>
  /** The most items per call. */
  readonly max: number
  /** The most weight per call (a call holds at least one item, whatever its weight). */
  readonly maxWeight: number
  readonly weight: (item: A) => number
  /** How many calls may be in flight at once. */
  readonly inFlight: number
  /** Runs a call in the background (the layer's services), as `Effect.runForkWith` does. */
  readonly fork: <X, Y>(effect: Effect.Effect<X, Y>) => Fiber.Fiber<X, Y>
  /** Called when the last call in flight returned and nothing waits (a keyed user drops the batcher then). */
  readonly onIdle?: (() => void) | undefined
}

export interface Batcher<A, B, E> {
  /** One item's result. */
  readonly one: (item: A) => Effect.Effect<B, E>
  /** The items' results, in order; the items may go in several calls. */
  readonly all: (items: ReadonlyArray<A>) => Effect.Effect<ReadonlyArray<B>, E>
}

export const make = <A, B, E>(options: Options<A, B, E>): Batcher<A, B, E> => {
  const { send, max, maxWeight, weight, fork } = options
  let waiting: Array<Entry<A, B, E>> = []
  let head = 0
  let busy = 0

  /** The next call's entries: the oldest waiting items of callers still waiting, up to the bounds. */
  const take = (most = max, mostWeight = maxWeight): Array<Entry<A, B, E>> => {
    const batch: Array<Entry<A, B, E>> = []
    let total = 0
    while (head < waiting.length && batch.length < most) {
      const entry = waiting[head]!
      if (entry.group.resume !== undefined) {
        const w = weight(entry.item)
        if (batch.length > 0 && total + w > mostWeight) break
        total += w
        batch.push(entry)
      }
      head++
    }
    if (head === waiting.length) {
      waiting = []
      head = 0
    }
    return batch
  }

  const deliver = (batch: ReadonlyArray<Entry<A, B, E>>, exit: Exit.Exit<ReadonlyArray<B>, E>) => {
    if (Exit.isSuccess(exit)) {
      const values = exit.value
      for (let i = 0; i < batch.length; i++) {
        const { group, index } = batch[i]!
        group.results[index] = values[i]!
        if (--group.left === 0 && group.resume !== undefined) {
          const resume = group.resume
          group.resume = undefined
          resume(Exit.succeed(group.results))
        }
      }
      return
    }
    for (const { group } of batch) {
      if (group.resume !== undefined) {
        const resume = group.resume
        group.resume = undefined
        resume(exit as Exit.Exit<never, E>)
      }
    }
  }

  const pump = () => {
    while (busy < options.inFlight) {
      const batch = take()
      if (batch.length === 0) return
      busy++
      const items = new Array<A>(batch.length)
      for (let i = 0; i < batch.length; i++) items[i] = batch[i]!.item
      fork(send(items)).addObserver((exit) => {
        deliver(batch, exit)
        returned(exit)
      })
    }
  }

  /** A call returned: the next batch goes, or the batcher is idle. */
  const returned = (exit: Exit.Exit<unknown, E>) => {
    busy--
    // a failed call (Redis unreachable, a command timeout) fails the items waiting behind it too, unsent: each
    // caller learns of the outage within one command timeout, as without batching, never two
    if (Exit.isFailure(exit))
      deliver(take(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY), Exit.failCause(exit.cause))
    pump()
    if (busy === 0 && head === waiting.length) options.onIdle?.()
  }

  /**
   * One item with nothing waiting and room in flight: sent from the caller's own fiber, so a lone call costs what
   * an unbatched one does (no fork); what queues up meanwhile goes when it returns, however it ends.
   */
  const alone = (item: A): Effect.Effect<B, E> => {
    busy++
    return send([item]).pipe(
      Effect.map((results) => results[0]!),
      Effect.onExit((exit) => Effect.sync(() => returned(exit)))
    )
  }

  const all = (items: ReadonlyArray<A>): Effect.Effect<ReadonlyArray<B>, E> =>
    items.length === 0
      ? Effect.succeed([])
      : Effect.callback<ReadonlyArray<B>, E>((resume) => {
          const group: Group<B, E> = { results: new Array<B>(items.length), left: items.length, resume }
          for (let i = 0; i < items.length; i++) waiting.push({ item: items[i]!, group, index: i })
          pump()
          return Effect.sync(() => {
            // interrupted: its items not sent yet are left out (take skips them)
            group.resume = undefined
          })
        })

  return {
    all,
    one: (item) =>
      Effect.suspend(() =>
        busy < options.inFlight && head === waiting.length
          ? alone(item)
          : Effect.map(all([item]), (results) => results[0]!)
      )
  }
}

/**
 * Batchers by key (calls of one key share calls; other keys never wait for them), each made on first use and
 * dropped when idle, so that many keys used once each leave nothing behind.
 */
export const keyed = <A, B, E>(make: (key: string, onIdle: () => void) => Batcher<A, B, E>) => {
  const batchers = new Map<string, Batcher<A, B, E>>()
  return (key: string, item: A): Effect.Effect<B, E> =>
    Effect.suspend(() => {
      let batcher = batchers.get(key)
      if (batcher === undefined) {
        batcher = make(key, () => batchers.delete(key))
        batchers.set(key, batcher)
      }
      return batcher.one(item)
    })
}
