/** The CLI's tables: plain text that fits an 80-column terminal (long values are cut with "…"). */
import type {
  Limits,
  LockEntry,
  QueueCounts,
  ScheduleInfo,
  StateCounts,
  TaskDetail,
  TaskPage,
  WorkerInfo
} from "../Inspector.ts"

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
export const lockRows = (locks: ReadonlyArray<LockEntry>): string =>
  locks.length === 0
    ? "no locks held"
    : table(
        ["KEY", "HOLDER", "EXPIRES IN", "FENCE"],
        locks.map((l) => [l.key, l.holder, human(l.expiresInMillis), String(l.fence)]),
        [32, 18, 10, 16]
      )

/** `heimdall tasks show`: one field a line; JSON values cut to the terminal's width. */
export const taskDetail = (detail: TaskDetail): string => {
  const r = detail.record
  const lines: Array<[string, string | undefined]> = [
    ["id", r.id],
    ["name", r.name],
    ["state", r.state],
    ["attempts", String(r.attempts)],
    ["enqueued at", time(r.enqueuedAt)],
    ["run at", r.runAt === r.enqueuedAt ? undefined : time(r.runAt)],
    ["lease ends", detail.leaseEndsAt === undefined ? undefined : `in ${human(detail.leaseEndsAt - detail.now)}`],
    ["redeliveries", r.redeliveries > 0 ? String(r.redeliveries) : undefined],
    ["reschedules", r.reschedules > 0 ? String(r.reschedules) : undefined],
    ["failures at", r.failures.length > 0 ? r.failures.map(time).join(", ") : undefined],
    [
      "unique lock",
      detail.lock === undefined
        ? undefined
        : detail.lock.holder === undefined
          ? `${detail.lock.key} (free)`
          : `${detail.lock.key} held by ${detail.lock.holder}${detail.lock.expiresInMillis === undefined ? "" : ` for ${human(detail.lock.expiresInMillis)}`}`
    ],
    ["rate slot", detail.booked ? "booked for its next start" : undefined],
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

const stateColumns = ["queued", "scheduled", "running", "succeeded", "failed", "dead", "skipped", "cancelled"] as const

/**
 * `heimdall status`: the queue's counts, then one row per task name; then, per task name with waiting tasks, how
 * long its oldest has waited and its id (a name past the counts' scan: "?", how many are ahead of it at least, and
 * the wait of the last task read).
 */
export const countRows = (queue: string, counts: QueueCounts): string => {
  const row = (label: string, c: StateCounts) => [label, ...stateColumns.map((s) => String(c[s]))]
  const names = Object.keys(counts.byName).sort()
  const oldest =
    counts.oldestWaitingMillis === undefined ? "nothing waits" : `oldest waiting: ${human(counts.oldestWaitingMillis)}`
  const waiting = Object.keys(counts.oldestByName).sort()
  return [
    `queue ${queue}: ${oldest}`,
    table(
      ["TASK", "QUEUED", "SCHED", "RUNNING", "SUCCEEDED", "FAILED", "DEAD", "SKIPPED", "CANCEL"],
      [...names.map((name) => row(name, counts.byName[name]!)), row("(all)", counts.total)],
      [14, 8, 8, 8, 9, 8, 8, 8, 8]
    ),
    ...(waiting.length === 0
      ? []
      : [
          "",
          table(
            ["WAITING", "OLDEST", "ID"],
            waiting.map((name) => {
              const w = counts.oldestByName[name]!
              return w._tag === "Found"
                ? [name, human(w.millis), w.id]
                : [
                    name,
                    "?",
                    `behind ${w.scanned}+ in line` +
                      (w.lastMillis === undefined ? "" : `; last read waited ${human(w.lastMillis)}`)
                  ]
            }),
            [14, 12, 50]
          )
        ])
  ].join("\n")
}

/** `heimdall tasks list`: one row per task, and the next page's command when there is one. */
export const taskRows = (page: TaskPage): string => {
  if (page.tasks.length === 0) return "no tasks"
  const rows = table(
    ["ID", "NAME", "STATE", "AT", "TRIES", "ERROR"],
    page.tasks.map((t) => [t.id, t.name, t.state, time(t.at).slice(5, 19), String(t.attempts), t.error ?? ""]),
    [16, 14, 9, 14, 5, 14]
  )
  return page.cursor === undefined ? rows : `${rows}\nmore: --cursor ${page.cursor}`
}

/** `heimdall workers`: one row per live worker. */
export const workerRows = (workers: ReadonlyArray<WorkerInfo>, now: number): string =>
  workers.length === 0
    ? "no live workers"
    : table(
        ["WORKER", "HOST", "PID", "SLOTS", "RUNNING", "BEAT", "TASKS"],
        workers.map((w) => [
          w.id,
          w.host,
          String(w.pid),
          String(w.concurrency),
          String(w.running.length),
          `${human(Math.max(0, now - w.lastBeatAt))} ago`,
          w.names.join(",")
        ]),
        [16, 12, 7, 5, 7, 10, 14]
      )

/** `heimdall schedules`: one row per schedule: when it ticks, its next tick, the latest tick enqueued and its task. */
export const scheduleRows = (schedules: ReadonlyArray<ScheduleInfo>): string =>
  schedules.length === 0
    ? "no schedules"
    : table(
        ["NAME", "WHEN", "OVERLAP", "NEXT", "LAST TASK"],
        schedules.map((s) => [
          s.name,
          s.cron === undefined
            ? `every ${human(s.everyMillis ?? 0)}`
            : `${s.cron}${s.timeZone ? ` ${s.timeZone}` : ""}`,
          s.overlap,
          s.nextTick === undefined ? "?" : fromNow(s.nextTick, s.now),
          s.lastTaskId ?? "none yet"
        ]),
        [14, 22, 9, 10, 40]
      )

/** When `at` (epoch ms) is, from `now`: "now" or "in 2.5 s". */
const fromNow = (at: number, now: number): string => (at <= now ? "now" : `in ${human(at - now)}`)

/**
 * `heimdall limits`: rate limits (window, admitted in it, booked, the limit when this process knows it, the next
 * free slot), then concurrency limits (holders of the limit, the soonest lease end, the holders).
 */
export const limitRows = (limits: Limits, now: number): string => {
  const rate =
    limits.rate.length === 0
      ? "no rate limits in use"
      : table(
          ["RATE LIMIT", "WINDOW", "ADMITTED", "BOOKED", "LIMIT", "NEXT FREE"],
          limits.rate.map((r) => [
            r.key,
            human(r.windowMillis),
            String(r.admitted),
            String(r.booked),
            r.limits.length === 0 ? "?" : r.limits.map((l) => `${l.times}/${human(l.perMillis)}`).join(","),
            r.nextFreeAt === undefined ? "?" : fromNow(r.nextFreeAt, now)
          ]),
          [24, 10, 8, 6, 12, 10]
        )
  const concurrency =
    limits.concurrency.length === 0
      ? "no concurrency limits held"
      : table(
          ["CONCURRENCY LIMIT", "HELD", "FIRST ENDS", "HOLDERS"],
          limits.concurrency.map((c) => [
            c.key,
            `${c.holders.length}/${c.limit ?? "?"}`,
            `in ${human(c.holders[0]!.expiresInMillis)}`,
            c.holders.map((h) => h.holder).join(",")
          ]),
          [26, 8, 12, 26]
        )
  return `${rate}\n\n${concurrency}`
}
