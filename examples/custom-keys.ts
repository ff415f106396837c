// Custom keys: by default the key is the task name and a hash of the payload. A constant key makes
// the task unique across payloads; a function of the typed payload picks any grouping.
import { Effect, Layer, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const Customer = Schema.Struct({ customerId: Schema.Number, region: Schema.String })

// one report at a time, whoever it is for
const OneAtATime = Task.make("one-report-at-a-time", { payload: Customer, unique: { key: "generate_report" } })
// one report at a time per region
const PerRegion = Task.make("one-report-per-region", {
  payload: Customer,
  unique: { key: ({ region }) => `report:${region}` }
})

const slowly = () => Effect.sleep("300 millis")

const program = Effect.gen(function* () {
  yield* Layer.build(
    Worker.layer({ concurrency: 4, tasks: [Task.implement(OneAtATime, slowly), Task.implement(PerRegion, slowly)] })
  )
  const a = yield* Task.enqueue(OneAtATime, { customerId: 1, region: "eu" })
  const b = yield* Task.enqueue(OneAtATime, { customerId: 2, region: "us" })
  console.log(`constant key: customers 1 and 2 share one task: ${a.id === b.id}`)
  const eu1 = yield* Task.enqueue(PerRegion, { customerId: 1, region: "eu" })
  const eu2 = yield* Task.enqueue(PerRegion, { customerId: 2, region: "eu" })
  const us = yield* Task.enqueue(PerRegion, { customerId: 3, region: "us" })
  console.log(`key by region: eu shares one task: ${eu1.id === eu2.id}, us has its own: ${us.id !== eu1.id}`)
  console.log(
    `the default key: ${yield* Task.uniqueKey(Task.make("report", { payload: Customer, unique: true }), { customerId: 1, region: "eu" })}`
  )
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
