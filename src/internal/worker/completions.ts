/**
 * A worker's completions, batched without a timer. A slot whose task succeeded completes it and claims its next
 * task in one call (`completeAndClaim`). When several slots of one worker finish at the same moment, their calls go
 * as one (`completeAndClaimMany`): one script run completes them all and claims each slot's next task, so the
 * per-call costs (the round trip, the script's dispatch and fixed reads, the Inspector's count) are paid once.
 *
 * The rule: a completion is sent at once when no completion call of this worker is in flight; while one is, the
 * completions that arrive are gathered, and sent together (up to `maxBatch` per call) as soon as it returns. A lone
 * completion therefore waits for nothing, and a gathered one for at most the one call that was in flight. The
 * first completion of a gathered batch sends it (on its own fiber: no fiber is forked here), and hands each other
 * one its own outcome.
 *
 * Each call is uninterruptible from the moment a completion is handed over to the moment its outcome is known (a
 * claimed next task must reach its slot, which gives it back if it is interrupted later), as the unbatched call
 * was; a failed call fails every completion it carried, and each slot's own settlement retries it (Worker.ts).
 */
import { Deferred, Effect, Exit } from "effect"
import type * as Redis from "effect/persistence/Redis"
import { randomId } from "../id.ts"
import type { ClaimOptions, Completion, CompletionOutcome, Service } from "../queue/model.ts"

/** Completes a task and claims its slot's next, alone or in a batch (see the module documentation). */
export type Completer = (completion: Completion) => Effect.Effect<CompletionOutcome, Redis.RedisError>

/** The most completions one call carries (a worker's slots beyond it go in the next call). */
export const maxBatch = 64

/** Tells a gathered completion that it sends its batch now. */
const lead: unique symbol = Symbol("effect-heimdall/completions/lead")

interface Gathered {
  readonly completion: Completion
  readonly outcome: Deferred.Deferred<CompletionOutcome | typeof lead, Redis.RedisError>
}

/**
 * A worker's completer: each completion claims up to `options.max` next tasks (1 for a slot) with `options`, under
 * a fresh lease token per call. `batched` false: one call per completion, as many in flight as slots finish.
 */
export const make = (queue: Service, options: Omit<ClaimOptions, "token">, batched: boolean): Completer => {
  const one = (completion: Completion) =>
    queue.completeAndClaim(completion.id, completion.token, completion.result, { ...options, token: randomId() })
  if (!batched) return (completion) => Effect.uninterruptible(one(completion))

  let inFlight = false
  let gathered: Array<Gathered> = []
  /** A call returned: the first gathered completion sends the next batch, or the worker has none in flight. */
  const handOn = () => {
    const first = gathered[0]
    if (first === undefined) inFlight = false
    else Deferred.doneUnsafe(first.outcome, Exit.succeed(lead))
  }
  const send = (batch: ReadonlyArray<Gathered>) =>
    queue.completeAndClaimMany(
      batch.map((g) => g.completion),
      { ...options, token: randomId() }
    )
  /** Sends the gathered completions (the caller's first), hands each its outcome, and returns the caller's. */
  const sendGathered = Effect.suspend(() => {
    const batch = gathered.length <= maxBatch ? gathered : gathered.slice(0, maxBatch)
    gathered = gathered.length <= maxBatch ? [] : gathered.slice(maxBatch)
    const sent = batch.length === 1 ? Effect.map(one(batch[0]!.completion), (o) => [o]) : send(batch)
    return sent.pipe(
      Effect.onExit((exit) =>
        Effect.sync(() => {
          for (let i = 1; i < batch.length; i++) {
            Deferred.doneUnsafe(
              batch[i]!.outcome,
              Exit.isSuccess(exit) ? Exit.succeed(exit.value[i]!) : (exit as Exit.Exit<never, Redis.RedisError>)
            )
          }
          handOn()
        })
      ),
      Effect.map((outcomes) => outcomes[0]!)
    )
  })
  return (completion) =>
    Effect.uninterruptible(
      Effect.suspend(() => {
        if (!inFlight) {
          inFlight = true
          return Effect.ensuring(
            one(completion),
            Effect.sync(() => handOn())
          )
        }
        const outcome = Deferred.makeUnsafe<CompletionOutcome | typeof lead, Redis.RedisError>()
        gathered.push({ completion, outcome })
        return Effect.flatMap(Deferred.await(outcome), (o) => (o === lead ? sendGathered : Effect.succeed(o)))
      })
    )
}
