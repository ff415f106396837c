/**
 * Locks: one holder at a time, the holder named in the denial, fencing
 * tokens, a bounded wait woken by the release, and `withLock` around an effect.
 *
 *   node examples/locks.ts                            # in memory
 *   REDIS_URL=redis://127.0.0.1:6379 node examples/locks.ts
 */
import { Duration, Effect, Fiber } from "effect"
import { Heimdall } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const program = Effect.gen(function* () {
  // 1. Acquire: one atomic step that takes the lock or names its holder.
  const first = yield* Heimdall.acquireLock("invoice:7", { owner: "worker-1", ttl: "30 seconds" })
  const refusal = yield* Heimdall.acquireLock("invoice:7", { owner: "worker-2" }).pipe(
    Effect.as("acquired"),
    Effect.catchTag("LockTaken", (e) =>
      Effect.succeed(`LockTaken, held by ${e.holder}, expires in ${Duration.format(e.expiresIn)}`)
    )
  )
  console.log(`worker-2 was refused: ${refusal}`)

  // 2. A waiter is woken by the release, not by polling.
  const waiter = yield* Effect.forkChild(
    Heimdall.acquireLock("invoice:7", { owner: "worker-2", ttl: "30 seconds", wait: "5 seconds" })
  )
  yield* Effect.sleep("50 millis")
  yield* Heimdall.releaseLock(first)
  const second = yield* Fiber.join(waiter)
  console.log(`worker-2 got the lock after the release; fence increased: ${second.fence > first.fence}`)

  // 3. Only the owner can release: a stale holder's release does nothing.
  console.log(`worker-1 releasing again: ${yield* Heimdall.releaseLock(first)}`)
  yield* Heimdall.releaseLock(second)

  // 4. withLock: released on success, failure and interruption; kept alive while it runs.
  const result = yield* Effect.succeed("report generated").pipe(Heimdall.withLock("report:42", { ttl: "10 seconds" }))
  console.log(`withLock: ${result}; lock free again: ${(yield* Heimdall.listLocks("report:")).length === 0}`)
})

Effect.runPromise(program.pipe(Effect.provide(HeimdallLive)))
