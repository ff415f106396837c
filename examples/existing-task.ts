// The existing task: by default a duplicate enqueue returns the running task's handle, so an API
// endpoint needs no special case. With onDuplicate: "fail" it fails with AlreadyQueued instead.
import { Duration, Effect, Layer, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const Customer = Schema.Struct({ customerId: Schema.Number })
const GenerateReport = Task.make("existing-report", { payload: Customer, unique: true })
const StrictReport = Task.make("strict-report", { payload: Customer, unique: { onDuplicate: "fail" } })

// returns the same task id until the report has finished
const myApiCall = (customerId: number) =>
  Effect.map(Task.enqueue(GenerateReport, { customerId }), (handle) => ({ status: "RUNNING", taskId: handle.id }))

// tells a new report from one that was already running
const myStrictApiCall = (customerId: number) =>
  Task.enqueue(StrictReport, { customerId }).pipe(
    Effect.map((handle) => ({ status: "STARTED", taskId: handle.id })),
    Effect.catchTag("AlreadyQueued", (e) =>
      Effect.succeed({
        status: "ALREADY_RUNNING",
        taskId: e.likelyCulprit,
        expiresInSeconds: Math.round(Duration.toSeconds(e.expiresIn))
      })
    )
  )

const program = Effect.gen(function* () {
  const slowly = () => Effect.sleep("300 millis")
  yield* Layer.build(
    Worker.layer({
      concurrency: 4,
      tasks: [Task.implement(GenerateReport, slowly), Task.implement(StrictReport, slowly)]
    })
  )
  const [first, second] = [yield* myApiCall(1), yield* myApiCall(1)]
  console.log(`same task id both times: ${first.taskId === second.taskId}`)
  const started = yield* myStrictApiCall(1)
  const again = yield* myStrictApiCall(1)
  console.log(
    `strict: ${started.status}, then ${again.status} (culprit is the first: ${again.taskId === started.taskId})`
  )
  console.log(`expires in about ${"expiresInSeconds" in again ? again.expiresInSeconds : "?"} s`)
  yield* Task.join(Task.handle(StrictReport, started.taskId!))
  console.log(`once it has finished: ${(yield* myStrictApiCall(1)).status}`)
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
