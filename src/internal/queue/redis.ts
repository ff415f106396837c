/**
 * The Redis queue backend: one Lua script per state change (see `scripts.ts`
 * and `lua/`), a reserved connection per idle worker blocked on the wake list,
 * and one shared pub/sub subscription per layer for `awaitTerminal`.
 */
import { Effect, Exit, Fiber, Queue, Scope } from "effect"
import * as Redis from "effect/persistence/Redis"
import type { HeimdallStore } from "../../HeimdallStore.ts"
import * as Batcher from "../batcher.ts"
import type { Config } from "../config.ts"
import { randomId } from "../id.ts"
import * as Layout from "../layout.ts"
import { durableEvaluator, evaluator, preload } from "../script.ts"
import * as Waiters from "../waiters.ts"
import { dealClaims } from "./deal.ts"
import * as Inspect from "./inspect.ts"
import { makeKeys } from "./keys.ts"
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
  ScheduleSpec,
  Service,
  StateCounts,
  TaskPage,
  TaskRecord,
  TaskState,
  TaskSummary,
  TraceContext,
  Waiter,
  WorkerInfo
} from "./model.ts"
import { isTerminal } from "./model.ts"
import { fullLockKey, lockKeyOf } from "./options.ts"
import * as Scripts from "./scripts.ts"

const wakeCap = 1024
const wakeTtlMillis = 24 * 60 * 60 * 1000
const promoteLimit = 1000
/** The first lease of a task handed to an idle worker (see includes.lua): the worker renews it as the task starts. */
const handOffLeaseMillis = 2000
/**
 * Enqueue calls in flight at once while others wait to be batched (see batcher.ts): the next batch is gathered
 * while these run, and sent when one returns. Two, with batches of at most 25 (`maxEnqueueBatch`'s default): many
 * concurrent callers then split into groups whose calls overlap, Redis running one group's call while this process
 * prepares the next (one call in flight made the two take turns; bench/README.md, "Batched enqueues, two in flight").
 */
const batchesInFlight = 2
/** A batch of enqueues carries at most this many payload characters (and at least one task), so one call stays short. */
const batchPayloadChars = 1024 * 1024
/** `awaitTerminal` re-reads the record this often in case a pub/sub message was lost (a reconnect). */
const recheckMillis = 1000
/** How long the `names` hash (task name -> last beat of a worker running it) outlives the last beat. */
const namesTtlMillis = 7 * 24 * 60 * 60 * 1000

/** How long a unique task holds its lock, as the enqueue scripts take it (`keepLock`, the record's `lk`). */
const holdCode = (unique: NonNullable<NewTask["unique"]>): "1" | "s" | "0" =>
  unique.keep ? "1" : unique.freeAtStart === true ? "s" : "0"

const hex = /^[0-9a-f]+$/
const compactTrace = /^[\w-]{32}0?$/

/**
 * A trace context as stored in a task record (field `tr`): for W3C ids (32 and 16 lowercase hex digits), the 24
 * bytes of trace id and span id in base64url (32 characters), then "0" if not sampled: 32 bytes instead of the 48
 * hex digits. Other ids are stored as JSON. Either way the record stays a listpack (every value under 64 bytes).
 */
const encodeTrace = (trace: TraceContext | undefined): string =>
  trace === undefined
    ? ""
    : trace.traceId.length === 32 && trace.spanId.length === 16 && hex.test(trace.traceId) && hex.test(trace.spanId)
      ? Buffer.from(trace.traceId + trace.spanId, "hex").toString("base64url") + (trace.sampled ? "" : "0")
      : JSON.stringify(trace)
const decodeTrace = (text: string | undefined | null): TraceContext | undefined => {
  if (!text) return undefined
  if (compactTrace.test(text)) {
    const ids = Buffer.from(text.slice(0, 32), "base64url").toString("hex")
    return { traceId: ids.slice(0, 32), spanId: ids.slice(32), sampled: text.length === 32 }
  }
  try {
    const t = JSON.parse(text)
    return typeof t?.traceId === "string" && typeof t?.spanId === "string"
      ? { traceId: t.traceId, spanId: t.spanId, sampled: t.sampled !== false }
      : undefined
  } catch {
    return undefined
  }
}

const stateCodes: Record<string, TaskState> = { q: "queued", s: "scheduled", h: "queued" }
/**
 * A stored state (see keys.ts): queued (`q`, or `h`: held back by its concurrency group) and scheduled by a
 * one-letter code, running as `r:<lease token>`, the
 * terminal states by name.
 */
const decodeState = (stored: string): TaskState =>
  stateCodes[stored] ?? (stored.startsWith("r:") ? "running" : (stored as TaskState))

/** An enqueue script's reply for one task (enqueue-27.lua, enqueueUnique-28.lua, enqueueBatch-27.lua). */
const parseEnqueued = (
  r:
    | readonly [created: 0 | 1, state: string]
    | readonly [duplicate: 2, holder: string, expiresInMillis: number]
    | readonly [replaced: 3, id: string, state: string]
    | readonly [debounced: 4, id: string, state: string, startsAt: number]
): EnqueueResult =>
  r[0] === 2
    ? { _tag: "Duplicate", holder: r[1], expiresInMillis: Math.max(0, Number(r[2])) }
    : r[0] === 3
      ? { _tag: "Replaced", id: r[1], state: decodeState(r[2]) }
      : r[0] === 4
        ? { _tag: "Debounced", id: r[1], state: decodeState(r[2]), startsAt: Number(r[3]) }
        : { _tag: r[0] === 1 ? "Created" : "Exists", state: decodeState(r[1]) }

/** HGETALL's reply, flat array (RESP2) or map (RESP3), as a record. */
const fields = (reply: unknown): Record<string, string> => {
  if (Array.isArray(reply)) {
    const out: Record<string, string> = {}
    for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1])
    return out
  }
  if (reply instanceof Map) return Object.fromEntries([...reply].map(([k, v]) => [String(k), String(v)]))
  return (reply ?? {}) as Record<string, string>
}

/**
 * A task record from HGETALL of its key (the layout is in keys.ts). The id comes from the key; what the record
 * leaves out is derived: no attempts field is 0 attempts, no runAt is the enqueue time, the lock key's hash tag is
 * the queue's.
 */
const parseRecord = (id: string, reply: unknown, queue: string): TaskRecord | undefined => {
  const f = fields(reply)
  if (f.s === undefined) return undefined
  const enqueuedAt = Number(f.e ?? 0)
  return {
    id,
    name: f.n ?? "",
    state: decodeState(f.s),
    payload: f.p ?? "",
    attempts: Number(f.a ?? 0),
    redeliveries: Number(f.redeliveries ?? 0),
    reschedules: Number(f.reschedules ?? 0),
    enqueuedAt,
    runAt: f.r === undefined ? enqueuedAt : Number(f.r),
    trace: decodeTrace(f.tr),
    result: f.result,
    error: f.error,
    lastError: f.lastError,
    reason: f.reason,
    lockKey: f.l === undefined ? undefined : Layout.lockKey(f.lp ?? "", Layout.uniqueLockKey(queue, f.l)),
    failures: failureTimes(f.ft, enqueuedAt),
    startedAt: f.startedAt === undefined ? undefined : Number(f.startedAt),
    finishedAt: f.finishedAt === undefined ? undefined : Number(f.finishedAt),
    worker: f.w
  }
}

/**
 * The counts hash (see includes.lua, newBook: counters that only increase, field "<state>:<task name>" for tasks
 * created in a state, "<from>><to>:<task name>" for moves) as counts per name: each state's count is what was
 * created in it and moved in, less what moved out.
 */
const parseCounts = (reply: unknown): Record<string, StateCounts> => {
  const byName: Record<string, ReturnType<typeof Inspect.zeroCounts>> = {}
  const isState = (s: string): s is TaskState => Inspect.states.includes(s as TaskState)
  for (const [field, value] of Object.entries(fields(reply))) {
    const colon = field.indexOf(":")
    if (colon === -1) continue
    const move = field.slice(0, colon)
    const name = field.slice(colon + 1)
    const arrow = move.indexOf(">")
    const from = arrow === -1 ? undefined : move.slice(0, arrow)
    const to = arrow === -1 ? move : move.slice(arrow + 1)
    if (!isState(to) || (from !== undefined && !isState(from))) continue
    byName[name] ??= Inspect.zeroCounts()
    const counts = byName[name]
    const n = Number(value)
    counts[to] += n
    if (from !== undefined) counts[from] -= n
  }
  return byName
}

/** A page script's reply (pageSorted-2.lua, pageQueued-4.lua): tasks, then the next cursor or {}. */
const parsePage = (reply: ReadonlyArray<ReadonlyArray<unknown>>): TaskPage => {
  const tasks: Array<TaskSummary> = []
  for (let i = 0; i < reply.length - 1; i++) {
    const [id, name, at, enqueuedAt, attempts, error, state] = reply[i]!.map(String) as Array<string>
    tasks.push({
      id: id!,
      name: name!,
      state: decodeState(state!),
      at: Number(at),
      enqueuedAt: Number(enqueuedAt),
      attempts: Number(attempts),
      error: error === "" ? undefined : error
    })
  }
  const next = reply[reply.length - 1]
  return {
    tasks,
    next: next !== undefined && next.length === 2 ? { key: String(next[0]), id: String(next[1]) } : undefined
  }
}

/** A worker's registration (beat-15.lua) as the registry holds it. */
const parseWorker = (queue: string, id: string, expiresAt: number, registration: unknown): WorkerInfo => {
  const f = fields(JSON.parse(String(registration)))
  const split = (text: string | undefined) => (text ? text.split("\n").filter((s) => s !== "") : [])
  return {
    id,
    host: f.host ?? "",
    pid: Number(f.pid ?? 0),
    startedAt: Number(f.startedAt ?? 0),
    queue,
    concurrency: Number(f.concurrency ?? 0),
    names: split(f.names),
    running: split(f.running),
    lastBeatAt: Number(f.beat ?? 0),
    expiresAt
  }
}

/** The record's `ft` (ms after the enqueue, comma-separated) as epoch milliseconds. */
const failureTimes = (stored: unknown, enqueuedAt: number): ReadonlyArray<number> =>
  typeof stored === "string" && stored !== "" ? stored.split(",").map((offset) => enqueuedAt + Number(offset)) : []

/** A claimer's task names as the scripts take them: "" for every name, else "\n" .. joined by "\n" .. "\n". */
const encodeNames = (names: ReadonlyArray<string> | undefined): string => {
  if (names === undefined) return ""
  let encoded = encodedNames.get(names)
  if (encoded === undefined) {
    encoded = `\n${names.join("\n")}\n`
    encodedNames.set(names, encoded)
  }
  return encoded
}
/** A worker passes the same names array to every claim: encoded once. */
const encodedNames = new WeakMap<ReadonlyArray<string>, string>()

/** A list of names in a claim's reply, "\n"-joined ("": none). */
const namesAt = (reply: ReadonlyArray<unknown>, at: number): ReadonlyArray<string> | undefined => {
  const names = reply[at]
  return typeof names === "string" && names !== "" ? names.split("\n") : undefined
}

/** A task handed to an idle worker: its inbox entry (see includes.lua, handOff), claimed for it already. */
const parseHandedOff = (entry: string): ClaimedTask | undefined => {
  try {
    const [id, name, payload, trace, enqueuedAt, token, attempts, failures, booked] = JSON.parse(entry) as [
      string,
      string,
      string,
      string,
      number,
      string,
      number | undefined,
      string | undefined,
      string | undefined
    ]
    return {
      id,
      name,
      payload,
      attempts: attempts ?? 1,
      trace: decodeTrace(trace),
      enqueuedAt,
      token,
      booked: booked === "1",
      claimedAt: enqueuedAt,
      handedOff: true,
      failures: failureTimes(failures, enqueuedAt)
    }
  } catch {
    return undefined
  }
}

/** A claim's reply (see claim-30.lua) from index `at` of `reply`. */
const parseClaim = (reply: ReadonlyArray<unknown>, at: number, token: string): ClaimResult => {
  // the reply ends with the names passed on, then those dead-lettered (claim-30.lua)
  const passed = namesAt(reply, reply.length - 2)
  const deadLettered = namesAt(reply, reply.length - 1)
  if (reply[at] !== "task") {
    const wait = Number(reply[at + 1])
    return { _tag: "Idle", waitMillis: wait < 0 ? undefined : wait, passed, deadLettered }
  }
  const claimedAt = Number(reply[at + 1])
  const count = Number(reply[at + 2])
  const tasks: Array<ClaimedTask> = []
  for (let n = 0; n < count; n++) {
    const i = at + 3 + n * 8
    const enqueuedAt = Number(reply[i + 5])
    tasks.push({
      id: String(reply[i]),
      name: String(reply[i + 1]),
      payload: String(reply[i + 2]),
      attempts: Number(reply[i + 3]),
      trace: decodeTrace(reply[i + 4] as string),
      enqueuedAt,
      token: n === 0 ? token : `${token}:${n + 1}`,
      booked: reply[i + 6] === "1",
      claimedAt,
      failures: failureTimes(reply[i + 7], enqueuedAt)
    })
  }
  return { _tag: "Claimed", task: tasks[0]!, tasks, passed, deadLettered }
}

/** A schedule's definition as the record stores it: an absent option as `null`, so that it replaces a stored one. */
const specFields = (spec: ScheduleSpec) => ({
  name: spec.name,
  task: spec.task,
  cron: spec.cron ?? null,
  timeZone: spec.timeZone ?? null,
  everyMillis: spec.everyMillis ?? null,
  overlap: spec.overlap,
  catchUp: spec.catchUp
})

/** A schedule's record (JSON, see keys.ts) as a `ScheduleRecord`. */
const parseSchedule = (text: string): ScheduleRecord => {
  const r = JSON.parse(text) as Record<string, unknown>
  const str = (v: unknown) => (typeof v === "string" ? v : undefined)
  const num = (v: unknown) => (typeof v === "number" ? v : typeof v === "string" && v !== "" ? Number(v) : undefined)
  return {
    name: String(r.name),
    task: String(r.task ?? ""),
    cron: str(r.cron),
    timeZone: str(r.timeZone),
    everyMillis: num(r.everyMillis),
    overlap: (str(r.overlap) ?? "allow") as ScheduleSpec["overlap"],
    catchUp: (str(r.catchUp) ?? "none") as ScheduleSpec["catchUp"],
    last: num(r.last),
    fired: num(r.fired),
    taskId: str(r.taskId),
    pending: num(r.pending)
  }
}

/**
 * An idle worker's side of one partition (see partitions.ts): a `Waiter`, and what a partitioned queue's waiter
 * needs besides: `cut` ends a wait in progress now (CLIENT UNBLOCK; a wait that has not blocked yet returns at
 * once), `unregister` takes the worker out of the partition's hand-off (its registration removed, tasks handed to
 * it and not started given back: retire-12.lua) while it works on another partition's task.
 */
export interface PartitionWaiter extends Waiter {
  readonly cut: Effect.Effect<void>
  readonly unregister: Effect.Effect<void>
}

/** The Redis queue backend on one hash tag (`options.queue`): the service, and its waiters for partitions.ts. */
export const makeRedis = (options: Config, store: HeimdallStore["Service"]) =>
  Effect.map(makeRedisPartition(options, store), ({ service }) => service)

/**
 * What the partitions of one queue share (partitions.ts): the pub/sub channels of finished and cancelled tasks (every
 * partition publishes on partition 0's: a channel is no key, and classic pub/sub reaches every node), and the one
 * subscription of the joiners (`listen`, `joiners`), so that a process holds one subscription per channel, not one per
 * partition.
 */
export interface SharedChannels {
  readonly events: string
  readonly cancels: string
  readonly joiners: Waiters.Waiters
  readonly listen: Effect.Effect<void, Redis.RedisError>
}

/** The channels and the joiners' subscription of a queue whose hash tag is `options.queue` (see `SharedChannels`). */
export const makeChannels = (options: Config) =>
  Effect.gen(function* () {
    const redis = yield* Redis.Redis
    const layerScope = yield* Effect.scope
    const keys = makeKeys(options.queuePrefix, options.queue)
    // One subscription for every joiner of this layer, opened on the first join.
    const joiners = Waiters.make()
    const listen = yield* Effect.cached(
      Effect.gen(function* () {
        const messages = yield* redis.subscribe(keys.events).pipe(Scope.provide(layerScope))
        yield* Queue.take(messages).pipe(
          Effect.tap(({ message }) =>
            Effect.sync(() => {
              joiners.wakeAll(message)
            })
          ),
          Effect.forever,
          Effect.ignore,
          Effect.forkIn(layerScope)
        )
      })
    )
    return { events: keys.events, cancels: keys.cancels, joiners, listen } satisfies SharedChannels
  })

/** `makeRedis`, with the waiters a partitioned queue builds on (see `PartitionWaiter`); `shared`: see `SharedChannels`. */
export const makeRedisPartition = (options: Config, store: HeimdallStore["Service"], shared?: SharedChannels) =>
  Effect.gen(function* () {
    const redis = yield* Redis.Redis
    const keys = makeKeys(options.queuePrefix, options.queue)
    const retention = options.retentionMillis
    const evalScript = evaluator(redis)
    // enqueues (a unique task's lock with them) wait for replicas with `durability`: one WAIT per call
    const durable = durableEvaluator(redis, options.durability)
    const run = {
      enqueue: durable(Scripts.enqueue),
      enqueueUnique: durable(Scripts.enqueueUnique),
      enqueueBatch: durable(Scripts.enqueueBatch),
      claim: evalScript(Scripts.claim),
      renew: evalScript(Scripts.renew),
      complete: evalScript(Scripts.complete),
      completeClaim: evalScript(Scripts.completeClaim),
      completeClaimMany: evalScript(Scripts.completeClaimMany),
      fail: evalScript(Scripts.fail),
      reschedule: evalScript(Scripts.reschedule),
      release: evalScript(Scripts.release),
      deadLetter: evalScript(Scripts.deadLetter),
      retire: evalScript(Scripts.retire),
      beat: evalScript(Scripts.beat),
      leave: evalScript(Scripts.leave),
      counts: evalScript(Scripts.counts),
      pageSorted: evalScript(Scripts.pageSorted),
      pageQueued: evalScript(Scripts.pageQueued),
      inspect: evalScript(Scripts.inspect),
      task: evalScript(Scripts.task),
      workers: evalScript(Scripts.workers),
      retry: evalScript(Scripts.retry),
      retryAll: evalScript(Scripts.retryAll),
      purge: evalScript(Scripts.purge),
      cancel: evalScript(Scripts.cancel),
      scheduleSync: evalScript(Scripts.scheduleSync),
      scheduleFire: evalScript(Scripts.scheduleFire),
      schedules: evalScript(Scripts.schedules)
    }
    // best effort: a script that could not be loaded now is loaded on its first NOSCRIPT
    yield* preload(run).pipe(Effect.ignore)

    const channels = shared ?? (yield* makeChannels(options))
    const { joiners, listen } = channels

    const get = (id: string) => Effect.map(run.task([keys.tasks], id), (reply) => parseRecord(id, reply, options.queue))
    const lockChannel = Layout.releaseChannel(options.lockPrefix)
    /** The part of a unique task's lock key that records do not store: the queue's hash tag (see keys.ts). */
    const lockInfix = lockKeyOf(options)("")
    const indexSize = options.indexSize

    const routeOf = (names: ReadonlyArray<string> | undefined): Scripts.Route => ({
      names: encodeNames(names),
      handOffLeaseMillis,
      wakeCap,
      wakeTtlMillis
    })
    /** A claim; as worker `worker` (not ""), it takes the worker's handed-off tasks and registers it when idle. */
    const claimAs = (
      { token, leaseMillis, maxRedeliveries, max, names, worker: claimer }: ClaimOptions,
      worker: string,
      previousRegistration: string,
      idleMillis: number
    ) =>
      run
        .claim(
          [...keys.core, keys.idle, keys.parked, keys.index("dead"), keys.index("skipped"), ...keys.inboxes],
          token,
          Math.ceil(leaseMillis),
          promoteLimit,
          retention,
          channels.events,
          maxRedeliveries ?? -1,
          Math.max(1, Math.floor(max ?? 1)),
          lockChannel,
          lockInfix,
          worker,
          previousRegistration,
          Math.max(0, Math.ceil(idleMillis)),
          routeOf(names),
          indexSize,
          claimer ?? ""
        )
        .pipe(
          Effect.map((reply) => ({
            result: parseClaim(reply, 0, token),
            // an idle reply as worker names the registration (see claim-30.lua)
            registration: reply[0] === "idle" ? String(reply[2]) : ""
          }))
        )

    // An idle worker blocks in BLPOP on the wake list on its own connection. Redis checks blocking
    // timeouts only on its cron tick (100 ms at the default hz), too coarse for a delayed task's due
    // time, so a local timer ends the wait on time with CLIENT UNBLOCK (the connection stays healthy);
    // BLPOP's own timeout, a second later, is only the backstop.
    //
    // The worker also blocks on its own inbox, where an enqueue hands it a task directly (see includes.lua): it
    // registers as idle in each claim that finds nothing, and leaves when its scope closes, handing back what
    // it was handed and did not start.
    /** Gives a claimed task back for immediate redelivery, its attempt given back (release.lua). */
    const release = (id: string, token: string) =>
      run.release(keys.core, id, token, wakeCap, wakeTtlMillis, lockInfix).pipe(Effect.map((n) => n === 1))

    /** The inbox of an idle registration's slot (claim-30.lua: "<worker>|<token>|<lease>|<lapses>|<slot>|..."). */
    const inboxOf = (registration: string): string | undefined => {
      const slot = registration.split("|")[4]
      return slot === undefined || slot === "" ? undefined : keys.inbox(Number(slot))
    }
    const waiterAs = (worker: string) =>
      Effect.gen(function* () {
        // the idle registration: its slot's inbox (inboxOf) is where an enqueue hands this worker a task; none when
        // every slot was held as it registered (it is woken through the wake list only)
        let registration = ""
        const waiterScope = yield* Effect.scope
        const runFork = Effect.runForkWith(yield* Effect.context<never>())
        // The blocking connection, reserved on first use and again after it failed: a BLPOP that fails (the
        // socket dropped, Redis restarted) retires its connection (the pool of `Redis.reserve` discards a
        // connection whose command failed), and the next wait reserves a new one. `CLIENT ID` changes with it.
        let current:
          | { readonly send: Redis.Connection["send"]; readonly id: string; readonly scope: Scope.Closeable }
          | undefined
        const connection = Effect.suspend(() => {
          if (current !== undefined) return Effect.succeed(current)
          return Effect.gen(function* () {
            const scope = yield* Scope.fork(waiterScope)
            const reserved = yield* redis.reserve.pipe(
              Scope.provide(scope),
              Effect.flatMap((c) =>
                Effect.map(c.send<number>("CLIENT", "ID"), (id) => ({ send: c.send, id: String(id), scope }))
              ),
              Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
            )
            current = reserved
            return reserved
          })
        })
        const retire = (failed: NonNullable<typeof current>) =>
          Effect.suspend(() => {
            if (current === failed) current = undefined
            return Scope.close(failed.scope, Exit.void)
          })
        const retireNow = Effect.suspend(() => {
          const leaving = registration
          registration = ""
          if (leaving === "") return Effect.succeed(0)
          return run.retire(
            [...keys.core, keys.idle, inboxOf(leaving) ?? keys.inbox(0)],
            leaving,
            wakeCap,
            wakeTtlMillis,
            lockInfix
          )
        })
        // the client id of the connection while it blocks in BLPOP; `cutPending`: cut before the BLPOP was sent
        let blockedOn: string | undefined
        let cutPending = false
        const waiter: PartitionWaiter = {
          cut: Effect.suspend(() => {
            if (blockedOn === undefined) {
              cutPending = true
              return Effect.void
            }
            return Effect.ignore(redis.send("CLIENT", "UNBLOCK", blockedOn))
          }),
          unregister: Effect.ignore(retireNow),
          claim: (claimOptions, maxIdleMillis) =>
            claimAs(claimOptions, worker, registration, maxIdleMillis).pipe(
              Effect.map((claimed) => {
                registration = claimed.registration
                return claimed.result
              })
            ),
          wait: (maxMillis) =>
            Effect.flatMap(connection, (blocking) => {
              const inbox = inboxOf(registration)
              if (cutPending) {
                cutPending = false
                return Effect.succeed(undefined)
              }
              blockedOn = blocking.id
              // A plain timer, cleared at once when BLPOP returns: interrupting a sleeping fiber instead cost
              // 32 µs at the median and 0.3 ms at p99 before the worker could claim (measured), on every wake-up.
              const timer = setTimeout(
                () => runFork(Effect.ignore(redis.send("CLIENT", "UNBLOCK", blocking.id))),
                Math.max(0, maxMillis)
              )
              const blpop = blocking
                .send<[key: string, value: string] | null>(
                  "BLPOP",
                  ...(inbox === undefined ? [] : [inbox]),
                  keys.wake,
                  ((maxMillis + 1000) / 1000).toFixed(3)
                )
                .pipe(
                  Effect.ensuring(
                    Effect.sync(() => {
                      clearTimeout(timer)
                      blockedOn = undefined
                    })
                  ),
                  Effect.tapError(() => retire(blocking)),
                  Effect.map((reply) =>
                    reply !== null && reply[0] !== keys.wake ? parseHandedOff(String(reply[1])) : undefined
                  )
                )
              // Interrupted (a worker stopping while idle), the BLPOP would stay blocked on the server and could
              // still pop a task handed over meanwhile, whose reply nobody reads: the task would wait for its lease
              // to lapse. So an interrupted wait cuts the BLPOP (CLIENT UNBLOCK), reads its reply, and gives back
              // a task that came in it before it ends.
              return Effect.uninterruptibleMask((restore) =>
                Effect.gen(function* () {
                  const fiber = yield* Effect.forkChild(blpop, { startImmediately: true })
                  const exit = yield* Effect.exit(restore(Fiber.join(fiber)))
                  if (!Exit.hasInterrupts(exit) || Exit.isSuccess(exit)) return yield* exit
                  yield* Effect.ignore(redis.send("CLIENT", "UNBLOCK", blocking.id))
                  // bounded: a Redis that does not answer must not hold up the worker's stop (the task's lease
                  // lapses then, as before)
                  const late = yield* Effect.timeoutOption(Fiber.await(fiber), 2000)
                  if (late._tag === "Some" && Exit.isSuccess(late.value) && late.value.value !== undefined) {
                    const handed = late.value.value
                    yield* Effect.ignore(release(handed.id, handed.token))
                  }
                  return yield* exit
                })
              )
            })
        }
        yield* Effect.addFinalizer(() => Effect.ignore(retireNow))
        return waiter
      })

    /** One enqueue as its own call: enqueue-27.lua or enqueueUnique-28.lua (the new record is counted there). */
    const enqueueAlone = (task: NewTask): Effect.Effect<EnqueueResult, Redis.RedisError> => {
      const common = [
        task.id,
        task.name,
        task.payload,
        Math.max(0, Math.ceil(task.delayMillis)),
        encodeTrace(task.trace),
        wakeCap,
        wakeTtlMillis
      ] as const
      const lockName = task.unique === undefined ? "" : fullLockKey(options, task.unique)
      const reply: Effect.Effect<
        | [created: 0 | 1, state: string]
        | [duplicate: 2, holder: string, expiresInMillis: number]
        | [replaced: 3, id: string, state: string]
        | [debounced: 4, id: string, state: string, startsAt: number],
        Redis.RedisError
      > =
        task.unique === undefined
          ? run.enqueue(
              [...keys.core, keys.idle, ...keys.inboxes],
              ...common,
              handOffLeaseMillis,
              task.concurrency?.key ?? "",
              task.concurrency?.limit ?? 0
            )
          : run.enqueueUnique(
              [...keys.core, keys.idle, keys.edge(lockName), ...keys.inboxes],
              ...common,
              Math.max(1, Math.ceil(task.unique.ttlMillis)),
              holdCode(task.unique),
              task.unique.prefix ?? options.lockPrefix,
              task.unique.key,
              handOffLeaseMillis,
              task.unique.onDuplicate ?? "",
              task.unique.debounce?.waitMillis ?? 0,
              task.unique.debounce?.maxWaitMillis ?? -1,
              task.unique.debounce?.edge ?? "",
              lockName
            )
      return Effect.map(reply, parseEnqueued)
    }
    /** Several enqueues as one call (enqueueBatch-27.lua): one result per task, in order. */
    const enqueueBatch = (
      tasks: ReadonlyArray<NewTask>
    ): Effect.Effect<ReadonlyArray<EnqueueResult>, Redis.RedisError> => {
      if (tasks.length === 1) return Effect.map(enqueueAlone(tasks[0]!), (result) => [result])
      const entries = tasks.map(
        (task) =>
          [
            task.id,
            task.name,
            task.payload,
            Math.max(0, Math.ceil(task.delayMillis)),
            encodeTrace(task.trace),
            task.unique === undefined ? 0 : Math.max(1, Math.ceil(task.unique.ttlMillis)),
            task.unique === undefined ? "0" : holdCode(task.unique),
            task.unique === undefined ? "" : (task.unique.prefix ?? options.lockPrefix),
            task.unique?.key ?? "",
            // not with unique (see NewTask.concurrency), as enqueueUnique-28.lua
            task.unique === undefined ? (task.concurrency?.key ?? "") : "",
            task.concurrency?.limit ?? 0
          ] as const
      )
      return Effect.map(
        run.enqueueBatch(
          [...keys.core, keys.idle, ...keys.inboxes],
          wakeCap,
          wakeTtlMillis,
          handOffLeaseMillis,
          lockInfix,
          entries
        ),
        (replies) => replies.map(parseEnqueued)
      )
    }
    const batching = options.maxEnqueueBatch > 1
    const batcher = Batcher.make({
      send: enqueueBatch,
      max: options.maxEnqueueBatch,
      maxWeight: batchPayloadChars,
      weight: (task: NewTask) => task.payload.length,
      inFlight: batchesInFlight,
      fork: Effect.runForkWith(yield* Effect.context<never>())
    })
    // a task with `onDuplicate: "replace"` goes alone (enqueueUnique-28.lua): the batch script does not replace
    const alone = (task: NewTask) => task.unique?.onDuplicate !== undefined
    const enqueue = batching ? (task: NewTask) => (alone(task) ? enqueueAlone(task) : batcher.one(task)) : enqueueAlone
    const enqueueAll = (tasks: ReadonlyArray<NewTask>) =>
      batching && !tasks.some(alone) ? batcher.all(tasks) : Effect.forEach(tasks, enqueueAlone)

    // the keys of completeClaim and completeClaimMany (as claim's)
    const completeClaimKeys = [
      ...keys.core,
      keys.idle,
      keys.parked,
      keys.index("dead"),
      keys.index("skipped"),
      ...keys.inboxes
    ] as const
    const service: Service = {
      queue: options.queue,
      config: options,
      store,
      lockKey: lockKeyOf(options),
      enqueue,
      enqueueAll,
      claim: (claimOptions) => Effect.map(claimAs(claimOptions, "", "", 0), ({ result }) => result),
      completeAndClaim: (id, token, result, next) =>
        run
          .completeClaim(
            completeClaimKeys,
            id,
            token,
            result,
            retention,
            channels.events,
            next.token,
            Math.ceil(next.leaseMillis),
            promoteLimit,
            next.maxRedeliveries ?? -1,
            Math.max(1, Math.floor(next.max ?? 1)),
            lockChannel,
            lockInfix,
            routeOf(next.names),
            indexSize,
            next.worker ?? ""
          )
          .pipe(
            Effect.map((reply) => ({ completed: reply[0] === 1, next: parseClaim(reply as never, 1, next.token) }))
          ),
      completeAndClaimMany: (completions, next) => {
        if (completions.length === 0) return Effect.succeed([])
        const max = Math.max(1, Math.floor(next.max ?? 1))
        return run
          .completeClaimMany(
            completeClaimKeys,
            retention,
            channels.events,
            next.token,
            Math.ceil(next.leaseMillis),
            promoteLimit,
            next.maxRedeliveries ?? -1,
            max,
            lockChannel,
            lockInfix,
            routeOf(next.names),
            indexSize,
            next.worker ?? "",
            completions.map(({ id, token, result }) => [id, token, result] as const)
          )
          .pipe(
            Effect.map((reply) => {
              // one character per completion, "1" completed (see completeClaimMany-30.lua)
              const flags = String(reply[0])
              return dealClaims(
                completions.map((_, i) => flags[i] === "1"),
                parseClaim(reply, 1, next.token),
                max
              )
            })
          )
      },
      waiter: Effect.suspend(() => waiterAs(randomId())),
      waiterAs: (worker) => waiterAs(worker),
      renew: (id, token, leaseMillis) =>
        run.renew([keys.tasks, keys.running], id, token, Math.ceil(leaseMillis)).pipe(Effect.map((n) => n === 1)),
      complete: (id, token, result) =>
        run
          .complete(keys.core, id, token, result, retention, channels.events, lockChannel, lockInfix)
          .pipe(Effect.map((n) => n === 1)),
      fail: (id, token, error, retryInMillis) =>
        run
          .fail(
            [...keys.core, keys.index("failed")],
            id,
            token,
            error,
            retryInMillis === undefined ? -1 : Math.max(0, Math.ceil(retryInMillis)),
            retention,
            channels.events,
            wakeCap,
            wakeTtlMillis,
            lockChannel,
            lockInfix,
            indexSize
          )
          .pipe(Effect.map((n) => n === 1)),
      reschedule: (id, token, delayMillis, booked) =>
        run
          .reschedule(
            keys.core,
            id,
            token,
            Math.max(0, Math.ceil(delayMillis)),
            wakeCap,
            wakeTtlMillis,
            booked === true,
            lockInfix
          )
          .pipe(Effect.map((n) => n === 1)),
      release: (id, token) => release(id, token),
      deadLetter: (id, token, reason) =>
        run
          .deadLetter(
            [...keys.core, keys.index("dead")],
            id,
            token,
            reason,
            retention,
            channels.events,
            lockChannel,
            lockInfix,
            indexSize
          )
          .pipe(Effect.map((n) => n === 1)),
      get,
      beat: (names, deadAfterMillis, worker) =>
        run
          .beat(
            [...keys.core, keys.names, keys.parked, keys.index("dead"), keys.workers, keys.workerInfo],
            names.join("\n"),
            deadAfterMillis === undefined ? -1 : Math.max(0, Math.ceil(deadAfterMillis)),
            retention,
            channels.events,
            lockChannel,
            lockInfix,
            namesTtlMillis,
            indexSize,
            worker?.id ?? "",
            Math.max(1, Math.ceil(worker?.ttlMillis ?? 1)),
            worker?.host ?? "",
            worker?.pid ?? 0,
            worker?.startedAt ?? 0,
            worker?.concurrency ?? 0,
            worker?.running.join("\n") ?? ""
          )
          .pipe(
            Effect.map((reply) => {
              const out: Array<Parked> = []
              for (let i = 0; i + 2 < reply.length; i += 3) {
                out.push({ name: String(reply[i]), parked: Number(reply[i + 1]), deadLettered: Number(reply[i + 2]) })
              }
              return out
            })
          ),
      leave: (worker) => Effect.asVoid(run.leave([keys.workers, keys.workerInfo], worker)),
      counts: Effect.map(
        run.counts(
          [keys.counts, keys.ready, keys.parked, keys.tasks, keys.scheduled, keys.ccwait],
          options.waitingScan,
          Inspect.parkedScan
        ),
        ([now, counts, oldest, readyLength, scanned, lastSince]) => {
          const found: Array<{ name: string; id: string; since: number }> = []
          for (let i = 0; i + 2 < oldest.length; i += 3) {
            found.push({ name: String(oldest[i]), id: String(oldest[i + 1]), since: Number(oldest[i + 2]) })
          }
          return Inspect.countsOf(Number(now), parseCounts(counts), {
            found,
            readyLength: Number(readyLength),
            scanned: Number(scanned),
            lastSince: Number(lastSince) < 0 ? undefined : Number(lastSince)
          })
        }
      ),
      list: (query: ListQuery) => {
        const budget = Inspect.scanBudget(query.limit)
        if (query.state === "queued") {
          return Effect.map(
            run.pageQueued(
              [keys.ready, keys.parked, keys.tasks, keys.ccwait],
              query.name ?? "",
              query.limit,
              budget,
              query.after?.key ?? "",
              query.after?.id ?? ""
            ),
            parsePage
          )
        }
        const [set, code, within] =
          query.state === "scheduled"
            ? [keys.scheduled, "s", -1]
            : query.state === "running"
              ? [keys.running, "r", -1]
              : [keys.index(query.state), query.state, retention]
        return Effect.map(
          run.pageSorted(
            [set, keys.tasks],
            code,
            query.name ?? "",
            query.limit,
            budget,
            query.after?.key ?? "",
            query.after?.id ?? "",
            within
          ),
          parsePage
        )
      },
      detail: (id) =>
        Effect.map(run.inspect([keys.tasks, keys.running, keys.locks], id, lockInfix), (reply) => {
          if (reply.length < 5) return undefined
          const [now, stored, lease, holder, ttl] = reply as Extract<typeof reply, { readonly length: 5 }>
          const record = parseRecord(id, stored, options.queue)
          if (record === undefined) return undefined
          const f = fields(stored)
          return {
            record,
            now: Number(now),
            leaseEndsAt: Number(lease) < 0 ? undefined : Number(lease),
            lock:
              record.lockKey === undefined
                ? undefined
                : {
                    key: record.lockKey,
                    holder: holder === "" ? undefined : String(holder),
                    expiresInMillis: Number(ttl) < 0 ? undefined : Number(ttl)
                  },
            booked: f.booked === "1"
          }
        }),
      workers: Effect.map(run.workers([keys.workers, keys.workerInfo]), ([, ...live]) =>
        Inspect.sortWorkers(
          live.map(([id, expiresAt, info]) => parseWorker(options.queue, String(id), Number(expiresAt), info))
        )
      ),
      retry: (id) =>
        Effect.map(
          run.retry([...keys.core, keys.index("failed"), keys.index("dead")], id, lockInfix, wakeCap, wakeTtlMillis),
          (reply): RetryResult =>
            reply[0] === 1
              ? { _tag: "Requeued" }
              : reply[0] === -1
                ? { _tag: "NotFound" }
                : reply[0] === 0
                  ? { _tag: "Conflict", state: decodeState(String(reply[1])) }
                  : { _tag: "Duplicate", holder: String(reply[1]), expiresInMillis: Math.max(0, Number(reply[2])) }
        ),
      retryAll: (state, name) =>
        run.retryAll([...keys.core, keys.index(state)], state, name ?? "", lockInfix, wakeCap, wakeTtlMillis),
      purge: (state, name) => run.purge([keys.index(state), keys.tasks, keys.expiry], state, name ?? ""),
      cancel: (id) =>
        Effect.map(
          run.cancel(
            [...keys.core, keys.index("cancelled"), keys.parked],
            id,
            retention,
            channels.events,
            lockChannel,
            lockInfix,
            indexSize,
            channels.cancels
          ),
          (reply): CancelResult =>
            reply[0] === 1
              ? { _tag: "Cancelled", previous: decodeState(String(reply[1])) }
              : reply[0] === 0
                ? { _tag: "Conflict", state: decodeState(String(reply[1])) }
                : { _tag: "NotFound" }
        ),
      syncSchedule: (spec) =>
        Effect.map(
          run.scheduleSync([keys.schedules], spec.name, JSON.stringify(specFields(spec))),
          ([now, record]) => ({
            now: Number(now),
            record: parseSchedule(record)
          })
        ),
      fireSchedule: ({ schedule, overlap, tick, task }) =>
        Effect.map(
          run.scheduleFire(
            [...keys.core, keys.idle, keys.schedules, ...keys.inboxes],
            task.id,
            task.name,
            task.payload,
            encodeTrace(task.trace),
            wakeCap,
            wakeTtlMillis,
            handOffLeaseMillis,
            schedule,
            tick,
            overlap
          ),
          (r): FireResult => {
            switch (r[0]) {
              case 1:
                return { _tag: "Created", state: decodeState(r[1]) }
              case 3:
                return { _tag: "Skipped", previous: r[1] }
              case 4:
                return { _tag: "Deferred", previous: r[1] }
              default:
                return { _tag: "Passed" }
            }
          }
        ),
      schedules: Effect.map(run.schedules([keys.schedules]), ([now, records]) => ({
        now: Number(now),
        records: records.map(parseSchedule).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      })),
      removeSchedule: (name) => Effect.map(redis.send<number>("HDEL", keys.schedules, name), (n) => Number(n) > 0),
      watchCancels: (onCancel) =>
        Effect.gen(function* () {
          const messages = yield* redis.subscribe(channels.cancels)
          yield* Queue.take(messages).pipe(
            Effect.tap(({ message }) => Effect.sync(() => onCancel(message))),
            Effect.forever,
            Effect.ignore,
            Effect.forkScoped
          )
        }),
      awaitTerminal: (id) =>
        Effect.gen(function* () {
          yield* listen
          while (true) {
            const record = yield* joiners.waiting(id, (woken) =>
              get(id).pipe(
                Effect.tap((record) =>
                  record === undefined || isTerminal(record.state)
                    ? Effect.void
                    : woken.pipe(Effect.timeoutOrElse({ duration: recheckMillis, orElse: () => Effect.void }))
                )
              )
            )
            if (record === undefined || isTerminal(record.state)) return record
          }
        })
    }
    return { service, waiterAs }
  })
