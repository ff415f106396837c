/**
 * The CPU of a task's metric updates alone, before and after the metrics of issue 13 (item 5): the base's two
 * counters per task (`Metric.update` of a `Metric.withAttributes` counter, cached per name) against this version's
 * four values (started, enqueue-to-start, run duration, succeeded: series built once per name, updated in place).
 *
 *   node bench/metrics-micro.ts              # 3 task names, alternating
 *   NAMES=a node bench/metrics-micro.ts      # one task name
 */
import { Effect, Metric } from "effect"
import * as Metrics from "../src/internal/metrics.ts"

// the base's count(): Metric.withAttributes per name, cached, updated with Metric.update
const base = {
  started: Metric.counter("heimdall_tasks_started", { description: "Task attempts started", incremental: true }),
  succeeded: Metric.counter("heimdall_tasks_succeeded", { description: "Tasks succeeded", incremental: true })
}
const tagged = new Map<string, Metric.Metric<number, unknown>>()
const count = (metric: keyof typeof base, taskName: string) => {
  const key = `${metric}\u0000${taskName}`
  let counter = tagged.get(key)
  if (counter === undefined) {
    counter = Metric.withAttributes(base[metric], { task: taskName })
    tagged.set(key, counter)
  }
  return Metric.update(counter, 1)
}
const N = 200_000
const names = (process.env.NAMES ?? "a,b,c").split(",")
const before = Effect.gen(function* () {
  for (let i = 0; i < N; i++) {
    const name = names[i % names.length]!
    yield* count("started", name)
    yield* count("succeeded", name)
  }
})
const after = Effect.gen(function* () {
  for (let i = 0; i < N; i++) {
    const name = names[i % names.length]!
    const t = yield* Metrics.recordStart(name, 5)
    yield* Metrics.recordRun(name, t, true)
    yield* Metrics.countTask("succeeded", name)
  }
})
const loopOnly = Effect.gen(function* () {
  for (let i = 0; i < N; i++) {
    yield* Effect.void
  }
})
const time = (label: string, e: Effect.Effect<void>) => {
  const res: number[] = []
  for (let r = 0; r < 9; r++) {
    const s = process.cpuUsage()
    Effect.runSync(e)
    const u = process.cpuUsage(s)
    res.push((u.user + u.system) / N)
  }
  res.sort((a, b) => a - b)
  console.log(`${label}: median ${res[4]!.toFixed(3)} µs per task, min ${res[0]!.toFixed(3)}`)
}
for (let k = 0; k < 2; k++) {
  time("loop only", loopOnly)
  time("before: started + succeeded counters (withAttributes)", before)
  time("after: started + enqueue-to-start + run duration + succeeded", after)
}
