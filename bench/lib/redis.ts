/**
 * The Redis side of the comparison benchmark: a private `redis-server` (the
 * tests' helper: loopback, free port, persistence off), INFO readers, a
 * MONITOR-based round-trip counter, and notes about the machine.
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import * as os from "node:os"
import { Redis as IORedis } from "ioredis"
import { findRedisServer, type RedisServer, startRedisServer } from "../../test/support/redisServer.ts"

export interface BenchServer extends RedisServer {
  readonly binary: string
}

export const startServer = async (): Promise<BenchServer> => {
  const binary = findRedisServer()
  if (binary === undefined) {
    throw new Error("no redis-server binary found: apt-get install -y redis-server (or set REDIS_SERVER)")
  }
  const server = await startRedisServer(binary)
  return { ...server, binary }
}

export const info = async (client: IORedis, section: string): Promise<string> =>
  (await client.call("INFO", section)) as string

const field = (text: string, name: string): number => Number(new RegExp(`^${name}:([0-9.]+)`, "m").exec(text)?.[1])

/** Calls per command (scripts' inner calls included), from `INFO commandstats`. */
export const commandStats = async (client: IORedis): Promise<Record<string, number>> => {
  const text = await info(client, "commandstats")
  const stats: Record<string, number> = {}
  for (const line of text.split("\r\n")) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line)
    if (match) stats[match[1]!] = Number(match[2])
  }
  return stats
}

/** `after - before` per command, without zeros and without the benchmark's own INFO/MONITOR/FLUSHDB/CONFIG. */
export const delta = (before: Record<string, number>, after: Record<string, number>): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const [command, calls] of Object.entries(after)) {
    const d = calls - (before[command] ?? 0)
    if (d !== 0 && !ignored.has(command.toLowerCase())) out[command] = d
  }
  return out
}
const ignored = new Set(["info", "monitor", "flushdb", "flushall", "config", "memory", "dbsize", "script"])

export const usedMemory = async (client: IORedis): Promise<number> => field(await info(client, "memory"), "used_memory")

/** CPU seconds used by the server (user + sys). */
export const redisCpuSeconds = async (client: IORedis): Promise<number> => {
  const text = await info(client, "cpu")
  return field(text, "used_cpu_user") + field(text, "used_cpu_sys")
}

/**
 * Counts the commands Redis receives through MONITOR: those sent by clients
 * (round trips) apart from those that scripts run inside (`source` "lua").
 * MONITOR slows the server down: only the cost workload uses it.
 */
export const startMonitor = async (url: string) => {
  const base = new IORedis(url, { lazyConnect: true })
  const monitor = await base.monitor()
  const client: Record<string, number> = {}
  const lua: Record<string, number> = {}
  monitor.on("monitor", (_time: string, args: ReadonlyArray<string>, source: string) => {
    const name = String(args[0] ?? "").toLowerCase()
    if (ignored.has(name)) return
    const target = source === "lua" ? lua : client
    target[name] = (target[name] ?? 0) + 1
  })
  // the first reply arrives asynchronously: make sure MONITOR is active before counting
  await new Promise((resolve) => setTimeout(resolve, 50))
  return {
    client,
    lua,
    stop: async () => {
      await new Promise((resolve) => setTimeout(resolve, 50))
      monitor.disconnect()
      base.disconnect()
    }
  }
}

const run = (file: string, args: ReadonlyArray<string>): string => {
  try {
    return execFileSync(file, args, { encoding: "utf8" }).trim()
  } catch {
    return "unknown"
  }
}

export const machineNotes = (binary: string) => {
  let cpu = os.cpus()[0]?.model ?? "unknown"
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpu
  } catch {
    // not Linux
  }
  return {
    nproc: run("nproc", []),
    cpu,
    node: process.version,
    redis: run(binary, ["--version"]),
    loadavg: os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(" "),
    date: new Date().toISOString()
  }
}
