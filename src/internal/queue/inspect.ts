/**
 * What both queue backends share for the `Inspector`'s reads: empty counts, the page scan budget, the order of the
 * queued lists, and the cursor's text form. The contract is in model.ts (`Service.counts`, `list`, `detail`,
 * `workers`); the user-facing service is `Inspector.ts`.
 */
import type { ListQuery, ListState, QueueCounts, StateCounts, TaskState, WaitingAge, WorkerInfo } from "./model.ts"

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

/** The states, in the order the counts list them. */
export const states: ReadonlyArray<TaskState> = [
  "queued",
  "scheduled",
  "running",
  "succeeded",
  "failed",
  "dead",
  "skipped",
  "cancelled"
]

/** The states `list` pages through. */
export const listStates: ReadonlyArray<ListState> = [
  "queued",
  "scheduled",
  "running",
  "failed",
  "dead",
  "skipped",
  "cancelled"
]

/** The terminal states the bounded index keeps (`succeeded` is counted, not indexed). */
export const indexedStates: ReadonlyArray<TaskState> = ["failed", "dead", "skipped", "cancelled"]

export const zeroCounts = (): Mutable<StateCounts> => ({
  queued: 0,
  scheduled: 0,
  running: 0,
  succeeded: 0,
  failed: 0,
  dead: 0,
  skipped: 0,
  cancelled: 0
})

/**
 * At most this many entries are read for one page (a name filter skips the others' tasks): a page may come back
 * short, with a cursor to go on from.
 */
export const scanBudget = (limit: number): number => limit * 10

/** How many entries of each parked list's old end `counts` reads to find its oldest queued task (stale ids skipped). */
export const parkedScan = 10

/**
 * The queued tasks are paged list by list: the ready list, then each name's parked list by name. Whether the list
 * `key` comes after the list `after` in that order.
 */
export const segmentAfter = (key: string, after: string): boolean =>
  after === "ready" ? key !== "ready" : key !== "ready" && key > after

/**
 * What `counts` read of the waiting tasks: per name found, its oldest waiting task; how long the ready list is, how
 * many of its entries were read from the old end, and the run time of the last queued task read there.
 */
export interface WaitingScan {
  readonly found: ReadonlyArray<{ readonly name: string; readonly id: string; readonly since: number }>
  readonly readyLength: number
  readonly scanned: number
  readonly lastSince: number | undefined
}

/**
 * Counts per name summed into the queue's total, with each name's oldest waiting task and the queue's (the one due
 * longest of those found; on a tie, the smaller id) and their ages at `now`. A name with queued tasks that the scan
 * did not find, when the ready list is longer than what was read, is `BeyondScan` (see `WaitingAge`).
 */
export const countsOf = (
  now: number,
  byName: Readonly<Record<string, StateCounts>>,
  scan: WaitingScan
): QueueCounts => {
  const total = zeroCounts()
  for (const counts of Object.values(byName)) for (const state of states) total[state] += counts[state]
  const age = (since: number) => Math.max(0, now - since)
  const oldestByName: Record<string, WaitingAge> = {}
  let oldest: { readonly id: string; readonly since: number } | undefined
  for (const { name, id, since } of scan.found) {
    oldestByName[name] = { _tag: "Found", id, since, millis: age(since) }
    if (oldest === undefined || since < oldest.since || (since === oldest.since && id < oldest.id))
      oldest = { id, since }
  }
  if (scan.readyLength > scan.scanned) {
    for (const [name, counts] of Object.entries(byName)) {
      if (counts.queued > 0 && oldestByName[name] === undefined) {
        oldestByName[name] = {
          _tag: "BeyondScan",
          scanned: scan.scanned,
          lastSince: scan.lastSince,
          lastMillis: scan.lastSince === undefined ? undefined : age(scan.lastSince)
        }
      }
    }
  }
  return {
    now,
    total,
    byName,
    oldestWaiting: oldest,
    oldestWaitingMillis: oldest === undefined ? undefined : age(oldest.since),
    oldestByName
  }
}

/** Workers oldest first (by start, then id). */
export const sortWorkers = (workers: ReadonlyArray<WorkerInfo>): ReadonlyArray<WorkerInfo> =>
  [...workers].sort((a, b) => a.startedAt - b.startedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))

/** A page cursor as text: base64url of `[state, key, id]` (opaque to users; see `ListQuery.after`). */
export const encodeCursor = (state: ListState, after: NonNullable<ListQuery["after"]>): string =>
  Buffer.from(JSON.stringify([state, after.key, after.id])).toString("base64url")

/** A cursor's text read back for `state`; undefined when it is not one (or not one of this state's). */
export const decodeCursor = (state: ListState, text: string): NonNullable<ListQuery["after"]> | undefined => {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"))
    if (!Array.isArray(parsed) || parsed.length !== 3 || parsed[0] !== state) return undefined
    const [, key, id] = parsed
    if (typeof key !== "string" || typeof id !== "string" || id === "") return undefined
    if (
      state === "queued"
        ? key !== "ready" && key !== "held" && !key.startsWith("parked:")
        : !Number.isFinite(Number(key)) || key === ""
    )
      return undefined
    return { key, id }
  } catch {
    return undefined
  }
}
