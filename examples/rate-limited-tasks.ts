// Rate-limited tasks: at most `times` starts per `per` across every worker and process. Over the
// limit a task is rescheduled to the slot it booked, without spending a retry.
import { Effect, Layer, Ref, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const Customer = Schema.Struct({ customerId: Schema.Number })

// 2 starts per second for the task, whatever the payload
const DownloadReport = Task.make("download-report-from-amazon", {
  payload: Customer,
  rateLimit: { times: 2, per: "1 second" }
})
// computed from the payload: customer 1 gets 1 per 30 s, the others 2 per 30 s, each on its own key
const PerCustomer = Task.make("download-per-customer", {
  payload: Customer,
  rateLimit: ({ customerId }) => ({ times: customerId === 1 ? 1 : 2, per: "30 seconds", key: `customer:${customerId}` })
})

const program = Effect.gen(function* () {
  const starts = yield* Ref.make<Array<number>>([])
  // startedAt: the instant the start was admitted, on the backend's clock (Redis TIME), which the limit bounds
  const record = Effect.flatMap(Task.CurrentTask, ({ startedAt }) => Ref.update(starts, (s) => [...s, startedAt]))
  yield* Layer.build(
    Worker.layer({
      concurrency: 8,
      tasks: [Task.implement(DownloadReport, () => record), Task.implement(PerCustomer, () => Effect.void)]
    })
  )
  const handles = yield* Effect.forEach([1, 2, 3, 4, 5, 6], (customerId) =>
    Task.enqueue(DownloadReport, { customerId })
  )
  yield* Effect.forEach(handles, Task.join, { discard: true })
  const times = (yield* Ref.get(starts)).sort((a, b) => a - b)
  const seconds = times.map((t) => ((t - times[0]!) / 1000).toFixed(1))
  console.log(`6 downloads at 2 per second started at: ${seconds.join(", ")} s`)
  const tight = times.some((t, i) => i + 2 < times.length && times[i + 2]! - t < 1000)
  console.log(`never 3 starts within 1 s: ${!tight}`)

  const perCustomer = yield* Effect.forEach([1, 1, 2, 2], (customerId) => Task.enqueue(PerCustomer, { customerId }))
  yield* Effect.sleep("300 millis")
  const states = yield* Effect.forEach(perCustomer, Task.status)
  console.log(`per customer (1, 1, 2, 2): ${states.join(", ")}`)
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
