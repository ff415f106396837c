/**
 * A partitioned queue (`partitions: 3`) shared by several OS processes, on one server and on the local Redis Cluster
 * (where the partitions are on three masters): every task runs exactly once and both processes take part; a task
 * whose worker was SIGKILLed runs again once its lease lapses, wherever its partition is.
 */
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type * as Redis from "effect/persistence/Redis"
import { afterEach } from "vitest"
import * as Heimdall from "../../src/Heimdall.ts"
import { partitionOf } from "../../src/internal/queue/keys.ts"
import * as Task from "../../src/Task.ts"
import * as TaskQueue from "../../src/TaskQueue.ts"
import { Crashy, Work } from "../fixtures/queue-tasks.ts"
import { type Child, killAll, spawnFixture } from "../support/processes.ts"
import {
  clusterLayer,
  clusterNodes,
  describeCluster,
  describeRedis,
  keyPrefix,
  redisLayer,
  redisUrl
} from "../support/redis.ts"

const prefix = keyPrefix(import.meta.url).slice(0, -1)
const script = fileURLToPath(new URL("../fixtures/queue-worker.ts", import.meta.url))
const partitions = 3

const waitLine = (worker: Child, pattern: RegExp, ms?: number) =>
  Effect.promise(() => worker.waitFor(String(pattern), (l) => pattern.test(l), ms))
const stop = (worker: Child, signal: NodeJS.Signals) => Effect.promise(() => worker.stop(signal))

afterEach(killAll)

const on = (
  describeOn: (name: string, body: () => void) => void,
  redisLive: () => Layer.Layer<Redis.Redis, Redis.RedisError>,
  clusterNodes: string
) =>
  describeOn("A partitioned queue across processes", () => {
    const startWorker = (queue: string, env: Record<string, string> = {}): Child =>
      spawnFixture(script, {
        REDIS_URL: redisUrl,
        CLUSTER_NODES: clusterNodes,
        KEY_PREFIX: prefix,
        QUEUE: queue,
        PARTITIONS: String(partitions),
        ...env
      })
    const queueLayer = (queue: string) =>
      Heimdall.layerRedis({ queuePrefix: prefix, queue, partitions }).pipe(Layer.provide(redisLive()))
    layer(redisLive(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
      it.effect(
        "two worker processes drain three partitions: every task runs exactly once, both take part",
        () =>
          Effect.gen(function* () {
            const workers = [startWorker("drain"), startWorker("drain")]
            yield* Effect.forEach(workers, (w) => waitLine(w, /^ready$/, 30_000), { concurrency: "unbounded" })
            // "ready" is printed as the layers start; a worker claims once it has registered (its first beat)
            const queue = yield* TaskQueue.TaskQueue
            while ((yield* queue.workers).length < 2) yield* Effect.sleep("20 millis")
            const handles = yield* Effect.forEach(
              Array.from({ length: 60 }, (_, n) => n),
              (n) => Task.enqueue(Work, { n, millis: 20 })
            )
            // the tasks spread over the three partitions
            const per = [0, 0, 0]
            for (const h of handles) per[partitionOf(h.id, partitions)]!++
            assert.isTrue(
              per.every((k) => k > 0),
              `${per}`
            )
            const results = yield* Effect.forEach(handles, Task.join, { concurrency: "unbounded" })
            assert.deepStrictEqual(
              results.map((r) => r.n),
              handles.map((_, n) => n)
            )
            const startsPer = workers.map((w) => w.lines.filter((l) => l.startsWith("start ")).length)
            assert.strictEqual(new Set(results.map((r) => r.pid)).size, 2, `starts per process: ${startsPer}`)
            for (const w of workers) assert.deepStrictEqual(yield* stop(w, "SIGTERM"), { code: 130, signal: null })
            const starts = workers.flatMap((w) => w.lines).filter((l) => l.startsWith("start mp-work "))
            assert.strictEqual(starts.length, 60) // no task ran twice
            assert.strictEqual(new Set(starts.map((l) => l.split(" ")[2])).size, 60)
            for (const h of handles) assert.strictEqual((yield* queue.get(h.id))!.attempts, 1)
            const counts = yield* queue.counts
            assert.deepStrictEqual([counts.total.succeeded, counts.total.running, counts.total.queued], [60, 0, 0])
          }).pipe(Effect.provide(queueLayer("drain"))),
        45_000
      )

      it.effect(
        "SIGKILL mid-task in each partition loses nothing: each task runs again after its lease lapses",
        () =>
          Effect.gen(function* () {
            const first = startWorker("kill", { LEASE: "1 second", CONCURRENCY: "3" })
            yield* waitLine(first, /^ready$/, 30_000)
            // one task in each partition (ids chosen there)
            const ids = [0, 1, 2].map((p) => {
              for (let k = 0; ; k++) if (partitionOf(`crash-${p}-${k}`, partitions) === p) return `crash-${p}-${k}`
            })
            const handles = yield* Effect.forEach(ids, (id) => Task.enqueue(Crashy, "payload", { id }))
            for (const h of handles) yield* waitLine(first, new RegExp(`^start mp-crashy ${h.id} 1$`))
            const second = startWorker("kill", { LEASE: "1 second", CONCURRENCY: "3" })
            yield* Effect.addFinalizer(() => Effect.ignore(stop(second, "SIGTERM")))
            yield* waitLine(second, /^ready$/, 30_000)
            const killedAt = Date.now()
            yield* stop(first, "SIGKILL")
            const results = yield* Effect.forEach(handles, Task.join, { concurrency: "unbounded" })
            const after = Date.now() - killedAt
            for (const r of results) {
              assert.strictEqual(r.attempt, 2)
              assert.strictEqual(r.pid, second.child.pid)
            }
            assert.isAbove(after, 600)
            assert.isBelow(after, 2500)
            const queue = yield* TaskQueue.TaskQueue
            for (const id of ids) {
              const record = (yield* queue.get(id))!
              assert.deepStrictEqual([record.state, record.redeliveries, record.attempts], ["succeeded", 1, 2])
            }
          }).pipe(Effect.provide(queueLayer("kill"))),
        45_000
      )
    })
  })

on(describeRedis, redisLayer, "")
on(describeCluster, clusterLayer, clusterNodes.join(","))
