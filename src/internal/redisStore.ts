/**
 * The Redis backend of `HeimdallStore`: one Lua script or one command per
 * operation, time from Redis `TIME`. Scripts live in `redis/lua/*.lua`.
 */
import { Deferred, Effect, Exit, Option, Queue, Scope } from "effect"
import * as Redis from "effect/persistence/Redis"
import {
  HeimdallStore,
  type LockAcquireResult,
  type RateResult,
  type RateUsage,
  type SlotResult,
  type SlotUsage
} from "../HeimdallStore.ts"
import * as Batcher from "./batcher.ts"
import type { Durability } from "./config.ts"
import { randomId } from "./id.ts"
import * as KnownLimits from "./knownLimits.ts"
import * as Lua from "./redis/lua.generated.ts"
import { define, durableEvaluator, evaluator, preload } from "./script.ts"
import { bySlot, crossSlotInvalid, keySlot } from "./slot.ts"
import * as Waiters from "./waiters.ts"

const lockAcquire = define(Lua.contracts.lockAcquire).withReturnType<
  [1, number, number] | [0, string, number, number]
>()
const lockRelease = define(Lua.contracts.lockRelease).withReturnType<0 | 1>()
const lockExtend = define(Lua.contracts.lockExtend).withReturnType<0 | 1>()
const lockInspect = define(Lua.contracts.lockInspect).withReturnType<[] | [string, number, number]>()
// the same four on a lock kept in a queue (a unique task's lock: src/internal/lua/uniqueLock.lua)
const taskLockAcquire = define(Lua.contracts.taskLockAcquire).withReturnType<
  [1, number, number] | [0, string, number, number]
>()
const taskLockRelease = define(Lua.contracts.taskLockRelease).withReturnType<0 | 1>()
const taskLockExtend = define(Lua.contracts.taskLockExtend).withReturnType<0 | 1>()
const taskLockInspect = define(Lua.contracts.taskLockInspect).withReturnType<[] | [string, number, number]>()

/** The reply of every rate-limit script (one per mode, see redis/lua/rateTake-N.lua; they take the same ARGV). */
type RateReply = [0 | 1, number, number, number, string]

const rateTake = define(Lua.contracts.rateTake).withReturnType<RateReply>()
/** `{now (µs), then per take: admitted, delay (ms), remaining}` (redis/lua/rateTakeBatch-1.lua). */
const rateTakeBatch = define(Lua.contracts.rateTakeBatch).withReturnType<[string, ...Array<number>]>()
const rateReserve = define(Lua.contracts.rateReserve).withReturnType<RateReply>()
const rateTaskStart = define(Lua.contracts.rateTaskStart).withReturnType<RateReply>()
const rateTaskBooked = define(Lua.contracts.rateTaskBooked).withReturnType<RateReply>()

const slotAcquire = define(Lua.contracts.slotAcquire).withReturnType<[1, number] | [0, number, number]>()
const slotRelease = define(Lua.contracts.slotRelease).withReturnType<0 | 1>()
const slotExtend = define(Lua.contracts.slotExtend).withReturnType<0 | 1>()
/** `{now (µs), per key: [] or [pttl, admission times]}` (redis/lua/rateInspect-N.lua). */
const rateInspect = define(Lua.contracts.rateInspect).withReturnType<[number, ...Array<[] | [number, Array<string>]>]>()
/** `{now (ms), per key: [holder, lease end, ...]}` (redis/lua/slotInspect-N.lua). */
const slotInspect = define(Lua.contracts.slotInspect).withReturnType<[number, ...Array<Array<string>>]>()

/**
 * Where the unique task locks of a backend's queue live: the queue's `locks` hash of
 * each of its hash tags (one per partition; see internal/queue/keys.ts). A lock key `<prefix>{<tag>}:<rest>` whose
 * tag is one of them is a field of that hash, not a key: every lock operation of the store reaches it there, so that
 * `Heimdall.inspectLock(queue.lockKey(key))` and the others see a task's lock as they see any lock.
 */
export interface TaskLocks {
  readonly queuePrefix: string
  readonly tags: ReadonlyArray<string>
}

/**
 * The Redis store, for the lifetime of the current scope. `channel` is where releases are announced; one
 * subscription per store, opened on the first wait, serves every waiter. With `durability`, a lock acquisition
 * and every rate-limit admission wait for replicas in the same round trip as their script. `taskLocks`: see
 * `TaskLocks`.
 */
export const make = (options: {
  readonly channel: string
  readonly durability?: Durability | undefined
  readonly taskLocks?: TaskLocks | undefined
}) =>
  Effect.gen(function* () {
    const redis = yield* Redis.Redis
    const layerScope = yield* Effect.scope
    const releases = Waiters.make()
    const { channel } = options
    const evalScript = evaluator(redis)
    // the writes that must survive a failover: acquisitions and admissions
    const durable = durableEvaluator(redis, options.durability)
    const run = {
      lockAcquire: durable(lockAcquire),
      lockRelease: evalScript(lockRelease),
      lockExtend: evalScript(lockExtend),
      lockInspect: evalScript(lockInspect),
      taskLockAcquire: durable(taskLockAcquire),
      taskLockRelease: evalScript(taskLockRelease),
      taskLockExtend: evalScript(taskLockExtend),
      taskLockInspect: evalScript(taskLockInspect),
      rateTake: durable(rateTake),
      rateTakeBatch: durable(rateTakeBatch),
      rateReserve: durable(rateReserve),
      rateTaskStart: durable(rateTaskStart),
      rateTaskBooked: durable(rateTaskBooked),
      slotAcquire: evalScript(slotAcquire),
      slotRelease: evalScript(slotRelease),
      slotExtend: evalScript(slotExtend),
      rateInspect: evalScript(rateInspect),
      slotInspect: evalScript(slotInspect)
    }
    const known = KnownLimits.make()
    // On a Redis Cluster a script's keys must share one hash slot: read scans then inspect each slot's keys apart,
    // and several limits of one take must share a slot (see `crossSlot`). Anything that is not a cluster
    // (no `cluster_enabled:1`, or no INFO) is one server.
    const cluster = yield* redis.send<string>("INFO", "cluster").pipe(
      Effect.map((info) => /cluster_enabled:1/.test(String(info))),
      Effect.orElseSucceed(() => false)
    )
    const crossSlot = (keys: ReadonlyArray<string>) => {
      if (!cluster || keys.length < 2) return false
      const first = keySlot(keys[0]!)
      return keys.some((key) => keySlot(key) !== first)
    }
    /** A scan page's keys in groups a script can read together: one group on a server, one per slot on a cluster. */
    const groups = (keys: Array<string>): Array<Array<string>> => (cluster ? bySlot(keys) : [keys])
    /**
     * Every page of a cursor command (`head`: `SCAN`, or `HSCAN` and its key) over the names that start with
     * `prefix` (`MATCH`, `COUNT 1000`), each page handed to `page` as it comes; what `page` returns, in order.
     */
    const cursorPages = <A>(
      head: ReadonlyArray<string>,
      prefix: string,
      page: (items: Array<string>) => Effect.Effect<ReadonlyArray<A>, Redis.RedisError>
    ) =>
      Effect.gen(function* () {
        const found: Array<A> = []
        let cursor = "0"
        do {
          const [next, items] = yield* redis.send<[string, Array<string>]>(
            head[0]!,
            ...head.slice(1),
            cursor,
            "MATCH",
            `${globEscape(prefix)}*`,
            "COUNT",
            "1000"
          )
          cursor = next
          found.push(...(yield* page(items)))
        } while (cursor !== "0")
        return found
      })
    /** `SCAN` pages of up to 1,000 keys that start with `prefix`: each page's new keys (none twice), in order. */
    const scanPages = <A>(
      prefix: string,
      page: (keys: Array<string>) => Effect.Effect<ReadonlyArray<A>, Redis.RedisError>
    ) => {
      const seen = new Set<string>()
      return cursorPages(["SCAN"], prefix, (batch) => {
        const fresh = batch.filter((key) => !seen.has(key) && seen.add(key))
        return fresh.length > 0 ? page(fresh) : Effect.succeed([])
      })
    }
    /** The keys that start with `prefix`, sorted: a SCAN of 1,000 keys per round trip. */
    const scan = (prefix: string) =>
      Effect.map(
        scanPages(prefix, (keys) => Effect.succeed(keys)),
        (keys) => keys.sort()
      )
    const byKey = (a: { readonly key: string }, b: { readonly key: string }) =>
      a.key < b.key ? -1 : a.key > b.key ? 1 : 0
    const rateRun = {
      take: run.rateTake,
      reserve: run.rateReserve,
      task: run.rateTaskStart,
      booked: run.rateTaskBooked
    }
    // Takes on one limit (one key, times and per) that wait at the same moment go as one rateTakeBatch call: the
    // same answers as one rateTake each, in the callers' order, for a fraction of the Redis work (see the script).
    type Take = {
      readonly key: string
      readonly times: number
      readonly perMs: number
      readonly cost: number
      readonly id: string
    }
    const sendTakes = (takes: ReadonlyArray<Take>) => {
      const { key, times, perMs } = takes[0]!
      return Effect.map(
        run.rateTakeBatch(
          [key],
          times,
          perMs,
          takes.map((t) => [t.cost, t.id] as const)
        ),
        ([nowUs, ...rows]) => {
          const nowMs = Number(nowUs) / 1000
          const results: Array<RateResult> = []
          for (let i = 0; i + 2 < rows.length; i += 3) {
            results.push({
              admitted: Number(rows[i]) === 1,
              delayMs: Number(rows[i + 1]),
              remaining: Number(rows[i + 2]),
              limitIndex: 0,
              nowMs
            })
          }
          return results
        }
      )
    }
    const fork = Effect.runForkWith(yield* Effect.context<never>())
    const takeBatches = Batcher.keyed<Take, RateResult, Redis.RedisError>((_, onIdle) =>
      Batcher.make({
        send: sendTakes,
        max: 500,
        maxWeight: 500,
        weight: () => 1,
        inFlight: 1,
        fork,
        onIdle
      })
    )
    // best effort: a script that could not be loaded now is loaded on its first NOSCRIPT
    yield* preload(run).pipe(Effect.ignore)

    // The release subscription: opened once, on first use, for the layer's lifetime.
    let subscribed: Deferred.Deferred<void, Redis.RedisError> | undefined
    const ensureSubscribed = Effect.suspend(() => {
      if (subscribed) return Deferred.await(subscribed)
      const ready = Deferred.makeUnsafe<void, Redis.RedisError>()
      subscribed = ready
      return redis.subscribe(channel).pipe(
        Scope.provide(layerScope),
        Effect.flatMap((messages) =>
          Queue.take(messages).pipe(
            Effect.tap((message) => Effect.sync(() => releases.wakeAll(message.message))),
            Effect.forever,
            Effect.catchCause(() =>
              Effect.sync(() => {
                // the subscription died: the next waiter subscribes again
                subscribed = undefined
              })
            ),
            Effect.forkIn(layerScope)
          )
        ),
        Effect.onExit((exit) => {
          if (exit._tag === "Failure") subscribed = undefined
          return Deferred.done(ready, Exit.asVoid(exit))
        }),
        Effect.asVoid
      )
    })

    // a unique task's lock: the queue hash that keeps it (see TaskLocks), or undefined for a lock of its own key
    const tags = new Set(options.taskLocks?.tags ?? [])
    const taskLockOf = (key: string): string | undefined => {
      if (options.taskLocks === undefined) return undefined
      const open = key.indexOf("{")
      const close = open < 0 ? -1 : key.indexOf("}:", open)
      if (close < 0 || !tags.has(key.slice(open + 1, close))) return undefined
      return `${options.taskLocks.queuePrefix}:${key.slice(open, close + 1)}:locks`
    }
    /** The held task locks whose names start with `prefix`: one HSCAN page of 1,000 per round trip, one TIME. */
    const taskLocksList = (prefix: string) =>
      Effect.gen(function* () {
        if (options.taskLocks === undefined) return []
        const [seconds, micros] = yield* redis.send<[string, string]>("TIME")
        const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
        type Held = { key: string; holder: string; expiresInMs: number; fence: number }
        const held: Array<Held> = []
        for (const tag of options.taskLocks.tags) {
          const hash = `${options.taskLocks.queuePrefix}:{${tag}}:locks`
          const found = yield* cursorPages(["HSCAN", hash], prefix, (page) => {
            const live: Array<Held> = []
            for (let i = 0; i + 1 < page.length; i += 2) {
              // "<fence>:<expires at>:<owner>" (uniqueLock.lua); the fence counter "" has no ":"
              const [fence, at, ...owner] = page[i + 1]!.split(":")
              const holder = owner.join(":")
              if (holder !== "" && Number(at) > now)
                live.push({ key: page[i]!, holder, expiresInMs: Number(at) - now, fence: Number(fence) })
            }
            return Effect.succeed(live)
          })
          held.push(...found)
        }
        return held
      })

    const inspect = (key: string) => {
      const task = taskLockOf(key)
      return Effect.map(task === undefined ? run.lockInspect([key]) : run.taskLockInspect([task], key), (reply) =>
        reply.length === 0
          ? Option.none()
          : Option.some({ holder: reply[0], expiresInMs: Number(reply[1]), fence: Number(reply[2]) })
      )
    }

    const release = (key: string, owner: string, force: boolean) => {
      const task = taskLockOf(key)
      return Effect.map(
        task === undefined
          ? run.lockRelease([key], owner, channel, force)
          : run.taskLockRelease([task], key, owner, channel, force),
        (n) => n === 1
      )
    }

    return HeimdallStore.of({
      lockAcquire: (key, owner, ttlMs) => {
        const task = taskLockOf(key)
        return Effect.map(
          task === undefined ? run.lockAcquire([key], owner, ttlMs) : run.taskLockAcquire([task], key, owner, ttlMs),
          (reply): LockAcquireResult =>
            reply[0] === 1
              ? { _tag: "Acquired", fence: Number(reply[1]) }
              : { _tag: "Held", holder: reply[1], expiresInMs: Number(reply[2]), fence: Number(reply[3]) }
        )
      },
      lockRelease: (key, owner) => release(key, owner, false),
      lockForceRelease: (key) => release(key, "", true),
      // one command: atomic on its own (the key is the limit's whole log of admissions and bookings)
      rateReset: (key) => Effect.map(redis.send<number>("DEL", key), (n) => Number(n) === 1),
      lockExtend: (key, owner, ttlMs) => {
        const task = taskLockOf(key)
        return Effect.map(
          task === undefined ? run.lockExtend([key], owner, ttlMs) : run.taskLockExtend([task], key, owner, ttlMs),
          (n) => n === 1
        )
      },
      lockInspect: inspect,
      lockList: Effect.fnUntraced(function* (prefix) {
        const held = yield* Effect.forEach(yield* scan(prefix), (key) =>
          Effect.map(
            inspect(key),
            Option.map((state) => ({ key, ...state }))
          )
        )
        const own = held.flatMap((o) => (Option.isSome(o) ? [o.value] : []))
        return [...own, ...(yield* taskLocksList(prefix))].sort(byKey)
      }),
      // one SCAN per 1,000 keys and one read-only script per page of keys found
      rateList: (prefix) =>
        Effect.map(
          scanPages(prefix, (page) =>
            Effect.map(
              Effect.forEach(groups(page), (keys) =>
                Effect.map(run.rateInspect(keys), ([nowUs, ...rows]) => {
                  const now = Number(nowUs)
                  const found: Array<RateUsage> = []
                  rows.forEach((row, i) => {
                    if (row.length === 0 || row[0] < 0 || row[1].length === 0) return
                    const key = keys[i]!
                    const admissions = row[1].map(Number)
                    found.push({
                      key,
                      nowUs: now,
                      admissions,
                      expiresAtUs: now + Number(row[0]) * 1000,
                      known: known.rateOf(key)
                    })
                  })
                  return found
                })
              ),
              (found) => found.flat()
            )
          ),
          (found) => found.sort(byKey)
        ),
      slotList: (prefix) =>
        Effect.map(
          scanPages(prefix, (page) =>
            Effect.map(
              Effect.forEach(groups(page), (keys) =>
                Effect.map(run.slotInspect(keys), ([nowMs, ...rows]) => {
                  const found: Array<SlotUsage> = []
                  rows.forEach((row, i) => {
                    if (row.length === 0) return
                    const key = keys[i]!
                    const holders: Array<{ holder: string; leaseEndMs: number }> = []
                    for (let j = 0; j < row.length; j += 2)
                      holders.push({ holder: row[j]!, leaseEndMs: Number(row[j + 1]) })
                    found.push({ key, nowMs: Number(nowMs), holders, limit: known.slotOf(key) })
                  })
                  return found
                })
              ),
              (found) => found.flat()
            )
          ),
          (found) => found.sort(byKey)
        ),
      rateTake: (request) => {
        known.rate(request.limits)
        if (request.mode === "take" && request.limits.length === 1) {
          const { key, times, perMs } = request.limits[0]!
          return takeBatches(`${times}/${perMs}/${key}`, {
            key,
            times,
            perMs,
            cost: request.cost,
            id: request.id ?? randomId()
          })
        }
        const keys = [...new Set(request.limits.map((l) => l.key))]
        if (crossSlot(keys)) {
          // `take`, `reserve` and `withRateLimit` check this first (InvalidArgument); this guards direct callers
          const cause = crossSlotInvalid(keys)
          const error = new Redis.RedisError({ cause })
          Object.defineProperty(error, "message", { value: cause.message, writable: true, configurable: true })
          return Effect.fail(error)
        }
        return Effect.map(
          rateRun[request.mode](
            keys,
            request.cost,
            request.maxDelayMs ?? -1,
            request.offsetMs,
            request.id ?? randomId(),
            request.limits.map((l) => [keys.indexOf(l.key) + 1, l.times, l.perMs] as const)
          ),
          ([admitted, delayMs, remaining, limitIndex, nowUs]) => ({
            admitted: admitted === 1,
            delayMs: Number(delayMs),
            remaining: Number(remaining),
            limitIndex: Number(limitIndex) - 1,
            nowMs: Number(nowUs) / 1000
          })
        )
      },
      slotAcquire: (key, holder, limit, leaseMs) => {
        known.slot(key, limit) // for Inspector.limits, as the call is made (as rateTake)
        return Effect.map(
          run.slotAcquire([key], holder, limit, leaseMs),
          (reply): SlotResult =>
            reply[0] === 1
              ? { _tag: "Acquired", holders: Number(reply[1]) }
              : { _tag: "Full", holders: Number(reply[1]), retryAfterMs: Number(reply[2]) }
        )
      },
      slotRelease: (key, holder) => Effect.map(run.slotRelease([key], holder, channel), (n) => n === 1),
      slotExtend: (key, holder, leaseMs) => Effect.map(run.slotExtend([key], holder, leaseMs), (n) => n === 1),
      onlyAfter: (key, periodMs) =>
        Effect.map(redis.send<string | null>("SET", key, "1", "NX", "PX", String(periodMs)), (reply) => reply === "OK"),
      awaitRelease: (key) => Effect.flatMap(releases.register(key), (wait) => Effect.as(ensureSubscribed, wait)),
      crossSlot
    })
  })

/** Escapes glob characters so a prefix matches literally in SCAN MATCH. */
const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
