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
 * **Durability**
 *
 * With `durability: { replicas, timeout }` (`Heimdall.Options`), the writes
 * that must survive a failover send `WAIT replicas timeout` right behind
 * their script: this layer writes both on its shared connection in the same
 * tick (one round trip; the `WAIT` covers the script), bounded by
 * `commandTimeout` plus the `WAIT`'s timeout.
 *
 * @since 0.1.0
 */
import { Cause, Config, Context, Deferred, type Duration, Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import {
  Redis as IORedis,
  Cluster as IORedisCluster,
  type ClusterOptions as IORedisClusterOptions,
  Command as IORedisCommand,
  type RedisOptions
} from "ioredis"
import { blockingMillis } from "./internal/blocking.ts"
import { finiteMillis } from "./internal/duration.ts"
import { type SendThenWait, withSendThenWait } from "./internal/script.ts"
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

/**
 * `Redis.make`'s `subscribe`, on one connection per subscription (`open` makes it, with its message and error
 * listeners still to add; `connect` connects it within the connect timeout): the subscription fails once its
 * connection gives up reconnecting, and ends with UNSUBSCRIBE first when connected (once it is answered, no
 * PUBLISH reaches this subscriber). Shared by the single-server and the cluster layer.
 */
const subscribeOn =
  <S extends IORedis | IORedisCluster>(options: {
    readonly open: () => S
    readonly connect: (subscriber: S) => Effect.Effect<S, Redis.RedisError>
    readonly target: string
    readonly commandTimeout: number
  }) =>
  (channel: string, onMessage: (message: Redis.RedisMessage) => void) =>
    Effect.gen(function* () {
      const { target, commandTimeout } = options
      const ended = yield* Deferred.make<void, Redis.RedisError>()
      let closing = false
      yield* Effect.acquireRelease(
        Effect.suspend(() => {
          const subscriber = options.open()
          subscriber.on("message", (from: string, message: string) => {
            if (from === channel) onMessage({ channel: from, message })
          })
          subscriber.on("end", () => {
            if (!closing) {
              const message = `the subscription to ${channel} on ${target} ended: its connection gave up reconnecting`
              Deferred.doneUnsafe(ended, Effect.fail(redisError(message, new Error(message))))
            }
          })
          return options.connect(subscriber)
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
          const unsubscribed =
            subscriber.status === "ready"
              ? withDeadline(subscriber.unsubscribe(channel), commandTimeout, () => "UNSUBSCRIBE timed out")
              : Promise.resolve()
          return Effect.promise(() => unsubscribed.catch(() => undefined).finally(() => subscriber.disconnect()))
        }
      )
      return Deferred.await(ended)
    })

/** `Redis.make`'s own errors (a reserve that timed out waiting for a pooled connection) have no message: one. */
const reserveWithMessage = (redis: Redis.Redis["Service"], target: string) =>
  Effect.mapError(redis.reserve, (error) =>
    error.message === ""
      ? redisError(`could not reserve a connection to ${target}: ${messageOf(error.cause)}`, error.cause)
      : error
  )

const sendWith = (connection: IORedis, commandTimeout: number, target: string) => {
  const cork = makeCorker(connection)
  const watchdog = makeWatchdog()
  const send = <A = unknown>(command: string, ...args: ReadonlyArray<string>): Effect.Effect<A, Redis.RedisError> =>
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
  /**
   * `command`, then `WAIT replicas timeoutMillis` written right behind it on this connection (one write when
   * others are in flight; never after awaiting the first reply): both replies, or the command's error. Bounded
   * by `commandTimeout` plus WAIT's own timeout.
   */
  const thenWait: SendThenWait = <A>(
    command: string,
    args: ReadonlyArray<string>,
    replicas: number,
    timeoutMillis: number
  ) =>
    Effect.callback<readonly [A, number], Redis.RedisError>((resume) => {
      let reply: Promise<A>
      let waited: Promise<number>
      try {
        cork.before()
        reply = connection.call(command, ...args) as Promise<A>
        waited = connection.call("WAIT", String(replicas), String(timeoutMillis)) as Promise<number>
        cork.after()
      } catch (error) {
        resume(Effect.fail(commandFailed(command, target, error)))
        return
      }
      const bound = commandTimeout + timeoutMillis
      const entry: Pending = {
        deadline: Date.now() + bound,
        fail: () => {
          const dropped = dropUnsent(connection, reply)
          dropUnsent(connection, waited)
          const message = dropped
            ? `Redis command ${command} had no reply within ${bound} ms: it was still waiting for the connection to ${target}, and it was dropped unsent (it will not run)`
            : `Redis command ${command} (and its WAIT) had no reply within ${bound} ms from ${target} (it was sent: Redis may still run it)`
          resume(Effect.fail(redisError(message, new Cause.TimeoutError(message))))
        }
      }
      watchdog.add(entry)
      Promise.all([reply, waited]).then(
        (both) => {
          watchdog.remove(entry)
          resume(Effect.succeed(both))
        },
        (error) => {
          watchdog.remove(entry)
          resume(Effect.fail(commandFailed(command, target, error)))
        }
      )
    })
  return Object.assign(send, { thenWait })
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

  const sharedSend = sendWith(client, commandTimeout, target)
  const redis = yield* Redis.make({
    send: sharedSend,
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
    // One connection per subscription; ioredis re-subscribes it after a reconnect.
    subscribe: subscribeOn({
      open: () => client.duplicate({ lazyConnect: true }).on("error", onError("subscriber")),
      connect: (subscriber) => connectNow(subscriber, target),
      target,
      commandTimeout
    })
  })
  return Context.make(Client, client).pipe(
    Context.add(
      Redis.Redis,
      withSendThenWait({ ...redis, reserve: reserveWithMessage(redis, target) }, sharedSend.thenWait)
    )
  )
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

// ---------------------------------------------------------------------------------------------------------------
// Redis Cluster
// ---------------------------------------------------------------------------------------------------------------

/**
 * Options of `RedisIoredis.layerCluster`: every option of ioredis' `Cluster`
 * (`redisOptions` for what each node connection uses: `password`,
 * `username`, `tls`, ...; `natMap`, `scaleReads`, ...), the pool options of
 * `Redis.reserve`, and the same bounds as `layer`.
 *
 * **Example**
 *
 * ```ts
 * import { RedisIoredis } from "effect-heimdall"
 *
 * const RedisLive = RedisIoredis.layerCluster(["10.0.0.1:6379", "10.0.0.2:6379"], {
 *   commandTimeout: "2 seconds",
 *   redisOptions: { password: "secret" }
 * })
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export interface ClusterOptions extends Omit<IORedisClusterOptions, "lazyConnect" | "redisOptions">, Redis.PoolOptions {
  /** What every node connection uses (password, username, tls, ...). */
  readonly redisOptions?: Omit<RedisOptions, "replyMapping" | "lazyConnect" | "connectTimeout" | "commandTimeout">
  /** How long connecting to the cluster (reading its slots) may take. Default: 5 seconds. */
  readonly connectTimeout?: Duration.Input | undefined
  /** How long a command may wait for its reply (plus its own blocking time). Default: 5 seconds. */
  readonly commandTimeout?: Duration.Input | undefined
}

/**
 * The shared ioredis `Cluster` client behind `layerCluster`, for the rare
 * command the `Redis` service cannot express. Closed with the layer.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RedisIoredis } from "effect-heimdall"
 *
 * const masters = Effect.map(RedisIoredis.ClusterClient, (cluster) => cluster.nodes("master").length)
 * ```
 *
 * @category services
 * @since 0.2.0
 */
export class ClusterClient extends Context.Service<ClusterClient, IORedisCluster>()(
  "effect-heimdall/RedisIoredis/ClusterClient"
) {}

/** A seed node, checked: `host:port`, `redis://host:port` (or `rediss://`), a port, or `{ host, port }`. */
const checkNode = (node: unknown): { readonly host: string; readonly port: number } | string => {
  if (typeof node === "number") {
    return Number.isInteger(node) && node > 0 && node < 65536 ? { host: "127.0.0.1", port: node } : "not a port"
  }
  if (typeof node === "string") {
    const withScheme = /^[a-z]+:\/\//i.test(node) ? node : `redis://${node}`
    const reason = checkUrl(withScheme)
    if (reason !== undefined) return reason
    const parsed = new URL(withScheme)
    return { host: parsed.hostname.replace(/^\[|\]$/g, ""), port: parsed.port === "" ? 6379 : Number(parsed.port) }
  }
  if (node !== null && typeof node === "object") {
    const { host, port } = node as { host?: unknown; port?: unknown }
    if (host !== undefined && (typeof host !== "string" || host === "")) return "host must be a non-empty string"
    if (port !== undefined && !(typeof port === "number" && Number.isInteger(port) && port > 0 && port < 65536)) {
      return "port must be an integer from 1 to 65535"
    }
    return { host: (host as string | undefined) ?? "127.0.0.1", port: (port as number | undefined) ?? 6379 }
  }
  return "expected host:port, redis://host:port or { host, port }"
}

/** A node's `host:port`, as ioredis keys its nodes (`cluster.slots` holds these). */
const nodeKeyOf = (node: IORedis) => `${node.options.host}:${node.options.port}`

/**
 * A reserved connection on a cluster: it opens a plain connection to the master that owns the slot of the first
 * keyed command sent on it (a `BLPOP` on a queue's keys), and moves to another master when a later command's keys
 * live there. `CLIENT ID` answers a token (`cluster-reserved:<n>`) that the shared connection's
 * `CLIENT UNBLOCK <token>` resolves to the right node and client id, wherever the connection is.
 */
interface ClusterReservation {
  pinned: { readonly node: string; readonly connection: IORedis; readonly id: string } | undefined
  /** A command is being sent (possibly still opening the node connection). */
  sending: boolean
  /** An UNBLOCK arrived while the command was still on its way: unblock it once it is written. */
  unblockPending: boolean
}

const makeClusterLive = Effect.fnUntraced(function* (
  nodes: ReadonlyArray<string | number | { readonly host?: string; readonly port?: number }>,
  options: ClusterOptions
) {
  const {
    connectTimeout: connectTimeoutInput,
    commandTimeout: commandTimeoutInput,
    acquireTimeout,
    idleTimeout,
    maxConnections,
    minConnections,
    redisOptions,
    ...clusterOptions
  } = options
  const connectTimeout = yield* positiveMillis("connectTimeout", connectTimeoutInput, defaultTimeout)
  const commandTimeout = yield* positiveMillis("commandTimeout", commandTimeoutInput, defaultTimeout)
  if (!Array.isArray(nodes) || nodes.length === 0) {
    return yield* invalid("nodes", nodes, "at least one node of the cluster is needed (host:port)")
  }
  const seeds: Array<{ readonly host: string; readonly port: number }> = []
  for (const node of nodes) {
    const checked = checkNode(node)
    if (typeof checked === "string") {
      return yield* invalid("nodes", typeof node === "string" ? redactUrl(node) : node, checked)
    }
    seeds.push(checked)
  }
  const target = `the Redis Cluster at ${seeds.map((s) => `${s.host}:${s.port}`).join(", ")}`
  const runFork = Effect.runForkWith(yield* Effect.context<never>())
  const onError = (label: string) => (cause: unknown) =>
    runFork(Effect.logDebug(`effect-heimdall: ioredis cluster ${label} connection error`, cause))

  /** Connects a cluster client within `connectTimeout` (its slots read), or fails naming the seeds and the reason. */
  const connectCluster = (cluster: IORedisCluster) =>
    Effect.callback<IORedisCluster, Redis.RedisError>((resume) => {
      let reason: unknown
      const record = (error: unknown) => {
        reason = error
      }
      cluster.on("error", record)
      cluster.on("node error", record)
      const done = () => {
        cluster.off("error", record)
        cluster.off("node error", record)
      }
      withDeadline(cluster.connect(), connectTimeout, () => `no connection within ${connectTimeout} ms`).then(
        () => {
          done()
          resume(Effect.succeed(cluster))
        },
        (error: unknown) => {
          done()
          cluster.disconnect()
          const detail =
            reason !== undefined && reason !== error
              ? `${messageOf(error)} (last error: ${messageOf(reason)})`
              : messageOf(error)
          resume(Effect.fail(redisError(`could not connect to ${target}: ${detail}`, reason ?? error)))
        }
      )
      return Effect.sync(() => {
        done()
        cluster.disconnect()
      })
    })

  const cluster = yield* Effect.try({
    try: () =>
      new IORedisCluster(seeds, {
        clusterRetryStrategy: reconnectDelay,
        ...clusterOptions,
        lazyConnect: true,
        redisOptions: {
          retryStrategy: reconnectDelay,
          maxRetriesPerRequest: null,
          autoResendUnfulfilledCommands: false,
          ...redisOptions,
          connectTimeout
        } as RedisOptions as never
      }),
    catch: (error) => redisError(`invalid Redis Cluster options: ${messageOf(error)}`, error)
  })
  const client = yield* Effect.acquireRelease(
    connectCluster(cluster.on("error", onError("shared")) as IORedisCluster),
    (connection) =>
      Effect.promise(() =>
        withDeadline(connection.quit(), commandTimeout, () => "QUIT timed out")
          .catch(() => undefined)
          .finally(() => connection.disconnect())
      )
  )
  const watchdog = makeWatchdog()

  /** Runs `call` (a command on the cluster or one node), bounded like every command of `layer`. */
  const bounded = <A>(
    command: string,
    args: ReadonlyArray<string>,
    where: string,
    call: () => Promise<A>,
    drop: (reply: Promise<A>) => boolean,
    blocking: number = blockingMillis(command, args)
  ): Effect.Effect<A, Redis.RedisError> =>
    Effect.callback<A, Redis.RedisError>((resume) => {
      let reply: Promise<A>
      try {
        reply = call()
      } catch (error) {
        resume(Effect.fail(commandFailed(command, where, error)))
        return
      }
      const bound = blocking === Number.POSITIVE_INFINITY ? undefined : commandTimeout + blocking
      const entry: Pending | undefined =
        bound === undefined
          ? undefined
          : {
              deadline: Date.now() + bound,
              fail: () => {
                const message = drop(reply)
                  ? `Redis command ${command} had no reply within ${bound} ms: it was still waiting for ${where}, and it was dropped unsent (it will not run)`
                  : `Redis command ${command} had no reply within ${bound} ms from ${where} (it may have been sent: Redis may still run it)`
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
          if (/^(MOVED|ASK|CLUSTERDOWN)/.test(messageOf(error))) client.refreshSlotsCache()
          resume(Effect.fail(commandFailed(command, where, error)))
        }
      )
    })

  /** Through the cluster client: routed by the command's keys (keyless: any master). */
  const viaCluster = <A>(command: string, args: ReadonlyArray<string>) =>
    bounded<A>(
      command,
      args,
      target,
      () => client.call(command, ...args) as Promise<A>,
      (reply) => dropUnsent(client as unknown as IORedis, reply)
    )
  /** On one node of the cluster (its connection of the shared client). */
  const onNode = <A>(node: IORedis, command: string, args: ReadonlyArray<string>) =>
    bounded<A>(
      command,
      args,
      `the Redis node ${nodeKeyOf(node)}`,
      () => node.call(command, ...args) as Promise<A>,
      (reply) => dropUnsent(node, reply)
    )

  /**
   * `command` and `WAIT replicas timeoutMillis` as one pipeline, which ioredis sends to the master of the
   * command's keys' slot (a WAIT alone would go to any node): the WAIT counts the replicas of the master that ran
   * the command. A `MOVED` (the slot moved or failed over, so the command did not run) reads the slots again and
   * sends both to the new master, up to three times.
   */
  const thenWait: SendThenWait = <A>(
    command: string,
    args: ReadonlyArray<string>,
    replicas: number,
    timeoutMillis: number
  ) => {
    const once = bounded<readonly [A, number]>(
      command,
      args,
      target,
      () =>
        client
          .pipeline()
          .call(command, ...args)
          .call("WAIT", String(replicas), String(timeoutMillis))
          .exec()
          .then((results) => {
            const [first, wait] = results ?? []
            if (first === undefined || wait === undefined) throw new Error("the pipeline was discarded")
            if (first[0]) throw first[0]
            if (wait[0]) throw wait[0]
            return [first[1] as A, Number(wait[1])] as const
          }),
      () => false,
      timeoutMillis
    )
    const refreshed = Effect.callback<void>((resume) => {
      client.refreshSlotsCache(() => resume(Effect.void))
    })
    const attempt = (left: number): Effect.Effect<readonly [A, number], Redis.RedisError> =>
      Effect.catchIf(
        once,
        (error) => left > 0 && /^(MOVED|ASK) /.test(messageOf(error.cause)),
        () => Effect.andThen(refreshed, attempt(left - 1))
      )
    return attempt(3)
  }

  /** The masters, each with the lowest slot it serves, in slot order (a SCAN walks them in this order). */
  const masters = () => {
    const first = new Map<string, number>()
    client.slots.forEach((owners, slot) => {
      const owner = owners?.[0]
      if (owner !== undefined && !first.has(owner)) first.set(owner, slot)
    })
    const byKey = new Map(client.nodes("master").map((node) => [nodeKeyOf(node), node]))
    return [...first]
      .flatMap(([key, slot]) => {
        const node = byKey.get(key)
        return node === undefined ? [] : [{ slot, node }]
      })
      .sort((a, b) => a.slot - b.slot)
  }
  const noMasters = (command: string) =>
    redisError(`Redis command ${command} failed: ${target} has no master known yet (slots not read)`, undefined)

  /**
   * SCAN across every master: the cursor `<slot>:<cursor>` is the node cursor on the master that serves `<slot>`
   * (its lowest one), and moves to the next master when that node's scan ends; `0` starts and ends the walk.
   */
  const scan = <A>(args: ReadonlyArray<string>) =>
    Effect.suspend(() => {
      const list = masters()
      if (list.length === 0) return Effect.fail(noMasters("SCAN"))
      const [cursor = "0", ...rest] = args
      const match = /^(\d+):(\d+)$/.exec(cursor)
      if (cursor !== "0" && match === null) {
        return Effect.fail(invalid("SCAN cursor", cursor, "not a cursor of this cluster connection (<slot>:<cursor>)"))
      }
      const slot = match === null ? list[0]!.slot : Number(match[1])
      const index = Math.max(
        0,
        list.findIndex((m) => m.slot >= slot)
      )
      const here = list[index]!
      return Effect.map(
        onNode<[string, Array<string>]>(here.node, "SCAN", [match === null ? "0" : match[2]!, ...rest]),
        ([next, keys]) => {
          const after = list[index + 1]
          const composite = next !== "0" ? `${here.slot}:${next}` : after === undefined ? "0" : `${after.slot}:0`
          return [composite, keys] as unknown as A
        }
      )
    })

  /** A SCRIPT subcommand on every master (LOAD answers the SHA-1, EXISTS whether each script is on all of them). */
  const scriptEverywhere = <A>(args: ReadonlyArray<string>) =>
    Effect.suspend(() => {
      const list = masters()
      if (list.length === 0) return Effect.fail(noMasters("SCRIPT"))
      return Effect.map(
        Effect.forEach(list, (m) => onNode<unknown>(m.node, "SCRIPT", args), { concurrency: "unbounded" }),
        (replies) =>
          (String(args[0]).toUpperCase() === "EXISTS"
            ? (replies[0] as Array<number>).map((_, i) =>
                replies.every((r) => Number((r as Array<number>)[i]) === 1) ? 1 : 0
              )
            : replies[0]) as A
      )
    })

  const reservations = new Map<string, ClusterReservation>()
  let nextReservation = 0

  /** `CLIENT UNBLOCK <token>` of a reserved connection: sent to its node with its client id. */
  const unblock = <A>(token: string, rest: ReadonlyArray<string>) =>
    Effect.suspend(() => {
      const reservation = reservations.get(token)
      if (reservation === undefined) return Effect.succeed(0 as A)
      const pinned = reservation.pinned
      if (pinned === undefined || (reservation.sending && !pinned.connection.commandQueue.length)) {
        if (!reservation.sending) return Effect.succeed(0 as A)
        reservation.unblockPending = true
        return Effect.succeed(1 as A)
      }
      const node = client.nodes("master").find((n) => nodeKeyOf(n) === pinned.node)
      return node === undefined ? Effect.succeed(0 as A) : onNode<A>(node, "CLIENT", ["UNBLOCK", pinned.id, ...rest])
    })

  const send = <A = unknown>(command: string, ...args: ReadonlyArray<string>): Effect.Effect<A, Redis.RedisError> => {
    const upper = command.length <= 6 ? command.toUpperCase() : ""
    if (upper === "SCAN") return scan<A>(args)
    if (upper === "SCRIPT" && /^(LOAD|FLUSH|EXISTS)$/i.test(args[0] ?? "")) return scriptEverywhere<A>(args)
    if (upper === "CLIENT" && /^UNBLOCK$/i.test(args[0] ?? "") && reservations.has(args[1] ?? "")) {
      return unblock<A>(args[1]!, args.slice(2))
    }
    return viaCluster<A>(command, args)
  }

  /** A reserved connection (see `ClusterReservation`). */
  const reserveOne = () => {
    const token = `cluster-reserved:${++nextReservation}`
    const reservation: ClusterReservation = { pinned: undefined, sending: false, unblockPending: false }
    reservations.set(token, reservation)
    const unpin = () => {
      reservation.pinned?.connection.disconnect()
      reservation.pinned = undefined
    }
    /** The connection to the master of `slot`: the current one, or a new one (its CLIENT ID read). */
    const pinTo = (slot: number) =>
      Effect.suspend(() => {
        const owner = client.slots[slot]?.[0]
        if (owner === undefined) {
          return Effect.fail(
            redisError(`no master of ${target} serves slot ${slot} (the cluster is not ready)`, undefined)
          )
        }
        if (reservation.pinned?.node === owner && reservation.pinned.connection.status !== "end") {
          return Effect.succeed(reservation.pinned)
        }
        unpin()
        const node = client.nodes("master").find((n) => nodeKeyOf(n) === owner)
        if (node === undefined) return Effect.fail(redisError(`the master ${owner} of ${target} is unknown`, undefined))
        const where = `the Redis node ${owner}`
        const connection = node
          .duplicate({ lazyConnect: true, retryStrategy: () => null, enableOfflineQueue: false })
          .on("error", onError("reserved"))
        return withConnect(connection, where).pipe(
          Effect.flatMap(() => sendWith(connection, commandTimeout, where)<number>("CLIENT", "ID")),
          Effect.map((id) => {
            const pinned = { node: owner, connection, id: String(id) }
            reservation.pinned = pinned
            return pinned
          }),
          Effect.tapError(() => Effect.sync(() => connection.disconnect()))
        )
      })
    const sendReserved = <A = unknown>(
      command: string,
      ...args: ReadonlyArray<string>
    ): Effect.Effect<A, Redis.RedisError> => {
      if (/^CLIENT$/i.test(command) && /^ID$/i.test(args[0] ?? "")) return Effect.succeed(token as A)
      const parsed = new IORedisCommand(command, [...args])
      const keyed = parsed.getKeys().length > 0
      const pinned = keyed ? pinTo(parsed.getSlot()) : Effect.succeed(reservation.pinned)
      return Effect.suspend(() => {
        reservation.sending = true
        reservation.unblockPending = false
        return Effect.flatMap(pinned, (at) => {
          if (at === undefined) return viaCluster<A>(command, args)
          const sent = sendWith(at.connection, commandTimeout, `the Redis node ${at.node}`)<A>(command, ...args)
          return Effect.suspend(() => {
            if (reservation.unblockPending) {
              // the deadline passed while the node connection was opening: unblock once the command is written
              setTimeout(() => runFork(Effect.ignore(unblock(token, []))), 5)
            }
            return sent
          })
        }).pipe(
          Effect.tapError((error) =>
            Effect.sync(() => {
              // the slot moved, or the node stopped being its master (a failover): read the slots again, and
              // let the next command open a connection to the slot's master then
              if (/MOVED|ASK|CLUSTERDOWN|UNBLOCKED|READONLY/.test(messageOf(error))) {
                unpin()
                client.refreshSlotsCache()
              }
            })
          ),
          Effect.ensuring(
            Effect.sync(() => {
              reservation.sending = false
            })
          )
        )
      })
    }
    return {
      send: sendReserved,
      close: Effect.sync(() => {
        reservations.delete(token)
        unpin()
      })
    }
  }

  /** Connects a node connection now, within `connectTimeout`, or fails naming the node. */
  const withConnect = (connection: IORedis, where: string) =>
    Effect.tryPromise({
      try: () => withDeadline(connection.connect(), connectTimeout, () => `no connection within ${connectTimeout} ms`),
      catch: (error) => redisError(`could not connect to ${where}: ${messageOf(error)}`, error)
    })

  const redis = yield* Redis.make({
    send,
    connect: Effect.sync(reserveOne),
    pool: { acquireTimeout, idleTimeout, maxConnections, minConnections },
    // One cluster subscriber per subscription: classic pub/sub reaches every node, and ioredis moves the
    // subscription to another node (subscribing again) when its node fails.
    subscribe: subscribeOn({
      open: () => client.duplicate([], { lazyConnect: true }).on("error", onError("subscriber")),
      connect: connectCluster,
      target,
      commandTimeout
    })
  })
  return Context.make(ClusterClient, client).pipe(
    Context.add(Redis.Redis, withSendThenWait({ ...redis, reserve: reserveWithMessage(redis, target) }, thenWait))
  )
})

/**
 * Provides `Redis` (and the raw `ClusterClient`) from a Redis Cluster, given
 * one or more of its nodes (the others are found from them). Every queue's
 * keys share its hash tag (`{<queue>}`), so a queue lives on one master; locks
 * and limits spread over the masters by their keys. The layer makes the
 * cluster look like one server to the library:
 *
 * - commands go to the master of their keys' slot, and follow `MOVED` after a
 *   slot migration or a failover (ioredis reads the slots again);
 * - `SCRIPT LOAD` (and `FLUSH`, `EXISTS`) runs on every master, so a script
 *   loaded once runs on any of them; a master promoted by a failover answers
 *   `NOSCRIPT` once, and the script is loaded again;
 * - `SCAN` walks every master in turn, with a cursor of its own
 *   (`<slot>:<node cursor>`), so `Inspector` and `Admin` see every key;
 * - a reserved connection (`redis.reserve`, for an idle worker's `BLPOP`)
 *   opens a connection to the master of its command's keys, and its
 *   `CLIENT ID`/`CLIENT UNBLOCK` reach that node;
 * - a subscription follows its node's failure to another node (classic
 *   pub/sub: a `PUBLISH` on any node reaches every subscriber);
 * - with `durability` (`Heimdall.Options`), a script and its `WAIT` go as
 *   one pipeline to the master of the script's keys, so the `WAIT` counts
 *   that master's replicas (sent again to the new master after a `MOVED`).
 *
 * Options, timeouts and errors are those of `layer`: an invalid node or
 * timeout fails with a `RedisError` whose `cause` is an `InvalidArgument`
 * naming it; a cluster that cannot be reached fails within `connectTimeout`
 * naming the nodes given. Several rate limits checked in one call must share a
 * hash slot: see the README, "Redis Cluster".
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { Heimdall, RedisIoredis } from "effect-heimdall"
 *
 * const HeimdallLive = Heimdall.layerRedis({ queue: "emails" }).pipe(
 *   Layer.provide(RedisIoredis.layerCluster(["redis-1:6379", "redis-2:6379", "redis-3:6379"]))
 * )
 * ```
 *
 * @category layers
 * @since 0.2.0
 */
export const layerCluster = (
  nodes: ReadonlyArray<string | number | { readonly host?: string; readonly port?: number }>,
  options: ClusterOptions = {}
): Layer.Layer<Redis.Redis | ClusterClient, Redis.RedisError> => Layer.effectContext(makeClusterLive(nodes, options))

/**
 * Like `layerCluster`, reading the nodes from `REDIS_CLUSTER_NODES` through
 * Effect's `Config`: a comma-separated list of `host:port` (or
 * `redis://host:port`), e.g. `10.0.0.1:6379,10.0.0.2:6379`.
 *
 * **Example**
 *
 * ```ts
 * import { RedisIoredis } from "effect-heimdall"
 *
 * // REDIS_CLUSTER_NODES=redis-1:6379,redis-2:6379
 * const RedisLive = RedisIoredis.layerClusterConfig({ commandTimeout: "2 seconds" })
 * ```
 *
 * @category layers
 * @since 0.2.0
 */
export const layerClusterConfig = (
  options?: ClusterOptions
): Layer.Layer<Redis.Redis | ClusterClient, Redis.RedisError | Config.ConfigError> =>
  Layer.unwrap(
    Effect.map(Config.String("REDIS_CLUSTER_NODES"), (list) =>
      layerCluster(
        list
          .split(",")
          .map((node) => node.trim())
          .filter((node) => node !== ""),
        options
      )
    )
  )
