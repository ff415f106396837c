/**
 * Concurrency limits: at most N holders of a key at once, across processes,
 * with leases that expire if a holder dies.
 *
 *   node examples/concurrency.ts                      # in memory
 *   REDIS_URL=redis://127.0.0.1:6379 node examples/concurrency.ts
 */
import { Effect, Ref } from "effect"
import { Heimdall } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const key = `renderer:${Date.now()}`

const program = Effect.gen(function* () {
  const running = yield* Ref.make(0)
  const most = yield* Ref.make(0)
  const render = (page: number) =>
    Effect.gen(function* () {
      const now = yield* Ref.updateAndGet(running, (n) => n + 1)
      yield* Ref.update(most, (m) => Math.max(m, now))
      yield* Effect.sleep("30 millis")
      yield* Ref.update(running, (n) => n - 1)
      return page
    }).pipe(Heimdall.withConcurrencyLimit(key, { limit: 2, lease: "10 seconds", wait: "10 seconds" }))

  const pages = yield* Effect.forEach([1, 2, 3, 4, 5, 6], render, { concurrency: "unbounded" })
  console.log(`rendered ${pages.length} pages, at most ${yield* Ref.get(most)} at once`)

  const a = yield* Heimdall.acquireSlot(key, { limit: 1, lease: "10 seconds" })
  const second = yield* Heimdall.acquireSlot(key, { limit: 1 }).pipe(
    Effect.as("acquired"),
    Effect.catchTag("ConcurrencyLimited", (e) => Effect.succeed(`ConcurrencyLimited (${e.holders}/${e.limit})`))
  )
  console.log(`second holder refused: ${second}`)
  yield* Heimdall.releaseSlot(a)
})

Effect.runPromise(program.pipe(Effect.provide(HeimdallLive)))
