// How long the key is held: `hold: "untilStart"` merges only the requests that wait. Once a worker starts the
// task, the next request is a new task (it should see the data the running one has already read past), and the
// requests after it join that one until it starts in turn.
import { Effect, Layer, Ref, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const RefreshFeed = Task.make("refresh-feed", {
  payload: Schema.Struct({ feed: Schema.String }),
  success: Schema.Number,
  unique: { key: ({ feed }) => `feed:${feed}`, hold: "untilStart" }
})

const program = Effect.gen(function* () {
  const runs = yield* Ref.make(0)
  const refresh = () => Effect.sleep("300 millis").pipe(Effect.andThen(Ref.updateAndGet(runs, (n) => n + 1)))

  // two requests before any worker runs: one task
  const first = yield* Task.enqueue(RefreshFeed, { feed: "news" })
  const second = yield* Task.enqueue(RefreshFeed, { feed: "news" })
  console.log(`waiting: 2 requests, 1 task: ${second.id === first.id}`)

  yield* Layer.build(Worker.layer({ concurrency: 1, tasks: [Task.implement(RefreshFeed, refresh)] }))
  yield* Effect.sleep("100 millis") // the worker started it: the key is free
  const during = yield* Task.enqueueOutcome(RefreshFeed, { feed: "news" })
  console.log(
    `while it runs (${yield* Task.status(first)}): ${during._tag}, a new task: ${during.handle.id !== first.id}`
  )
  // one slot: the new task waits for it, and holds the key while it waits
  const third = yield* Task.enqueue(RefreshFeed, { feed: "news" })
  console.log(`the next request joins the new one until it starts: ${third.id === during.handle.id}`)

  yield* Task.join(first)
  yield* Task.join(during.handle)
  console.log(`runs: ${yield* Ref.get(runs)}`)
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
