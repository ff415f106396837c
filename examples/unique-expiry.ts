// Expiry: a unique task's key is freed after its timeout at the latest, even if the task hangs
// or its worker died, so a key can never deadlock.
import { Effect, Layer, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const GenerateReport = Task.make("generate-report-expiry", {
  payload: Schema.Struct({ customerId: Schema.Number }),
  unique: { timeout: "500 millis" } // in production: "1 hour" (the default)
})

const program = Effect.gen(function* () {
  // a worker whose task hangs forever
  yield* Layer.build(
    Worker.layer({ concurrency: 1, gracePeriod: 0, tasks: [Task.implement(GenerateReport, () => Effect.never)] })
  )
  const stuck = yield* Task.enqueue(GenerateReport, { customerId: 42 })
  yield* Effect.sleep("100 millis")
  const duplicate = yield* Task.enqueue(GenerateReport, { customerId: 42 })
  console.log(`while it runs: ${yield* Task.status(stuck)}, a duplicate gets the same id: ${duplicate.id === stuck.id}`)
  yield* Effect.sleep("500 millis")
  const fresh = yield* Task.enqueue(GenerateReport, { customerId: 42 })
  console.log(`after the timeout, a new task is accepted: ${fresh.id !== stuck.id}`)
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
