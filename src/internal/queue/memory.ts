/**
 * The in-memory queue backend: the same state machine as the Lua scripts, on
 * Effect's `Clock`. Each operation reads the clock once and then changes the
 * state synchronously, so it is atomic like a script.
 */
import { Clock, Deferred, Effect } from "effect"
import type { HeimdallStore } from "../../HeimdallStore.ts"
import type {
  ClaimedTask,
  ClaimOptions,
  ClaimResult,
  EnqueueResult,
  Service,
  TaskRecord,
  TaskState
} from "../../TaskQueue.ts"
import { isTerminal } from "../../TaskQueue.ts"
import type { LockTable } from "../locks.ts"
import { fullLockKey, lockKeyOf, primitivesOf, type Resolved } from "./options.ts"

interface Entry {
  record: Mutable<TaskRecord>
  token: string | undefined
  leaseUntil: number | undefined
  expiresAt: number | undefined
  /** A unique task's lock: the full key, its ttl, and whether it outlives the task. */
  lock: { readonly key: string; readonly ttlMillis: number; readonly keep: boolean } | undefined
  /** A rate-limit slot is booked for the next start. */
  booked: boolean
}
type Mutable<A> = { -readonly [K in keyof A]: A[K] }

/** Same cap as the Redis wake list: more tokens than this only cause spurious wake-ups. */
const wakeCap = 1024
const promoteLimit = 1000

export const makeMemory = (options: Resolved, table: LockTable, store: HeimdallStore["Service"]) =>
  Effect.sync((): Service => {
    const tasks = new Map<string, Entry>()
    /** Oldest first (the Redis list's right end). */
    const ready: Array<string> = []
    const scheduled = new Map<string, number>()
    const running = new Map<string, number>()
    let tokens = 0
    const sleepers: Array<Deferred.Deferred<void>> = []
    const joiners = new Map<string, Set<Deferred.Deferred<void>>>()

    const live = (id: string, now: number): Entry | undefined => {
      const entry = tasks.get(id)
      if (entry?.expiresAt !== undefined && now >= entry.expiresAt) {
        tasks.delete(id)
        return undefined
      }
      return entry
    }
    const wake = () => {
      const sleeper = sleepers.shift()
      if (sleeper) Deferred.doneUnsafe(sleeper, Effect.void)
      else tokens = tokens + 1 > wakeCap ? Math.floor(wakeCap / 2) : tokens + 1 // as the Redis wake list is trimmed
    }
    const owned = (id: string, token: string, now: number) => {
      const entry = live(id, now)
      return entry && entry.record.state === "running" && entry.token === token ? entry : undefined
    }
    const finish = (entry: Entry, state: TaskState, fields: Partial<TaskRecord>, now: number) => {
      if (entry.lock && !entry.lock.keep) table.free(entry.lock.key, entry.record.id, now)
      running.delete(entry.record.id)
      Object.assign(entry.record, fields, { state })
      entry.token = undefined
      entry.leaseUntil = undefined
      entry.expiresAt = now + options.retentionMillis
      const waiting = joiners.get(entry.record.id)
      joiners.delete(entry.record.id)
      for (const d of waiting ?? []) Deferred.doneUnsafe(d, Effect.void)
    }
    const withNow = <A>(f: (now: number, nowUs: number) => A) =>
      Effect.map(Clock.currentTimeNanos, (nanos) => {
        const nowUs = Number(nanos / 1000n)
        return f(Math.floor(nowUs / 1000), nowUs)
      })

    const claimAt = (
      { token, leaseMillis, maxRedeliveries, max }: ClaimOptions,
      now: number,
      nowUs: number
    ): ClaimResult => {
      const due = [...scheduled].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1])
      for (const [id] of due.slice(0, promoteLimit)) {
        scheduled.delete(id)
        const entry = live(id, now)
        if (entry?.record.state === "scheduled") {
          entry.record.state = "queued"
          ready.push(id)
        }
      }
      const lapsed = [...running].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1])
      for (const [id] of lapsed.slice(0, promoteLimit)) {
        running.delete(id)
        const entry = live(id, now)
        if (entry?.record.state === "running") {
          entry.record.redeliveries++
          if (maxRedeliveries !== undefined && entry.record.redeliveries > maxRedeliveries) {
            const times = entry.record.redeliveries
            finish(entry, "dead", { reason: `its lease lapsed ${times} times: the worker running it keeps dying` }, now)
            continue
          }
          entry.record.state = "queued"
          entry.token = undefined
          entry.leaseUntil = undefined
          ready.unshift(id)
        }
      }
      const want = Math.max(1, Math.floor(max ?? 1))
      const tasks: Array<ClaimedTask> = []
      while (tasks.length < want) {
        const id = ready.shift()
        if (id === undefined) break
        const entry = live(id, now)
        if (entry?.record.state !== "queued") continue
        if (entry.lock) {
          const held = table.holder(entry.lock.key, now)
          if (held === undefined) table.take(entry.lock.key, id, entry.lock.ttlMillis, now, nowUs)
          else if (held.holder !== id) {
            finish(entry, "skipped", { reason: `its unique key is held by task ${held.holder}` }, now)
            continue
          }
        }
        const booked = entry.booked
        const leaseToken = tasks.length === 0 ? token : `${token}:${tasks.length + 1}`
        entry.booked = false
        entry.record.attempts++
        entry.record.state = "running"
        entry.token = leaseToken
        entry.leaseUntil = now + leaseMillis
        running.set(id, now + leaseMillis)
        const { name, payload, attempts, trace, enqueuedAt } = entry.record
        tasks.push({ id, name, payload, attempts, trace, enqueuedAt, token: leaseToken, booked, claimedAt: now })
      }
      if (tasks.length > 0) return { _tag: "Claimed", task: tasks[0]!, tasks }
      const next = Math.min(...scheduled.values(), ...running.values())
      return { _tag: "Idle", waitMillis: Number.isFinite(next) ? Math.max(0, next - now) : undefined }
    }
    const claim: Service["claim"] = (claimOptions) => withNow((now, nowUs) => claimAt(claimOptions, now, nowUs))

    const service: Service = {
      queue: options.queue,
      primitives: primitivesOf(options, store),
      lockKey: lockKeyOf(options),
      enqueue: (task) =>
        withNow((now, nowUs): EnqueueResult => {
          const existing = live(task.id, now)
          if (existing) return { _tag: "Exists", state: existing.record.state }
          const lock = task.unique && {
            key: fullLockKey(options, task.unique),
            ttlMillis: task.unique.ttlMillis,
            keep: task.unique.keep
          }
          if (lock) {
            const taken = table.take(lock.key, task.id, lock.ttlMillis, now, nowUs)
            if (taken._tag === "Held") {
              return { _tag: "Duplicate", holder: taken.holder, expiresInMillis: taken.expiresInMs }
            }
          }
          const state: TaskState = task.delayMillis > 0 ? "scheduled" : "queued"
          tasks.set(task.id, {
            record: {
              id: task.id,
              name: task.name,
              state,
              payload: task.payload,
              attempts: 0,
              redeliveries: 0,
              reschedules: 0,
              enqueuedAt: now,
              runAt: now + task.delayMillis,
              trace: task.trace,
              result: undefined,
              error: undefined,
              lastError: undefined,
              reason: undefined,
              lockKey: lock?.key
            },
            token: undefined,
            leaseUntil: undefined,
            expiresAt: undefined,
            lock,
            booked: false
          })
          if (state === "scheduled") scheduled.set(task.id, now + task.delayMillis)
          else ready.push(task.id)
          wake()
          return { _tag: "Created", state }
        }),
      claim,
      // In one process a wake-up costs no round trip: no hand-off here, `wait` never returns a task.
      waiter: Effect.succeed({
        claim: (options) => claim(options),
        wait: (maxMillis: number) =>
          Effect.suspend(() => {
            if (tokens > 0) {
              tokens--
              return Effect.void
            }
            const sleeper = Deferred.makeUnsafe<void>()
            sleepers.push(sleeper)
            return Deferred.await(sleeper).pipe(
              Effect.timeoutOrElse({ duration: maxMillis, orElse: () => Effect.void }),
              Effect.ensuring(
                Effect.sync(() => {
                  const at = sleepers.indexOf(sleeper)
                  if (at !== -1) sleepers.splice(at, 1)
                })
              )
            )
          }).pipe(Effect.as(undefined))
      }),
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
      fail: (id, token, error, retryInMillis) =>
        withNow((now) => {
          const entry = owned(id, token, now)
          if (!entry) return false
          if (retryInMillis === undefined) {
            finish(entry, "failed", { error }, now)
            return true
          }
          running.delete(id)
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
        withNow((now) => {
          const entry = owned(id, token, now)
          if (!entry) return false
          entry.booked = booked === true
          running.delete(id)
          entry.record.attempts--
          entry.record.reschedules++
          entry.record.state = "scheduled"
          entry.record.runAt = now + delayMillis
          entry.token = undefined
          entry.leaseUntil = undefined
          scheduled.set(id, now + delayMillis)
          wake()
          return true
        }),
      release: (id, token) =>
        withNow((now) => {
          const entry = owned(id, token, now)
          if (!entry) return false
          running.delete(id)
          entry.record.attempts--
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
      awaitTerminal: (id) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const entry = live(id, now)
          if (!entry || isTerminal(entry.record.state)) return Effect.succeed(snapshot(entry))
          const done = Deferred.makeUnsafe<void>()
          const set = joiners.get(id) ?? new Set()
          set.add(done)
          joiners.set(id, set)
          return Deferred.await(done).pipe(
            Effect.andThen(service.get(id)),
            Effect.ensuring(Effect.sync(() => joiners.get(id)?.delete(done)))
          )
        })
    }
    return service
  })

const snapshot = (entry: Entry | undefined): TaskRecord | undefined =>
  entry === undefined ? undefined : { ...entry.record }
