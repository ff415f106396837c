/**
 * A/B: enqueue and drain on trees of effect-heimdall (other checkouts), in one process against one private Redis,
 * alternating the order each round. Usage: `node bench/ab.ts NAME=/path/to/tree ... [--rounds 6] [--count 20000]
 * [--concurrency 10]`. Per tree and round: enqueue (50 in flight) Redis CPU µs per task, drain tasks/s and Redis CPU
 * µs per task (INFO cpu), the scripts' own time and calls (commandstats evalsha usec, calls) per task, and the
 * drain's client CPU per task (this process: the worker). With CALLGRIND=1 the server
 * runs under valgrind's callgrind and each phase also reports the instructions the server executed per task.
 * With `--lone N`, only lone enqueues instead: per round, N enqueues one at a time, the trees taking turns one
 * enqueue each (the first tree alternating by round), each timed on its own inside one Effect run; then p50 and p95
 * per tree (medians over the rounds). With `--unique`, the enqueue phase enqueues unique tasks (`enqueueUnique`: the
 * default key, a hash of the payload) instead of plain ones; with `--enqueue-only`, no drain; `--in-flight N` (default 50):
 * enqueues in flight at once (1: one at a time, each through the single-task script).
 */

import { writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { Effect } from "effect"
import { Redis as IORedis } from "ioredis"
import { instructionsSinceZero, useCallgrind, zeroInstructions } from "./lib/callgrind.ts"
import { info, redisCpuSeconds, startServer } from "./lib/redis.ts"

const args = process.argv.slice(2)
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const trees = args.filter((a) => a.includes("=")).map((a) => a.split("=") as [string, string])
const rounds = flag("rounds", 6)
const count = flag("count", 20000)
const concurrency = flag("concurrency", 10)
const unique = args.includes("--unique")
const enqueueOnly = args.includes("--enqueue-only")
// enqueues in flight at once in the enqueue phase (1: one at a time, each through the single-task script)
const inFlight = flag("in-flight", 50)
type Peer = typeof import("./peers/heimdall.ts")
const peers: Record<string, Peer> = {}
for (const [name, path] of trees) peers[name] = await import(`${path}/bench/peers/heimdall.ts`)
// CALLGRIND=1: the server runs under valgrind's callgrind, and each phase also reports the instructions the server
// executed per task (deterministic, unlike CPU time on a shared machine: the same work counts the same every run)
const callgrind = process.env.CALLGRIND !== undefined
if (callgrind) useCallgrind()
const server = await startServer()
const cgZero = () => {
  if (callgrind) zeroInstructions(server)
}
const cgInstructions = (label: string) => (callgrind ? instructionsSinceZero(server, label) : 0)
const admin = new IORedis(server.url)
const evalStats = async () => {
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await info(admin, "commandstats"))
  return m ? { calls: Number(m[1]), usec: Number(m[2]) } : { calls: 0, usec: 0 }
}
const evalUsec = async () => (await evalStats()).usec
const lone = flag("lone", 0)
// --profile-drain DIR: a CPU profile of this process during each drain (the worker), one file per tree and round
const profileDrain = args.includes("--profile-drain") ? args[args.indexOf("--profile-drain") + 1] : undefined
if (lone > 0) {
  const producers = trees.map(([name]) => [name, peers[name]!.makeProducer(server.url, "lone")] as const)
  const percentile = (xs: Array<number>, p: number) => {
    const s = [...xs].sort((a, b) => a - b)
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!
  }
  const stats: Record<string, Array<[number, number]>> = {}
  let n = 0
  // one enqueue of tree `i`, timed inside its producer's runtime (no runPromise in the measure)
  const once = (i: number) =>
    producers[i]![1].runPromise(
      Effect.gen(function* () {
        const t0 = performance.now()
        yield* peers[producers[i]![0]]!.enqueue(n++) as Effect.Effect<unknown>
        return performance.now() - t0
      }) as Effect.Effect<number, never, never>
    )
  for (let i = 0; i < 50; i++) for (let t = 0; t < producers.length; t++) await once(t) // warm-up
  for (let round = 0; round < rounds; round++) {
    await admin.flushdb()
    const samples = producers.map(() => [] as Array<number>)
    for (let k = 0; k < lone; k++) {
      for (let j = 0; j < producers.length; j++) {
        const t = (j + round + k) % producers.length
        samples[t]!.push(await once(t))
      }
    }
    producers.forEach(([name], t) => {
      stats[name] ??= []
      stats[name].push([percentile(samples[t]!, 0.5), percentile(samples[t]!, 0.95)])
      console.log(
        `${name.padEnd(6)} round ${round} lone enqueue p50 ${percentile(samples[t]!, 0.5).toFixed(3)} ms p95 ${percentile(samples[t]!, 0.95).toFixed(3)} ms`
      )
    })
  }
  const mid = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!
  console.log(`medians over ${rounds} rounds of ${lone} lone enqueues per tree`)
  for (const [name] of producers) {
    const s = stats[name]!
    console.log(
      `${name.padEnd(6)} p50 ${mid(s.map((x) => x[0])).toFixed(3)} ms p95 ${mid(s.map((x) => x[1])).toFixed(3)} ms`
    )
  }
  for (const [, producer] of producers) await producer.dispose()
  await admin.quit()
  await server.stop()
  process.exit(0)
}
const rows: Record<string, Array<Array<number>>> = {}
for (let round = 0; round < rounds; round++) {
  const order = trees.map(([n]) => n)
  if (round % 2 === 1) order.reverse()
  for (const name of order) {
    const peer = peers[name]!
    const producer = peer.makeProducer(server.url, "drain")
    await admin.flushdb()
    await admin.config("RESETSTAT")
    // the layer is built (and its scripts loaded: SCRIPT LOAD) before the measure, not inside the first enqueue
    await producer.runPromise(Effect.void)
    let cpu0 = await redisCpuSeconds(admin)
    cgZero()
    const e0 = performance.now()
    const enode0 = process.cpuUsage()
    await producer.runPromise(
      Effect.forEach(
        Array.from({ length: count }, (_, i) => i),
        unique ? peer.enqueueUnique : peer.enqueue,
        { concurrency: inFlight, discard: true }
      ) as Effect.Effect<void>
    )
    const enqueueMs = performance.now() - e0
    const enodeCpu = process.cpuUsage(enode0)
    const enqueueNode = (enodeCpu.user + enodeCpu.system) / count
    const enqueueIr = cgInstructions(`${name}-enqueue-${round}`) / count
    const enqueueCpu = (((await redisCpuSeconds(admin)) - cpu0) * 1e6) / count
    const enqueueLua = (await evalUsec()) / count
    const printStats = async () => {
      if (!process.env.STATS) return
      const text = await info(admin, "commandstats")
      for (const m of text.matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+)/g)) {
        console.log(
          `  ${name} ${m[1]} calls/task ${(Number(m[2]) / count).toFixed(2)} usec/task ${(Number(m[3]) / count).toFixed(2)}`
        )
      }
    }
    const drain = async () => {
      await admin.config("RESETSTAT")
      cpu0 = await redisCpuSeconds(admin)
      const t0 = performance.now()
      const node0 = process.cpuUsage()
      const finished = await peer.awaitFinished(server.url, "drain", count)
      cgZero()
      const profiler = profileDrain ? new Session() : undefined
      if (profiler) {
        profiler.connect()
        await profiler.post("Profiler.enable")
        await profiler.post("Profiler.start")
      }
      const worker = await peer.startWorker(server.url, "drain", concurrency, () => {})
      await finished.done
      const elapsed = performance.now() - t0
      if (profiler) {
        const { profile } = await profiler.post("Profiler.stop")
        writeFileSync(`${profileDrain}/drain-${name}-${round}.cpuprofile`, JSON.stringify(profile))
        profiler.disconnect()
      }
      // this process' CPU (the worker, and the subscriber counting the finished tasks) per drained task
      const nodeCpu = process.cpuUsage(node0)
      const drainNode = (nodeCpu.user + nodeCpu.system) / count
      const drainIr = cgInstructions(`${name}-drain-${round}`) / count
      await worker.stop()
      const drainCpu = (((await redisCpuSeconds(admin)) - cpu0) * 1e6) / count
      const drainEval = await evalStats()
      const drainLua = drainEval.usec / count
      // script calls per drained task: 1 without batched completions, less with (several completions per call)
      const drainCalls = drainEval.calls / count
      return { elapsed, drainCpu, drainLua, drainCalls, drainNode, drainIr }
    }
    if (enqueueOnly) await printStats()
    const { elapsed, drainCpu, drainLua, drainCalls, drainNode, drainIr } = enqueueOnly
      ? {
          elapsed: Number.NaN,
          drainCpu: Number.NaN,
          drainLua: Number.NaN,
          drainCalls: Number.NaN,
          drainNode: Number.NaN,
          drainIr: Number.NaN
        }
      : await drain()
    if (!enqueueOnly) await printStats()
    await producer.dispose()
    const row = [
      (count * 1000) / enqueueMs,
      enqueueCpu,
      enqueueLua,
      enqueueNode,
      (count * 1000) / elapsed,
      drainCpu,
      drainLua,
      drainCalls,
      drainNode,
      enqueueIr,
      drainIr
    ]
    rows[name] ??= []
    rows[name].push(row)
    console.log(
      `${name.padEnd(6)} round ${round} enqueue ${Math.round(row[0]!)}/s redis ${row[1]!.toFixed(1)}us lua ${row[2]!.toFixed(1)}us node ${row[3]!.toFixed(1)}us | drain ${Math.round(row[4]!)}/s redis ${row[5]!.toFixed(1)}us lua ${row[6]!.toFixed(1)}us calls/task ${row[7]!.toFixed(2)} node ${row[8]!.toFixed(1)}us${callgrind ? ` | instructions/task enqueue ${Math.round(row[9]!)} drain ${Math.round(row[10]!)}` : ""}`
    )
  }
}
const median = (xs: Array<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const labels = [
  "enqueue/s",
  "enqueue redis us",
  "enqueue lua us",
  "enqueue node us",
  "drain/s",
  "drain redis us",
  "drain lua us",
  "drain calls/task",
  "drain node us",
  ...(callgrind ? ["enqueue instr", "drain instr"] : [])
]
console.log(`medians over ${rounds} rounds, ${count} tasks, drain concurrency ${concurrency}`)
console.log(`${"".padEnd(18)}${trees.map(([n]) => n.padStart(10)).join("")}`)
labels.forEach((label, i) => {
  console.log(
    `${label.padEnd(18)}${trees
      .map(([n]) =>
        median(rows[n]!.map((r) => r[i]!))
          .toFixed(label.includes("calls") ? 2 : 1)
          .padStart(10)
      )
      .join("")}`
  )
})
await admin.quit()
await server.stop()
process.exit(0)
