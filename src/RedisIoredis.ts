/**
 * The `Redis` service of `effect/persistence/Redis`, provided by an
 * [ioredis](https://github.com/redis/ioredis) client.
 *
 * Everything in effect-heimdall talks to Redis through that service, so any
 * other implementation of it (your own layer, `NodeRedis` of
 * `@effect/platform-node`) works too. This module is the batteries-included
 * one: it connects eagerly, bounds every wait, comes back by itself after
 * Redis restarts, turns every failure into a typed `RedisError` whose
 * `message` says what failed and why, and closes every connection it opened
 * when the layer's scope closes, so a process exits by itself.
 *
 * **Connecting**
 *
 * The layer opens the shared connection when it is built and fails with
 * `RedisError` if it cannot, naming the target (the URL, its password
 * replaced by `***`, or `host:port`) and the reason: the socket's error
 * (`connect ECONNREFUSED 127.0.0.1:6390`, `getaddrinfo ENOTFOUND ...`),
 * Redis' reply (a wrong password; a database index it refuses, as in
 * `redis://host/99`, instead of silently using database 0), or
 * `connectTimeout`. A `url` that can never work (`notaurl`, `http://...`, a
 * database that is not a number) and a `connectTimeout`/`commandTimeout` that
 * is not a positive duration fail it at once, with an `InvalidArgument` as the
 * `RedisError`'s `cause`. The underlying error is always the `cause` (a socket
 * error keeps its `code`).
 *
 * **Reconnecting**
 *
 * - The shared connection reconnects by itself, forever: after 50, 100, 200,
 *   400 ms, then every 500 ms at most (up to 20% sooner, at random), so the
 *   first command after Redis is back succeeds within about half a second.
 *   A `retryStrategy` option replaces this schedule.
 * - A subscription (`redis.subscribe`) has its own connection, which
 *   reconnects the same way and subscribes again; messages published while it
 *   was away are not delivered (pub/sub has no memory).
 * - A reserved connection (`redis.reserve`) never reconnects while it is in
 *   use: a dropped socket fails its command in flight (a `BLPOP`) at once, and
 *   `Redis.reserve` retires the connection. One that dropped while idle in the
 *   pool reconnects when it is next used.
 *
 * **What fails when** (none of it is retried by this module)
 *
 * - A command sent while the shared connection is re-establishing waits for
 *   it in ioredis' offline queue. If the connection is back within
 *   `commandTimeout`, the command runs then, once. If not, it fails with
 *   `RedisError` ("... dropped unsent") and is removed from the queue: it is
 *   never sent, so it never runs.
 * - A command already sent when the connection drops fails at once
 *   ("... lost before the reply"): Redis may or may not have run it. It is not
 *   sent again after the reconnect.
 * - A command sent that gets no reply within `commandTimeout` (Redis frozen,
 *   busy or partitioned away) fails with `RedisError` ("... it was sent: Redis
 *   may still run it"): Redis may run it later, when it resumes. Make such
 *   writes safe to retry (an enqueue with an id chosen before the call).
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
 * The bounds are measured on the real clock, so a `TestClock` never fires
 * them early or holds them back.
 *
 * @since 0.1.0
 */
import { Cause, Config, Context, Deferred, type Duration, Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import { Redis as IORedis, type RedisOptions } from "ioredis"
import { blockingMillis } from "./internal/blocking.ts"
import { finiteMillis } from "./internal/duration.ts"
import * as validate from "./internal/validate.ts"

/**
 * Options of `RedisIoredis.layer`: every ioredis option (password, `username`
 * for ACL, `tls`, `db`, `retryStrategy`, ...), the pool options of
 * `Redis.reserve`, and the bounds described in the module documentation.
 *
 * Defaults that differ from ioredis': `retryStrategy` reconnects forever, at
 * most 500 ms apart (ioredis backs off to 5 s); `maxRetriesPerRequest` is
 * `null` and `autoResendUnfulfilledCommands` is `false`, since `commandTimeout`
 * bounds every command and a command that was sent is never sent again.
 * `enableAutoPipelining` is best left off (the layer already coalesces
 * writes): a command it holds is not removed from the offline queue on
 * timeout.
 *
 * **Example**
 *
 * ```ts
 * import { RedisIoredis } from "effect-heimdall"
 *
 * const RedisLive = RedisIoredis.layer({
 *   url: "rediss://app:secret@redis.internal:6380/2",
 *   commandTimeout: "2 seconds",
 *   retryStrategy: (attempt) => Math.min(attempt * 100, 2000) // instead of the default
 * })
 * ```
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

/** The default of `connectTimeout` and `commandTimeout`, in milliseconds. */
const defaultTimeout = 5000

/**
 * A `RedisError` whose `message` says what failed and why. Effect's `RedisError`
 * has no message of its own (it prints empty); the underlying error (a socket
 * error with its `code`, Redis' `ReplyError`, a `TimeoutError`,
 * `InvalidArgument`) stays its `cause`.
 */
const redisError = (message: string, cause: unknown): Redis.RedisError => {
  const error = new Redis.RedisError({ cause })
  Object.defineProperty(error, "message", { value: message, writable: true, configurable: true })
  return error
}

/** An error's own message; for an `AggregateError` (one per address tried), theirs. */
const messageOf = (cause: unknown): string =>
  cause instanceof AggregateError && cause.message === ""
    ? cause.errors.map(messageOf).join("; ")
    : cause instanceof Error && cause.message !== ""
      ? cause.message
      : String(cause)

/** The default `retryStrategy`: 50, 100, 200, 400 ms, then every 500 ms forever, each shortened by up to 20% (jitter). */
const reconnectDelay = (attempt: number): number =>
  Math.round(Math.min(25 * 2 ** Math.min(attempt, 5), 500) * (0.8 + Math.random() * 0.2))

/** Rejects the commands a dropped connection had sent and not yet had a reply to. */
class ConnectionLost extends Error {
  constructor(target: string) {
    super(`the connection to ${target} was lost before the reply (Redis may or may not have run the command)`)
    this.name = "ConnectionLost"
  }
}

/** ioredis 6 internals this module relies on (test/RedisIoredis.faults.test.ts fails if they change). */
interface Queued {
  readonly command: { readonly promise: Promise<unknown> }
}
interface Internals {
  /** Commands waiting for the connection (while it connects or reconnects), written once it is ready. */
  readonly offlineQueue?: {
    readonly length: number
    peekAt(i: number): Queued | undefined
    remove(i: number, n: number): unknown
  }
  /** Rejects every queued command; `offlineQueue: false` leaves the commands not yet written. */
  readonly flushQueue?: (error: Error, options?: { offlineQueue?: boolean; commandQueue?: boolean }) => void
}
const internals = (connection: IORedis) => connection as unknown as Internals

/**
 * Removes a command from the offline queue, so that it is never written. `reply`
 * is the promise `call` returned: for a command that went to the offline queue
 * it is the command's own promise. Returns whether the command was found there.
 */
const dropUnsent = (connection: IORedis, reply: Promise<unknown>): boolean => {
  const queue = internals(connection).offlineQueue
  if (queue === undefined) return false
  for (let i = 0; i < queue.length; i++) {
    if (queue.peekAt(i)?.command.promise === reply) {
      queue.remove(i, 1)
      return true
    }
  }
  return false
}

/** Where a connection goes, for messages: the URL without its password, else `host:port` (or the socket path). */
const describeTarget = (url: string | undefined, connection: IORedis): string => {
  if (url !== undefined) return redactUrl(url)
  const { host, port, path } = connection.options
  return path ? String(path) : `${host ?? "localhost"}:${port ?? 6379}`
}

/** `url` with its password, if any, replaced by `***`. */
const redactUrl = (url: string): string => {
  const scheme = url.indexOf("://")
  const at = url.lastIndexOf("@")
  if (scheme === -1 || at < scheme) return url
  const colon = url.indexOf(":", scheme + 3)
  return colon === -1 || colon > at ? url : `${url.slice(0, colon + 1)}***${url.slice(at)}`
}

/** Why `url` can never work, or `undefined` when it may. */
const checkUrl = (url: string): string | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "not a URL (expected redis://[[user]:password@]host[:port][/db], or rediss:// for TLS)"
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    return `unsupported scheme ${parsed.protocol} (expected redis:// or rediss://)`
  }
  if (parsed.hostname === "") return "no host (expected redis://host[:port][/db])"
  const db = parsed.pathname.slice(1)
  if (db !== "" && !/^\d+$/.test(db))
    return `database "${db}" is not a number (expected redis://host[:port]/<db index>)`
  return undefined
}

const invalid = (argument: string, value: unknown, reason: string) => {
  const cause = validate.invalid(argument, value, reason)
  return redisError(cause.message, cause)
}

/** A positive, finite number of milliseconds from a `Duration.Input` option, or why not. */
const positiveMillis = (name: string, input: Duration.Input | undefined, fallback: number) => {
  if (input === undefined) return Effect.succeed(fallback)
  const millis = finiteMillis(input)
  return millis !== undefined && millis > 0
    ? Effect.succeed(millis)
    : Effect.fail(invalid(name, input, "must be a positive, finite duration"))
}

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

/** The error of a command that failed (not timed out): Redis' own reply error, or the connection's. */
const commandFailed = (command: string, target: string, error: unknown): Redis.RedisError =>
  error instanceof Redis.RedisError
    ? error
    : redisError(
        (error as { name?: unknown } | undefined)?.name === "ReplyError"
          ? `Redis command ${command} failed: ${messageOf(error)}`
          : `Redis command ${command} failed on the connection to ${target}: ${messageOf(error)}`,
        error
      )

const sendWith = (connection: IORedis, commandTimeout: number, target: string) => {
  const cork = makeCorker(connection)
  const watchdog = makeWatchdog()
  return <A = unknown>(command: string, ...args: ReadonlyArray<string>): Effect.Effect<A, Redis.RedisError> =>
    Effect.callback<A, Redis.RedisError>((resume) => {
      let reply: Promise<A>
      try {
        cork.before()
        reply = connection.call(command, ...args) as Promise<A>
        cork.after()
      } catch (error) {
        resume(Effect.fail(commandFailed(command, target, error)))
        return
      }
      const blocking = blockingMillis(command, args)
      const bound = blocking === Number.POSITIVE_INFINITY ? undefined : commandTimeout + blocking
      const entry: Pending | undefined =
        bound === undefined
          ? undefined
          : {
              deadline: Date.now() + bound,
              fail: () => {
                // Still in the offline queue (the connection is re-establishing): take it out, so it is never sent.
                const message = dropUnsent(connection, reply)
                  ? `Redis command ${command} had no reply within ${bound} ms: it was still waiting for the connection to ${target}, and it was dropped unsent (it will not run)`
                  : `Redis command ${command} had no reply within ${bound} ms from ${target} (it was sent: Redis may still run it)`
                resume(Effect.fail(redisError(message, new Cause.TimeoutError(message))))
              }
            }
      if (entry !== undefined) watchdog.add(entry)
      reply.then(
        (value) => {
          if (entry !== undefined) watchdog.remove(entry)
          resume(Effect.succeed(value))
        },
        (error) => {
          if (entry !== undefined) watchdog.remove(entry)
          resume(Effect.fail(commandFailed(command, target, error)))
        }
      )
    })
}

/** Whether an error emitted while a connection opened is Redis refusing the `SELECT` of the configured database. */
const refusedSelect = (error: unknown): error is Error & { command: { args: ReadonlyArray<unknown> } } =>
  (error as { name?: unknown } | undefined)?.name === "ReplyError" &&
  (error as { command?: { name?: unknown } }).command?.name === "select"

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
  const connectTimeout = yield* positiveMillis("connectTimeout", connectTimeoutInput, defaultTimeout)
  const commandTimeout = yield* positiveMillis("commandTimeout", commandTimeoutInput, defaultTimeout)
  if (url !== undefined) {
    const reason = checkUrl(url)
    if (reason !== undefined) return yield* invalid("url", redactUrl(url), reason)
  }
  const runFork = Effect.runForkWith(yield* Effect.context<never>())
  const onError = (label: string) => (cause: unknown) =>
    runFork(Effect.logDebug(`effect-heimdall: ioredis ${label} connection error`, cause))

  /**
   * Connects `connection` now, within `connectTimeout`. On failure, stops its
   * reconnect loop (so nothing is left running) and fails with the socket's
   * own error (`ECONNREFUSED`, `ENOTFOUND`, ...) or Redis' reply (a wrong
   * password, a refused database), naming the target.
   */
  const connectNow = (connection: IORedis, target: string) =>
    Effect.callback<IORedis, Redis.RedisError>((resume) => {
      // ioredis reports why a connection failed only as "error" events; its connect() then says "Connection is closed."
      let reason: unknown
      const record = (error: unknown) => {
        reason = error
      }
      connection.on("error", record)
      const failed = (message: string, cause: unknown) => {
        connection.off("error", record)
        connection.disconnect()
        resume(Effect.fail(redisError(message, cause)))
      }
      withDeadline(connection.connect(), connectTimeout, () => `no connection within ${connectTimeout} ms`).then(
        () => {
          // A refused SELECT does not fail ioredis' connect: it would go on with database 0.
          if (refusedSelect(reason)) {
            return failed(
              `Redis at ${target} refused database ${String(reason.command.args[0])}: ${messageOf(reason)}`,
              reason
            )
          }
          connection.off("error", record)
          resume(Effect.succeed(connection))
        },
        (error: unknown) => {
          const cause = error instanceof Cause.TimeoutError || reason === undefined ? error : reason
          const detail =
            error instanceof Cause.TimeoutError && reason !== undefined
              ? `${messageOf(error)} (last error: ${messageOf(reason)})`
              : messageOf(cause)
          failed(`could not connect to Redis at ${target}: ${detail}`, cause)
        }
      )
      // interrupted (the layer's build was): stop connecting
      return Effect.sync(() => {
        connection.off("error", record)
        connection.disconnect()
      })
    })

  /** Rejects at once what a dropped connection had sent (ioredis would re-send it after reconnecting, or hold it). */
  const failInFlightOnClose = (connection: IORedis, target: string) =>
    connection.on("close", () => {
      if (connection.commandQueue.length > 0) {
        internals(connection).flushQueue?.(new ConnectionLost(target), { offlineQueue: false })
      }
    })

  // ioredis 6's constructor types reject its own options under exactOptionalPropertyTypes (replyMapping).
  const base = {
    // reconnect forever, at most 500 ms apart; commands wait in the offline queue meanwhile, bounded by commandTimeout
    retryStrategy: reconnectDelay,
    maxRetriesPerRequest: null,
    autoResendUnfulfilledCommands: false,
    ...ioredisOptions,
    connectTimeout,
    lazyConnect: true
  } as RedisOptions as never
  const shared = yield* Effect.try({
    try: () => (url === undefined ? new IORedis(base) : new IORedis(url, base)),
    catch: (error) => redisError(`invalid Redis connection options: ${messageOf(error)}`, error)
  })
  const target = describeTarget(url, shared)
  const client = yield* Effect.acquireRelease(
    connectNow(failInFlightOnClose(shared.on("error", onError("shared")), target), target),
    (connection) =>
      Effect.promise(() =>
        // QUIT lets pending replies arrive; disconnect whatever is left after the bound.
        withDeadline(connection.quit(), commandTimeout, () => "QUIT timed out")
          .catch(() => undefined)
          .finally(() => connection.disconnect())
      )
  )

  const redis = yield* Redis.make({
    send: sendWith(client, commandTimeout, target),
    // Reserved connections never reconnect by themselves and never queue offline: a dropped
    // socket fails the command in flight at once, and `Redis.reserve` retires the connection.
    // One that dropped while idle in the pool reconnects when it is used next.
    connect: Effect.suspend(() =>
      connectNow(
        client
          .duplicate({ lazyConnect: true, retryStrategy: () => null, enableOfflineQueue: false })
          .on("error", onError("reserved")),
        target
      )
    ).pipe(
      Effect.map((connection) => {
        const send = sendWith(connection, commandTimeout, target)
        return {
          send: <A = unknown>(command: string, ...args: ReadonlyArray<string>) =>
            connection.status === "end"
              ? Effect.andThen(connectNow(connection, target), send<A>(command, ...args))
              : send<A>(command, ...args),
          close: Effect.sync(() => connection.disconnect())
        }
      })
    ),
    pool: { acquireTimeout, idleTimeout, maxConnections, minConnections },
    subscribe: Effect.fnUntraced(function* (channel, onMessage) {
      // One connection per subscription; ioredis re-subscribes it after a reconnect.
      const ended = yield* Deferred.make<void, Redis.RedisError>()
      let closing = false
      yield* Effect.acquireRelease(
        Effect.suspend(() => {
          const subscriber = client.duplicate({ lazyConnect: true })
          subscriber.on("error", onError("subscriber"))
          subscriber.on("message", (from: string, message: string) => {
            if (from === channel) onMessage({ channel: from, message })
          })
          subscriber.on("end", () => {
            if (!closing) {
              const message = `the subscription to ${channel} on ${target} ended: its connection gave up reconnecting`
              Deferred.doneUnsafe(ended, Effect.fail(redisError(message, new Error(message))))
            }
          })
          return connectNow(subscriber, target)
        }).pipe(
          Effect.tap((subscriber) =>
            Effect.tryPromise({
              try: () =>
                withDeadline(subscriber.subscribe(channel), commandTimeout, () => `SUBSCRIBE ${channel} timed out`),
              catch: (error) => commandFailed("SUBSCRIBE", target, error)
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
  // Redis.make's own errors (a reserve that timed out waiting for a pooled connection) have no message: give them one.
  const reserve = Effect.mapError(redis.reserve, (error) =>
    error.message === ""
      ? redisError(`could not reserve a connection to ${target}: ${messageOf(error.cause)}`, error.cause)
      : error
  )
  return Context.make(Client, client).pipe(Context.add(Redis.Redis, { ...redis, reserve }))
})

/**
 * Provides `Redis` (and the raw `Client`) from a URL or from ioredis options.
 * The connection is opened when the layer is built, so a wrong address, a
 * wrong password or a refused database fails the layer with a `RedisError`
 * naming the target and the reason, within `connectTimeout`; every connection
 * is closed when the layer's scope closes. After that, connections come back
 * by themselves when Redis does (see the module documentation).
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
