import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import { afterEach } from "vitest"
import * as Heimdall from "../../src/Heimdall.ts"
import { RedisIoredis } from "../../src/index.ts"
import * as Task from "../../src/Task.ts"
import * as TaskQueue from "../../src/TaskQueue.ts"
import { Left, Probe, Right } from "../fixtures/resilience-tasks.ts"
import { privateServer } from "../support/privateServer.ts"
import { type Child, killAll, spawnFixture } from "../support/processes.ts"
import { describeRedis, keyPrefix, redisLayer, redisUrl } from "../support/redis.ts"

const prefix = keyPrefix(import.meta.url).slice(0, -1)
const workerScript = fileURLToPath(new URL("../fixtures/resilience-worker.ts", import.meta.url))
const producerScript = fileURLToPath(new URL("../fixtures/resilience-producer.ts", import.meta.url))

const startWorker = (url: string, queue: string, env: Record<string, string> = {}): Child =>
  spawnFixture(workerScript, { REDIS_URL: url, KEY_PREFIX: prefix, QUEUE: queue, ...env })
const startProducer = (url: string, queue: string, env: Record<string, string>): Child =>
  spawnFixture(producerScript, { REDIS_URL: url, KEY_PREFIX: prefix, QUEUE: queue, ...env })

const waitLine = (child: Child, pattern: RegExp, ms?: number) =>
  Effect.promise(() => child.waitFor(String(pattern), (l) => pattern.test(l), ms))
const stop = (child: Child, signal: NodeJS.Signals) => Effect.promise(() => child.stop(signal))

/** "start <name> <id> <attempt> <epoch ms>" lines of some workers, parsed. */
const startsOf = (...workers: ReadonlyArray<Child>) =>
  workers.flatMap((w) =>
    w.lines
      .filter((l) => l.startsWith("start "))
      .map((l) => {
        const [, name, id, attempt, at] = l.split(" ")
        return { name: name!, id: id!, attempt: Number(attempt), at: Number(at), pid: w.child.pid }
      })
  )

/** The queue (and the Redis service) on a server, with a short command timeout. */
const queueOn = (url: string, queue: string) =>
  Heimdall.layerRedis({ queuePrefix: prefix, queue }).pipe(
    Layer.provideMerge(RedisIoredis.layer(url, { commandTimeout: "1 second", connectTimeout: "1 second" }))
  )

afterEach(killAll)

describeRedis("Production faults across processes", () => {
  layer(redisLayer(), { excludeTestServices: true, timeout: "120 seconds" })((it) => {
    for (const [label, signal, runtime] of [
      ["SIGKILL", "SIGKILL", "main"],
      ["plain SIGTERM, no graceful shutdown (Effect.runPromise)", "SIGTERM", "promise"]
    ] as const) {
      it.effect(
        `a worker that died idle (${label}): the task handed to it starts on another idle worker within 3 s`,
        () =>
          Effect.gen(function* () {
            const queue = `idle-${signal}`
            // the default idle wait (30 s): the other worker is not woken by its own timer in time
            const doomed = startWorker(redisUrl, queue, { RUNTIME: runtime, LEASE: "30 seconds" })
            yield* waitLine(doomed, /^ready$/)
            const redis = yield* Redis.Redis
            const idle = `${prefix}:{${queue}}:idle`
            while ((yield* redis.send<number>("ZCARD", idle)) < 1) yield* Effect.sleep("10 millis")
            // registered after the doomed one: the doomed one is the longest idle, and is handed the next task
            const alive = startWorker(redisUrl, queue, { LEASE: "30 seconds" })
            yield* Effect.addFinalizer(() => Effect.ignore(stop(alive, "SIGTERM")))
            yield* waitLine(alive, /^ready$/)
            while ((yield* redis.send<number>("ZCARD", idle)) < 2) yield* Effect.sleep("10 millis")
            const exit = yield* stop(doomed, signal)
            assert.strictEqual(exit.signal, signal) // it died; it did not shut down
            const enqueuedAt = Date.now()
            const handle = yield* Task.enqueue(Probe, { n: 1, millis: 1 })
            const line = yield* waitLine(alive, new RegExp(`^start rs-probe ${handle.id} `), 10_000)
            const startedAfter = Number(line.split(" ")[4]) - enqueuedAt
            // it was handed to the dead worker (a 2 s first lease), then taken over
            const record = (yield* (yield* TaskQueue.TaskQueue).get(handle.id))!
            assert.strictEqual(record.redeliveries, 1)
            assert.isAbove(startedAfter, 1500)
            assert.isBelow(startedAfter, 3000)
            assert.deepStrictEqual((yield* Task.join(handle)).pid, alive.child.pid)
            console.log(`[resilience] dead idle worker (${label}): the task started after ${startedAfter} ms`)
          }).pipe(Effect.provide(Heimdall.layerRedis({ queuePrefix: prefix, queue: `idle-${signal}` }))),
        30_000
      )
    }

    it.effect(
      "a mixed fleet: two workers with different task sets on one queue; every task runs once, on the right one",
      () =>
        Effect.gen(function* () {
          const left = startWorker(redisUrl, "mixed", { TASKS: "left", CONCURRENCY: "2" })
          yield* waitLine(left, /^ready$/)
          // a rolling deploy: tasks for workers that do not run yet are enqueued first
          const early = yield* Effect.forEach(
            Array.from({ length: 10 }, (_, i) => i),
            (i) => Task.enqueue(Right, i)
          )
          yield* Effect.sleep("300 millis")
          const right = startWorker(redisUrl, "mixed", { TASKS: "right", CONCURRENCY: "2" })
          yield* waitLine(right, /^ready$/)
          const lefts: Array<Task.Handle<typeof Left>> = []
          const rights: Array<Task.Handle<typeof Right>> = [...early]
          for (let i = 0; i < 50; i++) {
            lefts.push(yield* Task.enqueue(Left, i))
            rights.push(yield* Task.enqueue(Right, 100 + i))
            if (i % 10 === 0) yield* Effect.sleep("20 millis") // now and then both are idle: hand-offs by name
          }
          const leftResults = yield* Effect.forEach(lefts, Task.join, { concurrency: "unbounded" })
          const rightResults = yield* Effect.forEach(rights, Task.join, { concurrency: "unbounded" })
          assert.deepStrictEqual(
            leftResults,
            lefts.map((_, i) => i)
          )
          assert.deepStrictEqual(rightResults, [
            ...early.map((_, i) => i),
            ...Array.from({ length: 50 }, (_, i) => 100 + i)
          ])
          yield* stop(left, "SIGTERM")
          yield* stop(right, "SIGTERM")
          const starts = startsOf(left, right)
          assert.strictEqual(starts.length, 110) // each ran once
          assert.strictEqual(new Set(starts.map((s) => s.id)).size, 110)
          for (const s of starts) assert.strictEqual(s.pid, s.name === "rs-left" ? left.child.pid : right.child.pid)
          // the left worker said once that it leaves "rs-right" to others, however many it met
          const said = left.lines.filter((l) => l.includes(`does not run task "rs-right"`))
          assert.strictEqual(said.length, 1)
        }).pipe(Effect.provide(Heimdall.layerRedis({ queuePrefix: prefix, queue: "mixed" }))),
      60_000
    )

    it.effect(
      "Redis restarted mid-run: workers come back by themselves, log the outage twice, and latency is normal within 2 s",
      () =>
        Effect.flatMap(privateServer(false), (server) =>
          Effect.gen(function* () {
            const workers = [startWorker(server.url, "restart"), startWorker(server.url, "restart")]
            yield* Effect.forEach(workers, (w) => waitLine(w, /^ready$/), { discard: true })
            // probes: one enqueue every 100 ms, before, during and after the outage
            const probes: Array<{ id: string | undefined; calledAt: number; returnedAt: number; ok: boolean }> = []
            const probe = Effect.gen(function* () {
              const calledAt = Date.now()
              const exit = yield* Effect.exit(Task.enqueue(Probe, { n: probes.length, millis: 1 }))
              probes.push({
                id: Exit.isSuccess(exit) ? exit.value.id : undefined,
                calledAt,
                returnedAt: Date.now(),
                ok: Exit.isSuccess(exit)
              })
            })
            const prober = yield* Effect.forkChild(
              Effect.forever(Effect.andThen(Effect.forkChild(probe), Effect.sleep("100 millis")))
            )
            yield* Effect.sleep("1500 millis")
            const killedAt = Date.now()
            yield* Effect.promise(() => server.restart({ signal: "SIGKILL", downMs: 1500 }))
            const backAt = Date.now()
            yield* Effect.sleep("5 seconds")
            yield* Fiber.interrupt(prober)
            yield* Effect.sleep("300 millis")
            const started = new Map(startsOf(...workers).map((s) => [s.id, s.at]))
            // during the outage no call hangs: each fails within the command timeout (1 s) and a margin, or waits
            // for the reconnect and succeeds once Redis is back
            const during = probes.filter((p) => p.calledAt > killedAt + 50 && p.calledAt < backAt)
            for (const p of during) {
              assert.isBelow(p.returnedAt - p.calledAt, 1500)
              // (the server is back at most 20 ms before `restart` sees it answer, never before its downtime ended)
              if (p.ok) assert.isAtLeast(p.returnedAt, killedAt + 1500)
            }
            const failed = during.filter((p) => !p.ok)
            assert.isAtLeast(failed.length, 5)
            // after it: the first probe from which on every probe starts within 100 ms of its enqueue
            const after = probes.filter((p) => p.calledAt >= backAt)
            assert.isAbove(after.length, 30)
            const latency = (p: (typeof after)[number]) =>
              p.id !== undefined && started.has(p.id) ? started.get(p.id)! - p.calledAt : Number.POSITIVE_INFINITY
            let firstNormal = after.length
            for (let i = after.length - 1; i >= 0 && latency(after[i]!) < 100; i--) firstNormal = i
            assert.isBelow(firstNormal, after.length, "latency never came back to normal")
            const recoveredAfter = after[firstNormal]!.calledAt - backAt
            const normal = after
              .slice(firstNormal)
              .map(latency)
              .sort((a, b) => a - b)
            console.log(
              `[resilience] Redis restart: ${failed.length} calls failed during the outage (slowest after ` +
                `${Math.max(...failed.map((p) => p.returnedAt - p.calledAt))} ms); latency normal ${recoveredAfter} ` +
                `ms after Redis was back (then p50 ${normal[Math.floor(normal.length / 2)]} ms, max ${normal.at(-1)} ms)`
            )
            assert.isBelow(recoveredAfter, 2000)
            for (const w of workers) {
              yield* stop(w, "SIGTERM")
              // one warning when the queue was lost, one line when it was back: not a stack per second
              const lost = w.lines.filter((l) => l.includes("worker lost the queue"))
              const back = w.lines.filter((l) => l.includes("reached the queue"))
              assert.strictEqual(lost.length, 1, w.lines.join("\n"))
              assert.strictEqual(back.length, 1, w.lines.join("\n"))
            }
          }).pipe(Effect.provide(queueOn(server.url, "restart")))
        ),
      60_000
    )

    it.effect(
      "a persistent Redis (appendfsync always) killed and restarted mid-run: every acknowledged task runs",
      () =>
        Effect.flatMap(privateServer(true), (server) =>
          Effect.gen(function* () {
            const workers = [startWorker(server.url, "aof"), startWorker(server.url, "aof")]
            yield* Effect.forEach(workers, (w) => waitLine(w, /^ready$/), { discard: true })
            const producer = startProducer(server.url, "aof", { COUNT: "150", GAP: "15", ID_PREFIX: "aof" })
            yield* waitLine(producer, /^enqueued aof-20 /)
            yield* Effect.promise(() => server.restart({ signal: "SIGKILL", downMs: 500 }))
            yield* waitLine(producer, /^finished$/, 30_000)
            const acknowledged = producer.lines.filter((l) => l.startsWith("enqueued ")).map((l) => l.split(" ")[1]!)
            assert.strictEqual(acknowledged.length, 150)
            const retried = producer.lines.filter((l) => l.startsWith("enqueued ") && l.split(" ")[2] !== "1").length
            const results = yield* Effect.forEach(
              acknowledged,
              (id) => Effect.exit(Task.join(Task.handle(Probe, id)).pipe(Effect.timeout("15 seconds"))),
              { concurrency: "unbounded" }
            )
            const lost = acknowledged.filter((_, i) => !Exit.isSuccess(results[i]!))
            const starts = startsOf(...workers)
            const ranTwice = acknowledged.filter((id) => starts.filter((s) => s.id === id).length > 1).length
            console.log(
              `[resilience] persistent Redis killed mid-run: ${acknowledged.length} acknowledged (${retried} after ` +
                `retries), ${lost.length} lost, ${ranTwice} ran twice (their worker lost the lease in the outage)`
            )
            assert.deepStrictEqual(lost, [])
            for (const w of workers) yield* stop(w, "SIGTERM")
          }).pipe(Effect.provide(queueOn(server.url, "aof")))
        ),
      60_000
    )

    it.effect(
      "Redis frozen (SIGSTOP) while producers enqueue: a retried enqueue with its id chosen before the call creates one task",
      () =>
        Effect.flatMap(privateServer(false), (server) =>
          Effect.gen(function* () {
            const worker = startWorker(server.url, "frozen")
            yield* waitLine(worker, /^ready$/)
            const producers = ["p1", "p2"].map((p) =>
              startProducer(server.url, "frozen", { COUNT: "30", GAP: "40", ID_PREFIX: p })
            )
            // both connected and enqueuing before the freeze (a process starting during it could not connect)
            yield* waitLine(producers[0]!, /^enqueued p1-5 /)
            yield* waitLine(producers[1]!, /^enqueued p2-0 /)
            server.freeze()
            yield* Effect.sleep("3 seconds")
            server.thaw()
            yield* Effect.forEach(producers, (p) => waitLine(p, /^finished$/, 30_000), { discard: true })
            const acknowledged = producers.flatMap((p) =>
              p.lines.filter((l) => l.startsWith("enqueued ")).map((l) => l.split(" "))
            )
            assert.strictEqual(acknowledged.length, 60)
            // some enqueues failed (timed out) while Redis was frozen, and were retried with the same id
            const retried = acknowledged.filter(([, , tries]) => Number(tries) > 1)
            assert.isAbove(retried.length, 0)
            yield* Effect.forEach(acknowledged, ([, id]) => Task.join(Task.handle(Probe, id!)), {
              concurrency: "unbounded"
            })
            // exactly one task per enqueue: no second task from a retry of an enqueue that did happen
            const redis = yield* Redis.Redis
            assert.strictEqual(Number(yield* redis.send("HLEN", `${prefix}:{frozen}:tasks`)), 60)
            const starts = startsOf(worker)
            assert.strictEqual(new Set(starts.map((s) => s.id)).size, 60)
            console.log(
              `[resilience] Redis frozen 3 s: ${retried.length} enqueues retried (up to ` +
                `${Math.max(...retried.map(([, , t]) => Number(t)))} tries), 60 tasks, ${starts.length} starts`
            )
            yield* stop(worker, "SIGTERM")
          }).pipe(Effect.provide(queueOn(server.url, "frozen")))
        ),
      60_000
    )
  })
})
