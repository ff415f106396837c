/**
 * The worker registry across processes: worker processes (`test/fixtures/queue-worker.ts`) register with their
 * heartbeat; one SIGKILLed disappears from `Inspector.workers` within its registration's TTL (three beats), one
 * stopped with SIGTERM leaves at once.
 */
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type * as Redis from "effect/persistence/Redis"
import { afterEach } from "vitest"
import * as Heimdall from "../../src/Heimdall.ts"
import * as Inspector from "../../src/Inspector.ts"
import * as Task from "../../src/Task.ts"
import { Work } from "../fixtures/queue-tasks.ts"
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
/** Beats every 300 ms: a registration lapses 900 ms after its last beat. */
const deadUnknown = "900 millis"
const ttlMillis = 900

afterEach(killAll)

/** Polls `read` every 20 ms until `done` holds on its value; fails after `ms`. */
const until = <A, E, R>(what: string, read: Effect.Effect<A, E, R>, done: (a: A) => boolean, ms = 10_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (true) {
      const value = yield* read
      if (done(value)) return value
      if (Date.now() > deadline) return yield* Effect.die(new Error(`not within ${ms} ms: ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

/** The same proofs on one server and on the local Redis Cluster (worker processes connect to what the test uses). */
const on = (
  describeOn: (name: string, body: () => void) => void,
  redisLive: () => Layer.Layer<Redis.Redis, Redis.RedisError>,
  clusterNodes: string
) =>
  describeOn("Worker registry across processes", () => {
    const startWorker = (queue: string): Child =>
      spawnFixture(script, {
        REDIS_URL: redisUrl,
        CLUSTER_NODES: clusterNodes,
        KEY_PREFIX: prefix,
        QUEUE: queue,
        DEAD_UNKNOWN: deadUnknown
      })
    layer(redisLive(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
      it.effect("a SIGKILLed worker disappears within three beats; a stopped one at once", () =>
        Effect.gen(function* () {
          const inspector = yield* Inspector.Inspector
          const killed = startWorker("registry")
          const stopped = startWorker("registry")
          for (const w of [killed, stopped])
            yield* Effect.promise(() => w.waitFor("ready", (l) => l === "ready", 20_000))
          const pids = (ws: ReadonlyArray<Inspector.WorkerInfo>) => ws.map((w) => w.pid).sort()
          const both = [killed.child.pid!, stopped.child.pid!].sort()
          const workers = yield* until(
            "both workers registered",
            inspector.workers,
            (ws) => pids(ws).join() === both.join()
          )
          for (const w of workers) {
            assert.strictEqual(w.queue, "registry")
            assert.strictEqual(w.concurrency, 2)
            assert.deepStrictEqual([...w.names].sort(), ["mp-crashy", "mp-work"])
            assert.strictEqual(w.expiresAt - w.lastBeatAt, ttlMillis)
          }
          // a task running on one of them shows in its registration and its record names it
          const handle = yield* Task.enqueue(Work, { n: 1, millis: 3000 })
          const busy = yield* until("the task in a registration", inspector.workers, (ws) =>
            ws.some((w) => w.running.includes(handle.id))
          )
          const runner = busy.find((w) => w.running.includes(handle.id))!
          assert.strictEqual((yield* inspector.task(handle.id))!.record.worker, runner.id)

          const victim = workers.find((w) => w.pid === killed.child.pid)!
          const before = (yield* inspector.counts).now // Redis' clock, as the registrations
          yield* Effect.promise(() => killed.stop("SIGKILL"))
          // a dead process cannot leave: it is still listed (its last beat was at most a beat ago)...
          assert.isTrue((yield* inspector.workers).some((w) => w.id === victim.id))
          // ...until its registration lapses, three beats after that last beat
          const gone = yield* until(
            "the killed worker gone",
            inspector.workers,
            (ws) => !ws.some((w) => w.id === victim.id),
            5_000
          )
          const after = (yield* inspector.counts).now
          assert.isAtMost(after - before, ttlMillis + 200)
          assert.deepStrictEqual(pids(gone), [stopped.child.pid!])

          // SIGTERM interrupts the main fiber (exit code 130 from NodeRuntime): the worker's scope closes
          assert.deepStrictEqual(yield* Effect.promise(() => stopped.stop("SIGTERM")), { code: 130, signal: null })
          assert.deepStrictEqual(yield* inspector.workers, [])
        }).pipe(
          Effect.provide(
            Heimdall.layerRedis({ queuePrefix: prefix, queue: "registry" }).pipe(Layer.provide(redisLive()))
          )
        )
      )
    })
  })

on(describeRedis, redisLayer, "")
on(describeCluster, clusterLayer, clusterNodes.join(","))
