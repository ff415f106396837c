/**
 * Redis for the benchmarks: a private `redis-server` (the same helper the
 * tests use: loopback, free port, persistence off), `INFO commandstats`
 * snapshots, and a note of the machine the numbers came from.
 */
import { execFileSync } from "node:child_process"
import * as os from "node:os"
import type { Redis as IORedis } from "ioredis"
import { findRedisServer, type RedisServer, startRedisServer } from "../../test/support/redisServer.ts"

export type { RedisServer }

/** Starts a private redis-server (`$REDIS_SERVER` or the one on PATH). */
export const startBenchRedis = async (): Promise<RedisServer & { readonly binary: string }> => {
  const binary = findRedisServer()
  if (binary === undefined) throw new Error("no redis-server binary found: apt-get install -y redis-server")
  const server = await startRedisServer(binary)
  return { ...server, binary }
}

/** Calls per command from `INFO commandstats` (`cmdstat_evalsha:calls=12,...` -> `{ evalsha: 12 }`). */
export const commandStats = async (client: IORedis): Promise<Record<string, number>> => {
  const info = (await client.call("INFO", "commandstats")) as string
  const stats: Record<string, number> = {}
  for (const line of info.split("\r\n")) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line)
    if (match) stats[match[1]!] = Number(match[2])
  }
  return stats
}

/** `after - before` per command, without zero entries and without the INFO calls themselves. */
export const statsDelta = (before: Record<string, number>, after: Record<string, number>): Record<string, number> => {
  const delta: Record<string, number> = {}
  for (const [command, calls] of Object.entries(after)) {
    const d = calls - (before[command] ?? 0)
    if (d !== 0 && command !== "info") delta[command] = d
  }
  return delta
}

const run = (file: string, args: ReadonlyArray<string>): string => {
  try {
    return execFileSync(file, args, { encoding: "utf8" }).trim()
  } catch {
    return "unknown"
  }
}

/** CPU count, CPU model, Node and redis-server versions, load average. */
export const machineNotes = (redisBinary: string) => ({
  nproc: run("nproc", []),
  cpu: os.cpus()[0]?.model ?? "unknown",
  node: process.version,
  redis: run(redisBinary, ["--version"]),
  loadavg: os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(" ")
})

/** CPU seconds the Redis server has used (user + system), from `INFO cpu`. */
export const redisCpuSeconds = async (client: IORedis): Promise<number> => {
  const info = (await client.call("INFO", "cpu")) as string
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, "m").exec(info)?.[1] ?? 0)
  return field("used_cpu_user") + field("used_cpu_sys")
}
