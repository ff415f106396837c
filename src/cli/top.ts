/**
 * `heimdall top`: a live view of the queue, one frame a second. A frame is the counts per task name (waiting and
 * running now, finished per second since the last frame, failed and dead totals) and the live workers. Throughput is
 * derived from two successive readings of the counts (the terminal counts are totals), over the backend's clock.
 */
import type { QueueCounts, StateCounts, WorkerInfo } from "../Inspector.ts"
import { clip, human, workerRows } from "./render.ts"

/** Tasks finished per second between two readings: succeeded, and failed or dead. */
export interface Rate {
  readonly succeeded: number
  readonly failed: number
}

/** One refresh: what `--json` prints (one object a line) and what the table shows. */
export interface Frame {
  readonly queue: string
  /** The backend's clock when the counts were read, epoch milliseconds. */
  readonly at: number
  readonly counts: QueueCounts
  /** Per second since the previous frame; `undefined` on the first one. */
  readonly rates: { readonly total: Rate; readonly byName: Readonly<Record<string, Rate>> } | undefined
  readonly workers: ReadonlyArray<WorkerInfo>
}

const rate = (now: StateCounts, before: StateCounts | undefined, seconds: number): Rate => ({
  succeeded: Math.max(0, now.succeeded - (before?.succeeded ?? 0)) / seconds,
  failed: Math.max(0, now.failed + now.dead - (before?.failed ?? 0) - (before?.dead ?? 0)) / seconds
})

/** The frame of a reading, with the rates since `previous` (the frame before, if any). */
export const frame = (
  queue: string,
  counts: QueueCounts,
  workers: ReadonlyArray<WorkerInfo>,
  previous: Frame | undefined
): Frame => {
  const seconds = previous === undefined ? 0 : (counts.now - previous.counts.now) / 1000
  return {
    queue,
    at: counts.now,
    counts,
    rates:
      previous === undefined || seconds <= 0
        ? undefined
        : {
            total: rate(counts.total, previous.counts.total, seconds),
            byName: Object.fromEntries(
              Object.entries(counts.byName).map(([name, c]) => [name, rate(c, previous.counts.byName[name], seconds)])
            )
          },
    workers
  }
}

/** A count in at most 7 characters: exact below ten million, then "123M", "77.8M", "1.0T". */
const count = (n: number): string => {
  if (n < 10_000_000) return String(n)
  const [unit, suffix] = n >= 1e12 ? [1e12, "T"] : n >= 1e9 ? [1e9, "G"] : [1e6, "M"]
  const v = n / unit
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)}${suffix}`
}

/** A rate in at most 7 characters: one decimal below 1,000 a second. */
const perSecond = (r: number | undefined): string =>
  r === undefined ? "-" : r < 1000 ? r.toFixed(1) : count(Math.round(r))

const columns = ["QUEUED", "SCHED", "RUNNING", "DONE/S", "FAIL/S", "FAILED", "DEAD"] as const

/** A row: the name in 20 columns, then seven right-aligned 8-column cells (76 characters at most). */
const row = (label: string, cells: ReadonlyArray<string>) =>
  `${clip(label, 19).padEnd(20)}${cells.map((c) => clip(c, 7).padStart(8)).join("")}`.trimEnd()

const cells = (c: StateCounts, r: Rate | undefined) => [
  count(c.queued),
  count(c.scheduled),
  count(c.running),
  perSecond(r?.succeeded),
  perSecond(r?.failed),
  count(c.failed),
  count(c.dead)
]

/** The frame as text that fits 80 columns. */
export const render = (f: Frame): string => {
  const names = Object.keys(f.counts.byName).sort()
  const busy = f.workers.reduce((n, w) => n + w.running.length, 0)
  const slots = f.workers.reduce((n, w) => n + w.concurrency, 0)
  const oldest =
    f.counts.oldestWaitingMillis === undefined
      ? "nothing waits"
      : `oldest waiting ${human(f.counts.oldestWaitingMillis)}`
  const header = `queue ${clip(f.queue, 30)}  ${new Date(f.at).toISOString().slice(11, 19)}Z  workers ${f.workers.length} (${busy}/${slots} busy)`
  return [
    header,
    oldest,
    "",
    row("TASK", columns),
    ...names.map((name) => row(name, cells(f.counts.byName[name]!, f.rates?.byName[name]))),
    row("(all)", cells(f.counts.total, f.rates?.total)),
    "",
    workerRows(f.workers, f.at)
  ].join("\n")
}
