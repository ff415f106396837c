// onDuplicate: { debounce, maxWait }: the task starts `debounce` after the latest request, with
// the latest payload, but at most `maxWait` after the first: a burst of requests runs once.
// Task.enqueueOutcome tells each caller the new start time.
import { Clock, Effect, Layer, Ref, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const Reindex = Task.make("reindex-search", {
  payload: Schema.Struct({ query: Schema.String }),
  success: Schema.String,
  unique: { key: "reindex-search", onDuplicate: { debounce: "200 millis", maxWait: "1 second" } }
})

const program = Effect.gen(function* () {
  const ran = yield* Ref.make<Array<string>>([])
  yield* Layer.build(
    Worker.layer({
      concurrency: 2,
      tasks: [
        Task.implement(Reindex, ({ query }) =>
          Effect.as(
            Ref.update(ran, (r) => [...r, query]),
            query
          )
        )
      ]
    })
  )
  const t0 = yield* Clock.currentTimeMillis
  const first = yield* Task.enqueueOutcome(Reindex, { query: "h" })
  let last = first
  for (const query of ["he", "hel", "hell", "hello"]) {
    yield* Effect.sleep("50 millis") // typing
    last = yield* Task.enqueueOutcome(Reindex, { query })
  }
  console.log(`first: ${first._tag}, last: ${last._tag}, same task: ${last.handle.id === first.handle.id}`)
  const pushed = last._tag === "Debounced" ? last.startsAt - t0 : 0
  console.log(`start pushed to about 200 ms after the last keystroke: ${pushed >= 400 && pushed < 700}`)
  console.log(`ran once with: ${yield* Task.join(last.handle)}`)
  console.log(`runs: ${(yield* Ref.get(ran)).length}`)
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
