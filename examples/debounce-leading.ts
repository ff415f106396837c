// onDuplicate: { debounce, edge }: requests for one key come in bursts (each within `debounce` of the one before).
// edge "leading": the first request of a burst runs at once, the rest start nothing; edge "both": the first runs
// at once, and the latest of the rest runs once more after the burst, with its payload.
import { Effect, Layer, Ref, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const NotifyTeam = Task.make("notify-team", {
  payload: Schema.Struct({ event: Schema.String }),
  unique: { key: "notify-team", onDuplicate: { debounce: "1 second", edge: "leading" } }
})

const SyncProfile = Task.make("sync-profile", {
  payload: Schema.Struct({ version: Schema.Number }),
  unique: { key: "sync-profile", onDuplicate: { debounce: "1 second", edge: "both" } }
})

const program = Effect.gen(function* () {
  const notified = yield* Ref.make<Array<string>>([])
  const synced = yield* Ref.make<Array<number>>([])
  yield* Layer.build(
    Worker.layer({
      concurrency: 2,
      tasks: [
        Task.implement(NotifyTeam, ({ event }) => Ref.update(notified, (r) => [...r, event])),
        Task.implement(SyncProfile, ({ version }) => Ref.update(synced, (r) => [...r, version]))
      ]
    })
  )
  // a burst: five requests of each, 50 ms apart
  const leading: Array<string> = []
  const both: Array<string> = []
  for (let i = 1; i <= 5; i++) {
    leading.push((yield* Task.enqueueOutcome(NotifyTeam, { event: `deploy ${i}` }))._tag)
    both.push((yield* Task.enqueueOutcome(SyncProfile, { version: i }))._tag)
    yield* Effect.sleep("50 millis")
  }
  console.log(`leading: ${leading.join(", ")}`)
  console.log(`both: ${both.join(", ")}`)
  yield* Effect.sleep("1500 millis") // the burst is over: 1 s without a request, and the trailing run is done
  console.log(`notified for: ${(yield* Ref.get(notified)).join(", ")}`)
  console.log(`synced versions: ${(yield* Ref.get(synced)).join(", ")}`)
  // after a quiet `debounce`, the next request is a new burst's first: it runs at once
  const next = yield* Task.enqueueOutcome(NotifyTeam, { event: "deploy 6" })
  yield* Task.join(next.handle)
  console.log(`next burst: ${next._tag}, notified for: ${(yield* Ref.get(notified)).join(", ")}`)
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
