/**
 * 7. The physical limit: `redis-benchmark` on the same server, EVALSHA of a
 * trivial script (`return 1`), with 1 and 50 connections; and what that
 * allows per task: the EVALSHA rate divided by the round trips per task
 * measured by the cost workload, and 1 s divided by the Redis CPU time per
 * task measured by the drain workload.
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import type { Context, Row } from "../lib/context.ts"
import { summarize } from "../lib/stats.ts"

const findBenchmark = (serverBinary: string): string | undefined => {
  const sibling = join(dirname(serverBinary), "redis-benchmark")
  if (existsSync(sibling)) return sibling
  try {
    return execFileSync("sh", ["-c", "command -v redis-benchmark"], { encoding: "utf8" }).trim() || undefined
  } catch {
    return undefined
  }
}

const runBenchmark = (binary: string, port: number, clients: number, requests: number, command: Array<string>) => {
  const out = execFileSync(
    binary,
    ["-h", "127.0.0.1", "-p", String(port), "-c", String(clients), "-n", String(requests), "--csv", ...command],
    { encoding: "utf8" }
  )
  const line = out.trim().split("\n").pop()!
  const cells = line.split(",").map((c) => c.replaceAll('"', ""))
  return { rps: Number(cells[1]), p50: Number(cells[4]), p99: Number(cells[6]) }
}

export const run = async (ctx: Context, previous: ReadonlyArray<Row>): Promise<Array<Row>> => {
  const binary = findBenchmark(ctx.server.binary)
  if (binary === undefined) {
    ctx.log("  redis-benchmark not found: skipped (Debian: apt-get install -y redis-tools)")
    return []
  }
  await ctx.admin.flushdb()
  const sha = (await ctx.admin.call("SCRIPT", "LOAD", "return 1")) as string
  const samples = { c1: [] as Array<number>, c50: [] as Array<number>, ping50: [] as Array<number> }
  for (let round = 0; round < Math.max(1, Math.min(3, ctx.settings.rounds)); round++) {
    samples.c1.push(runBenchmark(binary, ctx.port, 1, 10_000, ["EVALSHA", sha, "0"]).rps)
    samples.c50.push(runBenchmark(binary, ctx.port, 50, 100_000, ["EVALSHA", sha, "0"]).rps)
    samples.ping50.push(runBenchmark(binary, ctx.port, 50, 100_000, ["PING"]).rps)
  }
  const section = "7. physical limit"
  const c50 = summarize(samples.c50).median
  const rows: Array<Row> = [
    {
      section,
      case: "redis-benchmark EVALSHA `return 1`, -c 1",
      peer: "raw Redis",
      unit: "req/s",
      higherIsBetter: true,
      value: summarize(samples.c1)
    },
    {
      section,
      case: "redis-benchmark EVALSHA `return 1`, -c 50",
      peer: "raw Redis",
      unit: "req/s",
      higherIsBetter: true,
      value: summarize(samples.c50)
    },
    {
      section,
      case: "redis-benchmark PING, -c 50",
      peer: "raw Redis",
      unit: "req/s",
      higherIsBetter: true,
      value: summarize(samples.ping50)
    }
  ]
  ctx.log(
    `  EVALSHA -c 1 ${Math.round(summarize(samples.c1).median)}, -c 50 ${Math.round(c50)}, PING -c 50 ${Math.round(summarize(samples.ping50).median)} req/s`
  )
  const find = (section: string, prefix: string, peer: string) =>
    previous.find((r) => r.section === section && r.case.startsWith(prefix) && r.peer === peer)?.value?.median
  for (const peer of ["effect-heimdall", "BullMQ"]) {
    const trips = find("6. cost", "round trips per task", peer)
    const cpu = find("2. end to end", "Redis CPU per task, concurrency 50", peer)
    const drained50 = previous.find(
      (r) =>
        r.section === "2. end to end" &&
        r.case.endsWith("concurrency 50") &&
        r.case.startsWith("drain") &&
        r.peer === peer
    )?.value?.median
    if (trips !== undefined) {
      rows.push({
        section,
        case: "ceiling: EVALSHA -c 50 / round trips per task",
        peer,
        unit: "tasks/s",
        higherIsBetter: true,
        value: summarize([c50 / trips]),
        note: `${trips.toFixed(2)} round trips per task${drained50 ? `; measured drain at concurrency 50: ${Math.round(drained50).toLocaleString("en-US")} tasks/s = ${((drained50 / (c50 / trips)) * 100).toFixed(0)}% of it` : ""}`
      })
    }
    if (cpu !== undefined) {
      rows.push({
        section,
        case: "ceiling: 1 Redis core / Redis CPU per task (concurrency 50)",
        peer,
        unit: "tasks/s",
        higherIsBetter: true,
        value: summarize([1e6 / cpu]),
        note: `${cpu.toFixed(1)} µs of Redis CPU per task, measured while draining`
      })
    }
  }
  return rows
}
