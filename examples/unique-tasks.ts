// Unique tasks: for one payload, one task at a time. A duplicate enqueue gets the running task's handle.
import { Effect, Layer, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const GenerateReport = Task.make("generate-report", {
  payload: Schema.Struct({ customerId: Schema.Number }),
  success: Schema.String,
  unique: true
})

const program = Effect.gen(function* () {
  yield* Layer.build(
    Worker.layer({
      concurrency: 4,
      tasks: [
        Task.implement(GenerateReport, ({ customerId }) =>
          Effect.as(Effect.sleep("200 millis"), `report ${customerId}`)
        )
      ]
    })
  )
  // the button is pressed ten times
  const clicks = yield* Effect.forEach(Array.from({ length: 10 }), () =>
    Task.enqueue(GenerateReport, { customerId: 42 })
  )
  console.log(`10 clicks, ${new Set(clicks.map((h) => h.id)).size} task`)
  console.log(
    `another customer, another task: ${(yield* Task.enqueue(GenerateReport, { customerId: 7 })).id !== clicks[0]!.id}`
  )
  console.log(`result: ${yield* Task.join(clicks[0]!)}`)
  // once it has finished, the next click starts a new report
  console.log(`after it finished: ${(yield* Task.enqueue(GenerateReport, { customerId: 42 })).id !== clicks[0]!.id}`)
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
