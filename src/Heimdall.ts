/**
 * Distributed guarantees around any Effect: locks, rate limits, concurrency
 * limits and only-after, on Redis or in memory.
 *
 * Provide one backend layer, then use the functions of this module anywhere:
 *
 * - `Heimdall.layerRedis(options?)`: shared by every process on one Redis
 *   (needs the `Redis` service, e.g. from `RedisIoredis.layer`).
 * - `Heimdall.layerMemory`: the same semantics inside one process, on
 *   Effect's `Clock` (so `TestClock` drives expiry in tests).
 *
 * Both layers also carry the task queue (`TaskQueue`) that `Task` and
 * `Worker` use.
 *
 * Every operation is one atomic step (one Lua script or command in Redis, on
 * Redis' own clock), every denial says why and for how long, and every key
 * written expires or is deleted.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Heimdall, RedisIoredis } from "effect-heimdall"
 *
 * const callPartnerApi = Effect.log("calling the partner API")
 *
 * const program = callPartnerApi.pipe(
 *   Heimdall.withRateLimit("partner-api", { limits: { times: 2, per: "1 minute" }, onLimit: "wait" }),
 *   Heimdall.withLock("partner-api:session", { ttl: "30 seconds" })
 * )
 *
 * program.pipe(
 *   Effect.provide(Heimdall.layerRedis().pipe(Layer.provide(RedisIoredis.layerConfig()))),
 *   Effect.runPromise
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Duration, Effect, Exit, Layer, Option, Random } from "effect"
import { dual } from "effect/Function"
import type * as Redis from "effect/persistence/Redis"
import { ConcurrencyLimited, InvalidArgument, LockLost, LockTaken, RateLimited } from "./Errors.ts"
import * as Store from "./HeimdallStore.ts"
import { randomId } from "./internal/id.ts"
import { MemoryLockTable, makeLockTable } from "./internal/locks.ts"
import * as RateStart from "./internal/rateStart.ts"
import * as RedisStore from "./internal/redisStore.ts"
import * as validate from "./internal/validate.ts"
import * as TaskQueueModule from "./TaskQueue.ts"

type TaskQueue = TaskQueueModule.TaskQueue

/**
 * Options shared by both backends. A layer given an option that can never
 * work fails with `InvalidArgument` naming it and its value: an empty `queue`
 * or one with `{` or `}`, a `queuePrefix` or `lockPrefix` with `{` or `}` (the
 * queue's hash tag follows them), a `retention` or `uniqueTimeout` that is not
 * a positive finite duration.
 *
 * **Example**
 *
 * ```ts
 * import { Heimdall } from "effect-heimdall"
 *
 * const options: Heimdall.Options = { lockPrefix: "myapp-lock:", uniqueTimeout: "30 minutes", queue: "reports" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Prefix of lock keys. Default `"h-lock:"`. */
  readonly lockPrefix?: string | undefined
  /** Prefix of rate-limit and only-after keys. Default `"h-rate:"`. */
  readonly ratePrefix?: string | undefined
  /** Prefix of concurrency-limit keys. Default `"h-sem:"`. */
  readonly concurrencyPrefix?: string | undefined
  /** Default lock time-to-live (and unique-task timeout). Default 1 hour. */
  readonly uniqueTimeout?: Duration.Input | undefined
  /** The task queue's name. Default `"default"`. */
  readonly queue?: string | undefined
  /** Prefix of the task queue's keys (Redis). Default `"h-q"`. */
  readonly queuePrefix?: string | undefined
  /** How long finished tasks and their results are kept. Default 1 day. */
  readonly retention?: Duration.Input | undefined
}

/**
 * The configured backend: the store and the key layout.
 *
 * @category services
 * @since 0.1.0
 */
export class Heimdall extends Context.Service<
  Heimdall,
  {
    readonly store: Store.HeimdallStore["Service"]
    readonly lockPrefix: string
    readonly ratePrefix: string
    readonly concurrencyPrefix: string
    readonly uniqueTimeout: Duration.Duration
  }
>()("effect-heimdall/Heimdall") {}

const resolveOptions = (options: Options | undefined) => ({
  lockPrefix: options?.lockPrefix ?? "h-lock:",
  ratePrefix: options?.ratePrefix ?? "h-rate:",
  concurrencyPrefix: options?.concurrencyPrefix ?? "h-sem:",
  uniqueTimeout: Duration.fromInputUnsafe(options?.uniqueTimeout ?? "1 hour")
})

const queueOptions = (options: Options | undefined): TaskQueueModule.Options => ({
  queue: options?.queue,
  prefix: options?.queuePrefix,
  retention: options?.retention,
  lockPrefix: options?.lockPrefix,
  ratePrefix: options?.ratePrefix,
  uniqueTimeout: options?.uniqueTimeout
})

/**
 * `Heimdall` over any `HeimdallStore` (for custom backends).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerStore = (options?: Options): Layer.Layer<Heimdall, InvalidArgument, Store.HeimdallStore> =>
  validate.layerOrFail(checkOptions(options), () => storeLayer(options))

const storeLayer = (options: Options | undefined): Layer.Layer<Heimdall, never, Store.HeimdallStore> =>
  Layer.effect(
    Heimdall,
    Effect.map(Store.HeimdallStore, (store) => Heimdall.of({ store, ...resolveOptions(options) }))
  )

/** The first option that can never work (see `Options`), checked when a layer is made. */
const checkOptions = (options: Options | undefined) =>
  validate.heimdallOptions(options as Record<string, unknown> | undefined)

/**
 * The in-memory backend with options (prefixes, default lock ttl).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemoryWith = (
  options?: Options
): Layer.Layer<Heimdall | Store.HeimdallStore | TaskQueue, InvalidArgument> =>
  validate.layerOrFail(checkOptions(options), () => memoryLayer(options))

// one lock table and one store for the primitives and the queue: a unique task's lock is a lock like any other
const memoryLayer = (options: Options | undefined): Layer.Layer<Heimdall | Store.HeimdallStore | TaskQueue> =>
  Layer.merge(
    storeLayer(options),
    // checked above, under this module's option names
    TaskQueueModule.layerMemoryWith(queueOptions(options)) as Layer.Layer<TaskQueue>
  ).pipe(Layer.provideMerge(Store.layerMemory), Layer.provide(Layer.sync(MemoryLockTable, makeLockTable)))

/**
 * The in-memory backend: one process, Effect's `Clock`. For tests (with
 * `TestClock`) and single-process apps.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const once = Heimdall.onlyAfter("nightly-report", "1 day")
 * Effect.runPromise(Effect.provide(once, Heimdall.layerMemory)) // true, then false for a day
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<Heimdall | Store.HeimdallStore | TaskQueue> = memoryLayer(undefined)

/**
 * The Redis backend, shared by every process using the same Redis and
 * prefixes. Requires the `Redis` service of `effect/persistence/Redis`.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { Heimdall, RedisIoredis } from "effect-heimdall"
 *
 * const HeimdallLive = Heimdall.layerRedis({ lockPrefix: "myapp-lock:" }).pipe(
 *   Layer.provide(RedisIoredis.layer("redis://127.0.0.1:6379"))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRedis = (
  options?: Options
): Layer.Layer<Heimdall | Store.HeimdallStore | TaskQueue, InvalidArgument, Redis.Redis> =>
  validate.layerOrFail(checkOptions(options), () => {
    const resolved = resolveOptions(options)
    return Layer.merge(
      storeLayer(options),
      // checked above, under this module's option names
      TaskQueueModule.layerRedis(queueOptions(options)) as Layer.Layer<TaskQueue, never, Redis.Redis>
    ).pipe(Layer.provideMerge(RedisStore.layer({ channel: `${resolved.lockPrefix}__released` })))
  })

// -----------------------------------------------------------------------------
// validation
// -----------------------------------------------------------------------------

// The checks are the shared policy of src/internal/validate.ts; these helpers adapt them to this module's calls.

const invalid = (argument: string, value: unknown, reason: string) =>
  Effect.fail(validate.invalid(argument, value, reason))

/** `undefined` for a usable key (a non-empty string), else the error. */
const keyError = (key: unknown, argument = "key"): InvalidArgument | undefined => {
  const checked = validate.nonEmpty(argument, key)
  return checked instanceof InvalidArgument ? checked : undefined
}

const checkKey = (key: string) => {
  const error = keyError(key)
  return error === undefined ? Effect.void : Effect.fail(error)
}

/** A duration as whole milliseconds (rounded up), finite and at least `min` (0 or 1), or why not. */
const millisOrInvalid = (argument: string, input: Duration.Input, min: 0 | 1): number | InvalidArgument =>
  validate.durationMillis(argument, input, min)

/** A duration as whole milliseconds, at least `min`. */
const millisOf = (argument: string, input: Duration.Input, min: 0 | 1) =>
  Effect.suspend(() => {
    const ms = millisOrInvalid(argument, input, min)
    return typeof ms === "number" ? Effect.succeed(ms) : Effect.fail(ms)
  })

const countOrInvalid = (argument: string, n: number, min: 0 | 1 = 1): number | InvalidArgument =>
  validate.integer(argument, n, min)

// -----------------------------------------------------------------------------
// waiting for a release
// -----------------------------------------------------------------------------

type Attempt<A, B> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly busy: B }

/**
 * Tries `attempt` until it succeeds or `waitMs` has passed. Between tries it
 * sleeps until the key is released (announced by the backend) or until
 * `retryAfterMs` of the last refusal, whichever comes first: no polling loop.
 */
const tryWithWait = <A, B>(
  store: Store.HeimdallStore["Service"],
  fullKey: string,
  waitMs: number,
  attempt: Effect.Effect<Attempt<A, B>, Redis.RedisError>,
  retryAfterMs: (busy: B) => number
): Effect.Effect<Attempt<A, B>, Redis.RedisError> =>
  waitMs <= 0
    ? attempt
    : Effect.gen(function* () {
        const deadline = (yield* Clock.currentTimeMillis) + waitMs
        while (true) {
          const next = yield* Effect.scoped(
            Effect.gen(function* () {
              const left = deadline - (yield* Clock.currentTimeMillis)
              if (left <= 0) return yield* attempt
              const released = yield* store.awaitRelease(fullKey)
              const result = yield* attempt
              if (result.ok) return result
              yield* Effect.timeoutOption(released, Math.max(1, Math.min(left, retryAfterMs(result.busy) + 1)))
              return undefined
            })
          )
          if (next !== undefined) return next
        }
      })

/**
 * A span around an acquisition that may wait (`waitMs` > 0), where the time
 * spent waiting is worth seeing in a trace. An instant attempt has none: it is
 * one Redis round trip, and a span would cost about as much client time.
 */
const traceWait = <A, E, R>(name: string, key: string, waitMs: number, effect: Effect.Effect<A, E, R>) =>
  waitMs > 0 ? Effect.withSpan(effect, name, { attributes: { key, waitMs } }) : effect

/** An acquisition (lock or slot): `attempt`, retried by `tryWithWait` for up to `waitMs`, then `settle`d. */
const acquireWaiting = <A, B, O, E>(
  name: string,
  key: string,
  store: Store.HeimdallStore["Service"],
  fullKey: string,
  waitMs: number,
  attempt: Effect.Effect<Attempt<A, B>, Redis.RedisError>,
  retryAfterMs: (busy: B) => number,
  settle: (result: Attempt<A, B>) => Effect.Effect<O, E>
): Effect.Effect<O, E | Redis.RedisError> =>
  traceWait(name, key, waitMs, Effect.flatMap(tryWithWait(store, fullKey, waitMs, attempt, retryAfterMs), settle))

/** Runs `effect` while `keepAlive` renews a lease every `everyMs`; a lost lease interrupts it with `lost`. */
const whileKept = <A, E, R, E2>(
  effect: Effect.Effect<A, E, R>,
  everyMs: number,
  renew: Effect.Effect<boolean, Redis.RedisError>,
  lost: () => E2
): Effect.Effect<A, E | E2, R> => {
  const keepAlive = renew.pipe(
    // a passing backend failure is retried on the next tick; only a lost lease stops the effect
    Effect.catch(() => Effect.succeed(true)),
    Effect.flatMap((kept) => (kept ? Effect.void : Effect.fail(lost()))),
    Effect.delay(everyMs),
    Effect.forever
  )
  return Effect.raceFirst(effect, keepAlive)
}

// -----------------------------------------------------------------------------
// locks
// -----------------------------------------------------------------------------

/**
 * A held lock. `fence` strictly increases with every new acquisition of the
 * key: pass it to downstream systems so they can reject a stale holder.
 *
 * @category models
 * @since 0.1.0
 */
export interface Lock {
  readonly key: string
  readonly owner: string
  readonly fence: number
  readonly ttl: Duration.Duration
}

/**
 * A lock as seen by an operator.
 *
 * @category models
 * @since 0.1.0
 */
export interface LockInfo {
  readonly key: string
  readonly holder: string
  readonly expiresIn: Duration.Duration
  readonly fence: number
}

/**
 * Options of `acquireLock` and `withLock`.
 *
 * @category models
 * @since 0.1.0
 */
export interface LockOptions {
  /** How long the lock lives unless released or extended. Default: the layer's `uniqueTimeout` (1 hour). */
  readonly ttl?: Duration.Input | undefined
  /** Who holds it (for unique tasks, the task id). Default: a random id (16 URL-safe characters). */
  readonly owner?: string | undefined
  /** How long to wait for a taken lock, woken by its release. Default: 0, fail at once. */
  readonly wait?: Duration.Input | undefined
}

/**
 * Takes a lock, or fails with `LockTaken` naming the holder and when its lock
 * expires, read in the same atomic step. With `wait`, a taken lock is awaited
 * (woken by its release, or at its expiry) until the wait runs out.
 * Acquiring a lock the same owner already holds extends it and keeps its fence.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const program = Effect.gen(function* () {
 *   const lock = yield* Heimdall.acquireLock("invoice:7", { ttl: "1 minute", wait: "1 second" })
 *   yield* Effect.log(`fence ${lock.fence}`)
 *   yield* Heimdall.releaseLock(lock)
 * })
 * ```
 *
 * @category locks
 * @since 0.1.0
 */
export const acquireLock = (
  key: string,
  options?: LockOptions
): Effect.Effect<Lock, LockTaken | InvalidArgument | Redis.RedisError, Heimdall> =>
  Effect.flatMap(Heimdall, (heimdall): Effect.Effect<Lock, LockTaken | InvalidArgument | Redis.RedisError> => {
    const keyInvalid = keyError(key)
    if (keyInvalid !== undefined) return Effect.fail(keyInvalid)
    const ttlMs = millisOrInvalid("ttl", options?.ttl ?? heimdall.uniqueTimeout, 1)
    if (typeof ttlMs !== "number") return Effect.fail(ttlMs)
    const waitMs = millisOrInvalid("wait", options?.wait ?? 0, 0)
    if (typeof waitMs !== "number") return Effect.fail(waitMs)
    const owner = options?.owner ?? randomId()
    const fullKey = heimdall.lockPrefix + key
    return acquireWaiting(
      "Heimdall.acquireLock",
      key,
      heimdall.store,
      fullKey,
      waitMs,
      Effect.map(
        heimdall.store.lockAcquire(fullKey, owner, ttlMs),
        (r): Attempt<number, Store.LockState> =>
          r._tag === "Acquired" ? { ok: true, value: r.fence } : { ok: false, busy: r }
      ),
      (held) => held.expiresInMs,
      (result): Effect.Effect<Lock, LockTaken> =>
        result.ok
          ? Effect.succeed({ key, owner, fence: result.value, ttl: Duration.millis(ttlMs) })
          : Effect.fail(
              new LockTaken({
                key,
                holder: result.busy.holder,
                expiresIn: Duration.millis(Math.max(0, result.busy.expiresInMs))
              })
            )
    )
  })

/**
 * Releases a lock if, and only if, its owner still holds it: a late finisher
 * never frees a lock that expired and was taken by someone else. Returns
 * whether it released.
 *
 * @category locks
 * @since 0.1.0
 */
export const releaseLock = (lock: Pick<Lock, "key" | "owner">): Effect.Effect<boolean, Redis.RedisError, Heimdall> =>
  Effect.flatMap(Heimdall, (h) => h.store.lockRelease(h.lockPrefix + lock.key, lock.owner))

/**
 * Extends a lock to `ttl` from now (default: its own ttl), only while its
 * owner still holds it. Returns whether it did.
 *
 * @category locks
 * @since 0.1.0
 */
export const extendLock = (
  lock: Pick<Lock, "key" | "owner" | "ttl">,
  ttl?: Duration.Input
): Effect.Effect<boolean, Redis.RedisError | InvalidArgument, Heimdall> =>
  Effect.gen(function* () {
    const h = yield* Heimdall
    const ttlMs = yield* millisOf("ttl", ttl ?? lock.ttl, 1)
    return yield* h.store.lockExtend(h.lockPrefix + lock.key, lock.owner, ttlMs)
  })

/**
 * Who holds a lock, for how long, with which fence; `None` when it is free.
 *
 * @category locks
 * @since 0.1.0
 */
export const inspectLock = (
  key: string
): Effect.Effect<Option.Option<LockInfo>, InvalidArgument | Redis.RedisError, Heimdall> =>
  Effect.andThen(
    checkKey(key),
    Effect.flatMap(Heimdall, (h) =>
      Effect.map(
        h.store.lockInspect(h.lockPrefix + key),
        Option.map((s) => toInfo(key, s))
      )
    )
  )

/**
 * Held locks whose key starts with `prefix` (default: all), sorted by key.
 * For operators: it scans the keyspace, so it is not for hot paths.
 *
 * @category locks
 * @since 0.1.0
 */
export const listLocks = (prefix = ""): Effect.Effect<ReadonlyArray<LockInfo>, Redis.RedisError, Heimdall> =>
  Effect.flatMap(Heimdall, (h) =>
    Effect.map(h.store.lockList(h.lockPrefix + prefix), (locks) =>
      locks.map((s) => toInfo(s.key.slice(h.lockPrefix.length), s))
    )
  )

/**
 * Releases a lock whoever holds it. For operators clearing a lock they know
 * is stale; the holder's own release and extend then report `false`.
 *
 * @category locks
 * @since 0.1.0
 */
export const forceReleaseLock = (key: string): Effect.Effect<boolean, InvalidArgument | Redis.RedisError, Heimdall> =>
  Effect.andThen(
    checkKey(key),
    Effect.flatMap(Heimdall, (h) => h.store.lockForceRelease(h.lockPrefix + key))
  )

const toInfo = (key: string, s: Store.LockState): LockInfo => ({
  key,
  holder: s.holder,
  expiresIn: Duration.millis(Math.max(0, s.expiresInMs)),
  fence: s.fence
})

/**
 * Options of `withLock`.
 *
 * @category models
 * @since 0.1.0
 */
export interface WithLockOptions extends LockOptions {
  /**
   * Extend the lock while the effect runs, every third of its ttl. Default
   * `true`. If an extension finds the lock lost anyway (the backend was
   * unreachable for longer than the ttl and someone else took it), the effect
   * is interrupted and fails with `LockLost`. With or without it, the release
   * at the end also tells: see `withLock`.
   */
  readonly keepAlive?: boolean | undefined
}

/**
 * Runs an effect while holding a lock: released when the effect succeeds,
 * fails or is interrupted; kept alive while it runs. A taken lock fails with
 * `LockTaken` (holder and `expiresIn`) without running the effect.
 *
 * It succeeds only if the lock was held the whole time: the release is
 * owner-checked, and if it finds the lock no longer this owner's (it expired
 * while the keep-alive could not run, e.g. the event loop was blocked past the
 * ttl or `keepAlive` is off, and may have been taken by someone else), the
 * result is `LockLost` instead of the effect's success or typed failure
 * (defects and interruptions are kept as they are). A release that cannot
 * reach the backend leaves the lock to its ttl and keeps the effect's result.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const migrate = Effect.log("migrating").pipe(Heimdall.withLock("migrations", { ttl: "30 seconds", wait: "5 seconds" }))
 * ```
 *
 * @category locks
 * @since 0.1.0
 */
export const withLock: {
  (
    key: string,
    options?: WithLockOptions
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | LockTaken | LockLost | InvalidArgument | Redis.RedisError, R | Heimdall>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    key: string,
    options?: WithLockOptions
  ): Effect.Effect<A, E | LockTaken | LockLost | InvalidArgument | Redis.RedisError, R | Heimdall>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, key: string, options?: WithLockOptions) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        // the acquisition is uninterruptible (as an acquireRelease's), so a lock it took is always released
        const lock = yield* acquireLock(key, options)
        const heimdall = yield* Heimdall
        const held =
          options?.keepAlive === false
            ? self
            : whileKept(
                self,
                Math.max(1, Math.floor(Duration.toMillis(lock.ttl) / 3)),
                heimdall.store.lockExtend(heimdall.lockPrefix + key, lock.owner, Duration.toMillis(lock.ttl)),
                () => new LockLost({ key, owner: lock.owner })
              )
        const exit = yield* Effect.exit(restore(held))
        // owner-checked: false when the lock lapsed (or was force-released) at some point while the effect ran
        const released = yield* Effect.exit(heimdall.store.lockRelease(heimdall.lockPrefix + key, lock.owner))
        const lost =
          Exit.isSuccess(released) &&
          !released.value &&
          (Exit.isSuccess(exit) || !(Cause.hasDies(exit.cause) || Cause.hasInterrupts(exit.cause)))
        return yield* lost ? Effect.fail(new LockLost({ key, owner: lock.owner })) : exit
      })
    )
)

// -----------------------------------------------------------------------------
// rate limits
// -----------------------------------------------------------------------------

/**
 * A rate limit: at most `times` units in any window of length `per`. `key`
 * lets one call check limits of other keys too (for example a per-customer
 * limit and a global one); by default a limit applies to the call's key.
 *
 * @category models
 * @since 0.1.0
 */
export interface Limit {
  readonly times: number
  readonly per: Duration.Input
  readonly key?: string | undefined
}

/**
 * One limit, several limits checked together (all or nothing), or a function
 * computing them from the key at call time (the dynamic rate limit), possibly
 * with an effect (e.g. a lookup of the customer's plan).
 *
 * @category models
 * @since 0.1.0
 */
export type Limits<E = never, R = never> =
  | Limit
  | ReadonlyArray<Limit>
  | ((key: string) => Limit | ReadonlyArray<Limit> | Effect.Effect<Limit | ReadonlyArray<Limit>, E, R>)

/**
 * An admission: `delay` until the booked slot (zero for `take`), and the
 * fewest units left in a window across the limits.
 *
 * @category models
 * @since 0.1.0
 */
export interface Admission {
  readonly delay: Duration.Duration
  readonly remaining: number
}

/**
 * Options of `take` and `reserve`.
 *
 * @category models
 * @since 0.1.0
 */
export interface RateOptions {
  /** Units this call takes from every limit (weighted calls). Default 1. */
  readonly cost?: number | undefined
}

/**
 * Options of `reserve`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReserveOptions extends RateOptions {
  /** Refuse (with `RateLimited`) a slot further away than this. Default: accept any. */
  readonly maxDelay?: Duration.Input | undefined
  /**
   * Random extra delay before the earliest slot, drawn uniformly from zero to
   * this, or computed by a function of the call. It is booked, not added
   * after the slot, so the limit stays exact. Default: none.
   */
  readonly jitter?: Duration.Input | Effect.Effect<Duration.Duration> | undefined
}

/** The limits of a call, checked, each with its key; or why they are invalid. */
const resolveLimits = (
  key: string,
  value: Limit | ReadonlyArray<Limit>
): ReadonlyArray<{ readonly key: string; readonly times: number; readonly perMs: number }> | InvalidArgument => {
  const list: ReadonlyArray<Limit> = Array.isArray(value) ? value : [value as Limit]
  if (list.length === 0) return validate.invalid("limits", value, "at least one limit is needed")
  const resolved = []
  for (const limit of list) {
    if (limit === null || typeof limit !== "object") {
      return validate.invalid("limits", limit, "each limit must be an object { times, per, key? }")
    }
    const times = countOrInvalid("times", limit.times)
    if (typeof times !== "number") return times
    const perMs = millisOrInvalid("per", limit.per, 1)
    if (typeof perMs !== "number") return perMs
    const limitKey = limit.key ?? key
    const error = keyError(limitKey)
    if (error !== undefined) return error
    resolved.push({ key: limitKey, times, perMs })
  }
  return resolved
}

/**
 * How `withRateLimit` admits its effect: the admission stands for the
 * effect's start (see internal/rateStart.ts). Each limit's window is widened
 * by its margin; a reply that came back late is checked again; `wait` sleeps
 * until the booked slot and checks the booking again there.
 */
interface AtStart {
  readonly margin: Duration.Input | undefined
  readonly wait: boolean
}

// A hot path (a take per request): plain checks and one flatMap chain, no generator.
const rateCall = <E, R>(
  key: string,
  limits: Limits<E, R>,
  mode: "take" | "reserve",
  options: ReserveOptions | undefined,
  atStart?: AtStart
): Effect.Effect<Admission, RateLimited | InvalidArgument | Redis.RedisError | E, Heimdall | R> =>
  Effect.suspend(() => {
    const keyInvalid = keyError(key)
    if (keyInvalid !== undefined) return Effect.fail(keyInvalid)
    const given = typeof limits === "function" ? limits(key) : limits
    return Effect.isEffect(given)
      ? Effect.flatMap(given, (value) => admit(key, value, mode, options, atStart))
      : admit(key, given, mode, options, atStart)
  })

const admit = (
  key: string,
  value: Limit | ReadonlyArray<Limit>,
  mode: "take" | "reserve",
  options: ReserveOptions | undefined,
  atStart?: AtStart
): Effect.Effect<Admission, RateLimited | InvalidArgument | Redis.RedisError, Heimdall> => {
  const resolved = resolveLimits(key, value)
  if (!Array.isArray(resolved)) return Effect.fail(resolved as InvalidArgument)
  const cost = countOrInvalid("cost", options?.cost ?? 1)
  if (typeof cost !== "number") return Effect.fail(cost)
  for (const limit of resolved) {
    if (cost > limit.times) return invalid("cost", cost, `${cost} units can never fit a limit of ${limit.times}`)
  }
  const maxDelayMs = options?.maxDelay === undefined ? undefined : millisOrInvalid("maxDelay", options.maxDelay, 0)
  if (maxDelayMs instanceof InvalidArgument) return Effect.fail(maxDelayMs)
  const marginMs = atStart?.margin === undefined ? undefined : millisOrInvalid("margin", atStart.margin, 0)
  if (marginMs instanceof InvalidArgument) return Effect.fail(marginMs)
  const marginOf = (perMs: number) => (atStart === undefined ? 0 : (marginMs ?? RateStart.defaultMarginMs(perMs)))
  const settle = (result: Store.RateResult): Effect.Effect<Admission, RateLimited> => {
    if (!result.admitted) {
      const full = resolved[result.limitIndex] ?? resolved[0]!
      return Effect.fail(
        new RateLimited({
          key: full.key,
          retryAfter: Duration.millis(Math.max(0, result.delayMs)),
          limit: { times: full.times, per: Duration.millis(full.perMs) },
          remaining: Math.max(0, result.remaining)
        })
      )
    }
    return Effect.succeed({ delay: Duration.millis(result.delayMs), remaining: Math.max(0, result.remaining) })
  }
  const run = (jitterMs: number) =>
    Effect.flatMap(Heimdall, (heimdall) => {
      const request: Store.RateRequest = {
        limits: resolved.map((l) => ({
          key: heimdall.ratePrefix + l.key,
          times: l.times,
          perMs: l.perMs + marginOf(l.perMs)
        })),
        cost,
        mode,
        maxDelayMs,
        offsetMs: mode === "reserve" ? jitterMs : 0
      }
      if (atStart === undefined) return Effect.flatMap(heimdall.store.rateTake(request), settle)
      return startAdmission(
        heimdall.store,
        request,
        Math.min(...resolved.map((l) => marginOf(l.perMs))) / 2,
        atStart
      ).pipe(Effect.flatMap(settle))
    })
  const jitter = options?.jitter
  if (jitter === undefined) return run(0)
  if (Effect.isEffect(jitter)) {
    return Effect.flatMap(
      jitter,
      (d): Effect.Effect<Admission, RateLimited | InvalidArgument | Redis.RedisError, Heimdall> => {
        const jitterMs = millisOrInvalid("jitter", d, 0)
        return typeof jitterMs === "number" ? run(jitterMs) : Effect.fail(jitterMs)
      }
    )
  }
  const jitterMs = millisOrInvalid("jitter", jitter, 0)
  if (typeof jitterMs !== "number") return Effect.fail(jitterMs)
  return Effect.flatMap(Random.next, (r) => run(Math.round(r * jitterMs)))
}

/**
 * The admission of an effect about to start: an admission now (checked again
 * if its reply came back late), or, with `wait`, a booked slot slept until and
 * checked again there against the actual starts, as often as it takes. Not
 * waiting, a late reply's second check books nothing (`maxDelayMs` 0).
 */
const startAdmission = (
  store: Store.HeimdallStore["Service"],
  request: Store.RateRequest,
  freshMs: number,
  atStart: AtStart
): Effect.Effect<Store.RateResult, Redis.RedisError> =>
  Effect.gen(function* () {
    const id = randomId()
    let result = yield* RateStart.admitFresh(store, { ...request, id }, freshMs, atStart.wait ? undefined : 0)
    if (!atStart.wait) return result
    while (result.admitted && result.delayMs > 0) {
      yield* Effect.sleep(result.delayMs)
      // `maxDelay` bounded the booking; checking it again at its slot is not refused for being late
      const booked: Store.RateRequest = { ...request, id, mode: "booked", maxDelayMs: undefined, offsetMs: 0 }
      result = yield* RateStart.admitFresh(store, { ...booked, id }, freshMs, undefined)
    }
    return result
  })

/**
 * Admits one call now or denies it, in one atomic step. A denial is a
 * `RateLimited` with `retryAfter`: when a slot opens. Exact: never more than
 * `times` admissions in any window of length `per` (a sliding window).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const program = Heimdall.take("emails:42", { times: 10, per: "1 minute" }).pipe(
 *   Effect.andThen(Effect.log("sending")),
 *   Effect.catchTag("RateLimited", (e) => Effect.log(`later: ${e.retryAfter}`))
 * )
 * ```
 *
 * @category rate limits
 * @since 0.1.0
 */
export const take = <E = never, R = never>(
  key: string,
  limits: Limits<E, R>,
  options?: RateOptions
): Effect.Effect<Admission, RateLimited | InvalidArgument | Redis.RedisError | E, Heimdall | R> =>
  rateCall(key, limits, "take", options)

/**
 * Books the earliest free slot and returns its `delay`, in one atomic step:
 * N callers get N distinct future slots instead of retrying together. The
 * slot counts from the moment it is booked, so the caller should start after
 * `delay`, not before.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const program = Effect.gen(function* () {
 *   const { delay } = yield* Heimdall.reserve("partner-api", { times: 2, per: "1 second" })
 *   yield* Effect.sleep(delay)
 *   yield* Effect.log("calling")
 * })
 * ```
 *
 * @category rate limits
 * @since 0.1.0
 */
export const reserve = <E = never, R = never>(
  key: string,
  limits: Limits<E, R>,
  options?: ReserveOptions
): Effect.Effect<Admission, RateLimited | InvalidArgument | Redis.RedisError | E, Heimdall | R> =>
  rateCall(key, limits, "reserve", options)

/**
 * Options of `withRateLimit`.
 *
 * @category models
 * @since 0.1.0
 */
export interface WithRateLimitOptions<E = never, R = never> extends ReserveOptions {
  readonly limits: Limits<E, R>
  /**
   * `"wait"` (default): book the earliest slot (plus jitter), sleep until it,
   * and check the booking again there against the actual starts (booked again,
   * keeping its place, if a late start left no room); `maxDelay` refuses a
   * first slot further away. `"fail"`: run now or fail with `RateLimited`
   * carrying `retryAfter`.
   */
  readonly onLimit?: "wait" | "fail" | undefined
  /**
   * Spaces the admissions by `per` plus this much, so that the effects' own
   * starts, which follow their admissions by a few milliseconds (the reply,
   * the event loop), also keep the limit. An admission whose reply took longer
   * than half the margin is checked again before the effect starts. Default: a
   * hundredth of `per`, at most 10 milliseconds (about 1% of the rate), as for
   * tasks; `0` makes the admissions themselves the only window.
   */
  readonly margin?: Duration.Input | undefined
}

/**
 * Runs an effect under rate limits: waits for its slot, or fails with
 * `RateLimited`, as the caller chooses. The limit holds for the effect's own
 * start, as the API it calls sees it: at most `times` starts in any window of
 * `per`, across every process, however late a sleep ends (the booking is
 * checked again at its slot, and a late reply is checked again before the
 * effect starts; `margin` covers the rest).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const perCustomer = (customerId: number) =>
 *   Effect.log(`report for ${customerId}`).pipe(
 *     Heimdall.withRateLimit(`reports:${customerId}`, {
 *       // dynamic: customer 1 gets 1 per 30 s, the others 2 per 30 s
 *       limits: () => ({ times: customerId === 1 ? 1 : 2, per: "30 seconds" }),
 *       onLimit: "wait",
 *       jitter: "200 millis"
 *     })
 *   )
 * ```
 *
 * @category rate limits
 * @since 0.1.0
 */
export const withRateLimit: {
  <E2 = never, R2 = never>(
    key: string,
    options: WithRateLimitOptions<E2, R2>
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | E2 | RateLimited | InvalidArgument | Redis.RedisError, R | R2 | Heimdall>
  <A, E, R, E2 = never, R2 = never>(
    self: Effect.Effect<A, E, R>,
    key: string,
    options: WithRateLimitOptions<E2, R2>
  ): Effect.Effect<A, E | E2 | RateLimited | InvalidArgument | Redis.RedisError, R | R2 | Heimdall>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R, E2, R2>(self: Effect.Effect<A, E, R>, key: string, options: WithRateLimitOptions<E2, R2>) =>
    Effect.andThen(
      options.onLimit === "fail"
        ? rateCall(key, options.limits, "take", options, { margin: options.margin, wait: false })
        : rateCall(key, options.limits, "reserve", options, { margin: options.margin, wait: true }),
      self
    )
)

// -----------------------------------------------------------------------------
// concurrency limits
// -----------------------------------------------------------------------------

/**
 * A held concurrency slot.
 *
 * @category models
 * @since 0.1.0
 */
export interface Slot {
  readonly key: string
  readonly holder: string
  readonly lease: Duration.Duration
  /** Holders, this one included, right after it acquired. */
  readonly holders: number
}

/**
 * Options of `acquireSlot` and `withConcurrencyLimit`.
 *
 * @category models
 * @since 0.1.0
 */
export interface SlotOptions {
  /** At most this many holders at once. */
  readonly limit: number
  /** How long a slot lives unless released or renewed; a dead holder frees it after this. Default 1 minute. */
  readonly lease?: Duration.Input | undefined
  /** Who holds it. Default: a random id (16 URL-safe characters). */
  readonly holder?: string | undefined
  /** How long to wait for a free slot, woken by releases. Default: 0, fail at once. */
  readonly wait?: Duration.Input | undefined
}

/**
 * Takes one of `limit` slots of a key (a distributed semaphore with leases),
 * or fails with `ConcurrencyLimited`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const program = Effect.gen(function* () {
 *   const slot = yield* Heimdall.acquireSlot("exports", { limit: 3, lease: "1 minute" })
 *   yield* Effect.log(`holding one of 3 slots (${slot.holders} in use)`)
 *   yield* Heimdall.releaseSlot(slot)
 * })
 * ```
 *
 * @category concurrency limits
 * @since 0.1.0
 */
export const acquireSlot = (
  key: string,
  options: SlotOptions
): Effect.Effect<Slot, ConcurrencyLimited | InvalidArgument | Redis.RedisError, Heimdall> =>
  Effect.flatMap(Heimdall, (heimdall): Effect.Effect<Slot, ConcurrencyLimited | InvalidArgument | Redis.RedisError> => {
    const keyInvalid = keyError(key)
    if (keyInvalid !== undefined) return Effect.fail(keyInvalid)
    const limit = countOrInvalid("limit", options.limit)
    if (typeof limit !== "number") return Effect.fail(limit)
    const leaseMs = millisOrInvalid("lease", options.lease ?? "1 minute", 1)
    if (typeof leaseMs !== "number") return Effect.fail(leaseMs)
    const waitMs = millisOrInvalid("wait", options.wait ?? 0, 0)
    if (typeof waitMs !== "number") return Effect.fail(waitMs)
    const holder = options.holder ?? randomId()
    const fullKey = heimdall.concurrencyPrefix + key
    return acquireWaiting(
      "Heimdall.acquireSlot",
      key,
      heimdall.store,
      fullKey,
      waitMs,
      Effect.map(
        heimdall.store.slotAcquire(fullKey, holder, limit, leaseMs),
        (r): Attempt<number, { holders: number; retryAfterMs: number }> =>
          r._tag === "Acquired" ? { ok: true, value: r.holders } : { ok: false, busy: r }
      ),
      (full) => full.retryAfterMs,
      (result): Effect.Effect<Slot, ConcurrencyLimited> =>
        result.ok
          ? Effect.succeed({ key, holder, lease: Duration.millis(leaseMs), holders: result.value })
          : Effect.fail(
              new ConcurrencyLimited({
                key,
                limit,
                holders: result.busy.holders,
                retryAfter: Duration.millis(Math.max(0, result.busy.retryAfterMs))
              })
            )
    )
  })

/**
 * Gives a slot back, only if its holder still has it. Returns whether it did.
 *
 * @category concurrency limits
 * @since 0.1.0
 */
export const releaseSlot = (slot: Pick<Slot, "key" | "holder">): Effect.Effect<boolean, Redis.RedisError, Heimdall> =>
  Effect.flatMap(Heimdall, (h) => h.store.slotRelease(h.concurrencyPrefix + slot.key, slot.holder))

/**
 * Renews a slot's lease (default: its own lease), only while its holder still
 * has it. Returns whether it did.
 *
 * @category concurrency limits
 * @since 0.1.0
 */
export const extendSlot = (
  slot: Pick<Slot, "key" | "holder" | "lease">,
  lease?: Duration.Input
): Effect.Effect<boolean, Redis.RedisError | InvalidArgument, Heimdall> =>
  Effect.gen(function* () {
    const h = yield* Heimdall
    const leaseMs = yield* millisOf("lease", lease ?? slot.lease, 1)
    return yield* h.store.slotExtend(h.concurrencyPrefix + slot.key, slot.holder, leaseMs)
  })

/**
 * Runs an effect in one of `limit` slots of a key: at most `limit` such
 * effects run at once across every process. The slot is released when the
 * effect ends and renewed while it runs (a lost lease interrupts it with
 * `LockLost`). All slots taken: `ConcurrencyLimited`, after the optional wait.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const render = Effect.log("rendering").pipe(
 *   Heimdall.withConcurrencyLimit("renderer", { limit: 4, wait: "30 seconds" })
 * )
 * ```
 *
 * @category concurrency limits
 * @since 0.1.0
 */
export const withConcurrencyLimit: {
  (
    key: string,
    options: SlotOptions
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | ConcurrencyLimited | LockLost | InvalidArgument | Redis.RedisError, R | Heimdall>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    key: string,
    options: SlotOptions
  ): Effect.Effect<A, E | ConcurrencyLimited | LockLost | InvalidArgument | Redis.RedisError, R | Heimdall>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, key: string, options: SlotOptions) =>
    Effect.scoped(
      Effect.gen(function* () {
        const slot = yield* Effect.acquireRelease(acquireSlot(key, options), (slot) => Effect.ignore(releaseSlot(slot)))
        const heimdall = yield* Heimdall
        const leaseMs = Duration.toMillis(slot.lease)
        return yield* whileKept(
          self,
          Math.max(1, Math.floor(leaseMs / 3)),
          heimdall.store.slotExtend(heimdall.concurrencyPrefix + key, slot.holder, leaseMs),
          () => new LockLost({ key, owner: slot.holder })
        )
      })
    )
)

// -----------------------------------------------------------------------------
// only-after
// -----------------------------------------------------------------------------

/**
 * `true` at most once per `period` for a key, atomically across processes;
 * `false` otherwise. For "do this at most once an hour" inside any effect.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const maybeNotify = Effect.gen(function* () {
 *   if (yield* Heimdall.onlyAfter("disk-full-alert", "1 hour")) yield* Effect.log("paging on-call")
 * })
 * ```
 *
 * @category only-after
 * @since 0.1.0
 */
export const onlyAfter = (
  key: string,
  period: Duration.Input
): Effect.Effect<boolean, InvalidArgument | Redis.RedisError, Heimdall> =>
  Effect.gen(function* () {
    yield* checkKey(key)
    const h = yield* Heimdall
    const periodMs = yield* millisOf("period", period, 1)
    return yield* h.store.onlyAfter(`${h.ratePrefix}after:${key}`, periodMs)
  })
