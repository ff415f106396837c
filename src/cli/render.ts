/** The CLI's tables: plain text that fits an 80-column terminal (long values are cut with "…"). */
import { Duration } from "effect"
import type { LockInfo } from "../Heimdall.ts"
import type { TaskRecord } from "../TaskQueue.ts"

const width = 80

/** `text` cut to `max` characters, the last one "…" when cut. */
export const clip = (text: string, max: number): string =>
  text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`

/** Columns padded to the widest cell (at most each column's `max`), separated by two spaces. */
export const table = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  max: ReadonlyArray<number>
): string => {
  const cells = [header, ...rows].map((row) => row.map((cell, i) => clip(cell, max[i] ?? width)))
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)))
  return cells
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd()
    )
    .join("\n")
}

/** A duration for people: "850 ms", "12.3 s", "4 min 10 s", "2 h 5 min". */
export const human = (millis: number): string => {
  if (millis < 1000) return `${Math.round(millis)} ms`
  if (millis < 60_000) return `${(millis / 1000).toFixed(1)} s`
  if (millis < 3_600_000) return `${Math.floor(millis / 60_000)} min ${Math.round((millis % 60_000) / 1000)} s`
  return `${Math.floor(millis / 3_600_000)} h ${Math.round((millis % 3_600_000) / 60_000)} min`
}

const time = (ms: number): string => new Date(ms).toISOString()

/** `heimdall locks`: one row per lock. */
export const lockRows = (locks: ReadonlyArray<LockInfo>): string =>
  locks.length === 0
    ? "no locks held"
    : table(
        ["KEY", "HOLDER", "EXPIRES IN", "FENCE"],
        locks.map((l) => [l.key, l.holder, human(Duration.toMillis(l.expiresIn)), String(l.fence)]),
        [32, 18, 10, 16]
      )

/** `heimdall tasks show`: one field a line; JSON values cut to the terminal's width. */
export const taskDetail = (r: TaskRecord): string => {
  const lines: Array<[string, string | undefined]> = [
    ["id", r.id],
    ["name", r.name],
    ["state", r.state],
    ["attempts", String(r.attempts)],
    ["enqueued at", time(r.enqueuedAt)],
    ["run at", r.runAt === r.enqueuedAt ? undefined : time(r.runAt)],
    ["redeliveries", r.redeliveries > 0 ? String(r.redeliveries) : undefined],
    ["reschedules", r.reschedules > 0 ? String(r.reschedules) : undefined],
    ["failures at", r.failures.length > 0 ? r.failures.map(time).join(", ") : undefined],
    ["unique lock", r.lockKey],
    ["payload", r.payload],
    ["result", r.result],
    ["error", r.error],
    ["last error", r.lastError],
    ["reason", r.reason]
  ]
  return lines
    .filter((line): line is [string, string] => line[1] !== undefined)
    .map(([label, value]) => `${label.padEnd(13)}${clip(value, width - 13)}`)
    .join("\n")
}
