/**
 * What both queue backends share for `completeAndClaimMany`: one claim's tasks dealt to the completions that made
 * room for them.
 */
import type { ClaimResult, CompletionOutcome } from "./model.ts"

/**
 * One outcome per completion (`completed[i]`: whether completion i completed its task), with the tasks of `claim`
 * dealt in order, `max` to each completion: a completion left without tasks gets `Idle`, with the claim's wait when
 * the claim took nothing, 0 when it took tasks for earlier completions only (the queue ran out meanwhile). The
 * names the claim passed on and dead-lettered go on the first outcome only (a worker counts them once).
 */
export const dealClaims = (
  completed: ReadonlyArray<boolean>,
  claim: ClaimResult,
  max: number
): Array<CompletionOutcome> => {
  const tasks = claim._tag === "Claimed" ? claim.tasks : []
  const waitMillis = claim._tag === "Idle" ? claim.waitMillis : 0
  return completed.map((done, i): CompletionOutcome => {
    const reports = i === 0 ? { passed: claim.passed, deadLettered: claim.deadLettered } : {}
    const own = tasks.slice(i * max, (i + 1) * max)
    return {
      completed: done,
      next:
        own.length > 0
          ? { _tag: "Claimed", task: own[0]!, tasks: own, ...reports }
          : { _tag: "Idle", waitMillis, ...reports }
    }
  })
}
