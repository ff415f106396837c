// Per-key concurrency for tasks: at most 2 tasks of one tenant run at once, across every worker and
// process, and a tenant with a long backlog does not hold up another tenant's task.
import { Effect, Layer, Ref, Result, Schema } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const Sync = Task.make("tenant-sync", {
  payload: Schema.Struct({ tenant: Schema.String, page: Schema.Number }),
  concurrency: { limit: 2, key: ({ tenant }) => `tenant:${tenant}` }
})

const program = Effect.gen(function* () {
  const running = new Map<string, number>()
  const most = new Map<string, number>()
  const log = yield* Ref.make<Array<string>>([])
  const sync = ({ tenant, page }: { readonly tenant: string; readonly page: number }) =>
    Effect.gen(function* () {
      running.set(tenant, (running.get(tenant) ?? 0) + 1)
      most.set(tenant, Math.max(most.get(tenant) ?? 0, running.get(tenant)!))
      yield* Ref.update(log, (l) => [...l, `start ${tenant}${page}`])
      yield* Effect.sleep("300 millis")
      running.set(tenant, running.get(tenant)! - 1)
      yield* Ref.update(log, (l) => [...l, `end ${tenant}${page}`])
    })
  // 8 slots: the limit, not the worker, keeps the big tenant at 2
  yield* Layer.build(Worker.layer({ concurrency: 8, tasks: [Task.implement(Sync, sync)] }))

  const pages = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((page) => ({ tenant: "big", page }))
  const big = (yield* Task.enqueueAll(Sync, pages)).map((r) => Result.getOrThrow(r))
  const small = yield* Task.enqueue(Sync, { tenant: "small", page: 1 })
  yield* Task.join(small)
  const beforeSmall = (yield* Ref.get(log)).slice(0, (yield* Ref.get(log)).indexOf("start small1"))
  console.log(`small started before any big task ended: ${!beforeSmall.some((e) => e.startsWith("end big"))}`)
  yield* Effect.forEach(big, Task.join)
  // page n may start once n - 2 pages ended: its key's line is first in, first out
  let ended = 0
  let inTurn = true
  for (const entry of yield* Ref.get(log)) {
    if (entry.startsWith("end big")) ended++
    else if (entry.startsWith("start big") && Number(entry.slice(9)) > ended + 2) inTurn = false
  }
  console.log(`big: 10 pages, at most ${most.get("big")} at once, each in its turn: ${inTurn}`)
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(HeimdallLive)))
