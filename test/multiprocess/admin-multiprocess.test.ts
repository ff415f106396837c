/**
 * What only Redis can show for an operator's cancel: real OS processes sharing one queue. Worker processes run
 * `test/fixtures/admin-worker.ts`; this process acts as the operator (`Admin`).
 *
 * 1. A worker process runs a long unique task; this process cancels it: the worker interrupts the handler at once
 *    (its finalizer leaves a marker with Redis TIME), the task ends `cancelled`, its lock is free, `Task.join` fails
 *    with `TaskCancelled`, and the cancel-to-interrupt latency is far under the lease renewal's fallback (10 s).
 * 2. Many tasks complete on two worker processes while this process cancels each of them: every task ends exactly
 *    one of succeeded or cancelled, and the cancel's answer, the record, the counts and the join agree.
 */
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, type Layer, Option, Random } from "effect"
import * as Redis from "effect/persistence/Redis"
import { afterAll, afterEach } from "vitest"
import { Admin, Heimdall, Inspector, Task, TaskCancelled, TaskQueue } from "../../src/index.ts"
import { Hold, Quick } from "../fixtures/admin-tasks.ts"
import { type Child, killAll, parseJson, spawnFixture } from "../support/processes.ts"
import {
  clusterLayer,
  clusterNodes,
  describeCluster,
  describeRedis,
  keyPrefix,
  redisLayer,
  redisUrl
} from "../support/redis.ts"

const prefix = keyPrefix(import.meta.url)
const script = fileURLToPath(new URL("../fixtures/admin-worker.ts", import.meta.url))

/** The same key layout as the fixture's workers. */
const backend = (queue: string) =>
  Heimdall.layerRedis({ queue, queuePrefix: `${prefix}q`, lockPrefix: `${prefix}lock:` })

afterEach(killAll)
afterAll(killAll)

const waitLine = (worker: Child, what: string, match: (line: Record<string, unknown>) => boolean) =>
  Effect.promise(() =>
    worker.waitFor(
      what,
      (text) => {
        const line = parseJson(text)
        return typeof line === "object" && line !== null && match(line as Record<string, unknown>)
      },
      15_000
    )
  )
const stop = (worker: Child) => Effect.promise(() => worker.stop("SIGKILL"))

/** Redis TIME in µs. */
const redisMicros = Effect.gen(function* () {
  const [seconds, micros] = yield* (yield* Redis.Redis).send<[string, string]>("TIME")
  return Number(seconds) * 1_000_000 + Number(micros)
})

/** The same proofs on one server and on the local Redis Cluster (worker processes connect to what the test uses). */
const on = (
  describeOn: (name: string, body: () => void) => void,
  redisLive: () => Layer.Layer<Redis.Redis, Redis.RedisError>,
  clusterNodes: string
) =>
  describeOn("Operators' actions across processes", () => {
    const startWorker = (queue: string, env: Record<string, string> = {}): Child =>
      spawnFixture(script, {
        REDIS_URL: redisUrl,
        CLUSTER_NODES: clusterNodes,
        KEY_PREFIX: prefix,
        QUEUE: queue,
        ...env
      })
    layer(redisLive(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
      it.effect("a task running in another process is cancelled: interrupted at once, finalizer run, lock freed", () =>
        Effect.gen(function* () {
          const queue = "cancel-running"
          const worker = startWorker(queue)
          yield* Effect.addFinalizer(() => stop(worker))
          yield* waitLine(worker, "ready line", (l) => l.type === "ready")
          const redis = yield* Redis.Redis
          const admin = yield* Admin.Admin
          const inspector = yield* Inspector.Inspector

          const latencies: Array<number> = []
          for (let round = 0; round < 5; round++) {
            const handle = yield* Task.enqueue(Hold, { key: `report-${round}` })
            yield* waitLine(worker, "start line", (l) => l.type === "start" && l.id === handle.id)
            const detail = yield* inspector.task(handle.id)
            assert.strictEqual(detail?.record.state, "running")
            assert.strictEqual(detail?.lock?.holder, handle.id, "the running task holds its unique lock")

            const before = yield* redisMicros
            assert.deepStrictEqual(yield* admin.cancel(handle.id), { previous: "running" })
            let marker: string | null = null
            for (let i = 0; i < 500 && marker === null; i++) {
              marker = yield* redis.send<string | null>("GET", `${prefix}marker:${handle.id}`)
              if (marker === null) yield* Effect.sleep("2 millis")
            }
            assert.isNotNull(marker, "the handler's finalizer ran")
            const { at, pid } = JSON.parse(marker!) as { at: number; pid: number }
            assert.strictEqual(pid, worker.child.pid, "in the worker process")
            latencies.push((at - before) / 1000)

            const after = yield* inspector.task(handle.id)
            assert.strictEqual(after?.record.state, "cancelled")
            assert.strictEqual(after?.lock?.holder, undefined, "the lock is free")
            const joined = yield* Effect.flip(Task.join(handle))
            assert.instanceOf(joined, TaskCancelled)
            assert.strictEqual((joined as TaskCancelled).taskId, handle.id)
          }
          const counts = (yield* inspector.counts).byName.hold!
          assert.deepStrictEqual([counts.running, counts.cancelled, counts.succeeded, counts.failed], [0, 5, 0, 0])
          // no retry, no redelivery: nothing waits or runs afterwards
          assert.deepStrictEqual([counts.queued, counts.scheduled], [0, 0])
          const sorted = [...latencies].sort((a, b) => a - b)
          console.log(
            `cancel-to-interrupt latency (ms, Redis clock, 5 rounds): median ${sorted[2]!.toFixed(2)}, max ${sorted[4]!.toFixed(2)}`
          )
          // the fallback (a lost lease found at the next renewal) is lease / 3 = 10 s
          assert.isBelow(sorted[4]!, 1000)
        }).pipe(Effect.provide(backend("cancel-running")))
      )

      it.effect(
        "cancels racing completions: each task ends exactly one way, and cancel, record, counts, join agree",
        () =>
          Effect.gen(function* () {
            const N = 200
            const a = startWorker("race", { CONCURRENCY: "8" })
            const b = startWorker("race", { CONCURRENCY: "8" })
            yield* Effect.addFinalizer(() => Effect.all([stop(a), stop(b)]))
            yield* Effect.all([
              waitLine(a, "ready", (l) => l.type === "ready"),
              waitLine(b, "ready", (l) => l.type === "ready")
            ])
            const admin = yield* Admin.Admin
            const queue = yield* TaskQueue.TaskQueue
            const inspector = yield* Inspector.Inspector

            const outcomes = yield* Effect.forEach(
              Array.from({ length: N }, (_, n) => n),
              (n) =>
                Effect.gen(function* () {
                  const handle = yield* Task.enqueue(Quick, { n, ms: yield* Random.nextIntBetween(0, 20) })
                  yield* Effect.sleep(yield* Random.nextIntBetween(0, 30))
                  const cancel = yield* Effect.exit(admin.cancel(handle.id))
                  const join = yield* Effect.exit(Task.join(handle))
                  const record = yield* queue.get(handle.id)
                  return { n, cancel, join, state: record?.state }
                }),
              { concurrency: 50 }
            )
            let cancelled = 0
            let succeeded = 0
            for (const { n, cancel, join, state } of outcomes) {
              if (Exit.isSuccess(cancel)) {
                cancelled++
                assert.strictEqual(state, "cancelled", `task ${n}`)
                assert.isTrue(
                  Exit.isFailure(join) && Option.getOrUndefined(Exit.findErrorOption(join)) instanceof TaskCancelled
                )
              } else {
                succeeded++
                const error = Option.getOrUndefined(Exit.findErrorOption(cancel))
                assert.strictEqual(error?._tag, "TaskStateConflict", `task ${n}`)
                assert.strictEqual((error as { state: string }).state, "succeeded")
                assert.strictEqual(state, "succeeded", `task ${n}`)
                assert.deepStrictEqual(join, Exit.succeed(n))
              }
            }
            const counts = (yield* inspector.counts).byName.quick!
            assert.deepStrictEqual(
              [counts.succeeded, counts.cancelled, counts.queued, counts.scheduled, counts.running],
              [succeeded, cancelled, 0, 0, 0]
            )
            console.log(`race: ${succeeded} succeeded, ${cancelled} cancelled of ${N}`)
            // both outcomes happened: the race was a race
            assert.isAbove(succeeded, 0)
            assert.isAbove(cancelled, 0)
          }).pipe(Effect.provide(backend("race")))
      )
    })
  })

on(describeRedis, redisLayer, "")
on(describeCluster, clusterLayer, clusterNodes.join(","))
