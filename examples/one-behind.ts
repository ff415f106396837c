// onDuplicate: "oneBehind": one run at a time per key, and at most one more waiting behind it:
// "run again after the current run, once, however many requests came in". The waiting task keeps
// its payload; later duplicates get its handle.
import { Effect, Layer, Ref, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const RebuildIndex = Task.make("rebuild-index", {
  payload: Schema.Struct({ reason: Schema.String }),
  success: Schema.String,
  unique: { key: "rebuild-index", onDuplicate: "oneBehind" }
})

const program = Effect.gen(function* () {
  const ran = yield* Ref.make<Array<string>>([])
  const rebuild = ({ reason }: { readonly reason: string }) =>
    Ref.update(ran, (r) => [...r, reason]).pipe(Effect.andThen(Effect.sleep("300 millis")), Effect.as(reason))
  yield* Layer.build(Worker.layer({ concurrency: 4, tasks: [Task.implement(RebuildIndex, rebuild)] }))

  const first = yield* Task.enqueueOutcome(RebuildIndex, { reason: "edit 1" })
  yield* Effect.sleep("100 millis") // it runs now
  const outcomes = yield* Effect.forEach(["edit 2", "edit 3", "edit 4", "edit 5"], (reason) =>
    Task.enqueueOutcome(RebuildIndex, { reason })
  )
  console.log(`while it runs: ${outcomes.map((o) => o._tag).join(", ")}`)
  console.log(`the three after the first wait in it: ${outcomes.every((o) => o.handle.id === outcomes[0]!.handle.id)}`)
  yield* Task.join(first.handle)
  console.log(`then: ${yield* Task.join(outcomes[0]!.handle)}`)
  console.log(`runs: ${(yield* Ref.get(ran)).join(", ")}`)
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
