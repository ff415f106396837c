/**
 * Throughput measurement: run an operation from `inFlight` concurrent loops
 * for a fixed time, count completions, and summarize rounds as median and
 * range.
 */
import { Effect, type ManagedRuntime } from "effect"

const nowMs = () => performance.now()

/** Ops/s of a promise-returning operation, `inFlight` loops for `ms` milliseconds. */
export const measurePromise = async (
  op: (worker: number) => Promise<unknown>,
  inFlight: number,
  ms: number
): Promise<number> => {
  const start = nowMs()
  const deadline = start + ms
  const counts = await Promise.all(
    Array.from({ length: inFlight }, async (_, worker) => {
      let n = 0
      while (nowMs() < deadline) {
        await op(worker)
        n++
      }
      return n
    })
  )
  return (counts.reduce((a, b) => a + b, 0) * 1000) / (nowMs() - start)
}

/** Ops/s of an Effect operation, `inFlight` fibers for `ms` milliseconds, on `runtime`. */
export const measureEffect = <R, ER, E>(
  runtime: ManagedRuntime.ManagedRuntime<R, ER>,
  op: (worker: number) => Effect.Effect<unknown, E, R>,
  inFlight: number,
  ms: number
): Promise<number> =>
  runtime.runPromise(
    Effect.gen(function* () {
      const start = nowMs()
      const deadline = start + ms
      const counts = yield* Effect.forEach(
        Array.from({ length: inFlight }, (_, worker) => worker),
        (worker) =>
          Effect.gen(function* () {
            const run = op(worker)
            let n = 0
            while (nowMs() < deadline) {
              yield* run
              n++
            }
            return n
          }),
        { concurrency: "unbounded" }
      )
      return (counts.reduce((a, b) => a + b, 0) * 1000) / (nowMs() - start)
    })
  )

export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A plain-text table with right-aligned numeric columns. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`
  const rule = `| ${widths.map((w, i) => (i < 3 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`
  return [line(header), rule, ...rows.map(line)].join("\n")
}
