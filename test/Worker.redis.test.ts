/**
 * Worker behaviour that only Redis can show here: a lease taken away from a
 * running task (as when another worker requeued it after a long pause)
 * interrupts the handler, and the stale worker settles nothing.
 */
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Layer, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import { Heimdall, Task, TaskQueue, Worker } from "../src/index.ts"
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
        const redis = yield* Redis.Redis
        yield* redis.send("HSET", `${prefix}q:{worker}:task:${handle.id}`, "s", "r:someone-else")
        yield* Deferred.await(interrupted).pipe(Effect.timeout("2 seconds"))
        const record = yield* Effect.flatMap(TaskQueue.TaskQueue, (q) => q.get(handle.id))
        assert.strictEqual(record?.state, "running", "the stale worker did not settle it")
        assert.strictEqual(record?.attempts, 1)
      })
    )
  })
})
