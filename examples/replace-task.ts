// onDuplicate: "replace": the newest payload wins. A duplicate replaces the payload of the task
// that waits (same id, same place in line); while the task runs, the newest payload runs once
// after it: never two at once, never lost. Task.enqueueOutcome says what each enqueue did.
import { Effect, Layer, Ref, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const SaveDraft = Task.make("save-draft", {
  payload: Schema.Struct({ doc: Schema.String, text: Schema.String }),
  success: Schema.String,
  unique: { key: ({ doc }) => `draft:${doc}`, onDuplicate: "replace" }
})

const program = Effect.gen(function* () {
  // three edits before any worker runs: one task, with the last text
  const first = yield* Task.enqueueOutcome(SaveDraft, { doc: "a", text: "H" })
  const second = yield* Task.enqueueOutcome(SaveDraft, { doc: "a", text: "He" })
  yield* Task.enqueueOutcome(SaveDraft, { doc: "a", text: "Hel" })
  console.log(`${first._tag}, then ${second._tag} (same task: ${second.handle.id === first.handle.id})`)

  const saved = yield* Ref.make<Array<string>>([])
  const save = ({ text }: { readonly text: string }) =>
    Ref.update(saved, (s) => [...s, text]).pipe(Effect.andThen(Effect.sleep("300 millis")), Effect.as(text))
  yield* Layer.build(Worker.layer({ concurrency: 4, tasks: [Task.implement(SaveDraft, save)] }))
  console.log(`saved: ${yield* Task.join(first.handle)}`)

  // edits while a save runs: one more save after it, with the newest text
  const running = yield* Task.enqueue(SaveDraft, { doc: "a", text: "Hell" })
  yield* Effect.sleep("100 millis")
  const behind = yield* Task.enqueueOutcome(SaveDraft, { doc: "a", text: "Hello" })
  const last = yield* Task.enqueueOutcome(SaveDraft, { doc: "a", text: "Hello!" })
  console.log(`while running: ${behind._tag} (a new task behind it: ${behind._tag === "Replaced" && behind.created})`)
  console.log(`then: ${last._tag} (the same task behind: ${last.handle.id === behind.handle.id})`)
  yield* Task.join(running)
  console.log(`after it: ${yield* Task.join(last.handle)}`)
  console.log(`every save, in order: ${(yield* Ref.get(saved)).join(", ")}`)
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
