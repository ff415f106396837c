// Testing: Heimdall.layerMemory has the same semantics as Redis on Effect's Clock, so TestClock
// moves unique timeouts and rate windows without waiting. (In a test file: it.effect does this.)
import { Effect, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Heimdall, Task } from "effect-heimdall"

const GenerateReport = Task.make("generate-report", {
  payload: Schema.Struct({ customerId: Schema.Number }),
  unique: { timeout: "1 hour" }
})

const program = Effect.gen(function* () {
  const first = yield* Task.enqueue(GenerateReport, { customerId: 1 })
  yield* TestClock.adjust("59 minutes")
  console.log(
    `after 59 minutes: same task: ${(yield* Task.enqueue(GenerateReport, { customerId: 1 })).id === first.id}`
  )
  yield* TestClock.adjust("1 minute")
  console.log(`after 1 hour: new task: ${(yield* Task.enqueue(GenerateReport, { customerId: 1 })).id !== first.id}`)
  yield* Heimdall.take("api", { times: 1, per: "1 day" })
  yield* TestClock.adjust("1 day")
  console.log(
    `a day later the rate window is open: ${(yield* Heimdall.take("api", { times: 1, per: "1 day" })).remaining === 0}`
  )
})

// the memory backend built on the test clock, in no time
Effect.runPromise(program.pipe(Effect.provide(Heimdall.layerMemory.pipe(Layer.provideMerge(TestClock.layer())))))
