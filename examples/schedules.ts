// Schedules: a task enqueued on each tick of a cron (in a time zone) or of a period, exactly once across every
// process that runs the schedulers. Two schedulers of the same schedule run here, as two worker processes would.
import { Effect, Layer, Ref, Schema } from "effect"
import { Admin, Inspector, Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const Beat = Task.make("beat", { payload: Schema.Struct({ source: Schema.String }) })

const beat = Task.schedule(Beat, {
  every: "200 millis",
  payload: { source: "heartbeat" },
  overlap: "allow", // every tick runs, even while the last one still runs
  catchUp: "none" // ticks that fell while no scheduler ran are not made up for
})
const nightly = Task.schedule(Beat, {
  name: "nightly",
  cron: "0 3 * * *",
  timeZone: "Europe/Berlin", // 03:00 in Berlin, winter and summer
  payload: { source: "nightly" }
})

const tickOf = (id: string) => Date.parse(id.slice(id.indexOf("@") + 1))

const program = Effect.gen(function* () {
  const ran = yield* Ref.make<Array<string>>([])
  const BeatLive = Task.implement(Beat, () =>
    Effect.flatMap(Task.CurrentTask, ({ id }) => Ref.update(ran, (ids) => [...ids, id]))
  )
  const inspector = yield* Inspector.Inspector
  const last = yield* Effect.scoped(
    Effect.gen(function* () {
      yield* Layer.build(Worker.layer({ concurrency: 4, tasks: [BeatLive] }))
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Layer.build(Task.layerSchedules([beat, nightly])) // in worker process 1
          yield* Layer.build(Task.layerSchedules([beat, nightly])) // in worker process 2
          yield* Effect.sleep("1100 millis")
        })
      )
      // the schedulers have stopped; the worker still runs: wait for the last tick they enqueued
      const last = (yield* inspector.schedules).find((s) => s.name === "beat")!
      yield* Task.join(Task.handle(Beat, last.lastTaskId!))
      return last
    })
  )
  const ids = (yield* Ref.get(ran)).filter((id) => id.startsWith("beat@"))
  const ticks = ids.map(tickOf).sort((a, b) => a - b)
  console.log(`ticks run: at least 4: ${ticks.length >= 4}, each once: ${new Set(ids).size === ids.length}`)
  console.log(`200 ms apart: ${ticks.every((t, i) => i === 0 || t - ticks[i - 1]! === 200)}`)

  const schedules = yield* inspector.schedules
  console.log(`schedules: ${schedules.map((s) => `${s.name} (${s.cron ?? `every ${s.everyMillis} ms`})`).join(", ")}`)
  const next = schedules.find((s) => s.name === "nightly")!.nextTick!
  const local = new Date(next).toLocaleTimeString("en-GB", { timeZone: "Europe/Berlin" })
  console.log(`nightly runs next at ${local} in Berlin`)
  console.log(`beat's last task is its latest tick: ${last.lastTaskId === Task.scheduleTaskId("beat", ticks.at(-1)!)}`)

  const admin = yield* Admin.Admin
  console.log(`removed: ${yield* admin.removeSchedule("beat")}, ${yield* admin.removeSchedule("nightly")}`)
})

Effect.runPromise(program.pipe(Effect.provide(HeimdallLive)))
