/**
 * What only Redis can show: several OS processes sharing one queue.
 * Worker processes run `test/fixtures/queue-worker.ts` (Node 24 runs .ts directly).
 */
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import { afterEach } from "vitest"
import * as Heimdall from "../../src/Heimdall.ts"
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

/** Waits for a stdout line matching `pattern`. */
const waitLine = (worker: Child, pattern: RegExp, ms?: number) =>
  Effect.promise(() => worker.waitFor(String(pattern), (l) => pattern.test(l), ms))

const stop = (worker: Child, signal: NodeJS.Signals) => Effect.promise(() => worker.stop(signal))

afterEach(killAll)

/** The same proofs on one server and on the local Redis Cluster (worker processes connect to what the test uses). */
const on = (
  describeOn: (name: string, body: () => void) => void,
  redisLive: () => Layer.Layer<Redis.Redis, Redis.RedisError>,
  clusterNodes: string
) =>
  describeOn("Task queue across processes", () => {
    const startWorker = (queue: string, env: Record<string, string> = {}): Child =>
      spawnFixture(script, {
        REDIS_URL: redisUrl,
        CLUSTER_NODES: clusterNodes,
        KEY_PREFIX: prefix,
        QUEUE: queue,
        ...env
      })
    const queueLayer = (queue: string) =>
      Heimdall.layerRedis({ queuePrefix: prefix, queue }).pipe(Layer.provide(redisLive()))
    layer(redisLive(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
      it.effect(
        "SIGKILL mid-task loses nothing: the task runs again after its lease lapses",
        () =>
          Effect.gen(function* () {
            const first = startWorker("kill", { LEASE: "1 second" })
            yield* waitLine(first, /^ready$/)
            const handle = yield* Task.enqueue(Crashy, "payload")
            yield* waitLine(first, new RegExp(`^start mp-crashy ${handle.id} 1$`))
            assert.strictEqual(yield* Task.status(handle), "running")
            // the second worker is up and idle before the kill, so the interval below measures the lease,
            // not how long a Node process takes to start on a loaded machine
            const second = startWorker("kill", { LEASE: "1 second" })
            yield* Effect.addFinalizer(() => Effect.ignore(stop(second, "SIGTERM")))
            yield* waitLine(second, /^ready$/)
            const killedAt = Date.now()
            yield* stop(first, "SIGKILL")
            const result = yield* Task.join(handle)
            const redeliveredAfter = Date.now() - killedAt
            assert.strictEqual(result.attempt, 2)
            assert.strictEqual(result.pid, second.child.pid)
            // the lease (1 s) was renewed at most a third of it before the kill: redelivery in (0.6 s, 1.5 s)
            assert.isAbove(redeliveredAfter, 600)
            assert.isBelow(redeliveredAfter, 1500)
            const record = (yield* (yield* TaskQueue.TaskQueue).get(handle.id))!
            assert.strictEqual(record.redeliveries, 1)
            assert.strictEqual(record.attempts, 2)
            const redis = yield* Redis.Redis
            assert.strictEqual(yield* redis.send<number>("ZCARD", `${prefix}:{kill}:running`), 0)
          }).pipe(Effect.provide(queueLayer("kill"))),
        30_000
      )

      it.effect(
        "SIGTERM mid-task: the worker waits out its grace period, releases the task, and another process runs it at once",
        () =>
          Effect.gen(function* () {
            const first = startWorker("term", { LEASE: "20 seconds", GRACE: "300 millis" })
            yield* waitLine(first, /^ready$/)
            const handle = yield* Task.enqueue(Work, { n: 1, millis: 60_000 })
            yield* waitLine(first, new RegExp(`^start mp-work ${handle.id} 1$`))
            const termAt = Date.now()
            assert.deepStrictEqual(yield* stop(first, "SIGTERM"), { code: 130, signal: null })
            const exitedAfter = Date.now() - termAt
            assert.isAtLeast(exitedAfter, 280) // the grace period was given
            assert.isBelow(exitedAfter, 3000)
            const released = (yield* (yield* TaskQueue.TaskQueue).get(handle.id))!
            assert.strictEqual(released.state, "queued")
            assert.strictEqual(released.attempts, 0) // the interrupted attempt was given back
            const second = startWorker("term", { LEASE: "20 seconds", GRACE: "100 millis" })
            yield* Effect.addFinalizer(() => Effect.ignore(stop(second, "SIGTERM")))
            const restart = yield* waitLine(second, new RegExp(`^start mp-work ${handle.id} `))
            // attempt 1 again, long before the 20 s lease could have lapsed
            assert.strictEqual(restart, `start mp-work ${handle.id} 1`)
            assert.isBelow(Date.now() - termAt, 8000)
          }).pipe(Effect.provide(queueLayer("term"))),
        30_000
      )

      it.effect(
        "two worker processes drain one queue: every task runs exactly once, both take part",
        () =>
          Effect.gen(function* () {
            const a = startWorker("drain")
            const b = startWorker("drain")
            yield* Effect.all([waitLine(a, /^ready$/), waitLine(b, /^ready$/)], { concurrency: 2 })
            const handles = yield* Effect.forEach(
              Array.from({ length: 40 }, (_, n) => n),
              (n) => Task.enqueue(Work, { n, millis: 30 })
            )
            const results = yield* Effect.forEach(handles, Task.join, { concurrency: "unbounded" })
            assert.deepStrictEqual(
              results.map((r) => r.n),
              handles.map((_, n) => n)
            )
            const pids = new Set(results.map((r) => r.pid))
            assert.deepStrictEqual([...pids].sort(), [a.child.pid, b.child.pid].sort())
            // SIGTERM interrupts the main fiber (exit code 130 from NodeRuntime); each process exits by itself
            assert.deepStrictEqual(yield* stop(a, "SIGTERM"), { code: 130, signal: null })
            assert.deepStrictEqual(yield* stop(b, "SIGTERM"), { code: 130, signal: null })
            const starts = [...a.lines, ...b.lines].filter((l) => l.startsWith("start mp-work "))
            assert.strictEqual(starts.length, 40) // no task ran twice
            assert.strictEqual(new Set(starts.map((l) => l.split(" ")[2])).size, 40)
            for (const h of handles) {
              const record = (yield* (yield* TaskQueue.TaskQueue).get(h.id))!
              assert.strictEqual(record.attempts, 1)
            }
          }).pipe(Effect.provide(queueLayer("drain"))),
        30_000
      )

      it.effect(
        "idle worker processes are handed each new task by its enqueue: each runs once, the turns go round",
        () =>
          Effect.gen(function* () {
            const a = startWorker("handoff")
            const b = startWorker("handoff")
            yield* Effect.all([waitLine(a, /^ready$/), waitLine(b, /^ready$/)], { concurrency: 2 })
            const queue = yield* TaskQueue.TaskQueue
            const redis = yield* Redis.Redis
            const idle = `${prefix}:{handoff}:idle`
            const states: Array<string> = []
            const ids: Array<string> = []
            for (let n = 0; n < 20; n++) {
              // both processes idle and registered (each registers again as it starts what it was handed)
              while ((yield* redis.send<number>("ZCARD", idle)) < 2) yield* Effect.sleep("5 millis")
              const id = `h${n}`
              const created = yield* queue.enqueue({
                id,
                name: Work.name,
                payload: JSON.stringify({ n, millis: 5 }),
                delayMillis: 0,
                trace: undefined
              })
              states.push(created._tag === "Created" ? created.state : created._tag)
              ids.push(id)
              yield* Task.join(Task.handle(Work, id))
            }
            // claimed by the enqueue itself, every one
            assert.deepStrictEqual(
              states,
              ids.map(() => "running")
            )
            assert.deepStrictEqual(yield* stop(a, "SIGTERM"), { code: 130, signal: null })
            assert.deepStrictEqual(yield* stop(b, "SIGTERM"), { code: 130, signal: null })
            const startsOf = (w: Child) => w.lines.filter((l) => l.startsWith("start mp-work ")).length
            // each ran once, on its first attempt; the longest-idle process got the next task: they took turns
            const starts = [...a.lines, ...b.lines].filter((l) => l.startsWith("start mp-work "))
            assert.deepStrictEqual(
              starts.map((l) => l.split(" ").slice(2).join(" ")).sort(),
              ids.map((id) => `${id} 1`).sort()
            )
            assert.deepStrictEqual([startsOf(a), startsOf(b)], [10, 10])
            // nothing left registered after both stopped
            assert.strictEqual(yield* redis.send<number>("ZCARD", idle), 0)
          }).pipe(Effect.provide(queueLayer("handoff"))),
        30_000
      )
    })
  })

on(describeRedis, redisLayer, "")
on(describeCluster, clusterLayer, clusterNodes.join(","))
