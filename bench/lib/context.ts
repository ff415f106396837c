/**
 * What every workload gets (the server, an admin client, the settings) and
 * what it returns (rows for the table, the JSON and the chart).
 */
import type { Redis as IORedis } from "ioredis"
import type { BenchServer } from "./redis.ts"
import type { Summary } from "./stats.ts"

export interface Settings {
  /** Repetitions of each A/B comparison. */
  readonly rounds: number
  /** Length of one timed throughput sample, ms. */
  readonly ms: number
  /** Tasks per end-to-end drain sample. */
  readonly drainCount: number
  readonly drainConcurrency: ReadonlyArray<number>
  readonly latencyRounds: number
  readonly latencyGapMs: number
  readonly rateTasks: number
  readonly rateLimit: number
  readonly rateProcesses: number
  readonly rateConcurrency: number
  readonly costTasks: number
  readonly memoryTasks: number
  /** Tasks per `enqueueAll` / `addBulk` call (bulk workload). */
  readonly bulkTasks: number
  /** Lone enqueues timed one by one, per peer (bulk workload). */
  readonly loneEnqueues: number
}

/**
 * What only the diagnostics (`--only primitives-raw`, `queue-latency`,
 * `timeline`) use, kept apart from `Settings` so that the settings printed
 * and written to bench/results/latest.json stay those of the table.
 */
export interface DiagnosticSettings {
  /** Length of one sample of the primitives-raw diagnostic, ms (its rounds are `Settings.rounds`). */
  readonly primitivesRawMs: number
  /** Rounds and idle gap (ms) of the queue-latency diagnostic. */
  readonly queueLatencyRounds: number
  readonly queueLatencyGapMs: number
}

export interface Context {
  readonly server: BenchServer
  readonly url: string
  readonly port: number
  /** For FLUSHDB and INFO only. */
  readonly admin: IORedis
  readonly settings: Settings
  readonly diagnostics: DiagnosticSettings
  /** The machine, Node and redis-server the figures come from. */
  readonly notes: Record<string, string>
  readonly log: (line: string) => void
}

export type Peer = "effect-heimdall" | "BullMQ" | "rate-limiter-flexible" | "Effect RateLimiter" | "raw Redis"

/** One figure: a peer's value for one case, with its spread over the repetitions. */
export interface Row {
  readonly section: string
  readonly case: string
  readonly peer: Peer | string
  readonly unit: string
  readonly higherIsBetter: boolean
  readonly value: Summary | undefined
  /** effect-heimdall / peer, median of the per-round ratios, on effect-heimdall's row. */
  readonly ratio?: { readonly against: string; readonly value: number } | undefined
  readonly note?: string | undefined
}

/** Median of per-round ratios a[i] / b[i] (more robust than a ratio of medians on a noisy machine). */
export const pairedRatio = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  const ratios = a.slice(0, Math.min(a.length, b.length)).map((x, i) => x / b[i]!)
  const s = [...ratios].sort((x, y) => x - y)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Alternating order: forward in even rounds, reversed in odd ones. */
export const order = <A>(items: ReadonlyArray<A>, round: number): ReadonlyArray<A> =>
  round % 2 === 0 ? items : [...items].reverse()
