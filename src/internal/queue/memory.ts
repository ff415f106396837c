/**
 * The in-memory queue backend: the same state machine as the Lua scripts, on
 * Effect's `Clock`. Each operation reads the clock once and then changes the
 * state synchronously, so it is atomic like a script.
 */
import { Clock, Deferred, Effect } from "effect"
import type { HeimdallStore } from "../../HeimdallStore.ts"
import type { Config } from "../config.ts"
import type { LockTable } from "../locks.ts"
import * as Waiters from "../waiters.ts"
import { dealClaims } from "./deal.ts"
import * as Inspect from "./inspect.ts"
import { Line } from "./line.ts"
import type {
  CancelResult,
  ClaimedTask,
  ClaimOptions,
  ClaimResult,
  EnqueueResult,
  FireResult,
  ListQuery,
  NewTask,
  Parked,
  RetryResult,
  ScheduleRecord,
  Service,
  StateCounts,
  TaskPage,
  TaskRecord,
  TaskState,
  TaskSummary,
  WorkerInfo
} from "./model.ts"
import { isTerminal } from "./model.ts"
import { fullLockKey, lockKeyOf } from "./options.ts"

interface Entry {
  record: Mutable<TaskRecord>
  token: string | undefined
  leaseUntil: number | undefined
  expiresAt: number | undefined
  /**
   * A unique task's lock: the full key, its ttl, whether it outlives the task, and whether it is freed as the task
   * starts (`hold: "untilStart"`).
   */
  lock:
    | { readonly key: string; readonly ttlMillis: number; readonly keep: boolean; readonly freeAtStart: boolean }
    | undefined
  /** A rate-limit slot is booked for the next start. */
  booked: boolean
  /** `onDuplicate: "replace"`: the task waiting behind this running one, started when this one frees the lock. */
  next?: string | undefined
  /** A task waiting behind a running one: its own earliest start (a delayed or debounced duplicate). */
  notBefore?: number | undefined
  /** A task of a concurrency group (as the Redis record's `cg`, `cl`). */
  cc?: { readonly key: string; readonly limit: number } | undefined
  /** Held back in its concurrency group's line (the Redis state `h`): its state reads `"queued"`. */
  held?: boolean | undefined
  /** Its place in the line (the Redis record's `cs`). */
  heldSeq?: number | undefined
}
type Mutable<A> = { -readonly [K in keyof A]: A[K] }

/** Same cap as the Redis wake list: more tokens than this only cause spurious wake-ups. */
const wakeCap = 1024
const promoteLimit = 1000

export const makeMemory = (options: Config, table: LockTable, store: HeimdallStore["Service"]) =>
  Effect.sync((): Service => {
    const tasks = new Map<string, Entry>()
    /** Oldest first (the Redis list's right end). */
    const ready = new Line()
    const scheduled = new Map<string, number>()
    const running = new Map<string, number>()
    let tokens = 0
    /** Blocked waiters, oldest first, with the task names their worker runs (undefined: every name). */
    const sleepers: Array<{ readonly done: Deferred.Deferred<void>; readonly names: ReadonlySet<string> | undefined }> =
      []
    /**
     * Tasks parked for a worker that runs their name (routing by name), oldest first, each with its place in the
     * parked line (a counter, as the Redis `parkline` members: a page's cursor names it).
     */
    const parked = new Map<string, Array<{ readonly id: string; readonly place: number }>>()
    let parkedPlaces = 0
    /** Task name -> when a worker running it last beat. */
    const seen = new Map<string, number>()
    const joiners = Waiters.make()
    /** The bookkeeping the Inspector reads (as the Redis `counts` hash): task name -> counts by state. */
    const counts = new Map<string, Mutable<StateCounts>>()
    /** Moves one task named `name` from state `from` (none: a new task) to `to` in the counts. */
    const bump = (name: string, from: TaskState | undefined, to: TaskState) => {
      let c = counts.get(name)
      if (c === undefined) {
        c = Inspect.zeroCounts()
        counts.set(name, c)
      }
      if (from !== undefined && !isTerminal(from)) c[from]--
      c[to]++
    }
    /** The bounded index of failed, dead, skipped and cancelled tasks (the Redis `index:<state>` sorted sets), oldest first. */
    const index = new Map<TaskState, Array<{ readonly id: string; readonly at: number }>>([
      ["failed", []],
      ["dead", []],
      ["skipped", []],
      ["cancelled", []]
    ])
    /** `watchCancels` listeners: told the id of each running task an operator cancels. */
    const cancelListeners = new Set<(id: string) => void>()
    /** The worker registry: id -> its last registration. */
    const workers = new Map<string, WorkerInfo>()
    /** Schedule name -> its record (the Redis `schedules` hash). */
    const schedules = new Map<string, ScheduleRecord>()

    const live = (id: string, now: number): Entry | undefined => {
      const entry = tasks.get(id)
      if (entry?.expiresAt !== undefined && now >= entry.expiresAt) {
        tasks.delete(id)
        return undefined
      }
      return entry
    }
    /**
     * Per-key concurrency (as ccAdmitOrHold in includes.lua): each group's admitted tasks (queued, scheduled or
     * running) and its held-back tasks' ids, oldest first.
     */
    const groups = new Map<string, { admitted: number; readonly waiting: Array<string> }>()
    /** The order of held-back tasks (as the Redis field "\0seq"), 15 digits in a `ccwait`-like member. */
    let heldCount = 0
    const ccSeq = (id: string) => String(tasks.get(id)?.heldSeq ?? 0).padStart(15, "0")
    const groupOf = (key: string) => {
      let group = groups.get(key)
      if (group === undefined) {
        group = { admitted: 0, waiting: [] }
        groups.set(key, group)
      }
      return group
    }
    /** Admits `entry` into its group (true), or holds it back in the group's line (false). */
    const admitOrHold = (entry: Entry, cc: NonNullable<Entry["cc"]>): boolean => {
      const group = groupOf(cc.key)
      if (group.admitted < cc.limit) {
        group.admitted++
        return true
      }
      group.waiting.push(entry.record.id)
      entry.held = true
      entry.heldSeq = ++heldCount
      return false
    }
    /** A task of a group ends or leaves: out of the line if held back, else its admission goes to the group's next. */
    const ccRelease = (entry: Entry, now: number) => {
      if (entry.cc === undefined) return
      const group = groupOf(entry.cc.key)
      if (entry.held) {
        entry.held = false
        const at = group.waiting.indexOf(entry.record.id)
        if (at !== -1) group.waiting.splice(at, 1)
      } else {
        group.admitted = Math.max(0, group.admitted - 1)
        while (group.waiting.length > 0) {
          const next = live(group.waiting[0]!, now)
          if (next?.held && next.cc !== undefined) {
            if (group.admitted >= next.cc.limit) break
            group.admitted++
            next.held = false
            if (next.record.runAt > now) {
              bump(next.record.name, "queued", "scheduled")
              next.record.state = "scheduled"
              scheduled.set(next.record.id, next.record.runAt)
            } else ready.push(next.record.id)
            wake()
          }
          group.waiting.shift()
        }
      }
      if (group.admitted === 0 && group.waiting.length === 0) groups.delete(entry.cc.key)
    }
    const wake = () => {
      const sleeper = sleepers.shift()
      if (sleeper) Deferred.doneUnsafe(sleeper.done, Effect.void)
      else tokens = tokens + 1 > wakeCap ? Math.floor(wakeCap / 2) : tokens + 1 // as the Redis wake list is trimmed
    }
    /** Wakes the longest-waiting sleeper that runs `name` (as the Redis hand-off picks an idle worker by name). */
    const wakeFor = (name: string) => {
      const at = sleepers.findIndex((s) => s.names === undefined || s.names.has(name))
      if (at !== -1) Deferred.doneUnsafe(sleepers.splice(at, 1)[0]!.done, Effect.void)
    }
    const owned = (id: string, token: string, now: number) => {
      const entry = live(id, now)
      return entry && entry.record.state === "running" && entry.token === token ? entry : undefined
    }
    /**
     * `hold: "untilStart"` (as retakeOnWait in includes.lua): a task whose attempt is given back (release, a rate-limit
     * reschedule: it did not run) takes its lock again, if the lock is free (a duplicate that took it keeps it).
     */
    const retakeOnWait = (entry: Entry, now: number, nowUs: number) => {
      if (entry.lock?.freeAtStart) table.take(entry.lock.key, entry.record.id, entry.lock.ttlMillis, now, nowUs)
    }
    const finish = (entry: Entry, state: TaskState, fields: Partial<TaskRecord>, now: number) => {
      if (entry.lock && !entry.lock.keep && table.free(entry.lock.key, entry.record.id, now)) {
        promoteNext(entry, entry.lock, now)
      }
      running.delete(entry.record.id)
      bump(entry.record.name, entry.record.state, state)
      const indexed = index.get(state)
      if (indexed !== undefined) {
        indexed.push({ id: entry.record.id, at: now })
        // trimmed as new entries arrive: past the retention, then past the cap (the oldest first)
        let drop = 0
        while (drop < indexed.length && indexed[drop]!.at <= now - options.retentionMillis) drop++
        drop = Math.max(drop, indexed.length - options.indexSize)
        if (drop > 0) indexed.splice(0, drop)
      }
      Object.assign(entry.record, fields, { state, finishedAt: now })
      entry.token = undefined
      entry.leaseUntil = undefined
      entry.expiresAt = now + options.retentionMillis
      ccRelease(entry, now)
      joiners.wakeAll(entry.record.id)
    }
    /**
     * `onDuplicate: "replace"`: the task waiting behind `entry` (which just freed its lock) takes the lock and is
     * queued at once, if it is still scheduled (as promoteNext in includes.lua).
     */
    const promoteNext = (entry: Entry, lock: NonNullable<Entry["lock"]>, now: number) => {
      const behind = entry.next === undefined ? undefined : live(entry.next, now)
      if (behind?.record.state !== "scheduled" || behind.lock === undefined) return
      table.take(lock.key, behind.record.id, behind.lock.ttlMillis, now, now * 1000)
      if (behind.notBefore !== undefined && behind.notBefore > now) {
        scheduled.set(behind.record.id, behind.notBefore)
        behind.record.runAt = behind.notBefore
        wake() // its run time moved earlier than the lock's expiry: idle workers wait for the old one
        return
      }
      scheduled.delete(behind.record.id)
      bump(behind.record.name, "scheduled", "queued")
      behind.record.state = "queued"
      behind.record.runAt = now
      ready.push(behind.record.id)
      wake()
    }
    /**
     * `onDuplicate: "replace"` (as enqueueUnique-28.lua): the payload goes to the waiting holder (scheduled again
     * after its own delay, if it has one), to the task waiting behind the running holder, or to a new task behind
     * it, scheduled at the lock's expiry and started when the holder ends. `"oneBehind"`: the waiting task (the
     * holder, or the one behind it) is named as a duplicate's holder; otherwise the new task waits behind.
     */
    const replaceAt = (
      task: NewTask,
      lock: NonNullable<Entry["lock"]>,
      holderId: string,
      expiresInMs: number,
      now: number
    ): EnqueueResult => {
      const holder = live(holderId, now)
      const behind = holder?.next === undefined ? undefined : live(holder.next, now)
      const oneBehind = task.unique?.onDuplicate === "oneBehind"
      if (oneBehind) {
        const waiting =
          behind?.record.state === "scheduled"
            ? behind
            : holder?.record.state === "queued" || holder?.record.state === "scheduled"
              ? holder
              : undefined
        if (waiting !== undefined) {
          return { _tag: "Duplicate", holder: waiting.record.id, expiresInMillis: expiresInMs }
        }
      }
      const debounce = task.unique?.onDuplicate === "debounce" ? task.unique.debounce : undefined
      if (debounce !== undefined) {
        const target =
          behind?.record.state === "scheduled"
            ? behind
            : holder?.record.state === "queued" || holder?.record.state === "scheduled"
              ? holder
              : undefined
        if (target !== undefined) {
          let at = now + debounce.waitMillis
          if (debounce.maxWaitMillis !== undefined) at = Math.min(at, target.record.enqueuedAt + debounce.maxWaitMillis)
          at = Math.max(at, now)
          target.record.payload = task.payload
          if (target !== holder) {
            target.notBefore = at
            return { _tag: "Debounced", id: target.record.id, state: target.record.state, startsAt: at }
          }
          if (at > now) {
            if (target.record.state === "queued") {
              const i = ready.indexOf(target.record.id)
              if (i !== -1) ready.removeAt(i)
              bump(target.record.name, "queued", "scheduled")
            }
            target.record.state = "scheduled"
            target.record.runAt = at
            scheduled.set(target.record.id, at)
          }
          return { _tag: "Debounced", id: target.record.id, state: target.record.state, startsAt: at }
        }
      }
      if (behind?.record.state === "scheduled") {
        behind.record.payload = task.payload
        return { _tag: "Replaced", id: behind.record.id, state: "scheduled" }
      }
      if (holder !== undefined && (holder.record.state === "queued" || holder.record.state === "scheduled")) {
        holder.record.payload = task.payload
        if (task.delayMillis > 0) {
          if (holder.record.state === "queued") {
            const at = ready.indexOf(holderId)
            if (at !== -1) ready.removeAt(at)
            bump(holder.record.name, "queued", "scheduled")
          }
          holder.record.state = "scheduled"
          holder.record.runAt = now + task.delayMillis
          scheduled.set(holderId, now + task.delayMillis)
        }
        return { _tag: "Replaced", id: holderId, state: holder.record.state }
      }
      const at = now + Math.max(0, expiresInMs)
      const entry = newEntry(task, "scheduled", at, lock, now)
      // its own earliest start: the duplicate's delay (the debounce wait)
      const own = now + (debounce !== undefined ? debounce.waitMillis : task.delayMillis)
      if (own > now) entry.notBefore = own
      tasks.set(task.id, entry)
      bump(task.name, undefined, "scheduled")
      scheduled.set(task.id, at)
      if (holder !== undefined) holder.next = task.id
      if (debounce !== undefined) return { _tag: "Debounced", id: task.id, state: "scheduled", startsAt: own }
      return oneBehind ? { _tag: "Created", state: "scheduled" } : { _tag: "Replaced", id: task.id, state: "scheduled" }
    }
    /**
     * `onDuplicate: { debounce, edge: "leading" | "both" }` (as debounceEdge in includes.lua): each key's burst
     * window, until `until` (the latest request + wait); `lastRun`: when the burst's latest run was asked for; `run`:
     * that run's id; `trailing`: the burst's trailing run ("both").
     */
    const windows = new Map<string, { until: number; lastRun: number; run: string; trailing: string | undefined }>()
    const debounceEdge = (
      task: NewTask,
      lock: NonNullable<Entry["lock"]>,
      debounce: {
        readonly waitMillis: number
        readonly maxWaitMillis: number | undefined
        readonly edge: "leading" | "both"
      },
      now: number,
      nowUs: number
    ): EnqueueResult => {
      if (windows.size > 1024) for (const [key, w] of windows) if (w.until <= now) windows.delete(key)
      const w = windows.get(lock.key)
      const open = w !== undefined && w.until > now
      let lastRun = open ? w.lastRun : now
      const maxWait = debounce.maxWaitMillis
      /** The run of the key that has not started: the task waiting behind the running holder, or the waiting holder. */
      const waitingOf = (holderId: string) => {
        const holder = live(holderId, now)
        const behind = holder?.next === undefined ? undefined : live(holder.next, now)
        if (behind?.record.state === "scheduled") return { entry: behind, behind: true }
        if (holder?.record.state === "queued" || holder?.record.state === "scheduled") {
          return { entry: holder, behind: false }
        }
        return undefined
      }
      /** Moves that run to start at `at` (behind the running holder: not before then). */
      const startAt = (t: { entry: Entry; behind: boolean }, at: number): TaskState => {
        const r = t.entry.record
        if (t.behind) {
          t.entry.notBefore = at
          return "scheduled"
        }
        if (at > now) {
          if (r.state === "queued") {
            const i = ready.indexOf(r.id)
            if (i !== -1) ready.removeAt(i)
            bump(r.name, "queued", "scheduled")
          }
          r.state = "scheduled"
          r.runAt = at
          scheduled.set(r.id, at)
          return "scheduled"
        }
        if (r.state === "scheduled") {
          scheduled.delete(r.id)
          bump(r.name, "scheduled", "queued")
          r.state = "queued"
          r.runAt = now
          ready.push(r.id)
          wake()
        }
        return "queued"
      }
      /** A new task (this request's) to start at `at`: with the lock, or behind its holder (see replaceAt). */
      const create = (held: { holder: string; expiresInMs: number } | undefined, at: number): TaskState => {
        if (held === undefined) {
          const state: TaskState = at > now ? "scheduled" : "queued"
          tasks.set(task.id, newEntry(task, state, at, lock, now))
          bump(task.name, undefined, state)
          if (state === "scheduled") scheduled.set(task.id, at)
          else ready.push(task.id)
          wake()
          return state
        }
        const expiry = now + Math.max(0, held.expiresInMs)
        const entry = newEntry(task, "scheduled", expiry, lock, now)
        if (at > now) entry.notBefore = at
        tasks.set(task.id, entry)
        bump(task.name, undefined, "scheduled")
        scheduled.set(task.id, expiry)
        const holder = live(held.holder, now)
        if (holder !== undefined) holder.next = task.id
        return "scheduled"
      }
      const take = () => {
        const taken = table.take(lock.key, task.id, lock.ttlMillis, now, nowUs)
        return taken._tag === "Held" ? { holder: taken.holder, expiresInMs: taken.expiresInMs } : undefined
      }
      if (!open || (debounce.edge === "leading" && maxWait !== undefined && now - lastRun >= maxWait)) {
        const held = take()
        const t = held && waitingOf(held.holder)
        let result: EnqueueResult
        if (t !== undefined) {
          t.entry.record.payload = task.payload
          result = { _tag: "Replaced", id: t.entry.record.id, state: startAt(t, now + task.delayMillis) }
        } else {
          result = { _tag: "Created", state: create(held, now + task.delayMillis) }
        }
        const run = result._tag === "Replaced" ? result.id : task.id
        windows.set(lock.key, { until: now + debounce.waitMillis, lastRun: now, run, trailing: undefined })
        return result
      }
      if (debounce.edge === "leading") {
        w.until = now + debounce.waitMillis
        return { _tag: "Duplicate", holder: w.run, expiresInMillis: debounce.waitMillis }
      }
      let trailing = w.trailing === undefined ? undefined : live(w.trailing, now)
      if (trailing !== undefined && trailing.record.state !== "scheduled" && trailing.record.state !== "queued") {
        // it started (at maxWait): the next trailing run counts from that start
        lastRun = trailing.record.startedAt ?? lastRun
        trailing = undefined
      }
      let at = now + debounce.waitMillis
      if (maxWait !== undefined) at = Math.min(at, lastRun + maxWait)
      at = Math.max(at, now)
      const held = take()
      const t = held && waitingOf(held.holder)
      let result: EnqueueResult
      let trailingId = trailing?.record.id
      if (t !== undefined) {
        t.entry.record.payload = task.payload
        result =
          t.entry === trailing
            ? { _tag: "Debounced", id: t.entry.record.id, state: startAt(t, at), startsAt: at }
            : { _tag: "Replaced", id: t.entry.record.id, state: t.entry.record.state }
      } else {
        result = { _tag: "Debounced", id: task.id, state: create(held, at), startsAt: at }
        trailingId = task.id
      }
      windows.set(lock.key, { until: now + debounce.waitMillis, lastRun, run: w.run, trailing: trailingId })
      return result
    }
    const newEntry = (task: NewTask, state: TaskState, runAt: number, lock: Entry["lock"], now: number): Entry => ({
      record: {
        id: task.id,
        name: task.name,
        state,
        payload: task.payload,
        attempts: 0,
        redeliveries: 0,
        reschedules: 0,
        enqueuedAt: now,
        runAt,
        trace: task.trace,
        result: undefined,
        error: undefined,
        lastError: undefined,
        reason: undefined,
        lockKey: lock?.key,
        failures: [],
        startedAt: undefined,
        finishedAt: undefined,
        worker: undefined
      },
      token: undefined,
      leaseUntil: undefined,
      expiresAt: undefined,
      lock,
      booked: false
    })
    const dropFromIndex = (state: TaskState, id: string) => {
      const indexed = index.get(state)
      const at = indexed?.findIndex((e) => e.id === id) ?? -1
      if (at !== -1) indexed!.splice(at, 1)
    }
    /**
     * An operator's retry of a failed or dead task (see `Service.retry`): at the back of the line, as a new task; a
     * unique task takes its lock again, or nothing changes.
     */
    const requeue = (entry: Entry, now: number, nowUs: number): RetryResult => {
      const { id } = entry.record
      if (entry.lock) {
        const taken = table.take(entry.lock.key, id, entry.lock.ttlMillis, now, nowUs)
        if (taken._tag === "Held")
          return { _tag: "Duplicate", holder: taken.holder, expiresInMillis: taken.expiresInMs }
      }
      dropFromIndex(entry.record.state, id)
      bump(entry.record.name, undefined, "queued")
      Object.assign(entry.record, {
        state: "queued",
        attempts: 0,
        redeliveries: 0,
        reschedules: 0,
        runAt: now,
        result: undefined,
        lastError: entry.record.error ?? entry.record.reason ?? "",
        error: undefined,
        reason: undefined,
        failures: [],
        startedAt: undefined,
        finishedAt: undefined,
        worker: undefined
      } satisfies Partial<TaskRecord>)
      entry.booked = false
      entry.expiresAt = undefined
      if (entry.cc !== undefined && !admitOrHold(entry, entry.cc)) return { _tag: "Requeued" }
      ready.push(id)
      wake()
      return { _tag: "Requeued" }
    }
    const withNow = <A>(f: (now: number, nowUs: number) => A) =>
      Effect.map(Clock.currentTimeNanos, (nanos) => {
        const nowUs = Number(nanos / 1000n)
        return f(Math.floor(nowUs / 1000), nowUs)
      })

    const claimAt = (
      { token, leaseMillis, maxRedeliveries, max, names, worker }: ClaimOptions,
      now: number,
      nowUs: number
    ): ClaimResult => {
      const due = [...scheduled].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1])
      for (const [id] of due.slice(0, promoteLimit)) {
        scheduled.delete(id)
        const entry = live(id, now)
        if (entry?.record.state === "scheduled") {
          bump(entry.record.name, "scheduled", "queued")
          entry.record.state = "queued"
          ready.push(id)
        }
      }
      const lapsed = [...running].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1])
      const dead: Array<string> = []
      for (const [id] of lapsed.slice(0, promoteLimit)) {
        running.delete(id)
        const entry = live(id, now)
        if (entry?.record.state === "running") {
          entry.record.redeliveries++
          if (maxRedeliveries !== undefined && entry.record.redeliveries > maxRedeliveries) {
            const times = entry.record.redeliveries
            finish(entry, "dead", { reason: `its lease lapsed ${times} times: the worker running it keeps dying` }, now)
            dead.push(entry.record.name)
            continue
          }
          bump(entry.record.name, "running", "queued")
          entry.record.state = "queued"
          entry.token = undefined
          entry.leaseUntil = undefined
          ready.unshift(id)
        }
      }
      const want = Math.max(1, Math.floor(max ?? 1))
      const runs = names === undefined ? undefined : setOf(names)
      const tasks: Array<ClaimedTask> = []
      const passed: Array<string> = []
      /** Claims the queued task `id` if it may start now (see the unique lock check). */
      const take = (id: string) => {
        const entry = live(id, now)
        if (entry?.record.state !== "queued") return
        if (entry.lock?.freeAtStart) {
          // hold "untilStart" (as freeAtStart in includes.lua): it starts now, so its lock is freed if it holds it
          // (never another task's), and it is never skipped
          if (table.free(entry.lock.key, id, now)) promoteNext(entry, entry.lock, now)
        } else if (entry.lock) {
          const held = table.holder(entry.lock.key, now)
          if (held === undefined) table.take(entry.lock.key, id, entry.lock.ttlMillis, now, nowUs)
          else if (held.holder !== id) {
            finish(entry, "skipped", { reason: `its unique key is held by task ${held.holder}` }, now)
            return
          }
        }
        const booked = entry.booked
        const leaseToken = tasks.length === 0 ? token : `${token}:${tasks.length + 1}`
        entry.booked = false
        entry.record.attempts++
        bump(entry.record.name, "queued", "running")
        entry.record.state = "running"
        entry.record.startedAt = now
        if (worker !== undefined) entry.record.worker = worker
        entry.token = leaseToken
        entry.leaseUntil = now + leaseMillis
        running.set(id, now + leaseMillis)
        const { name, payload, attempts, trace, enqueuedAt, failures } = entry.record
        tasks.push({
          id,
          name,
          payload,
          attempts,
          trace,
          enqueuedAt,
          token: leaseToken,
          booked,
          claimedAt: now,
          failures
        })
      }
      // tasks parked for a name this claimer runs come first: they waited for a worker like this one
      for (const [name, ids] of parked) {
        if (tasks.length >= want) break
        if (runs !== undefined && !runs.has(name)) continue
        while (tasks.length < want && ids.length > 0) take(ids.shift()!.id)
        if (ids.length === 0) parked.delete(name)
      }
      let foreign = 0
      while (tasks.length < want && foreign < 100) {
        const id = ready.shift()
        if (id === undefined) break
        const entry = live(id, now)
        if (entry?.record.state !== "queued") continue
        const name = entry.record.name
        if (runs === undefined || runs.has(name)) take(id)
        else {
          // another kind of worker's task: parked for one that runs it, which is woken
          foreign++
          passed.push(name)
          const list = parked.get(name)
          const entry = { id, place: ++parkedPlaces }
          if (list === undefined) parked.set(name, [entry])
          else list.push(entry)
          wakeFor(name)
        }
      }
      const passedOrNot = passed.length > 0 ? passed : undefined
      const deadLettered = dead.length > 0 ? dead : undefined
      if (tasks.length > 0) return { _tag: "Claimed", task: tasks[0]!, tasks, passed: passedOrNot, deadLettered }
      const next = Math.min(...scheduled.values(), ...running.values())
      return {
        _tag: "Idle",
        waitMillis: Number.isFinite(next) ? Math.max(0, next - now) : undefined,
        passed: passedOrNot,
        deadLettered
      }
    }
    const claim: Service["claim"] = (claimOptions) => withNow((now, nowUs) => claimAt(claimOptions, now, nowUs))

    // In one process a wake-up costs no round trip: no hand-off here, `wait` never returns a task. A waiter
    // sleeps with the names of its last claim, so that a task parked for a name wakes a worker that runs it.
    const waiter = Effect.sync(() => {
      let names: ReadonlySet<string> | undefined
      return {
        claim: (options: ClaimOptions) => {
          names = options.names === undefined ? undefined : new Set(options.names)
          return claim(options)
        },
        wait: (maxMillis: number) =>
          Effect.suspend(() => {
            if (tokens > 0) {
              tokens--
              return Effect.void
            }
            const sleeper = { done: Deferred.makeUnsafe<void>(), names }
            sleepers.push(sleeper)
            return Deferred.await(sleeper.done).pipe(
              Effect.timeoutOrElse({ duration: maxMillis, orElse: () => Effect.void }),
              Effect.ensuring(
                Effect.sync(() => {
                  const at = sleepers.indexOf(sleeper)
                  if (at !== -1) sleepers.splice(at, 1)
                })
              )
            )
          }).pipe(Effect.as(undefined))
      }
    })

    /** A queued task as a page lists it, or undefined when `id` is not a queued task of `name` (if given). */
    const summary = (id: string, at: number | undefined, name: string | undefined, now: number) => {
      const entry = live(id, now)
      if (entry === undefined || (name !== undefined && entry.record.name !== name)) return undefined
      const r = entry.record
      return {
        id,
        name: r.name,
        state: r.state,
        at: at ?? r.runAt,
        enqueuedAt: r.enqueuedAt,
        attempts: r.attempts,
        error: r.state === "failed" ? r.error : r.reason
      } satisfies TaskSummary
    }
    /** A page of a sorted state (score, id), greatest first, as the Redis page script reads a sorted set. */
    const pageSorted = (
      entries: ReadonlyArray<readonly [id: string, score: number]>,
      query: ListQuery,
      now: number
    ): TaskPage => {
      const after = query.after
      const sorted = entries
        .filter(([id, score]) => {
          if (after === undefined) return true
          const at = Number(after.key)
          return score < at || (score === at && id < after.id)
        })
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0))
      const budget = Inspect.scanBudget(query.limit)
      const tasks: Array<TaskSummary> = []
      let scanned = 0
      for (const [id, score] of sorted) {
        if (tasks.length >= query.limit || scanned >= budget) {
          const [lastId, lastScore] = sorted[scanned - 1]!
          return { tasks, next: { key: String(lastScore), id: lastId } }
        }
        scanned++
        const task = summary(id, score, query.name, now)
        if (task !== undefined && task.state === query.state) tasks.push(task)
      }
      return { tasks, next: undefined }
    }
    /**
     * The tasks held back by their concurrency group as the Redis `ccwait` members sort ("<group>\0<seq>\0<id>"): by
     * group, each group's oldest first.
     */
    const heldLine = (): Array<string> =>
      [...groups]
        .flatMap(([group, { waiting }]) => waiting.map((id) => `${group}\0${ccSeq(id)}\0${id}`))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    /** A page of `queued`: the ready list, then each name's parked list (by name), each newest first. */
    const pageQueued = (query: ListQuery, now: number): TaskPage => {
      /** A list, oldest first: its length, its ids and (parked lists) their places in the parked line. */
      interface Segment {
        readonly key: string
        readonly size: number
        readonly id: (i: number) => string
        readonly place?: (i: number) => number
      }
      const segments: Array<Segment> = [{ key: "ready", size: ready.length, id: (i) => ready.at(i)! }]
      for (const name of [...parked.keys()].sort()) {
        if (query.name !== undefined && query.name !== name) continue
        const list = parked.get(name)!
        segments.push({
          key: `parked:${name}`,
          size: list.length,
          id: (i) => list[i]!.id,
          place: (i) => list[i]!.place
        })
      }
      const budget = Inspect.scanBudget(query.limit)
      const tasks: Array<TaskSummary> = []
      let scanned = 0
      let last: { key: string; id: string } | undefined
      let started = query.after === undefined
      for (const { key, size, id: idAt, place: placeAt } of segments) {
        let from = size - 1
        if (!started) {
          const after = query.after!
          if (key !== after.key && !Inspect.segmentAfter(key, after.key)) continue
          started = true
          if (key === after.key && placeAt === undefined) {
            // the newest entry is last: the cursor's task and everything newer were listed; a task claimed since took
            // every older one with it (claims take the oldest first), so a missing cursor ends this list
            const at = ready.lastIndexOf(after.id)
            if (at === -1) continue
            from = at - 1
          } else if (key === after.key && placeAt !== undefined) {
            // a parked list: the cursor is a place in the parked line, and the page goes on below it whether or not
            // its task is still there
            const place = Number(after.id.slice(0, after.id.indexOf(":")))
            while (from >= 0 && placeAt(from) >= place) from--
          }
        }
        for (let i = from; i >= 0; i--) {
          const id = idAt(i)
          if (tasks.length >= query.limit || scanned >= budget) return { tasks, next: last }
          scanned++
          last = { key, id: placeAt === undefined ? id : `${placeAt(i)}:${id}` }
          const task = summary(id, undefined, query.name, now)
          if (task !== undefined && task.state === "queued") tasks.push(task)
        }
      }
      // then the tasks held back by their concurrency group, as the Redis `ccwait` members sort: by group, each
      // group's oldest first; the cursor is a member, and the page goes on after it whether or not it is still there
      for (const member of heldLine()) {
        if (query.after?.key === "held" && member <= query.after.id) continue
        if (tasks.length >= query.limit || scanned >= budget) return { tasks, next: last }
        scanned++
        last = { key: "held", id: member }
        const task = summary(member.slice(member.indexOf("\0") + 17), undefined, query.name, now)
        if (task !== undefined && task.state === "queued") tasks.push(task)
      }
      return { tasks, next: undefined }
    }

    const enqueueAt = (task: NewTask, now: number, nowUs: number): EnqueueResult => {
      const existing = live(task.id, now)
      if (existing) return { _tag: "Exists", state: existing.record.state }
      const lock = task.unique && {
        key: fullLockKey(options, task.unique),
        ttlMillis: task.unique.ttlMillis,
        keep: task.unique.keep,
        freeAtStart: task.unique.freeAtStart === true
      }
      const debounce = task.unique?.onDuplicate === "debounce" ? task.unique.debounce : undefined
      if (lock && debounce?.edge !== undefined) {
        return debounceEdge(task, lock, { ...debounce, edge: debounce.edge }, now, nowUs)
      }
      if (lock) {
        const taken = table.take(lock.key, task.id, lock.ttlMillis, now, nowUs)
        if (taken._tag === "Held") {
          return task.unique?.onDuplicate !== undefined
            ? replaceAt(task, lock, taken.holder, taken.expiresInMs, now)
            : { _tag: "Duplicate", holder: taken.holder, expiresInMillis: taken.expiresInMs }
        }
      }
      const entry = newEntry(task, "queued", now + task.delayMillis, lock, now)
      tasks.set(task.id, entry)
      // not with unique (see NewTask.concurrency), as on Redis
      if (task.concurrency !== undefined && task.unique === undefined) {
        entry.cc = task.concurrency
        if (!admitOrHold(entry, task.concurrency)) {
          bump(task.name, undefined, "queued")
          return { _tag: "Created", state: "queued" }
        }
      }
      const state: TaskState = task.delayMillis > 0 ? "scheduled" : "queued"
      entry.record.state = state
      bump(task.name, undefined, state)
      if (state === "scheduled") scheduled.set(task.id, now + task.delayMillis)
      else ready.push(task.id)
      wake()
      return { _tag: "Created", state }
    }

    const enqueueOne = (task: NewTask): Effect.Effect<EnqueueResult> =>
      withNow((now, nowUs) => enqueueAt(task, now, nowUs))

    const service: Service = {
      queue: options.queue,
      config: options,
      store,
      lockKey: lockKeyOf(options),
      enqueue: enqueueOne,
      // one after the other, as on Redis (nothing to batch in memory)
      enqueueAll: (list) => Effect.forEach(list, enqueueOne),
      syncSchedule: (spec) =>
        withNow((now) => {
          const record: ScheduleRecord = {
            last: undefined,
            fired: undefined,
            taskId: undefined,
            pending: undefined,
            ...schedules.get(spec.name),
            ...spec
          }
          schedules.set(spec.name, record)
          return { now, record: { ...record } }
        }),
      fireSchedule: ({ schedule, overlap, tick, task }) =>
        withNow((now, nowUs): FireResult => {
          const record: Mutable<ScheduleRecord> = schedules.get(schedule) ?? {
            name: schedule,
            task: task.name,
            cron: undefined,
            timeZone: undefined,
            everyMillis: undefined,
            overlap,
            catchUp: "none",
            last: undefined,
            fired: undefined,
            taskId: undefined,
            pending: undefined
          }
          const isPending = record.pending === tick
          if ((record.last !== undefined && tick <= record.last && !isPending) || live(task.id, now) !== undefined) {
            return { _tag: "Passed" }
          }
          const save = () => {
            if (record.last === undefined || tick > record.last) record.last = tick
            schedules.set(schedule, record)
          }
          if (overlap !== "allow" && record.taskId !== undefined) {
            const previous = live(record.taskId, now)?.record.state
            const waiting = previous === "queued" || previous === "scheduled"
            if (waiting || previous === "running") {
              if (overlap === "bufferOne" && previous === "running" && (record.pending === undefined || isPending)) {
                record.pending = tick
                save()
                return { _tag: "Deferred", previous: record.taskId }
              }
              if (isPending) record.pending = undefined
              save()
              return { _tag: "Skipped", previous: record.taskId }
            }
          }
          const created = enqueueAt(task, now, nowUs)
          if (isPending) record.pending = undefined
          record.fired = tick
          record.taskId = task.id
          save()
          return { _tag: "Created", state: created._tag === "Duplicate" ? "queued" : created.state }
        }),
      schedules: withNow((now) => ({
        now,
        records: [...schedules.values()]
          .map((r) => ({ ...r }))
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      })),
      removeSchedule: (name) => Effect.sync(() => schedules.delete(name)),
      claim,
      waiter,
      waiterAs: () => waiter,
      renew: (id, token, leaseMillis) =>
        withNow((now) => {
          const entry = owned(id, token, now)
          if (!entry) return false
          entry.leaseUntil = now + leaseMillis
          running.set(id, now + leaseMillis)
          return true
        }),
      complete: (id, token, result) =>
        withNow((now) => {
          const entry = owned(id, token, now)
          if (!entry) return false
          finish(entry, "succeeded", { result }, now)
          return true
        }),
      completeAndClaim: (id, token, result, next) =>
        withNow((now, nowUs) => {
          const entry = owned(id, token, now)
          if (entry) finish(entry, "succeeded", { result }, now)
          return { completed: entry !== undefined, next: claimAt(next, now, nowUs) }
        }),
      completeAndClaimMany: (completions, next) =>
        withNow((now, nowUs) => {
          if (completions.length === 0) return []
          const completed = completions.map(({ id, token, result }) => {
            const entry = owned(id, token, now)
            if (entry) finish(entry, "succeeded", { result }, now)
            return entry !== undefined
          })
          const max = Math.max(1, Math.floor(next.max ?? 1))
          return dealClaims(completed, claimAt({ ...next, max: max * completions.length }, now, nowUs), max)
        }),
      fail: (id, token, error, retryInMillis) =>
        withNow((now) => {
          const entry = owned(id, token, now)
          if (!entry) return false
          entry.record.failures = [...entry.record.failures, now]
          if (retryInMillis === undefined) {
            finish(entry, "failed", { error }, now)
            return true
          }
          running.delete(id)
          bump(entry.record.name, "running", "scheduled")
          entry.record.state = "scheduled"
          entry.record.lastError = error
          entry.record.runAt = now + retryInMillis
          entry.token = undefined
          entry.leaseUntil = undefined
          scheduled.set(id, now + retryInMillis)
          wake()
          return true
        }),
      reschedule: (id, token, delayMillis, booked) =>
        withNow((now, nowUs) => {
          const entry = owned(id, token, now)
          if (!entry) return false
          retakeOnWait(entry, now, nowUs)
          entry.booked = booked === true
          running.delete(id)
          entry.record.attempts--
          entry.record.reschedules++
          bump(entry.record.name, "running", "scheduled")
          entry.record.state = "scheduled"
          entry.record.runAt = now + delayMillis
          entry.token = undefined
          entry.leaseUntil = undefined
          scheduled.set(id, now + delayMillis)
          wake()
          return true
        }),
      release: (id, token) =>
        withNow((now, nowUs) => {
          const entry = owned(id, token, now)
          if (!entry) return false
          retakeOnWait(entry, now, nowUs)
          running.delete(id)
          entry.record.attempts--
          bump(entry.record.name, "running", "queued")
          entry.record.state = "queued"
          entry.token = undefined
          entry.leaseUntil = undefined
          ready.unshift(id)
          wake()
          return true
        }),
      deadLetter: (id, token, reason) =>
        withNow((now) => {
          const entry = owned(id, token, now)
          if (!entry) return false
          finish(entry, "dead", { reason }, now)
          return true
        }),
      get: (id) => withNow((now) => snapshot(live(id, now))),
      beat: (names, deadAfterMillis, worker) =>
        withNow((now) => {
          for (const name of names) seen.set(name, now)
          for (const [id, info] of workers) if (info.expiresAt <= now) workers.delete(id)
          if (worker !== undefined) {
            workers.set(worker.id, {
              id: worker.id,
              host: worker.host,
              pid: worker.pid,
              startedAt: worker.startedAt,
              queue: options.queue,
              concurrency: worker.concurrency,
              names: [...names],
              running: [...worker.running],
              lastBeatAt: now,
              expiresAt: now + worker.ttlMillis
            })
          }
          const out: Array<Parked> = []
          for (const [name, ids] of parked) {
            let deadLettered = 0
            if (deadAfterMillis !== undefined && now - (seen.get(name) ?? 0) > deadAfterMillis) {
              while (deadLettered < 100 && ids.length > 0) {
                const entry = live(ids[0]!.id, now)
                if (entry?.record.state === "queued" && now - entry.record.enqueuedAt <= deadAfterMillis) break
                ids.shift()
                if (entry?.record.state === "queued") {
                  // finish counts it out of "queued"
                  finish(
                    entry,
                    "dead",
                    { reason: `no worker that runs task name "${name}" was seen for ${deadAfterMillis} ms` },
                    now
                  )
                  deadLettered++
                }
              }
            }
            if (ids.length === 0) parked.delete(name)
            out.push({ name, parked: ids.length, deadLettered })
          }
          return out
        }),
      leave: (worker) =>
        Effect.sync(() => {
          workers.delete(worker)
        }),
      counts: withNow((now) => {
        const byName: Record<string, StateCounts> = {}
        for (const [name, c] of counts) byName[name] = { ...c }
        // as counts-6.lua: per name, the one due longest of its next in line in the ready list (within the scan),
        // its parked list's oldest, its held-back tasks among the first `waitingScan` of the held line and its first
        // due scheduled task (stale ids skipped)
        const found = new Map<string, { name: string; id: string; since: number }>()
        const consider = (id: string, record: TaskRecord) => {
          const seen = found.get(record.name)
          if (seen === undefined || record.runAt < seen.since) {
            found.set(record.name, { name: record.name, id, since: record.runAt })
          }
        }
        const scanned = ready.first(options.waitingScan)
        let lastSince: number | undefined
        const firstOf = new Set<string>()
        for (const id of scanned) {
          const entry = live(id, now)
          if (entry?.record.state !== "queued") continue
          lastSince = entry.record.runAt
          if (!firstOf.has(entry.record.name)) {
            firstOf.add(entry.record.name)
            consider(id, entry.record)
          }
        }
        for (const list of parked.values()) {
          for (const { id } of list.slice(0, Inspect.parkedScan)) {
            const entry = live(id, now)
            if (entry?.record.state !== "queued") continue
            consider(id, entry.record)
            break
          }
        }
        for (const member of heldLine().slice(0, options.waitingScan)) {
          const id = member.slice(member.indexOf("\0") + 17)
          const entry = live(id, now)
          if (entry?.record.state === "queued") consider(id, entry.record)
        }
        const due = [...scheduled]
          .filter(([, at]) => at <= now)
          .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
          .slice(0, options.waitingScan)
        const dueOf = new Set<string>()
        for (const [id] of due) {
          const entry = live(id, now)
          if (entry?.record.state !== "scheduled" || dueOf.has(entry.record.name)) continue
          dueOf.add(entry.record.name)
          consider(id, entry.record)
        }
        return Inspect.countsOf(now, byName, {
          found: [...found.values()],
          readyLength: ready.length,
          scanned: scanned.length,
          lastSince
        })
      }),
      list: (query) =>
        withNow((now) => {
          switch (query.state) {
            case "queued":
              return pageQueued(query, now)
            case "scheduled":
              return pageSorted([...scheduled], query, now)
            case "running":
              return pageSorted([...running], query, now)
            default: {
              const entries = (index.get(query.state) ?? []).filter((e) => e.at > now - options.retentionMillis)
              return pageSorted(
                entries.map((e) => [e.id, e.at] as const),
                query,
                now
              )
            }
          }
        }),
      detail: (id) =>
        withNow((now) => {
          const entry = live(id, now)
          if (entry === undefined) return undefined
          const held = entry.lock && table.holder(entry.lock.key, now)
          return {
            record: { ...entry.record },
            now,
            leaseEndsAt: entry.record.state === "running" ? running.get(id) : undefined,
            lock: entry.lock && {
              key: entry.lock.key,
              holder: held?.holder,
              expiresInMillis: held?.expiresInMs
            },
            booked: entry.booked
          }
        }),
      workers: withNow((now) => Inspect.sortWorkers([...workers.values()].filter((w) => w.expiresAt > now))),
      retry: (id) =>
        withNow((now, nowUs): RetryResult => {
          const entry = live(id, now)
          if (entry === undefined) return { _tag: "NotFound" }
          const state = entry.record.state
          if (state !== "failed" && state !== "dead") return { _tag: "Conflict", state }
          return requeue(entry, now, nowUs)
        }),
      retryAll: (state, name) =>
        withNow((now, nowUs) => {
          let n = 0
          // oldest first, as the Redis script: the oldest is claimed first
          for (const { id } of [...index.get(state)!]) {
            const entry = live(id, now)
            if (entry?.record.state !== state) dropFromIndex(state, id)
            else if (
              (name === undefined || entry.record.name === name) &&
              requeue(entry, now, nowUs)._tag === "Requeued"
            )
              n++
          }
          return n
        }),
      purge: (state, name) =>
        withNow((now) => {
          let n = 0
          for (const { id } of [...index.get(state)!]) {
            const entry = live(id, now)
            if (entry?.record.state !== state) dropFromIndex(state, id)
            else if (name === undefined || entry.record.name === name) {
              tasks.delete(id)
              dropFromIndex(state, id)
              n++
            }
          }
          return n
        }),
      cancel: (id) =>
        withNow((now): CancelResult => {
          const entry = live(id, now)
          if (entry === undefined) return { _tag: "NotFound" }
          const previous = entry.record.state
          if (isTerminal(previous)) return { _tag: "Conflict", state: previous }
          if (previous === "queued") {
            const at = ready.indexOf(id)
            if (at !== -1) ready.removeAt(at)
            else {
              const list = parked.get(entry.record.name)
              const i = list?.findIndex((parkedTask) => parkedTask.id === id) ?? -1
              if (i !== -1) list!.splice(i, 1)
            }
          } else if (previous === "scheduled") scheduled.delete(id)
          // freed even when it would outlive the task (an interval task's): the task did not run to its end
          if (entry.lock && table.free(entry.lock.key, id, now)) promoteNext(entry, entry.lock, now)
          finish(entry, "cancelled", { reason: "cancelled by an operator" }, now)
          if (previous === "running") for (const listener of cancelListeners) listener(id)
          return { _tag: "Cancelled", previous }
        }),
      watchCancels: (onCancel) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            cancelListeners.add(onCancel)
          }),
          () =>
            Effect.sync(() => {
              cancelListeners.delete(onCancel)
            })
        ),
      awaitTerminal: (id) =>
        // registered before the check, so that an end between the two is not missed
        joiners.waiting(id, (woken) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const entry = live(id, now)
            if (!entry || isTerminal(entry.record.state)) return Effect.succeed(snapshot(entry))
            return Effect.andThen(woken, service.get(id))
          })
        )
    }
    return service
  })

const snapshot = (entry: Entry | undefined): TaskRecord | undefined =>
  entry === undefined ? undefined : { ...entry.record }

/** A worker passes the same names array to every claim: one set per array. */
const sets = new WeakMap<ReadonlyArray<string>, ReadonlySet<string>>()
const setOf = (names: ReadonlyArray<string>): ReadonlySet<string> => {
  let set = sets.get(names)
  if (set === undefined) {
    set = new Set(names)
    sets.set(names, set)
  }
  return set
}
