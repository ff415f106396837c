/**
 * Small statistics and formatting helpers for the comparison benchmark.
 */

export const sorted = (xs: ReadonlyArray<number>): Array<number> => [...xs].sort((a, b) => a - b)

export const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) return Number.NaN
  const s = sorted(xs)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Nearest-rank percentile, `p` in 0..1. */
export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  if (xs.length === 0) return Number.NaN
  const s = sorted(xs)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!
}

/** Median with the range over the repetitions. */
export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly samples: ReadonlyArray<number>
}

export const summarize = (samples: ReadonlyArray<number>): Summary => ({
  median: median(samples),
  min: Math.min(...samples),
  max: Math.max(...samples),
  samples: [...samples]
})

/** Thousands separators, no decimals (or `digits` decimals below 100). */
export const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", {
        maximumFractionDigits: Math.abs(n) < 100 ? digits : 0,
        minimumFractionDigits: Math.abs(n) < 100 ? digits : 0
      })
    : "–"

export const fmtRange = (s: Summary, digits = 0): string => `${fmt(s.min, digits)}–${fmt(s.max, digits)}`

export const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : "–")

/** A Markdown table; `align` has one letter per column, "l" or "r" (default: two left, the rest right). */
export const table = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  align = "ll"
): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const left = (i: number) => (align[i] ?? "r") === "l"
  const line = (cells: ReadonlyArray<string>) =>
    `| ${widths.map((w, i) => (left(i) ? (cells[i] ?? "").padEnd(w) : (cells[i] ?? "").padStart(w))).join(" | ")} |`
  const rule = `| ${widths.map((w, i) => (left(i) ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`
  return [line(header), rule, ...rows.map(line)].join("\n")
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
export const wallNow = (): number => performance.timeOrigin + performance.now()
