/**
 * effect-heimdall as a benchmark peer: a producer runtime (queue, primitives,
 * and Effect's own RateLimiter on the same `Redis` service) and workers that
 * each have their own Redis connections, as separate processes would.
 */
import { Effect, Exit, Layer, ManagedRuntime, Metric, Result, Schema, Scope } from "effect"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as Redis from "effect/persistence/Redis"
import { Redis as IORedis } from "ioredis"
import * as Heimdall from "../../src/Heimdall.ts"
import * as RedisIoredis from "../../src/RedisIoredis.ts"
import * as Task from "../../src/Task.ts"
import * as Worker from "../../src/Worker.ts"

export const queuePrefix = "hq"

export const Noop = Task.make("bench-noop", { payload: Schema.Struct({ n: Schema.Number }) })

/**
 * Unique tasks (issue 5): `Task.make(name, { payload, unique: true })`.
 * `undefined` while `src/Task.ts` does not support the option yet.
 */
export const NoopUnique: typeof Noop | undefined = (() => {
  try {
    const task = (Task.make as (name: string, options: object) => typeof Noop)("bench-noop", {
      payload: Schema.Struct({ n: Schema.Number }),
      unique: true
    })
    const unique = (task.settings as unknown as Record<string, unknown>).unique
    return unique === undefined || unique === false ? undefined : task
  } catch {
    return undefined
  }
})()

/**
 * Rate-limited tasks (issue 5): `Task.make(name, { payload, rateLimit })`, applied by the worker.
 * `undefined` while `src/Task.ts` does not support the option yet.
 */
export const makeRateLimited = (times: number, per: string, jitter?: string): typeof Noop | undefined => {
  try {
    const task = (Task.make as (name: string, options: object) => typeof Noop)("bench-noop", {
      payload: Schema.Struct({ n: Schema.Number }),
      rateLimit: jitter === undefined ? { times, per } : { times, per, jitter }
    })
    return (task.settings as unknown as Record<string, unknown>).rateLimit === undefined ? undefined : task
  } catch {
    return undefined
  }
}

export const queueOptions = (queue: string) => ({ queue, queuePrefix, retention: "1 day" }) as const

export const makeProducer = (url: string, queue: string) => {
  const layer = Layer.mergeAll(
    Heimdall.layerRedis({
      queue,
      queuePrefix,
      lockPrefix: "bench-lock:",
      ratePrefix: "bench-rate:",
      concurrencyPrefix: "bench-sem:"
    }),
    RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreRedis({ prefix: "bench-erl:" })))
  ).pipe(Layer.provideMerge(RedisIoredis.layer(url)))
  return ManagedRuntime.make(layer)
}
export type Producer = ReturnType<typeof makeProducer>

export const enqueue = (n: number) => Task.enqueue(Noop, { n })
export const enqueueDelayed = (n: number, delayMillis: number) => Task.enqueue(Noop, { n }, { delay: delayMillis })
export const enqueueUnique = (n: number) => Task.enqueue(NoopUnique ?? Noop, { n })

/**
 * A unique task whose key is `u<n>`, the id the BullMQ peer gives `deduplication` (`addUnique`): the like-for-like
 * of BullMQ's deduplication, where `NoopUnique`'s key is the default (the task name and a hash of the payload).
 */
export const NoopUniqueKeyed = Task.make("bench-noop", {
  payload: Schema.Struct({ n: Schema.Number }),
  unique: { key: ({ n }: { readonly n: number }) => `u${n}` }
})
export const enqueueUniqueKeyed = (n: number) => Task.enqueue(NoopUniqueKeyed, { n })

/** `Task.enqueueAll` of one task per number; succeeds with how many were created. */
export const enqueueAll = (ns: ReadonlyArray<number>) =>
  Effect.map(
    Task.enqueueAll(
      Noop,
      ns.map((n) => ({ n }))
    ),
    (results) => results.filter(Result.isSuccess).length
  )

/** Runs `make(i)` for i in 0..count-1, 50 in flight. */
export const prefillWith = <A, E, R>(make: (i: number) => Effect.Effect<A, E, R>, count: number) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i),
    make,
    { concurrency: 50, discard: true }
  )

/** Fills the queue with `count` tasks, 50 in flight (not timed). */
export const prefill = (producer: Producer, count: number) => producer.runPromise(prefillWith(enqueue, count))

export interface RunningWorker {
  readonly stop: () => Promise<void>
}

/**
 * A worker with its own Redis connections. `onStart` runs at the start of
 * each handler; `handler` (default: nothing) is the task's body.
 */
export const startWorker = async (
  url: string,
  queue: string,
  concurrency: number,
  onStart: (n: number) => void,
  wrap: <A, E, R>(body: Effect.Effect<A, E, R>) => Effect.Effect<A, any, any> = (body) => body,
  extraLayer?: Layer.Layer<any, any, any>,
  task: typeof Noop = Noop
): Promise<RunningWorker> => {
  const NoopLive = Task.implement(task, ({ n }) => wrap(Effect.sync(() => onStart(n))) as Effect.Effect<void>)
  const redisLayer = RedisIoredis.layer(url)
  const base = Worker.layer({ tasks: [NoopLive], concurrency }).pipe(
    Layer.provide(Heimdall.layerRedis(queueOptions(queue)))
  )
  const layer = (extraLayer ? base.pipe(Layer.provide(extraLayer)) : base).pipe(Layer.provide(redisLayer))
  const scope = Scope.makeUnsafe()
  await Effect.runPromise(Layer.buildWithScope(layer as Layer.Layer<never>, scope))
  return { stop: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/**
 * How many `bench-noop` tasks the workers of this process completed so far (`Task.metrics.succeeded`, counted once
 * a completion call returned: what BullMQ's `completed` event tells its harness). Costs the worker nothing extra,
 * unlike `awaitFinished`'s subscriber (about 9 µs of this process' CPU per message, measured).
 */
export const succeededSoFar = (): number =>
  Number(
    Effect.runSync(
      Effect.map(Metric.value(Metric.withAttributes(Task.metrics.succeeded, { task: Noop.name })), (s) => s.count)
    )
  )

/** Resolves after `count` tasks of `queue` reached a terminal state (the `:events` channel). */
export const awaitFinished = async (url: string, queue: string, count: number) => {
  const sub = new IORedis(url)
  let seen = 0
  let resolve!: () => void
  const done = new Promise<void>((r) => {
    resolve = r
  })
  sub.on("message", () => {
    if (++seen === count) resolve()
  })
  await sub.subscribe(`${queuePrefix}:{${queue}}:events`)
  return {
    done: done.then(() => sub.disconnect()),
    cancel: () => sub.disconnect()
  }
}

// primitives
export const lockPair = (w: number) =>
  Effect.flatMap(Heimdall.acquireLock(`lock:${w}`, { ttl: "30 seconds" }), Heimdall.releaseLock)
export const take = Heimdall.take("take", { times: 1_000_000_000, per: "1 second" })
export const effectRateLimiterConsume = Effect.gen(function* () {
  const limiter = yield* RateLimiter.RateLimiter
  return yield* limiter.consume({ key: "consume", limit: 1_000_000_000, window: "1 second" })
})
export const rawSend = (command: string, ...args: Array<string>) =>
  Effect.gen(function* () {
    const redis = yield* Redis.Redis
    return yield* redis.send(command, ...args)
  })
