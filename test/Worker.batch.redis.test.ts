/**
 * Batched completions on Redis (`Worker.Options.batchCompletions`), on a private redis-server so that
 * `INFO commandstats` counts this file's script calls only: slots of one worker that finish together complete in
 * fewer script calls than one each, every slot with its own outcome; a lost lease among them is refused for its slot
 * only; the worker's concurrency cap holds while completions are batched.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Ref, Schema, type Scope } from "effect"
import * as Redis from "effect/persistence/Redis"
import { Heimdall, RedisIoredis, Task, TaskQueue, Worker } from "../src/index.ts"
import { setStoredFields, storedRecord, tasksKey } from "./support/records.ts"
import { hasRedis } from "./support/redis.ts"
import { type RedisServer, startRedisServer } from "./support/redisServer.ts"

const prefix = "t:batch"

/** A private redis-server for the test, with the backend on it, stopped with the test's scope. */
const onPrivateServer = <A, E>(
  queue: string,
  body:
    | Effect.Effect<A, E, TaskQueue.TaskQueue | Redis.Redis | Scope.Scope>
    | ((server: RedisServer) => Effect.Effect<A, E, TaskQueue.TaskQueue | Redis.Redis | Scope.Scope>),
  options?: RedisIoredis.Options
) =>
  Effect.gen(function* () {
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => startRedisServer()),
      (s) => Effect.promise(() => s.stop())
    )
    // the body's scope (its worker) closes before the backend's, the backend's before the server stops
    return yield* (typeof body === "function" ? body(server) : body).pipe(
      Effect.scoped,
      Effect.provide(
        Heimdall.layerRedis({ queue, queuePrefix: prefix }).pipe(
          Layer.provideMerge(RedisIoredis.layer(server.url, options))
        )
      )
    )
  }).pipe(Effect.scoped)

/** Calls of EVALSHA so far (every script call of the queue). */
const scriptCalls = Effect.flatMap(Redis.Redis, (redis) =>
  Effect.map(redis.send<string>("INFO", "commandstats"), (text) =>
    Number(/cmdstat_evalsha:calls=(\d+)/.exec(text)?.[1] ?? 0)
  )
)

const Double = Task.make("double", { payload: Schema.Number, success: Schema.Number })

/**
 * Runs `size` tasks on one worker of concurrency `size` that start together and wait at a gate. With `lost`, the
 * task at that index has its lease taken away (as a requeue by another worker would) while it waits: its handler is
 * not interrupted before it ends (the lease is renewed only every 10 s), and its completion is refused. Returns the
 * script calls from the gate's opening to the last completion, the records and the counts.
 */
const together = (size: number, batchCompletions: boolean, lost?: number) =>
  Effect.gen(function* () {
    const queue = yield* TaskQueue.TaskQueue
    const redis = yield* Redis.Redis
    const gate = yield* Deferred.make<void>()
    const started = yield* Ref.make(0)
    const allStarted = yield* Deferred.make<void>()
    const DoubleLive = Task.implement(Double, (n) =>
      Effect.gen(function* () {
        if ((yield* Ref.updateAndGet(started, (k) => k + 1)) === size) yield* Deferred.succeed(allStarted, undefined)
        yield* Deferred.await(gate)
        return n * 2
      })
    )
    // enqueued before the worker starts: its first claim takes them all at once
    const handles = yield* Effect.forEach(
      Array.from({ length: size }, (_, i) => i + 1),
      (n) => Task.enqueue(Double, n)
    )
    yield* Layer.build(
      Worker.layer({ tasks: [DoubleLive], concurrency: size, lease: "30 seconds", gracePeriod: 0, batchCompletions })
    )
    yield* Deferred.await(allStarted).pipe(Effect.timeout("5 seconds"))
    // the enqueues' wake-up tokens would make the worker's fetch loop claim again as its slots free (more script
    // calls than the completions' own): dropped
    yield* redis.send("DEL", `${prefix}:{${queue.queue}}:wake`)
    if (lost !== undefined) {
      yield* setStoredFields(tasksKey(prefix, queue.queue), handles[lost]!.id, "s", "r:someone-else")
    }
    yield* redis.send("CONFIG", "RESETSTAT")
    yield* Deferred.succeed(gate, undefined)
    // waits for the completions with reads of the counts, one script call each, taken off the figure (a task's
    // record is read by a script too: awaiting each task would add calls of its own)
    let reads = 0
    const expected = size - (lost === undefined ? 0 : 1)
    yield* Effect.gen(function* () {
      while (true) {
        reads++
        if (((yield* queue.counts).total.succeeded ?? 0) >= expected) return
        yield* Effect.sleep("10 millis")
      }
    }).pipe(Effect.timeout("5 seconds"))
    // the refused slot's call ended with the others' (one call), or right after them
    yield* Effect.sleep("100 millis")
    const calls = (yield* scriptCalls) - reads
    const records = yield* Effect.forEach(handles, (h) => queue.get(h.id))
    const lease =
      lost === undefined ? undefined : (yield* storedRecord(tasksKey(prefix, queue.queue), handles[lost]!.id))?.s
    return { calls, records, counts: (yield* queue.counts).total, lease }
  })

describe.skipIf(!hasRedis)("Worker: batched completions (redis)", () => {
  it.live(
    "slots that finish together complete in fewer script calls than one each, each with its own result",
    () =>
      Effect.gen(function* () {
        const size = 16
        const batched = yield* onPrivateServer("on", together(size, true))
        const single = yield* onPrivateServer("off", together(size, false))
        for (const { records } of [batched, single]) {
          assert.deepStrictEqual(
            records.map((r) => [r?.state, r?.result, r?.attempts]),
            Array.from({ length: size }, (_, i) => ["succeeded", String((i + 1) * 2), 1])
          )
        }
        // one call per completion without batching (and the fetch loop's claim once a slot is free); with it, the
        // first two completions alone (two calls in flight) and the other 14 gathered meanwhile, in calls of at most
        // half the slots (8): four calls, one more if a reply came back while the slots were still finishing (the
        // fetch loop's claim and a heartbeat may add one each)
        assert.isAtLeast(single.calls, size, `unbatched: ${single.calls} script calls`)
        assert.isAtMost(batched.calls, 7, `batched: ${batched.calls} script calls`)
        assert.isBelow(batched.calls, single.calls / 2)
      }),
    { timeout: 30_000 }
  )

  it.live(
    "a completion whose lease was lost, in a batch with others, is refused for its slot only",
    () =>
      Effect.gen(function* () {
        const size = 5
        const { records, counts, lease } = yield* onPrivateServer("lost", together(size, true, 2))
        assert.deepStrictEqual(
          records.map((r) => [r?.state, r?.result]),
          [
            ["succeeded", "2"],
            ["succeeded", "4"],
            ["running", undefined],
            ["succeeded", "8"],
            ["succeeded", "10"]
          ]
        )
        // the refused task is untouched: still the other holder's, counted running
        assert.strictEqual(lease, "r:someone-else")
        assert.deepStrictEqual([counts.running, counts.succeeded, counts.queued], [1, 4, 0])
      }),
    { timeout: 30_000 }
  )

  it.live(
    "Redis frozen while a batch of completions is in flight: the calls fail, each slot retries its own, all land once",
    () =>
      onPrivateServer(
        "frozen",
        (server) =>
          Effect.gen(function* () {
            const size = 6
            const queue = yield* TaskQueue.TaskQueue
            const gate = yield* Deferred.make<void>()
            const runs = new Map<number, number>()
            const allStarted = yield* Deferred.make<void>()
            const DoubleLive = Task.implement(Double, (n) =>
              Effect.gen(function* () {
                runs.set(n, (runs.get(n) ?? 0) + 1)
                if (runs.size === size) yield* Deferred.succeed(allStarted, undefined)
                yield* Deferred.await(gate)
                return n * 2
              })
            )
            const handles = yield* Effect.forEach(
              Array.from({ length: size }, (_, i) => i + 1),
              (n) => Task.enqueue(Double, n)
            )
            yield* Layer.build(Worker.layer({ tasks: [DoubleLive], concurrency: size, lease: "30 seconds" }))
            yield* Deferred.await(allStarted).pipe(Effect.timeout("5 seconds"))
            // the first completion goes alone and the others gather behind it; Redis answers none of them for 1 s
            // (each call fails after the 300 ms command timeout, and its completions are retried)
            server.freeze()
            yield* Deferred.succeed(gate, undefined)
            yield* Effect.sleep("1 second")
            server.thaw()
            const results = yield* Effect.forEach(handles, (h) => Task.join(h)).pipe(Effect.timeout("10 seconds"))
            assert.deepStrictEqual(results, [2, 4, 6, 8, 10, 12])
            assert.deepStrictEqual([...runs.values()], [1, 1, 1, 1, 1, 1], "each handler ran once")
            const records = yield* Effect.forEach(handles, (h) => queue.get(h.id))
            assert.deepStrictEqual(
              records.map((r) => [String(r?.state), r?.attempts, r?.redeliveries]),
              Array.from({ length: size }, () => ["succeeded", 1, 0])
            )
            const counts = (yield* queue.counts).total
            assert.deepStrictEqual([counts.queued, counts.running, counts.succeeded], [0, 0, size])
          }),
        { commandTimeout: "300 millis" }
      ),
    { timeout: 30_000 }
  )

  it.live(
    "the concurrency cap holds while completions are batched: never more tasks running than slots",
    () =>
      onPrivateServer(
        "cap",
        Effect.gen(function* () {
          const concurrency = 4
          const total = 60
          const queue = yield* TaskQueue.TaskQueue
          const redis = yield* Redis.Redis
          let running = 0
          let most = 0
          const runs = new Map<number, number>()
          const Work = Task.make("work", { payload: Schema.Number, success: Schema.Number })
          const WorkLive = Task.implement(Work, (n) =>
            Effect.gen(function* () {
              running++
              most = Math.max(most, running)
              runs.set(n, (runs.get(n) ?? 0) + 1)
              // slots finish together and apart: some at once, some a few ms later
              yield* Effect.sleep(n % 3 === 0 ? 0 : n % 3)
              running--
              return n
            })
          )
          const handles = yield* Effect.forEach(
            Array.from({ length: total }, (_, i) => i),
            (n) => Task.enqueue(Work, n)
          )
          // Redis' own view: tasks in the running set (claimed for a slot, started or not) never exceed the slots
          let mostInRedis = 0
          const sampler = yield* Effect.forkChild(
            Effect.forever(
              Effect.flatMap(redis.send<number>("ZCARD", `${prefix}:{cap}:running`), (n) =>
                Effect.sync(() => {
                  mostInRedis = Math.max(mostInRedis, n)
                })
              )
            )
          )
          yield* Layer.build(Worker.layer({ tasks: [WorkLive], concurrency, lease: "30 seconds" }))
          const results = yield* Effect.forEach(handles, (h) => Task.join(h)).pipe(Effect.timeout("20 seconds"))
          yield* Fiber.interrupt(sampler)
          assert.deepStrictEqual(
            results,
            Array.from({ length: total }, (_, i) => i)
          )
          assert.deepStrictEqual(
            [...runs.values()].filter((k) => k !== 1),
            [],
            "every task ran once"
          )
          assert.isAtMost(most, concurrency, `handlers at once: ${most}`)
          assert.isAtLeast(most, 2, "slots ran side by side")
          assert.isAtMost(mostInRedis, concurrency, `running in Redis at once: ${mostInRedis}`)
          const counts = yield* queue.counts
          assert.deepStrictEqual([counts.total.queued, counts.total.running, counts.total.succeeded], [0, 0, total])
        })
      ),
    { timeout: 30_000 }
  )
})
