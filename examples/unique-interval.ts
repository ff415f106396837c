// A unique interval task: it runs, but its key is kept until the timeout, so it runs at most
// once per interval ("not again until an hour has passed").
import { Effect, Layer, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const SyncCrm = Task.make("sync-crm", {
  payload: Schema.Struct({ account: Schema.String }),
  success: Schema.String,
  unique: { timeout: "1 second", waitForExpiry: true } // in production: "1 hour"
})

const program = Effect.gen(function* () {
  yield* Layer.build(Worker.layer({ concurrency: 2, tasks: [Task.implement(SyncCrm, () => Effect.succeed("synced"))] }))
  const first = yield* Task.enqueue(SyncCrm, { account: "acme" })
  console.log(`first run: ${yield* Task.join(first)}`)
  const again = yield* Task.enqueue(SyncCrm, { account: "acme" })
  console.log(`right after it finished, still the same task: ${again.id === first.id}`)
  yield* Effect.sleep("1100 millis")
  const next = yield* Task.enqueue(SyncCrm, { account: "acme" })
  console.log(`after the interval, a new run: ${next.id !== first.id}: ${yield* Task.join(next)}`)
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
