/**
 * Tasks and workers: a schema-typed task, a worker, enqueue / join / status,
 * a typed error after retries, a delayed task, and a handle from an id alone.
 *
 *   node examples/tasks-basics.ts                            # in memory
 *   REDIS_URL=redis://127.0.0.1:6379 node examples/tasks-basics.ts
 */
import { Clock, Effect, Layer, Schedule, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

// 1. Define the task once; producers and workers share the definition.
class ReportFailed extends Schema.TaggedError<ReportFailed>()("ReportFailed", { reason: Schema.String }) {}

const GenerateReport = Task.make("generate-report", {
  payload: Schema.Struct({ customerId: Schema.Number }),
  success: Schema.String,
  error: ReportFailed,
  timeout: "10 seconds",
  retry: Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 2 }))
})

// 2. Implement it for the workers.
const GenerateReportLive = Task.implement(GenerateReport, ({ customerId }) =>
  Effect.gen(function* () {
    const { attempt } = yield* Task.CurrentTask
    if (customerId === 0) return yield* new ReportFailed({ reason: `no data for customer 0 (attempt ${attempt})` })
    return `report for customer ${customerId}`
  })
)

const program = Effect.gen(function* () {
  // A worker for the rest of this scope (in real apps: its own process, Layer.launch).
  yield* Layer.build(Worker.layer({ tasks: [GenerateReportLive], concurrency: 4 }))

  const handle = yield* Task.enqueue(GenerateReport, { customerId: 1 })
  console.log(`joined: ${yield* Task.join(handle)}`)
  console.log(`status: ${yield* Task.status(handle)}`)

  // The typed error comes back decoded, after the schedule's two retries.
  const failing = yield* Task.enqueue(GenerateReport, { customerId: 0 })
  const error = yield* Effect.flip(Task.join(failing))
  console.log(`failed: ${error._tag}: ${"reason" in error ? error.reason : error.message}`)

  // A delayed task is "scheduled" until its time, then starts on time.
  const start = yield* Clock.currentTimeMillis
  const later = yield* Task.enqueue(GenerateReport, { customerId: 2 }, { delay: "300 millis" })
  console.log(`delayed status: ${yield* Task.status(later)}`)
  // A handle from the id alone, like Celery's AsyncResult(id).
  const result = yield* Task.join(Task.handle(GenerateReport, later.id))
  console.log(`delayed: ${result} after at least 300 ms: ${(yield* Clock.currentTimeMillis) - start >= 300}`)
})

// 3. The backend carries the queue: Redis when REDIS_URL is set, else in memory (examples/backend.ts).
Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
