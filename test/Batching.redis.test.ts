// Batched enqueues on Redis, against a private redis-server (its INFO commandstats count this file's calls only, and
// it is blocked and killed mid-batch): concurrent enqueues go as one script call, each caller with its own result;
// a lone enqueue is sent at once; a failed call fails each of its callers with a typed error.
import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Result, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import { Heimdall, RedisIoredis, Task, TaskQueue } from "../src/index.ts"
import { hasRedis } from "./support/redis.ts"
import { type RedisServer, startRedisServer } from "./support/redisServer.ts"

/** A redis-server of the file's own, stopped with the test's scope. */
const privateServer = Effect.acquireRelease(
  Effect.promise(() => startRedisServer()),
  (s) => Effect.promise(() => s.stop())
)

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const Plain = Task.make("plain", { payload: Schema.Number })
const Once = Task.make("once", { payload: Schema.Number, unique: true })

/** Every command this process sends through the `Redis` service, as sent (the real service underneath). */
const recording = (sent: Array<ReadonlyArray<string>>, onSend?: (command: ReadonlyArray<string>) => void) =>
  Layer.effect(
    Redis.Redis,
    Effect.gen(function* () {
      const redis = yield* Redis.Redis
      return {
        ...redis,
        send: <A>(command: string, ...args: ReadonlyArray<string>) => {
          sent.push([command, ...args])
          onSend?.(sent[sent.length - 1]!)
          return redis.send<A>(command, ...args)
        }
      }
    })
  )

/** The backend on `server` (queue `queue`), its `Redis` service recording into `sent`. */
const backend = (
  server: RedisServer,
  queue: string,
  sent: Array<ReadonlyArray<string>>,
  options?: Heimdall.Options,
  onSend?: (command: ReadonlyArray<string>) => void
) =>
  Heimdall.layerRedis({ ...options, queue }).pipe(
    Layer.provideMerge(recording(sent, onSend)),
    Layer.provideMerge(RedisIoredis.layer(server.url, { commandTimeout: 5000 }))
  )

/** A command's calls on the server so far (INFO commandstats: scripts' own commands count too). */
const calls = (command: string) =>
  Effect.gen(function* () {
    const redis = yield* Redis.Redis
    const info = yield* redis.send<string>("INFO", "commandstats")
    const found = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)
    return found ? Number(found[1]) : 0
  })

describe.skipIf(!hasRedis)("Batched enqueues (redis)", () => {
  it.live(
    "50 concurrent enqueues go as 4 script calls (two sent at once, then the 48 gathered meanwhile in calls of at most 25), each with its own id, claimed in order",
    () =>
      Effect.gen(function* () {
        const server = yield* privateServer
        const sent: Array<ReadonlyArray<string>> = []
        yield* Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const before = yield* calls("evalsha")
          const from = sent.length
          const ids = Array.from({ length: 50 }, (_, i) => `c${i}`)
          const handles = yield* Effect.forEach(ids, (id, i) => Task.enqueue(Plain, i, { id }), {
            concurrency: "unbounded"
          })
          assert.deepStrictEqual(
            handles.map((h) => h.id),
            ids
          )
          const used = (yield* calls("evalsha")) - before
          assert.strictEqual(used, 4, `script calls for 50 concurrent enqueues: ${used}`)
          // two lone calls (the single-task script), then the gathered 48 in calls of 25 and 23 (each batch call's
          // task count is its ARGV list's length, after the 4 scalars)
          const evals = sent.slice(from).filter((c) => c[0] === "EVALSHA")
          assert.strictEqual(evals.length, 4)
          assert.deepStrictEqual(
            evals.slice(2).map((c) => Number(c[2 + Number(c[2]) + 5])),
            [25, 23]
          )
          assert.strictEqual((yield* queue.counts).byName.plain?.queued, 50)
          const claimed = yield* queue.claim({ token: "t", leaseMillis: 10_000, max: 50 })
          assert.deepStrictEqual(claimed._tag === "Claimed" ? claimed.tasks.map((t) => t.id) : [], ids)
        }).pipe(Effect.provide(backend(server, "fifty", sent)))

        // batching off: one call per enqueue
        yield* Effect.gen(function* () {
          const before = yield* calls("evalsha")
          yield* Effect.forEach(
            Array.from({ length: 50 }, (_, i) => i),
            (i) => Task.enqueue(Plain, i),
            { concurrency: "unbounded" }
          )
          assert.strictEqual((yield* calls("evalsha")) - before, 50)
        }).pipe(Effect.provide(backend(server, "unbatched", sent, { maxEnqueueBatch: 1 })))
      }),
    30_000
  )

  it.live(
    "enqueueAll of 250 tasks: 10 calls of at most 25 (maxEnqueueBatch 100: 3 calls), counted with one HINCRBY each, one look for an idle worker each",
    () =>
      Effect.gen(function* () {
        const server = yield* privateServer
        const bulk = (name: string, options: { readonly maxEnqueueBatch?: number }, expected: Array<number>) => {
          const sent: Array<ReadonlyArray<string>> = []
          return Effect.gen(function* () {
            const queue = yield* TaskQueue.TaskQueue
            const [scripts, hincrbys, zpopmins] = [
              yield* calls("evalsha"),
              yield* calls("hincrby"),
              yield* calls("zpopmin")
            ]
            const from = sent.length
            const results = yield* Task.enqueueAll(
              Plain,
              Array.from({ length: 250 }, (_, i) => i)
            )
            assert.strictEqual(results.filter(Result.isSuccess).length, 250)
            assert.strictEqual((yield* calls("evalsha")) - scripts, expected.length)
            assert.strictEqual((yield* calls("hincrby")) - hincrbys, expected.length)
            // no worker is idle: a call's first task finds that out (ZPOPMIN on the idle set), its next tasks do not
            assert.strictEqual((yield* calls("zpopmin")) - zpopmins, expected.length)
            // the tasks per call (each call's task count is its ARGV list's length, after the 4 scalars)
            const batches = sent
              .slice(from)
              .filter((c) => c[0] === "EVALSHA")
              .map((c) => Number(c[2 + Number(c[2]) + 5]))
            assert.deepStrictEqual(batches, expected)
            assert.strictEqual((yield* queue.counts).byName.plain?.queued, 250)
            // in order: the first claim takes the first payloads
            const claimed = yield* queue.claim({ token: "t", leaseMillis: 10_000, max: 250 })
            assert.deepStrictEqual(
              claimed._tag === "Claimed" ? claimed.tasks.map((t) => JSON.parse(t.payload)) : [],
              Array.from({ length: 250 }, (_, i) => i)
            )
          }).pipe(Effect.provide(backend(server, name, sent, options)))
        }
        yield* bulk(
          "all",
          {},
          Array.from({ length: 10 }, () => 25)
        )
        yield* bulk("all100", { maxEnqueueBatch: 100 }, [100, 100, 50])
      })
  )

  it.live(
    "unique tasks in one call: one TIME for the call, each lock held by its task, fenced by the call's time",
    () =>
      Effect.gen(function* () {
        const server = yield* privateServer
        const sent: Array<ReadonlyArray<string>> = []
        yield* Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const [scripts, times] = [yield* calls("evalsha"), yield* calls("time")]
          const t0 = Date.now() * 1000
          const results = yield* Task.enqueueAll(Once, [1, 2, 3, 4, 5, 1])
          assert.strictEqual((yield* calls("evalsha")) - scripts, 1)
          assert.strictEqual((yield* calls("time")) - times, 1)
          const ids = results.map((r) => (Result.isSuccess(r) ? r.success.id : ""))
          // the duplicate of 1 in the same call gets the first one's task
          assert.strictEqual(ids[5], ids[0])
          assert.strictEqual(new Set(ids).size, 5)
          const locks = yield* Effect.forEach([1, 2, 3, 4, 5], (n, i) =>
            Effect.flatMap(Task.uniqueKey(Once, n), (key) =>
              Effect.map(Heimdall.inspectLock(queue.lockKey(key)), (lock) => {
                assert.isTrue(lock._tag === "Some", `lock of ${n}`)
                assert.strictEqual(lock._tag === "Some" && lock.value.holder, ids[i])
                return lock._tag === "Some" ? lock.value.fence : 0
              })
            )
          )
          // fences from the call's one TIME (microseconds; this host and the server share a clock), then the
          // queue's fence counter: one more per lock, in the order the tasks were given
          assert.deepStrictEqual(
            locks.map((fence) => fence - locks[0]!),
            [0, 1, 2, 3, 4]
          )
          assert.isTrue(Math.abs(locks[0]! - t0) < 5_000_000, `fence ${locks[0]} vs ${t0}`)
        }).pipe(Effect.provide(backend(server, "once", sent)))
      })
  )

  it.live("a lone enqueue is sent at once: its EVALSHA (the single-task script) leaves before the caller yields", () =>
    Effect.gen(function* () {
      const server = yield* privateServer
      const sent: Array<ReadonlyArray<string>> = []
      yield* Effect.gen(function* () {
        const context = yield* Effect.context<TaskQueue.TaskQueue>()
        const before = sent.length
        // run the enqueue synchronously as far as it goes: no timer, no yield before the command is sent
        const fiber = Effect.runForkWith(context)(Task.enqueue(Plain, 1, { id: "lone" }))
        assert.strictEqual(sent.length, before + 1)
        assert.deepStrictEqual(sent[before]!.slice(0, 1), ["EVALSHA"])
        // enqueue-27.lua (27 keys, then 10 arguments from the task's id), not the batch script (27 keys too)
        assert.deepStrictEqual([sent[before]![2], sent[before]!.length, sent[before]![30]], ["27", 3 + 27 + 10, "lone"])
        const handle = yield* Fiber.join(fiber)
        assert.strictEqual(handle.id, "lone")
      }).pipe(Effect.provide(backend(server, "lone", sent)))
    })
  )

  it.live("an enqueue hands its task to an idle worker inside a batch; the rest of the batch is queued", () =>
    Effect.gen(function* () {
      const server = yield* privateServer
      const sent: Array<ReadonlyArray<string>> = []
      yield* Effect.gen(function* () {
        const queue = yield* TaskQueue.TaskQueue
        const waiter = yield* queue.waiter
        assert.strictEqual((yield* waiter.claim({ token: "w1", leaseMillis: 30_000, max: 1 }, 30_000))._tag, "Idle")
        const task = (id: string) => ({ id, name: "plain", payload: "1", delayMillis: 0, trace: undefined })
        const zpopmins = yield* calls("zpopmin")
        const results = yield* queue.enqueueAll([task("h1"), task("h2"), task("h3")])
        assert.deepStrictEqual(results, [
          { _tag: "Created", state: "running" },
          { _tag: "Created", state: "queued" },
          { _tag: "Created", state: "queued" }
        ])
        assert.strictEqual((yield* waiter.wait(2000))?.id, "h1")
        // h1 took the one idle worker, h2 found none left, h3 did not look
        assert.strictEqual((yield* calls("zpopmin")) - zpopmins, 2)
        const counts = (yield* queue.counts).byName.plain
        assert.deepStrictEqual([counts?.running, counts?.queued], [1, 2])
      }).pipe(Effect.scoped, Effect.provide(backend(server, "handoff", sent)))
    })
  )

  it.live(
    "Redis killed mid-batch: each caller of the batch in flight fails with RedisError; the call before it succeeded",
    () =>
      Effect.gen(function* () {
        const server = yield* privateServer
        const sent: Array<ReadonlyArray<string>> = []
        let armed = false
        let frozen = false
        // k1 and k2 go at once (two calls in flight); the batch script of k3..k6 (27 queue keys, as a lone enqueue's,
        // but 5 + 4 x 11 arguments after them, not 10) freezes the server as it is sent: it is written, never run
        const onSend = (command: ReadonlyArray<string>) => {
          if (armed && command[0] === "EVALSHA" && command[2] === "27" && command.length === 3 + 27 + 5 + 4 * 11) {
            server.freeze()
            // SIGSTOP is delivered asynchronously: wait (synchronously, before the command is written) until it is
            const stat = `/proc/${server.process.pid}/stat`
            const deadline = Date.now() + 1000
            while (Date.now() < deadline && !/^\d+ \(.*\) T/.test(readFileSync(stat, "utf8"))) {}
            frozen = true
          }
        }
        yield* Effect.gen(function* () {
          yield* Task.enqueue(Plain, 0) // connected, scripts loaded
          armed = true
          const running = yield* Effect.forkChild(
            Effect.forEach([1, 2, 3, 4, 5, 6], (n) => Effect.exit(Task.enqueue(Plain, n, { id: `k${n}` })), {
              concurrency: "unbounded"
            })
          )
          for (let i = 0; i < 100 && !frozen; i++) yield* sleep(10)
          assert.isTrue(frozen, "the batch was sent")
          yield* sleep(100) // the client writes a command on its next tick: written to the stopped server by now
          // SIGKILL while stopped: it never runs the batch (restart's SIGCONT first could let it)
          server.process.kill("SIGKILL")
          yield* Effect.promise(() => server.restart({ downMs: 200 }))
          const exits = yield* Fiber.join(running)
          // k1's reply sent the batch (a call returned): k1 succeeded. k2 was in flight beside the batch: Redis may
          // have run it (and its reply reached the client) before the server stopped, or not (seen once in CI)
          assert.deepStrictEqual(exits[0], Exit.succeed(Task.handle(Plain, "k1")))
          const inFlight = exits[1]!
          if (Exit.isFailure(inFlight)) {
            const error = Exit.findErrorOption(inFlight)
            assert.strictEqual(error._tag === "Some" && error.value._tag, "RedisError")
          } else assert.deepStrictEqual(inFlight.value, Task.handle(Plain, "k2"))
          for (const exit of exits.slice(2)) {
            const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
            assert.strictEqual(error?._tag === "Some" && error.value._tag, "RedisError")
            assert.match(error?._tag === "Some" ? error.value.message : "", /lost before the reply/)
          }
          // back: enqueues work again
          yield* sleep(600) // reconnected (ioredis retries at most every 500 ms)
          assert.strictEqual((yield* Task.enqueue(Plain, 7, { id: "after" })).id, "after")
        }).pipe(Effect.provide(backend(server, "killed", sent, undefined, onSend)))
      })
  )

  it.live("an interrupted caller's enqueue not sent yet is left out; the others are created", () =>
    Effect.gen(function* () {
      const server = yield* privateServer
      const sent: Array<ReadonlyArray<string>> = []
      // the server stops as i1 is sent: i2 and i3 wait behind it
      const onSend = (command: ReadonlyArray<string>) => {
        // a lone enqueue (enqueue-27.lua): its 27 keys, then the task's id
        if (command[0] === "EVALSHA" && command[2] === "27" && command[30] === "i1") server.freeze()
      }
      yield* Effect.gen(function* () {
        const queue = yield* TaskQueue.TaskQueue
        const lone = yield* Effect.forkChild(Task.enqueue(Plain, 1, { id: "i1" }))
        const kept = yield* Effect.forkChild(Task.enqueue(Plain, 2, { id: "i2" }))
        const dropped = yield* Effect.forkChild(Task.enqueue(Plain, 3, { id: "i3" }))
        yield* sleep(100)
        yield* Fiber.interrupt(dropped)
        server.thaw()
        assert.strictEqual((yield* Fiber.join(lone)).id, "i1")
        assert.strictEqual((yield* Fiber.join(kept)).id, "i2")
        assert.isDefined(yield* queue.get("i2"))
        assert.isUndefined(yield* queue.get("i3"))
        // i2 went alone: the interrupted i3 was taken out of its batch
        assert.deepStrictEqual(
          sent.filter((c) => c[0] === "EVALSHA" && c[2] === "27" && c.length === 3 + 27 + 10).map((c) => [c[2], c[30]]),
          [
            ["27", "i1"],
            ["27", "i2"]
          ]
        )
      }).pipe(Effect.provide(backend(server, "interrupted", sent, undefined, onSend)))
    })
  )
})
