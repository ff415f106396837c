/**
 * A worker's completions, batched without a timer. A slot whose task succeeded completes it and claims its next
 * task in one call (`completeAndClaim`). When several slots of one worker finish at the same moment, their calls go
 * as one (`completeAndClaimMany`): one script run completes them all and claims each slot's next task, so the
 * per-call costs (the round trip, the script's dispatch and fixed reads, the Inspector's count) are paid once.
 *
 * The rule: a completion is sent at once while fewer than two completion calls of this worker are in flight; while
 * two are, the completions that arrive are gathered, and sent together (at most half the worker's slots per call,
 * rounded up) as soon as one returns. A lone completion therefore waits for nothing, and a gathered one for the
 * first of the calls in flight to return. Two calls of half the slots each let the slots split into two groups whose
 * calls overlap: Redis runs one group's call while this process runs the other group's next tasks (with one call in
 * flight the two took turns; bench/README.md). The first completion of a gathered batch sends it (on its own fiber:
 * no fiber is forked here), and hands each other one its own outcome.
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

/** How many completion calls of one worker may be in flight at once. */
const callsInFlight = 2

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
export const make = (
  queue: Service,
  options: Omit<ClaimOptions, "token">,
  batched: boolean,
  slots: number
): Completer => {
  const one = (completion: Completion) =>
    queue.completeAndClaim(completion.id, completion.token, completion.result, { ...options, token: randomId() })
  if (!batched) return (completion) => Effect.uninterruptible(one(completion))

  /** The most completions per call: half the slots, so that two calls in flight each carry about half. */
  const cap = Math.min(maxBatch, Math.max(1, Math.ceil(slots / callsInFlight)))
  let inFlight = 0
  let gathered: Array<Gathered> = []
  /** A call returned: the first gathered completion sends the next batch, or one call less is in flight. */
  const handOn = () => {
    const first = gathered[0]
    if (first === undefined) inFlight--
    else Deferred.doneUnsafe(first.outcome, Exit.succeed(lead))
  }
  const send = (batch: ReadonlyArray<Gathered>) =>
    queue.completeAndClaimMany(
      batch.map((g) => g.completion),
      { ...options, token: randomId() }
    )
  /** Sends the gathered completions (the caller's first), hands each its outcome, and returns the caller's. */
  const sendGathered = Effect.suspend(() => {
    const batch = gathered.length <= cap ? gathered : gathered.slice(0, cap)
    gathered = gathered.length <= cap ? [] : gathered.slice(cap)
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
        if (inFlight < callsInFlight) {
          inFlight++
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
