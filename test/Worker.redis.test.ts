/**
 * Worker behaviour that only Redis can show here: a lease taken away from a
 * running task (as when another worker requeued it after a long pause)
 * interrupts the handler, and the stale worker settles nothing.
 */
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Layer, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import { Heimdall, Task, TaskQueue, Worker } from "../src/index.ts"
import { setStoredFields, tasksKey } from "./support/records.ts"
import { describeRedis, keyPrefix, redisLayer } from "./support/redis.ts"

const prefix = keyPrefix(import.meta.url)
const Backend = Heimdall.layerRedis({ queue: "worker", queuePrefix: `${prefix}q`, lockPrefix: `${prefix}lock:` }).pipe(
  Layer.provideMerge(redisLayer())
)
const Slow = Task.make("slow", { payload: Schema.Number })

describeRedis("Worker", () => {
  layer(Backend, { excludeTestServices: true, timeout: "20 seconds" })((it) => {
    it.effect("a lost lease interrupts the handler, and the stale attempt settles nothing", () =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const interrupted = yield* Deferred.make<void>()
        const SlowLive = Task.implement(Slow, () =>
          Deferred.succeed(started, undefined).pipe(
            Effect.andThen(Effect.never),
            Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
          )
        )
        yield* Layer.build(Worker.layer({ tasks: [SlowLive], concurrency: 1, lease: 300, gracePeriod: 0 }))
        const handle = yield* Task.enqueue(Slow, 1)
        yield* Deferred.await(started)
        // take the lease away, as a requeue by another worker would
        yield* setStoredFields(tasksKey(`${prefix}q`, "worker"), handle.id, "s", "r:someone-else")
        yield* Deferred.await(interrupted).pipe(Effect.timeout("2 seconds"))
        const record = yield* Effect.flatMap(TaskQueue.TaskQueue, (q) => q.get(handle.id))
        assert.strictEqual(record?.state, "running", "the stale worker did not settle it")
        assert.strictEqual(record?.attempts, 1)
      })
    )

    it.effect("a task handed to the idle worker by its enqueue runs once, past its short first lease", () =>
      Effect.gen(function* () {
        const runs: Array<number> = []
        const Sleepy = Task.make("sleepy", { payload: Schema.Number })
        const SleepyLive = Task.implement(Sleepy, (n) =>
          Effect.sync(() => runs.push(n)).pipe(Effect.andThen(Effect.sleep("2500 millis")))
        )
        // two slots: a lapsed lease would be claimed again by the free one
        yield* Layer.build(Worker.layer({ tasks: [SleepyLive], concurrency: 2, gracePeriod: 0 }))
        const queue = yield* TaskQueue.TaskQueue
        // the worker has registered as idle (its first claim found nothing)
        const redis = yield* Redis.Redis
        const idle = `${prefix}q:{handoff}:idle`
        while ((yield* redis.send<number>("ZCARD", idle)) === 0) yield* Effect.sleep("10 millis")
        const handle = yield* Task.enqueue(Sleepy, 7)
        assert.strictEqual((yield* queue.get(handle.id))?.state, "running", "claimed by the enqueue itself")
        yield* Task.join(handle).pipe(Effect.timeout("10 seconds"))
        const record = yield* queue.get(handle.id)
        assert.deepStrictEqual(runs, [7])
        assert.deepStrictEqual([record?.state, record?.attempts, record?.redeliveries], ["succeeded", 1, 0])
      }).pipe(Effect.provide(Heimdall.layerRedis({ queue: "handoff", queuePrefix: `${prefix}q` })))
    )
  })
})
