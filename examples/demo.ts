/**
 * The effect-heimdall demo: `npm run demo`.
 *
 * A producer and a worker share task definitions. On the in-memory backend
 * by default; on Redis when `REDIS_URL` is set (then run a second copy in
 * another terminal and watch both workers share the limits).
 *
 *   npm run demo
 *   REDIS_URL=redis://127.0.0.1:6379 npm run demo
 */
import { Clock, Duration, Effect, Layer, Ref, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const run = Date.now().toString(36) // fresh keys per run, so reruns against one Redis start clean
const Customer = Schema.Struct({ customerId: Schema.Number })

// -- the task definitions, shared by producer and worker ---------------------------------------

/** Ten clicks, one report: unique per payload; a duplicate gets the running task's handle. */
const GenerateReport = Task.make("generate-report", {
  payload: Schema.Struct({ customerId: Schema.Number, run: Schema.String }),
  success: Schema.String,
  unique: true
})

/** The same, but a duplicate fails with AlreadyQueued. */
const ExportData = Task.make("export-data", {
  payload: Schema.Struct({ customerId: Schema.Number, run: Schema.String }),
  unique: { onDuplicate: "fail", timeout: "1 minute" }
})

/** At most once per interval, even after it finished. */
const SyncCrm = Task.make("sync-crm", {
  payload: Schema.Struct({ run: Schema.String }),
  success: Schema.String,
  unique: { timeout: "2 seconds", waitForExpiry: true }
})

/** At most 2 starts per second across every worker. */
const DownloadFromPartner = Task.make("download-from-partner", {
  payload: Customer,
  rateLimit: { times: 2, per: "1 second", key: `partner-api:${run}`, jitter: "100 millis" }
})

// -- the worker --------------------------------------------------------------------------------

const makeWorker = (starts: Ref.Ref<Array<{ readonly customerId: number; readonly at: number }>>) =>
  Worker.layer({
    concurrency: 8,
    tasks: [
      Task.implement(GenerateReport, ({ customerId }) =>
        Effect.sleep("300 millis").pipe(Effect.as(`report for customer ${customerId}: 12 pages`))
      ),
      Task.implement(ExportData, () => Effect.sleep("300 millis")),
      Task.implement(SyncCrm, () => Effect.succeed("CRM synced")),
      // startedAt: when the start was admitted, on the backend's clock (Redis TIME): what the limit bounds
      Task.implement(DownloadFromPartner, ({ customerId }) =>
        Effect.flatMap(Task.CurrentTask, ({ startedAt: at }) => Ref.update(starts, (s) => [...s, { customerId, at }]))
      )
    ]
  })

// -- the producer ------------------------------------------------------------------------------

const short = (id: string) => id.slice(0, 8)
const section = (title: string) => Effect.sync(() => console.log(`\n== ${title}`))

const program = Effect.gen(function* () {
  console.log(
    `effect-heimdall demo on ${process.env.REDIS_URL ? `Redis at ${process.env.REDIS_URL}` : "the in-memory backend"}`
  )
  const starts = yield* Ref.make<Array<{ readonly customerId: number; readonly at: number }>>([])
  yield* Layer.build(makeWorker(starts))

  yield* section('1. Unique tasks: ten clicks of "generate report" for customer 42')
  const clicks = yield* Effect.forEach(Array.from({ length: 10 }), () =>
    Task.enqueue(GenerateReport, { customerId: 42, run })
  )
  const ids = [...new Set(clicks.map((h) => h.id))]
  console.log(`clicks: ${clicks.map((h) => short(h.id)).join(" ")}`)
  console.log(`10 clicks -> ${ids.length} task, id ${ids[0]}`)
  console.log(`result: ${yield* Task.join(clicks[0]!)}`)
  const after = yield* Task.enqueue(GenerateReport, { customerId: 42, run })
  console.log(`after it finished, a new click starts a new task: ${after.id !== ids[0]}`)

  yield* section('2. onDuplicate: "fail" -> AlreadyQueued')
  const first = yield* Task.enqueue(ExportData, { customerId: 7, run })
  console.log(`first export: ${short(first.id)}`)
  const second = yield* Task.enqueue(ExportData, { customerId: 7, run }).pipe(
    Effect.map((handle) => `started ${short(handle.id)}`),
    Effect.catchTag("AlreadyQueued", (e) => {
      const culprit = e.likelyCulprit === first.id ? short(first.id) : e.likelyCulprit
      const seconds = Math.round(Duration.toSeconds(e.expiresIn))
      return Effect.succeed(`${e._tag} { likelyCulprit: ${culprit}, expiresIn: about ${seconds} s }`)
    })
  )
  console.log(`second export: ${second}`)

  yield* section("3. A unique interval: sync the CRM at most once per 2 seconds")
  const sync1 = yield* Task.enqueue(SyncCrm, { run })
  const synced = yield* Task.join(sync1)
  // the clock of this section starts when the first run has finished (however long the machine took)
  const t0 = yield* Clock.currentTimeMillis
  const stamp = Effect.map(Clock.currentTimeMillis, (t) => `t=${((t - t0) / 1000).toFixed(1)}s`)
  console.log(`${yield* stamp} enqueue -> ${short(sync1.id)}: ${synced}`)
  yield* Effect.sleep("500 millis")
  const sync2 = yield* Task.enqueue(SyncCrm, { run })
  console.log(`${yield* stamp} enqueue -> ${short(sync2.id)}: same task, the interval holds: ${sync2.id === sync1.id}`)
  yield* Effect.sleep("1600 millis")
  const sync3 = yield* Task.enqueue(SyncCrm, { run })
  console.log(`${yield* stamp} enqueue -> ${short(sync3.id)}: ${yield* Task.join(sync3)} (a new run)`)

  yield* section("4. A global rate limit: 2 starts per second, 8 downloads enqueued at once")
  const downloads = yield* Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8], (customerId) =>
    Task.enqueue(DownloadFromPartner, { customerId })
  )
  yield* Effect.forEach(downloads, Task.join, { discard: true })
  const timeline = (yield* Ref.get(starts)).sort((a, b) => a.at - b.at)
  const origin = timeline[0]!.at
  for (const { customerId, at } of timeline) {
    const offset = at - origin
    console.log(
      `  +${(offset / 1000).toFixed(3)}s ${" ".repeat(Math.round(offset / 100))}* download for customer ${customerId}`
    )
  }
  let most = 0
  for (const start of timeline)
    most = Math.max(most, timeline.filter((s) => s.at >= start.at && s.at < start.at + 1000).length)
  console.log(`most starts in any 1 s window: ${most} (limit 2); retries spent: 0`)
  console.log("\ndone")
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
