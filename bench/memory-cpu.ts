/**
 * CPU per task on the memory backend (no Redis): enqueue N tasks, drain them with one worker, and report the
 * process' CPU time (`process.cpuUsage`) per task, the median of several rounds. It measures the library's own
 * client-side cost per task (encode, enqueue, claim, run, settle, metrics).
 *
 *   node bench/memory-cpu.ts                      # this checkout's src/
 *   HEIMDALL_SRC=/tmp/base/src node bench/memory-cpu.ts   # another version's src/ (e.g. `git archive`d)
 *
 * `WORKLOAD=take`: CPU per `Heimdall.take` instead (limit 10⁹ per millisecond: always admitted, a short window), `WORKLOAD=lock`: per
 * `acquireLock` + `releaseLock`; TASKS is then the operations per round.
 *
 * Options (env): TASKS (default 3000) per round, ROUNDS (default 21), CONCURRENCY (default 10). On a shared machine
 * the rounds vary widely (GC, neighbours): compare the medians and minimums of alternating runs.
 */
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Effect, Layer, Schema } from "effect"
import type * as TaskModule from "../src/Task.ts"

const src = process.env.HEIMDALL_SRC ?? path.join(import.meta.dirname, "..", "src")
const load = (module: string): Promise<unknown> => import(pathToFileURL(path.join(src, module)).href)
// typed as this checkout's modules; another version's must offer the same calls
const Heimdall = (await load("Heimdall.ts")) as typeof import("../src/Heimdall.ts")
const Task = (await load("Task.ts")) as typeof import("../src/Task.ts")
const Worker = (await load("Worker.ts")) as typeof import("../src/Worker.ts")

const tasks = Number(process.env.TASKS ?? 3_000)
const rounds = Number(process.env.ROUNDS ?? 21)
const concurrency = Number(process.env.CONCURRENCY ?? 10)

const Noop = Task.make("noop", { payload: Schema.Number })
const NoopLive = Task.implement(Noop, () => Effect.void)

const round = Effect.gen(function* () {
  const started = process.cpuUsage()
  const handles: Array<TaskModule.Handle<typeof Noop>> = []
  for (let i = 0; i < tasks; i++) handles.push(yield* Task.enqueue(Noop, i))
  yield* Effect.scoped(
    Effect.gen(function* () {
      yield* Layer.build(Worker.layer({ concurrency, tasks: [NoopLive] }))
      for (const h of handles) yield* Task.join(h)
    })
  )
  const used = process.cpuUsage(started)
  return (used.user + used.system) / tasks
}).pipe(Effect.provide(Heimdall.layerMemory))

const workload = process.env.WORKLOAD ?? "tasks"
const operations = (op: Effect.Effect<unknown, unknown, any>) =>
  Effect.gen(function* () {
    const started = process.cpuUsage()
    for (let i = 0; i < tasks; i++) yield* op
    const used = process.cpuUsage(started)
    return (used.user + used.system) / tasks
  }).pipe(Effect.provide(Heimdall.layerMemory)) as Effect.Effect<number>
const measured =
  workload === "take"
    ? operations(Heimdall.take("bench", { times: 1_000_000_000, per: 1 }))
    : workload === "lock"
      ? operations(
          Effect.flatMap(Heimdall.acquireLock("bench", { ttl: "10 seconds" }), (lock) => Heimdall.releaseLock(lock))
        )
      : round

const samples: Array<number> = []
await Effect.runPromise(measured) // warm-up
for (let r = 0; r < rounds; r++) samples.push(await Effect.runPromise(measured))
samples.sort((a, b) => a - b)
const median = samples[Math.floor(samples.length / 2)]!
console.log(
  `${src}: ${median.toFixed(2)} µs CPU per ${workload === "tasks" ? "task" : workload}, median of ${rounds} rounds of ${tasks} (concurrency ${concurrency}); ` +
    `min ${samples[0]!.toFixed(2)}, max ${samples[samples.length - 1]!.toFixed(2)}`
)
