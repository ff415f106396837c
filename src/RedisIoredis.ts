/**
 * The `Redis` service of `effect/persistence/Redis`, provided by an
 * [ioredis](https://github.com/redis/ioredis) client.
 *
 * Everything in effect-heimdall talks to Redis through that service, so any
 * other implementation of it (your own layer, `NodeRedis` of
 * `@effect/platform-node`) works too. This module is the batteries-included
 * one: it connects eagerly, bounds every wait, turns every failure into a
 * typed `RedisError`, and closes every connection it opened when the layer's
 * scope closes, so a process exits by itself.
 *
 * **Timeouts**
 *
 * - `connectTimeout` (default 5 seconds): opening a connection, including the
 *   first one when the layer is built, fails with `RedisError` after it.
 * - `commandTimeout` (default 5 seconds): a command that has no reply after
 *   it fails with `RedisError`, whether Redis is slow, unreachable, or the
 *   connection is re-establishing. A blocking command (`BLPOP`, `BRPOP`,
 *   `BLMOVE`, `BRPOPLPUSH`, `BZPOPMIN`, `BZPOPMAX`, `BLMPOP`, `BZMPOP`,
 *   `XREAD`/`XREADGROUP` with `BLOCK`, `WAIT`, `WAITAOF`) gets its own
 *   blocking time on top; one that blocks forever (timeout `0`) is bounded
 *   only by its connection, which fails it when the socket drops.
 *
 * Like any network request, a command that timed out may still have been
 * executed by Redis. The bounds are measured on the real clock, so a
 * `TestClock` never fires them early or holds them back.
 *
 * @since 0.1.0
 */
import { Cause, Config, Context, Deferred, Duration, Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import { Redis as IORedis, type RedisOptions } from "ioredis"

/**
 * Options of `RedisIoredis.layer`: every ioredis option (password, `username`
 * for ACL, `tls`, `db`, `retryStrategy`, ...), the pool options of
 * `Redis.reserve`, and the bounds described in the module documentation.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options
  extends Omit<RedisOptions, "replyMapping" | "lazyConnect" | "connectTimeout" | "commandTimeout">,
    Redis.PoolOptions {
  /** A `redis://` or `rediss://` (TLS) URL; credentials in the URL are used. */
  readonly url?: string | undefined
  /** How long opening a connection may take. Default: 5 seconds. */
  readonly connectTimeout?: Duration.Input | undefined
  /** How long a command may wait for its reply (plus its own blocking time). Default: 5 seconds. */
  readonly commandTimeout?: Duration.Input | undefined
}

/**
 * The shared ioredis client behind the layer, for the rare command the
 * `Redis` service cannot express. Closed with the layer.
 *
 * @category services
 * @since 0.1.0
 */
export class Client extends Context.Service<Client, IORedis>()("effect-heimdall/RedisIoredis/Client") {}

/** The default of `connectTimeout` and `commandTimeout`. */
const defaultTimeout = Duration.seconds(5)

const toError = (cause: unknown) => (cause instanceof Redis.RedisError ? cause : new Redis.RedisError({ cause }))

/** Races a promise against a real-time deadline (never the Effect `Clock`, which tests may control). */
const withDeadline = <A>(promise: Promise<A>, millis: number | undefined, message: () => string): Promise<A> =>
  millis === undefined
    ? promise
    : new Promise<A>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Cause.TimeoutError(message())), millis)
        promise.then(
          (value) => {
            clearTimeout(timer)
            resolve(value)
          },
          (error) => {
            clearTimeout(timer)
            reject(error)
          }
        )
      })

const seconds = (arg: string | undefined): number | undefined => {
  const n = Number(arg)
  return Number.isFinite(n) && n >= 0 ? n * 1000 : undefined
}
const millis = (arg: string | undefined): number | undefined => {
  const n = Number(arg)
  return Number.isFinite(n) && n >= 0 ? n : undefined
}

/**
 * How long a command may block on the server by its own arguments, in
 * milliseconds; `Infinity` for "forever", `0` for a command that never blocks.
 */
export const blockingMillis = (command: string, args: ReadonlyArray<string>): number => {
  // every blocking command starts with B, W or X: the rest (most traffic) returns at once
  const first = command.charCodeAt(0) | 0x20
  if (first !== 0x62 && first !== 0x77 && first !== 0x78) return 0
  const forever = (ms: number | undefined) => (ms === 0 ? Number.POSITIVE_INFINITY : (ms ?? 0))
  switch (command.toUpperCase()) {
    case "BLPOP":
    case "BRPOP":
    case "BLMOVE":
    case "BRPOPLPUSH":
    case "BZPOPMIN":
    case "BZPOPMAX":
      return forever(seconds(args[args.length - 1]))
    case "BLMPOP":
    case "BZMPOP":
      return forever(seconds(args[0]))
    case "WAIT":
      return forever(millis(args[1]))
    case "WAITAOF":
      return forever(millis(args[2]))
    case "XREAD":
    case "XREADGROUP": {
      const at = args.findIndex((a) => a.toUpperCase() === "BLOCK")
      return at === -1 ? 0 : forever(millis(args[at + 1]))
    }
    default:
      return 0
  }
}

/**
 * Coalesces socket writes, a few commands at a time. ioredis writes every
 * command to the socket at once, one system call each. With other commands
 * already awaiting their replies, the next ones are corked and leave together
 * in one `writev`: after `corkBatch` commands, or at the end of the current
 * tick (`process.nextTick`, before any I/O), whichever comes first. A lone
 * command (nothing in flight) is written at once, so a sequential caller
 * waits for nothing.
 *
 * The batch is small on purpose: Redis starts on the first commands while the
 * client prepares the next ones. Corking a whole tick's burst saved client
 * CPU but left Redis idle until the burst was written: measured with 50
 * in flight, `Heimdall.take` ran at 36k ops/s corking the whole tick, 63k
 * without corking, and 68–81k with batches of 4 to 16; draining tasks at
 * worker concurrency 10 and 50 was fastest with 4.
 */
const corkBatch = 4

const makeCorker = (connection: IORedis) => {
  let corked: IORedis["stream"] | undefined
  let count = 0
  const uncork = () => {
    const stream = corked
    corked = undefined
    count = 0
    stream?.uncork()
  }
  return {
    /** Before a command is written: cork the socket if others are in flight and it is not corked yet. */
    before: () => {
      if (corked !== undefined || connection.commandQueue.length === 0) return
      const stream = connection.stream
      if (stream === undefined || !stream.writable) return
      corked = stream
      stream.cork()
      process.nextTick(uncork)
    },
    /** After a command is written: send the batch once it is full. */
    after: () => {
      if (corked !== undefined && ++count >= corkBatch) uncork()
    }
  }
}

/** A command awaiting its reply, with the real time by which it must have one. */
interface Pending {
  readonly deadline: number
  readonly fail: () => void
}

/**
 * Bounds every command of one connection with one real-time timer (never the
 * Effect `Clock`, which tests may control), not a timer per command: arming and
 * clearing a timer per command cost 4–13 µs of client CPU per sequential
 * enqueue (measured). The timer is armed for the earliest deadline; a reply
 * only drops its entry, and a timer that finds nothing due re-arms for the
 * earliest remaining deadline, or stops when nothing is in flight. It keeps
 * the process alive only while a command is in flight (as a timer per command
 * did), so a process whose work is done exits at once.
 */
const makeWatchdog = () => {
  const pending = new Set<Pending>()
  let timer: ReturnType<typeof setTimeout> | undefined
  let armedFor = Number.POSITIVE_INFINITY
  const arm = (at: number) => {
    if (timer !== undefined) clearTimeout(timer)
    armedFor = at
    timer = setTimeout(fire, Math.max(0, at - Date.now()))
  }
  const fire = () => {
    timer = undefined
    armedFor = Number.POSITIVE_INFINITY
    const now = Date.now()
    let next = Number.POSITIVE_INFINITY
    for (const entry of pending) {
      if (entry.deadline <= now) {
        pending.delete(entry)
        entry.fail()
      } else if (entry.deadline < next) next = entry.deadline
    }
    if (next !== Number.POSITIVE_INFINITY) arm(next)
  }
  return {
    add: (entry: Pending) => {
      pending.add(entry)
      if (entry.deadline < armedFor) arm(entry.deadline)
      else if (pending.size === 1) timer?.ref()
    },
    remove: (entry: Pending) => {
      if (pending.delete(entry) && pending.size === 0) timer?.unref()
    }
  }
}

const sendWith = (connection: IORedis, commandTimeout: number) => {
  const cork = makeCorker(connection)
  const watchdog = makeWatchdog()
  return <A = unknown>(command: string, ...args: ReadonlyArray<string>): Effect.Effect<A, Redis.RedisError> =>
    Effect.callback<A, Redis.RedisError>((resume) => {
      const blocking = blockingMillis(command, args)
      const bound = blocking === Number.POSITIVE_INFINITY ? undefined : commandTimeout + blocking
      const entry: Pending | undefined =
        bound === undefined
          ? undefined
          : {
              deadline: Date.now() + bound,
              fail: () =>
                resume(
                  Effect.fail(
                    toError(new Cause.TimeoutError(`Redis command ${command} had no reply within ${bound} ms`))
                  )
                )
            }
      try {
        cork.before()
        const reply = connection.call(command, ...args) as Promise<A>
        cork.after()
        if (entry !== undefined) watchdog.add(entry)
        reply.then(
          (value) => {
            if (entry !== undefined) watchdog.remove(entry)
            resume(Effect.succeed(value))
          },
          (error) => {
            if (entry !== undefined) watchdog.remove(entry)
            resume(Effect.fail(toError(error)))
          }
        )
      } catch (error) {
        resume(Effect.fail(toError(error)))
      }
    })
}

const makeLive = Effect.fnUntraced(function* (options: Options) {
  const {
    url,
    connectTimeout: connectTimeoutInput,
    commandTimeout: commandTimeoutInput,
    acquireTimeout,
    idleTimeout,
    maxConnections,
    minConnections,
    ...ioredisOptions
  } = options
  const connectTimeout = Duration.toMillis(Duration.fromInputUnsafe(connectTimeoutInput ?? defaultTimeout))
  const commandTimeout = Duration.toMillis(Duration.fromInputUnsafe(commandTimeoutInput ?? defaultTimeout))
  const runFork = Effect.runForkWith(yield* Effect.context<never>())
  const onError = (label: string) => (cause: unknown) =>
    runFork(Effect.logDebug(`effect-heimdall: ioredis ${label} connection error`, cause))

  /** Opens a connection now; on failure stops its reconnect loop so nothing is left running. */
  const open = (make: () => IORedis) =>
    Effect.tryPromise({
      try: () => {
        const connection = make()
        return withDeadline(
          connection.connect().then(() => connection),
          connectTimeout,
          () => `could not connect to Redis within ${connectTimeout} ms`
        ).catch((error) => {
          connection.disconnect()
          throw error
        })
      },
      catch: toError
    })

  // ioredis 6's constructor types reject its own options under exactOptionalPropertyTypes (replyMapping).
  const base = { ...ioredisOptions, connectTimeout, lazyConnect: true } as RedisOptions as never
  const client = yield* Effect.acquireRelease(
    open(() => (url === undefined ? new IORedis(base) : new IORedis(url, base)).on("error", onError("shared"))),
    (connection) =>
      Effect.promise(() =>
        // QUIT lets pending replies arrive; disconnect whatever is left after the bound.
        withDeadline(connection.quit(), commandTimeout, () => "QUIT timed out")
          .catch(() => undefined)
          .finally(() => connection.disconnect())
      )
  )

  const redis = yield* Redis.make({
    send: sendWith(client, commandTimeout),
    // Reserved connections never reconnect and never queue offline: a dropped
    // socket fails the command in flight, and `Redis.reserve` retires the connection.
    connect: open(() =>
      client
        .duplicate({ lazyConnect: true, retryStrategy: () => null, enableOfflineQueue: false })
        .on("error", onError("reserved"))
    ).pipe(
      Effect.map((connection) => ({
        send: sendWith(connection, commandTimeout),
        close: Effect.sync(() => connection.disconnect())
      }))
    ),
    pool: { acquireTimeout, idleTimeout, maxConnections, minConnections },
    subscribe: Effect.fnUntraced(function* (channel, onMessage) {
      // One connection per subscription; ioredis re-subscribes it after a reconnect.
      const ended = yield* Deferred.make<void, Redis.RedisError>()
      let closing = false
      yield* Effect.acquireRelease(
        open(() => {
          const subscriber = client.duplicate({ lazyConnect: true })
          subscriber.on("error", onError("subscriber"))
          subscriber.on("message", (from: string, message: string) => {
            if (from === channel) onMessage({ channel: from, message })
          })
          subscriber.on("end", () => {
            if (!closing) {
              Deferred.doneUnsafe(ended, Effect.fail(toError(new Error(`subscription to ${channel} ended`))))
            }
          })
          return subscriber
        }).pipe(
          Effect.tap((subscriber) =>
            Effect.tryPromise({
              try: () =>
                withDeadline(subscriber.subscribe(channel), commandTimeout, () => `SUBSCRIBE ${channel} timed out`),
              catch: toError
            }).pipe(Effect.tapError(() => Effect.sync(() => subscriber.disconnect())))
          )
        ),
        (subscriber) => {
          closing = true
          // UNSUBSCRIBE first when connected: once it is answered, no PUBLISH reaches this subscriber.
          const unsubscribed =
            subscriber.status === "ready"
              ? withDeadline(subscriber.unsubscribe(channel), commandTimeout, () => "UNSUBSCRIBE timed out")
              : Promise.resolve()
          return Effect.promise(() => unsubscribed.catch(() => undefined).finally(() => subscriber.disconnect()))
        }
      )
      return Deferred.await(ended)
    })
  })
  return Context.make(Client, client).pipe(Context.add(Redis.Redis, redis))
})

/**
 * Provides `Redis` (and the raw `Client`) from a URL or from ioredis options.
 * The connection is opened when the layer is built, so a wrong address fails
 * the layer with `RedisError` within `connectTimeout`; every connection is
 * closed when the layer's scope closes.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Redis from "effect/persistence/Redis"
 * import { RedisIoredis } from "effect-heimdall"
 *
 * const program = Effect.gen(function* () {
 *   const redis = yield* Redis.Redis
 *   return yield* redis.send<string>("PING")
 * })
 *
 * program.pipe(Effect.provide(RedisIoredis.layer("redis://127.0.0.1:6379")), Effect.runPromise)
 * // or: RedisIoredis.layer({ host: "redis.internal", port: 6380, password: "...", tls: {} })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  urlOrOptions: string | Options = {},
  options?: Options
): Layer.Layer<Redis.Redis | Client, Redis.RedisError> =>
  Layer.effectContext(makeLive(typeof urlOrOptions === "string" ? { ...options, url: urlOrOptions } : urlOrOptions))

/**
 * Like `layer`, reading the URL from `REDIS_URL` through Effect's `Config`
 * (default `redis://127.0.0.1:6379`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RedisIoredis } from "effect-heimdall"
 *
 * const RedisLive = RedisIoredis.layerConfig({ commandTimeout: "2 seconds" })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  options?: Omit<Options, "url">
): Layer.Layer<Redis.Redis | Client, Redis.RedisError | Config.ConfigError> =>
  Layer.unwrap(
    Effect.map(Config.String("REDIS_URL").pipe(Config.withDefault("redis://127.0.0.1:6379")), (url) =>
      layer({ ...options, url })
    )
  )
