/**
 * The production example pair, run as the README says: `examples/production/worker.ts` and
 * `examples/production/producer.ts` as separate OS processes on the test Redis (each test on a
 * queue of its own). They load `effect-heimdall` from the built `dist/`, as an application would.
 * Every task is followed through its worker's JSON log lines ("rendering", "rendered") and its
 * record in Redis.
 */
import { randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { afterEach } from "vitest"
import * as Heimdall from "../../src/Heimdall.ts"
import * as TaskQueue from "../../src/TaskQueue.ts"
import { type Child, killAll, spawnFixture } from "../support/processes.ts"
import { describeRedis, redisLayer, redisUrl } from "../support/redis.ts"

const example = (file: string) => fileURLToPath(new URL(`../../examples/production/${file}`, import.meta.url))

afterEach(killAll)

interface LogLine {
  readonly message: string
  readonly annotations: { readonly taskId?: string }
}

const logs = (child: Child, message: string): Array<LogLine> =>
  (child.json() as Array<LogLine>).filter((l) => l.message === message)
const taskIds = (child: Child, message: string) => logs(child, message).map((l) => l.annotations.taskId!)

const start = (file: string, queue: string, env: Record<string, string> = {}) =>
  spawnFixture(example(file), { REDIS_URL: redisUrl, HEIMDALL_QUEUE: queue, ...env })

/** A worker process, once it has logged "worker started". */
const startWorker = (queue: string, env: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const worker = start("worker.ts", queue, env)
    yield* Effect.promise(() => worker.waitFor("worker started", (l) => l.includes('"worker started"'), 20_000))
    return worker
  })

/** Polls `check` every 50 ms until it holds; fails with `what` after `ms`. */
const eventually = (what: string, check: () => boolean, ms = 20_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`not within ${ms} ms: ${what}`))
      yield* Effect.sleep("50 millis")
    }
  })

/** Every task's record, read from Redis. */
const records = (ids: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const queue = yield* TaskQueue.TaskQueue
    return yield* Effect.forEach(ids, (id) => Effect.map(queue.get(id), (r) => ({ id, record: r })))
  })

/** Waits until every task has succeeded, then returns the records. */
const allSucceeded = (ids: ReadonlyArray<string>, ms = 30_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (true) {
      const found = yield* records(ids)
      const pending = found.filter((f) => f.record?.state !== "succeeded")
      if (pending.length === 0) return found.map((f) => f.record!)
      if (Date.now() > deadline) {
        const states = pending.slice(0, 10).map((f) => `${f.id}: ${f.record?.state ?? "missing"}`)
        return yield* Effect.die(new Error(`${pending.length} of ${ids.length} not succeeded: ${states.join(", ")}`))
      }
      yield* Effect.sleep("100 millis")
    }
  })

/** How often each task was started, over all the workers' logs. */
const startsPerTask = (workers: ReadonlyArray<Child>) => {
  const starts = new Map<string, number>()
  for (const w of workers) for (const id of taskIds(w, "rendering")) starts.set(id, (starts.get(id) ?? 0) + 1)
  return starts
}

const queueLayer = (queue: string) => Heimdall.layerRedis({ queue }).pipe(Layer.provide(redisLayer()))

describeRedis("the production example, as separate processes", () => {
  layer(Layer.empty, { excludeTestServices: true, timeout: "90 seconds" })((it) => {
    it.effect(
      "SIGTERM a busy worker: its in-flight tasks finish, it exits 0 by itself, and nothing is lost or run twice",
      () => {
        const queue = `prod-term-${randomUUID().slice(0, 8)}`
        return Effect.gen(function* () {
          const first = yield* startWorker(queue, { CONCURRENCY: "4" })
          // 12 tasks of 1.5 s each, enqueued at once
          const producer = start("producer.ts", queue, { COUNT: "12", EVERY: "0 millis", PAGES: "15" })
          assert.deepStrictEqual(yield* Effect.promise(() => producer.exited), { code: 0, signal: null })
          const ids = taskIds(producer, "enqueued")
          assert.strictEqual(ids.length, 12)
          yield* eventually("the first worker runs 4 tasks", () => taskIds(first, "rendering").length === 4)

          const termAt = Date.now()
          assert.deepStrictEqual(yield* Effect.promise(() => first.stop("SIGTERM")), { code: 0, signal: null })
          const exitedAfter = Date.now() - termAt
          // it waited for its running tasks (1.5 s each, just started), well inside its 30 s grace period
          assert.isAbove(exitedAfter, 500)
          assert.isBelow(exitedAfter, 10_000)
          assert.strictEqual(logs(first, "worker stopping: draining the running tasks").length, 1)
          const inFlight = taskIds(first, "rendering")
          assert.strictEqual(inFlight.length, 4) // no new task after the SIGTERM
          assert.sameMembers(taskIds(first, "rendered"), inFlight) // each one finished, none was interrupted

          const second = yield* startWorker(queue, { CONCURRENCY: "4" })
          const done = yield* allSucceeded(ids)
          assert.deepStrictEqual(
            done.map((r) => [r.attempts, r.redeliveries]),
            ids.map(() => [1, 0])
          )
          const starts = startsPerTask([first, second])
          assert.sameMembers([...starts.keys()], ids)
          assert.deepStrictEqual([...new Set(starts.values())], [1]) // each task started exactly once
          assert.strictEqual(taskIds(second, "rendered").length, 8)
          assert.deepStrictEqual(yield* Effect.promise(() => second.stop("SIGTERM")), { code: 0, signal: null })
        }).pipe(Effect.provide(queueLayer(queue)))
      },
      90_000
    )

    it.effect(
      "rolling deploy while the producer enqueues: start 2, stop 1, start 3, stop 2; every task succeeds once",
      () => {
        const queue = `prod-roll-${randomUUID().slice(0, 8)}`
        return Effect.gen(function* () {
          const first = yield* startWorker(queue, { CONCURRENCY: "4" })
          // a task every 40 ms, 200 ms of work each, until the producer is stopped
          const producer = start("producer.ts", queue, { COUNT: "100000", EVERY: "40 millis", PAGES: "2" })
          const enqueued = () => taskIds(producer, "enqueued").length
          yield* eventually("the first worker renders 5 tasks", () => taskIds(first, "rendered").length >= 5)

          const second = yield* startWorker(queue, { CONCURRENCY: "4" })
          assert.deepStrictEqual(yield* Effect.promise(() => first.stop("SIGTERM")), { code: 0, signal: null })
          const third = yield* startWorker(queue, { CONCURRENCY: "4" })
          const before = taskIds(second, "rendered").length
          yield* eventually("the second worker renders more tasks", () => taskIds(second, "rendered").length > before)
          assert.deepStrictEqual(yield* Effect.promise(() => second.stop("SIGTERM")), { code: 0, signal: null })
          const atLastStop = enqueued()
          yield* eventually("the producer enqueues 10 more tasks", () => enqueued() >= atLastStop + 10)
          const producerExit = yield* Effect.promise(() => producer.stop("SIGTERM"))
          assert.strictEqual(producerExit.signal, null) // it stopped by itself on SIGTERM, not killed

          const ids = taskIds(producer, "enqueued")
          assert.isAtLeast(ids.length, 20)
          const done = yield* allSucceeded(ids)
          const workers = [first, second, third]
          const starts = startsPerTask(workers)
          for (const [i, id] of ids.entries()) {
            const r = done[i]!
            const seen = `task ${id}: started ${starts.get(id) ?? 0} times, attempts ${r.attempts}, redeliveries ${r.redeliveries}`
            assert.strictEqual(starts.get(id), 1, seen)
            assert.strictEqual(r.attempts, 1, seen)
          }
          // every worker had a share: the deploy really moved the work from one to the next
          for (const w of workers) assert.isAbove(taskIds(w, "rendered").length, 0)
          // whatever a stopping worker had started, it finished
          for (const w of [first, second]) assert.sameMembers(taskIds(w, "rendered"), taskIds(w, "rendering"))
          assert.deepStrictEqual(yield* Effect.promise(() => third.stop("SIGTERM")), { code: 0, signal: null })
          console.log(
            `rolling deploy: ${ids.length} tasks enqueued and succeeded, each started once; ` +
              `per worker ${workers.map((w) => taskIds(w, "rendered").length).join(" / ")}`
          )
        }).pipe(Effect.provide(queueLayer(queue)))
      },
      90_000
    )
  })
})
