/**
 * `npm run bench`: the one benchmark runner. By default, effect-heimdall next
 * to BullMQ, rate-limiter-flexible, Effect's RateLimiter and Redis itself, on
 * one private redis-server, in one run; with `--only`, any of those workloads
 * or a diagnostic. See bench/README.md for what each figure means.
 *
 *   npm run bench                       # the table (about 5 minutes on 2 cores)
 *   npm run bench -- --quick            # a smoke run with small counts (about a minute)
 *   npm run bench -- --only enqueue,drain
 *   npm run bench -- --only primitives-raw --rounds 9 --ms 1000
 *   npm run bench -- --no-write         # do not touch bench/results/
 *
 * It starts its own redis-server (free loopback port, persistence off), stops
 * it at the end, prints the table, and writes bench/results/latest.json,
 * latest.md and latest.svg. The diagnostics (primitives-raw, queue-latency,
 * timeline) run only when named in `--only`; they print their own tables and
 * add no rows, so a run of diagnostics alone writes nothing.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { Redis as IORedis } from "ioredis"
import type { Context, DiagnosticSettings, Row, Settings } from "./lib/context.ts"
import { machineNotes, startServer } from "./lib/redis.ts"
import { renderMarkdown, renderSvg } from "./lib/report.ts"
import * as bulk from "./workloads/bulk.ts"
import * as cost from "./workloads/cost.ts"
import * as drain from "./workloads/drain.ts"
import * as enqueue from "./workloads/enqueue.ts"
import * as latency from "./workloads/latency.ts"
import * as primitives from "./workloads/primitives.ts"
import * as primitivesRaw from "./workloads/primitives-raw.ts"
import * as queueLatency from "./workloads/queue-latency.ts"
import * as ratelimit from "./workloads/ratelimit.ts"
import * as redisBenchmark from "./workloads/redis-benchmark.ts"
import * as timeline from "./workloads/timeline.ts"

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    "no-write": { type: "boolean", default: false },
    rounds: { type: "string" },
    ms: { type: "string" },
    "drain-count": { type: "string" }
  }
})

const full: Settings = {
  rounds: 5,
  ms: 800,
  drainCount: 20_000,
  drainConcurrency: [1, 10, 50],
  latencyRounds: 200,
  latencyGapMs: 100,
  rateTasks: 300,
  rateLimit: 10,
  rateProcesses: 2,
  rateConcurrency: 10,
  costTasks: 2_000,
  memoryTasks: 10_000,
  bulkTasks: 10_000,
  loneEnqueues: 2_000
}
const quick: Settings = {
  ...full,
  rounds: 2,
  ms: 300,
  drainCount: 2_000,
  latencyRounds: 10,
  rateTasks: 60,
  costTasks: 500,
  memoryTasks: 2_000,
  bulkTasks: 1_000,
  loneEnqueues: 200
}
const settings: Settings = {
  ...(args.quick ? quick : full),
  ...(args.rounds ? { rounds: Number(args.rounds) } : {}),
  ...(args.ms ? { ms: Number(args.ms) } : {}),
  ...(args["drain-count"] ? { drainCount: Number(args["drain-count"]) } : {})
}
const diagnostics: DiagnosticSettings = {
  primitivesRawMs: args.ms ? Number(args.ms) : args.quick ? 300 : 700,
  queueLatencyRounds: args.quick ? 10 : 30,
  queueLatencyGapMs: 200
}

/** The table's workloads, in the order of its sections; the default run. */
const table = [
  ["enqueue", enqueue.run],
  ["drain", drain.run],
  ["latency", latency.run],
  ["ratelimit", ratelimit.run],
  ["primitives", primitives.run],
  ["cost", cost.run],
  ["redis-benchmark", redisBenchmark.run],
  ["bulk", bulk.run]
] as const
/** Diagnostics: not part of the table, run only when named in `--only`. */
const diagnosticWorkloads = [
  ["primitives-raw", primitivesRaw.run],
  ["queue-latency", queueLatency.run],
  ["timeline", timeline.run]
] as const
const only = args.only?.split(",").map((s) => s.trim())
const known: ReadonlyArray<string> = [...table, ...diagnosticWorkloads].map(([name]) => name)
const unknown = only?.filter((name) => !known.includes(name)) ?? []
if (unknown.length > 0) {
  console.error(`unknown workload ${unknown.join(", ")}; --only takes a list of: ${known.join(", ")}`)
  process.exit(2)
}
const workloads = only ? [...table, ...diagnosticWorkloads].filter(([name]) => only.includes(name)) : table

const began = performance.now()
const server = await startServer()
const notes = machineNotes(server.binary)
const admin = new IORedis(server.url)
const log = (line: string) => console.log(line)
const ctx: Context = { server, url: server.url, port: server.port, admin, settings, diagnostics, notes, log }

log(`effect-heimdall benchmark: redis-server ${server.url} (${notes.redis})`)
log(`nproc ${notes.nproc}, ${notes.cpu}, node ${notes.node}, load average ${notes.loadavg}`)
log(`settings: ${JSON.stringify(settings)}\n`)

const rows: Array<Row> = []
const timings: Record<string, number> = {}
let failed = false
try {
  for (const [name, run] of workloads) {
    const t0 = performance.now()
    log(`${name} ...`)
    rows.push(...(await run(ctx, rows)))
    timings[name] = Math.round((performance.now() - t0) / 1000)
    log(`${name} done in ${timings[name]} s`)
  }
} catch (error) {
  failed = true
  console.error(error)
} finally {
  admin.disconnect()
  await server.stop()
}

const elapsed = Math.round((performance.now() - began) / 1000)
const markdown = renderMarkdown(rows, { notes, settings, elapsed, timings })
if (rows.length > 0) log(`\n${markdown}`)

if (!args["no-write"] && !failed && rows.length > 0) {
  const dir = join(dirname(fileURLToPath(import.meta.url)), "results")
  mkdirSync(dir, { recursive: true })
  const json = join(dir, "latest.json")
  writeFileSync(json, `${JSON.stringify({ notes, settings, elapsedSeconds: elapsed, timings, rows }, null, 2)}\n`)
  writeFileSync(join(dir, "latest.md"), `${markdown}\n`)
  writeFileSync(join(dir, "latest.svg"), renderSvg(rows, notes))
  try {
    // keep the JSON in the repository's format, so `npm run lint` stays clean after a rerun
    execFileSync(join(dirname(dir), "..", "node_modules", ".bin", "biome"), ["format", "--write", json], {
      stdio: "ignore"
    })
  } catch {
    // biome missing: the JSON is still valid
  }
  log(`\nwrote ${dir}/latest.{json,md,svg}`)
}
log(`total ${elapsed} s`)
process.exit(failed ? 1 : 0)
