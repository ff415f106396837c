/**
 * only-after: `true` at most once per period per key, across processes.
 *
 *   node examples/only-after.ts                       # in memory
 *   REDIS_URL=redis://127.0.0.1:6379 node examples/only-after.ts
 */
import { Effect } from "effect"
import { Heimdall } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const key = `disk-full-alert:${Date.now()}`

const program = Effect.gen(function* () {
  const answers: Array<boolean> = []
  for (let i = 0; i < 3; i++) answers.push(yield* Heimdall.onlyAfter(key, "300 millis"))
  yield* Effect.sleep("350 millis")
  answers.push(yield* Heimdall.onlyAfter(key, "300 millis"))
  console.log(`onlyAfter: ${answers.join(", ")}`)
})

Effect.runPromise(program.pipe(Effect.provide(HeimdallLive)))
