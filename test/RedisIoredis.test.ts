import { spawn } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Fiber, Layer, Queue } from "effect"
import * as Redis from "effect/persistence/Redis"
import { TestClock } from "effect/testing"
import { InvalidArgument, RedisIoredis } from "../src/index.ts"
import { blockingMillis } from "../src/internal/blocking.ts"
import { describeRedis, keyPrefix, redisLayer, redisUrl } from "./support/redis.ts"
import { freePort, rawCommand, startRedisServer } from "./support/redisServer.ts"

const prefix = keyPrefix(import.meta.url)
const incrBy = Redis.script((key: string, by: number) => [key, by], {
  numberOfKeys: 1,
  lua: `return redis.call("INCRBY", KEYS[1], ARGV[1])`
}).withReturnType<number>()

/** Runs `effect` and returns how long it took on the real clock, with its exit. */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = performance.now()
    const exit = yield* Effect.exit(effect)
    return { exit, ms: performance.now() - start }
  })

/** A redis-server of the test's own (it is paused or stopped), stopped with the test's scope. */
const privateServer = Effect.acquireRelease(
  Effect.promise(() => startRedisServer()),
  (s) => Effect.promise(() => s.stop())
)

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
  assert.isDefined(error, "expected a typed failure, not a defect or interruption")
  return (error as { error: E }).error
}

describe("RedisIoredis: blocking time of a command (internal/blocking.ts)", () => {
  it("reads each blocking command's own timeout", () => {
    assert.strictEqual(blockingMillis("BLPOP", ["a", "b", "1.5"]), 1500)
    assert.strictEqual(blockingMillis("brpop", ["a", "0"]), Number.POSITIVE_INFINITY)
    assert.strictEqual(blockingMillis("BLMOVE", ["a", "b", "LEFT", "RIGHT", "2"]), 2000)
    assert.strictEqual(blockingMillis("BLMPOP", ["3", "1", "a", "LEFT"]), 3000)
    assert.strictEqual(blockingMillis("XREAD", ["BLOCK", "250", "STREAMS", "s", "$"]), 250)
    assert.strictEqual(blockingMillis("XREAD", ["COUNT", "1", "STREAMS", "s", "$"]), 0)
    assert.strictEqual(blockingMillis("WAIT", ["1", "100"]), 100)
    assert.strictEqual(blockingMillis("GET", ["a"]), 0)
  })
})

describeRedis("RedisIoredis", () => {
  layer(redisLayer(), { excludeTestServices: true, timeout: "20 seconds" })("on the shared test server", (it) => {
    it.effect("sends plain commands and returns their replies", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        assert.strictEqual(yield* redis.send<string>("SET", `${prefix}greeting`, "hello", "PX", "60000"), "OK")
        assert.strictEqual(yield* redis.send<string | null>("GET", `${prefix}greeting`), "hello")
        const ttl = yield* redis.send<number>("PTTL", `${prefix}greeting`)
        assert.isTrue(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`)
        assert.strictEqual(yield* redis.send<number>("DEL", `${prefix}greeting`), 1)
        assert.isNull(yield* redis.send<string | null>("GET", `${prefix}greeting`))
      })
    )

    it.effect("a wrong command fails with a typed RedisError carrying Redis' message", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        const error = yield* redis.send("NOT-A-COMMAND").pipe(Effect.flip)
        assert.strictEqual(error._tag, "RedisError")
        assert.match(String(error.cause), /unknown command/i)
        assert.match(error.message, /^Redis command NOT-A-COMMAND failed: ERR unknown command/)
      })
    )

    it.effect("runs a Lua script by EVALSHA, also after SCRIPT FLUSH", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        const incr = redis.eval(incrBy)
        const key = `${prefix}counter`
        assert.strictEqual(yield* incr(key, 5), 5)
        assert.strictEqual(yield* incr(key, 2), 7)
        yield* redis.send("SCRIPT", "FLUSH")
        assert.strictEqual(yield* incr(key, 1), 8)
        yield* redis.send("DEL", key)
      })
    )

    it.effect("delivers pub/sub messages to a subscription until its scope closes", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        const channel = `${prefix}events`
        yield* Effect.scoped(
          Effect.gen(function* () {
            const messages = yield* redis.subscribe(channel)
            assert.strictEqual(yield* redis.send<number>("PUBLISH", channel, "job-1 done"), 1)
            assert.deepStrictEqual(yield* Queue.take(messages), { channel, message: "job-1 done" })
          })
        )
        // the subscriber connection is gone with its scope
        assert.strictEqual(yield* redis.send<number>("PUBLISH", channel, "nobody"), 0)
      })
    )

    it.effect("a blocking command on a reserved connection leaves the shared one free", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        const list = `${prefix}jobs`
        const result = yield* Effect.scoped(
          Effect.gen(function* () {
            const connection = yield* redis.reserve
            const waiter = yield* Effect.forkChild(connection.send<[string, string] | null>("BLPOP", list, "5"))
            // while BLPOP blocks, the shared connection keeps answering
            for (let i = 0; i < 20; i++) assert.strictEqual(yield* redis.send<string>("PING"), "PONG")
            assert.isUndefined(waiter.pollUnsafe())
            yield* redis.send("RPUSH", list, "job-42")
            return yield* Fiber.join(waiter)
          })
        )
        assert.deepStrictEqual(result, [list, "job-42"])
      })
    )

    it.effect("a reserve that waits longer than acquireTimeout fails with a message", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        const error = yield* Effect.scoped(
          Effect.gen(function* () {
            yield* redis.reserve // the only connection, held
            return yield* Effect.flip(Effect.scoped(redis.reserve))
          })
        )
        assert.strictEqual(error._tag, "RedisError")
        assert.match(
          error.message,
          /^could not reserve a connection to redis:\/\/127\.0\.0\.1:\d+: Timed out waiting for a reserved Redis connection$/
        )
      }).pipe(Effect.provide(redisLayer({ maxConnections: 1, acquireTimeout: 100 })))
    )

    it.effect("a blocking command may block longer than commandTimeout", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        const { exit, ms } = yield* timed(
          Effect.scoped(Effect.flatMap(redis.reserve, (c) => c.send("BLPOP", `${prefix}never`, "1")))
        )
        // the bound is the block (1 s) plus commandTimeout: 300 ms of slack for the reply on a loaded machine (100 ms
        // was once too little in CI: 550 ms for a 400 ms block)
        assert.deepStrictEqual(exit, Exit.succeed(null))
        assert.isAtLeast(ms, 950)
      }).pipe(Effect.provide(redisLayer({ commandTimeout: 300 })))
    )
  })

  it.effect("the command bound runs on the real clock: TestClock moves do not fail a command in flight", () =>
    Effect.gen(function* () {
      const redis = yield* Redis.Redis
      const blocked = yield* Effect.forkChild(
        Effect.scoped(Effect.flatMap(redis.reserve, (c) => c.send("BLPOP", `${prefix}tc`, "0.3")))
      )
      yield* TestClock.adjust("1 hour")
      yield* redis.send("PING")
      assert.isNull(yield* Fiber.join(blocked))
    }).pipe(Effect.provide(redisLayer({ commandTimeout: 100 })))
  )

  it.live("an address where nothing listens fails the layer with RedisError at once", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const { exit, ms } = yield* timed(Effect.provide(Redis.Redis, RedisIoredis.layer(`redis://127.0.0.1:${port}`)))
      assert.strictEqual(failureOf(exit)._tag, "RedisError")
      assert.isBelow(ms, 2000)
    })
  )

  it.live("a server that accepts but never answers fails the layer within connectTimeout", () =>
    Effect.gen(function* () {
      const sockets = new Set<net.Socket>()
      const silent = net.createServer((socket) => void sockets.add(socket))
      const port = yield* Effect.acquireRelease(
        Effect.promise(
          () =>
            new Promise<number>((resolve) =>
              silent.listen(0, "127.0.0.1", () => resolve((silent.address() as net.AddressInfo).port))
            )
        ),
        () =>
          Effect.promise(() => {
            for (const s of sockets) s.destroy()
            return new Promise<void>((resolve) => silent.close(() => resolve()))
          })
      )
      const { exit, ms } = yield* timed(
        Effect.provide(Redis.Redis, RedisIoredis.layer(`redis://127.0.0.1:${port}`, { connectTimeout: 300 }))
      )
      const error = failureOf(exit)
      assert.strictEqual(error._tag, "RedisError")
      assert.match(String(error.cause), /within 300 ms/)
      assert.isAtLeast(ms, 250)
      assert.isBelow(ms, 1500)
    })
  )

  it.live("a paused server fails a command with RedisError after commandTimeout", () =>
    Effect.gen(function* () {
      const server = yield* privateServer
      const error = yield* Effect.gen(function* () {
        const redis = yield* Redis.Redis
        yield* redis.send("CLIENT", "PAUSE", "1500", "ALL")
        const { exit, ms } = yield* timed(redis.send("GET", "x"))
        assert.isAtLeast(ms, 250)
        assert.isBelow(ms, 1200)
        return failureOf(exit)
      }).pipe(Effect.provide(RedisIoredis.layer(server.url, { commandTimeout: 300 })))
      assert.strictEqual(error._tag, "RedisError")
      assert.match(String(error.cause), /no reply within 300 ms/)
    })
  )

  it.live("each command in flight fails at its own deadline (one timer per connection, re-armed)", () =>
    Effect.gen(function* () {
      const server = yield* privateServer
      yield* Effect.gen(function* () {
        const redis = yield* Redis.Redis
        yield* redis.send("CLIENT", "PAUSE", "2000", "ALL")
        const start = performance.now()
        const failedAt = (command: Effect.Effect<unknown, Redis.RedisError>) =>
          Effect.forkChild(Effect.flip(command).pipe(Effect.map((error) => ({ error, ms: performance.now() - start }))))
        const first = yield* failedAt(redis.send("GET", "a"))
        const second = yield* failedAt(redis.send("GET", "b"))
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 250)))
        const third = yield* failedAt(redis.send("GET", "c"))
        const [a, b, c] = yield* Fiber.joinAll([first, second, third])
        for (const { error } of [a!, b!, c!]) assert.match(String(error.cause), /no reply within 400 ms/)
        // the first two are due at 400 ms, the third at 650 ms: not before its own deadline, nor long after
        assert.isAtLeast(a!.ms, 390)
        assert.isAtLeast(b!.ms, 390)
        assert.isBelow(Math.max(a!.ms, b!.ms), 640)
        assert.isAtLeast(c!.ms, 640)
        assert.isBelow(c!.ms, 1500)
      }).pipe(Effect.provide(RedisIoredis.layer(server.url, { commandTimeout: 400 })))
    })
  )

  it.live("a server stopped mid-run fails commands, and a blocked BLPOP, with RedisError instead of hanging", () =>
    Effect.gen(function* () {
      const server = yield* privateServer
      yield* Effect.gen(function* () {
        const redis = yield* Redis.Redis
        assert.strictEqual(yield* redis.send<string>("PING"), "PONG")
        const blocked = yield* Effect.forkChild(
          Effect.scoped(Effect.flatMap(redis.reserve, (c) => c.send("BLPOP", "jobs", "0")).pipe(Effect.exit))
        )
        yield* Effect.sleep("50 millis")
        yield* Effect.promise(() => server.stop())
        const { exit, ms } = yield* timed(redis.send("PING"))
        assert.strictEqual(failureOf(exit)._tag, "RedisError")
        assert.isBelow(ms, 1500)
        const blockedExit = yield* Fiber.join(blocked)
        assert.strictEqual(failureOf(blockedExit)._tag, "RedisError")
      }).pipe(Effect.provide(RedisIoredis.layer(server.url, { commandTimeout: 500 })))
    })
  )

  it.live("a process using every kind of connection exits by itself when the layer's scope closes", () =>
    Effect.promise(
      () =>
        new Promise<void>((resolve, reject) => {
          const script = fileURLToPath(new URL("./fixtures/shutdown.ts", import.meta.url))
          const child = spawn(process.execPath, [script], {
            env: { ...process.env, REDIS_URL: redisUrl, KEY_PREFIX: prefix },
            stdio: ["ignore", "pipe", "pipe"]
          })
          let output = ""
          child.stdout.on("data", (d) => (output += d))
          child.stderr.on("data", (d) => (output += d))
          const killer = setTimeout(() => {
            child.kill("SIGKILL")
            reject(new Error(`the process did not exit by itself within 8 s; output:\n${output}`))
          }, 8000)
          child.on("exit", (code) => {
            clearTimeout(killer)
            try {
              assert.strictEqual(code, 0, output)
              assert.include(output, "done: PONG job-1 [subscribed]")
              resolve()
            } catch (error) {
              reject(error)
            }
          })
        })
    )
  )
})

describeRedis("RedisIoredis.layerConfig", () => {
  it.effect("reads the URL from REDIS_URL through Config", () =>
    Effect.gen(function* () {
      const redis = yield* Redis.Redis
      assert.strictEqual(yield* redis.send<string>("PING"), "PONG")
    }).pipe(
      Effect.provide(
        RedisIoredis.layerConfig().pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ REDIS_URL: redisUrl })))
        )
      )
    )
  )

  it.effect("a wrong REDIS_URL fails with RedisError, not a hang", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const error = yield* Effect.flip(
        Effect.provide(
          Redis.Redis,
          RedisIoredis.layerConfig({ connectTimeout: 500 }).pipe(
            Layer.provide(
              ConfigProvider.layer(ConfigProvider.fromEnvRecord({ REDIS_URL: `redis://127.0.0.1:${port}` }))
            )
          )
        )
      )
      assert.strictEqual(error._tag, "RedisError")
      assert.include(error.message, `redis://127.0.0.1:${port}`)
      assert.include(error.message, "ECONNREFUSED")
    })
  )
})

/** The error of building the layer with these arguments (it must fail with a typed error). */
const layerError = (urlOrOptions: string | RedisIoredis.Options, options?: RedisIoredis.Options) =>
  Effect.gen(function* () {
    const { exit } = yield* timed(Effect.provide(Redis.Redis, RedisIoredis.layer(urlOrOptions, options)))
    const error = failureOf(exit)
    assert.strictEqual(error._tag, "RedisError")
    assert.notStrictEqual(error.message, "")
    return error
  })

describe("RedisIoredis: errors that say what and why", () => {
  it.live("a closed port: the URL and ECONNREFUSED, the socket error as the cause", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const error = yield* layerError(`redis://127.0.0.1:${port}`)
      assert.strictEqual(
        error.message,
        `could not connect to Redis at redis://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`
      )
      assert.strictEqual((error.cause as { code?: unknown }).code, "ECONNREFUSED")
    })
  )

  it.live("a closed port given as options: host:port", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const error = yield* layerError({ host: "127.0.0.1", port })
      assert.match(error.message, new RegExp(`^could not connect to Redis at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`))
    })
  )

  it.live("an unknown host: the host and ENOTFOUND", () =>
    Effect.gen(function* () {
      const error = yield* layerError("redis://no-such-host.invalid:6379", { connectTimeout: 3000 })
      assert.include(error.message, "could not connect to Redis at redis://no-such-host.invalid:6379: ")
      assert.match(error.message, /ENOTFOUND no-such-host\.invalid/)
    })
  )

  it.live("a password in the URL is never printed", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const error = yield* layerError(`redis://app:s3cret@127.0.0.1:${port}`)
      assert.include(error.message, `redis://app:***@127.0.0.1:${port}`)
      assert.notInclude(error.message, "s3cret")
      const invalid = yield* layerError("http://app:s3cret@127.0.0.1:1")
      assert.notInclude(invalid.message, "s3cret")
    })
  )

  it.live("not a URL: InvalidArgument naming the url, before any connection", () =>
    Effect.gen(function* () {
      const error = yield* layerError("notaurl")
      assert.match(error.message, /^invalid url = "notaurl": not a URL \(expected redis:\/\//)
      const cause = error.cause as InvalidArgument
      assert.instanceOf(cause, InvalidArgument)
      assert.strictEqual(cause.argument, "url")
    })
  )

  it.live("another scheme: unsupported scheme http:", () =>
    Effect.gen(function* () {
      const { exit, ms } = yield* timed(Effect.provide(Redis.Redis, RedisIoredis.layer("http://127.0.0.1:1")))
      const error = failureOf(exit)
      assert.strictEqual(
        error.message,
        'invalid url = "http://127.0.0.1:1": unsupported scheme http: (expected redis:// or rediss://)'
      )
      assert.isBelow(ms, 500) // nothing was tried
    })
  )

  it.live("a database that is not a number", () =>
    Effect.gen(function* () {
      const error = yield* layerError("redis://127.0.0.1:6379/db1")
      assert.include(error.message, 'database "db1" is not a number')
    })
  )

  it.live("a timeout that is not a positive duration: InvalidArgument naming the option and the value", () =>
    Effect.gen(function* () {
      const bad = yield* layerError("redis://127.0.0.1:6379", { commandTimeout: "5 potatoes" as never })
      assert.strictEqual(bad.message, 'invalid commandTimeout = "5 potatoes": must be a positive, finite duration')
      const zero = yield* layerError("redis://127.0.0.1:6379", { connectTimeout: 0 })
      assert.strictEqual(zero.message, "invalid connectTimeout = 0: must be a positive, finite duration")
    })
  )
})

describeRedis("RedisIoredis: the database index and the password", () => {
  it.live('a wrong password fails the layer with Redis\' reply, not "Connection is closed."', () =>
    Effect.gen(function* () {
      const server = yield* privateServer
      assert.strictEqual(yield* Effect.promise(() => rawCommand(server.port, "CONFIG SET requirepass right")), "+OK")
      const error = yield* layerError({ host: "127.0.0.1", port: server.port, password: "wrong" })
      assert.match(
        error.message,
        new RegExp(`^could not connect to Redis at 127\\.0\\.0\\.1:${server.port}: WRONGPASS`)
      )
      assert.notInclude(error.message, "right")
      const pong = yield* Effect.provide(
        Effect.flatMap(Redis.Redis, (redis) => redis.send<string>("PING")),
        RedisIoredis.layer({ host: "127.0.0.1", port: server.port, password: "right" })
      )
      assert.strictEqual(pong, "PONG")
    })
  )

  it.live("a database the server refuses fails the layer with the index and Redis' reply (URL and option)", () =>
    Effect.gen(function* () {
      const fromUrl = yield* layerError(`${redisUrl}/99`)
      assert.strictEqual(fromUrl.message, `Redis at ${redisUrl}/99 refused database 99: ERR DB index is out of range`)
      const fromOption = yield* layerError(redisUrl, { db: 99 })
      assert.strictEqual(fromOption.message, `Redis at ${redisUrl} refused database 99: ERR DB index is out of range`)
    })
  )

  it.live("a database the server accepts is used (URL and option)", () =>
    Effect.gen(function* () {
      const cases = [
        [RedisIoredis.layer(`${redisUrl}/3`), "db=3"],
        [RedisIoredis.layer(redisUrl, { db: 4 }), "db=4"]
      ] as const
      for (const [layer, db] of cases) {
        const info = yield* Effect.provide(
          Effect.flatMap(Redis.Redis, (redis) => redis.send<string>("CLIENT", "INFO")),
          layer
        )
        assert.include(info.split(" "), db)
      }
    })
  )
})
