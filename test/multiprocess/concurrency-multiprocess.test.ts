/**
 * Per-key concurrency across processes: 4 OS processes (test/fixtures/concurrency-worker.ts), each a worker with 4
 * slots, run `Fair` (at most LIMIT running per key) from one queue on one Redis. This process enqueues a heavy key's
 * HEAVY tasks of HOLD_MS each (in batches), then one task of a light key. From the runs' start and end times (Redis
 * TIME, printed by the handlers): never more than LIMIT running per key at once, and the light task's wait (its
 * enqueue to its start) is a few task durations, not the heavy key's backlog (HEAVY / LIMIT task durations).
 *
 * A second test SIGKILLs a worker process while it runs a task of a key at its limit: the task keeps its admission,
 * its lease lapses and it runs again in another process, and the key never runs more than LIMIT at once.
 *
 * The figures are printed for the closing note.
 */
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Redis from "effect/persistence/Redis"
import { afterAll, afterEach } from "vitest"
import { Heimdall, Task, TaskQueue } from "../../src/index.ts"
import { Fair, LIMIT } from "../fixtures/concurrency-tasks.ts"
import { type Child, killAll, spawnFixture } from "../support/processes.ts"
import { describeRedis, keyPrefix, redisLayer, redisUrl } from "../support/redis.ts"

const prefix = keyPrefix(import.meta.url)
const script = fileURLToPath(new URL("../fixtures/concurrency-worker.ts", import.meta.url))

afterEach(killAll)
afterAll(killAll)

type Line = { readonly type: string; readonly pid: number; readonly id: string; readonly key: string } & Record<
  string,
  any
>
const linesOf = (children: ReadonlyArray<Child>): Array<Line> => children.flatMap((c) => c.json() as Array<Line>)

const PROCESSES = 4
const HEAVY = 2000
const HOLD_MS = 5
const queueName = "fair"

/** The most runs of `key` at once, from their start and end times. */
const mostAtOnce = (lines: ReadonlyArray<Line>, key: string) => {
  const events = lines
    .filter((l) => l.key === key && (l.type === "start" || l.type === "done"))
    // at one instant an end comes before a start: the slot was given back first
    .map((l) => [l.redisUs as number, l.type === "start" ? 1 : -1] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let now = 0
  let most = 0
  for (const [, step] of events) {
    now += step
    most = Math.max(most, now)
  }
  return most
}

const backend = (queue: string) =>
  Heimdall.layerRedis({ queue, queuePrefix: `${prefix}q`, lockPrefix: `${prefix}lock:`, ratePrefix: `${prefix}rate:` })

describeRedis("Per-key concurrency across processes", () => {
  layer(redisLayer(), { excludeTestServices: true, timeout: "180 seconds" })((it) => {
    it.effect(
      `4 processes: never more than ${LIMIT} running per key; a light key's task waits a few task durations behind ${HEAVY} of a heavy key`,
      () =>
        Effect.gen(function* () {
          const children = Array.from({ length: PROCESSES }, () =>
            spawnFixture(script, {
              REDIS_URL: redisUrl,
              KEY_PREFIX: prefix,
              QUEUE: queueName,
              HOLD_MS: String(HOLD_MS),
              CONCURRENCY: "4"
            })
          )
          yield* Effect.addFinalizer(() =>
            Effect.promise(() => Promise.all(children.map((c) => c.stop("SIGTERM")))).pipe(Effect.ignore)
          )
          yield* Effect.promise(() =>
            Promise.all(children.map((c) => c.waitFor("ready", (l) => l.includes('"type":"ready"'), 20_000)))
          )
          const heavy = yield* Task.enqueueAll(
            Fair,
            Array.from({ length: HEAVY }, (_, n) => ({ key: "heavy", n }))
          )
          assert.isTrue(heavy.every((r) => r._tag === "Success"))
          const light = yield* Task.enqueue(Fair, { key: "light", n: 0 })
          yield* Task.join(light)
          const queue = yield* TaskQueue.TaskQueue
          const lightRecord = (yield* queue.get(light.id))!
          const enqueuedAt = lightRecord.enqueuedAt
          const doneCount = () => linesOf(children).filter((l) => l.type === "done").length
          yield* Effect.sleep("100 millis").pipe(
            Effect.repeat({ until: () => doneCount() >= HEAVY + 1 }),
            Effect.timeoutOrElse({ duration: "150 seconds", orElse: () => Effect.void })
          )
          const lines = linesOf(children)
          const starts = lines.filter((l) => l.type === "start")
          const lightStart = starts.find((l) => l.id === light.id)!
          const heavyStarts = starts.filter((l) => l.key === "heavy").sort((a, b) => a.redisUs - b.redisUs)
          const waitMs = lightStart.redisUs / 1000 - enqueuedAt
          const heavyStartedBefore = heavyStarts.filter((l) => l.redisUs < lightStart.redisUs).length
          const heavyMs = (heavyStarts.at(-1)!.redisUs - heavyStarts[0]!.redisUs) / 1000
          const report = {
            processes: PROCESSES,
            slotsPerProcess: 4,
            limit: LIMIT,
            heavyTasks: HEAVY,
            holdMs: HOLD_MS,
            runs: starts.length,
            mostAtOnce: { heavy: mostAtOnce(lines, "heavy"), light: mostAtOnce(lines, "light") },
            lightWaitMs: Math.round(waitMs * 10) / 10,
            lightWaitInTaskDurations: Math.round((waitMs / HOLD_MS) * 10) / 10,
            // enqueue to claim (the rest of the wait is the worker process starting the handler)
            lightClaimedAfterMs: (lightRecord.startedAt ?? Number.NaN) - enqueuedAt,
            heavyStartedBeforeLight: heavyStartedBefore,
            heavyFirstToLastStartMs: Math.round(heavyMs),
            heavyAverageTaskMs: Math.round((heavyMs / (HEAVY / LIMIT)) * 10) / 10,
            runsPerProcess: Object.fromEntries(
              children.map((c) => [c.child.pid, starts.filter((r) => r.pid === c.child.pid).length])
            )
          }
          console.log(`[concurrency-multiprocess] ${JSON.stringify(report)}`)
          assert.strictEqual(starts.length, HEAVY + 1, "every task ran once")
          assert.strictEqual(new Set(starts.map((l) => l.id)).size, HEAVY + 1)
          assert.isAtMost(report.mostAtOnce.heavy, LIMIT, JSON.stringify(report))
          assert.strictEqual(report.mostAtOnce.heavy, LIMIT, "the limit was used")
          // generous: the heavy key's backlog ahead of it was HEAVY / LIMIT task durations (5 s)
          assert.isAtMost(waitMs, 100 * HOLD_MS, JSON.stringify(report))
          assert.isAtMost(heavyStartedBefore, 50, JSON.stringify(report))
          // FIFO within the key: task n is admitted only when n - LIMIT + 1 of the key's tasks ended (a handler prints
          // "done" before its completion reaches Redis, so at least that many "done" lines come before its start)
          const heavyDones = lines
            .filter((l) => l.type === "done" && l.key === "heavy")
            .map((l) => l.redisUs as number)
            .sort((a, b) => a - b)
          let ended = 0
          const early = heavyStarts.filter((l) => {
            while (ended < heavyDones.length && heavyDones[ended]! <= l.redisUs) ended++
            return ended < (l.n as number) - LIMIT + 1
          })
          assert.deepStrictEqual(
            early.map((l) => l.n),
            [],
            "no task of the key started before its turn"
          )
        }).pipe(Effect.provide(backend(queueName))),
      180_000
    )

    it.effect(
      `a SIGKILLed worker's task keeps its admission: it runs again elsewhere, never more than ${LIMIT} at once`,
      () =>
        Effect.gen(function* () {
          const HOLD = 400
          const children = Array.from({ length: PROCESSES }, () =>
            spawnFixture(script, {
              REDIS_URL: redisUrl,
              KEY_PREFIX: prefix,
              QUEUE: "fair-kill",
              HOLD_MS: String(HOLD),
              CONCURRENCY: "2",
              LEASE_MS: "1000"
            })
          )
          yield* Effect.addFinalizer(() =>
            Effect.promise(() => Promise.all(children.map((c) => c.stop("SIGTERM")))).pipe(Effect.ignore)
          )
          yield* Effect.promise(() =>
            Promise.all(children.map((c) => c.waitFor("ready", (l) => l.includes('"type":"ready"'), 20_000)))
          )
          const handles = yield* Effect.forEach(
            Array.from({ length: 8 }, (_, n) => n),
            (n) => Task.enqueue(Fair, { key: "k", n })
          )
          // the first run's process dies mid-run
          const victim = yield* Effect.promise(() =>
            Promise.race(
              children.map((c) => c.waitFor("a start", (l) => l.includes('"type":"start"'), 20_000).then(() => c))
            )
          )
          yield* Effect.sleep("50 millis")
          yield* Effect.promise(() => victim.stop("SIGKILL"))
          const redis = yield* Redis.Redis
          const [seconds, micros] = yield* redis.send<[string, string]>("TIME")
          const killedAt = Number(seconds) * 1_000_000 + Number(micros)
          // the runs the process had begun and not ended ended when it died
          const own = victim.json() as Array<Line>
          const killed = own.filter((l) => l.type === "start" && !own.some((d) => d.type === "done" && d.id === l.id))
          assert.isAbove(killed.length, 0)
          for (const h of handles) yield* Task.join(h)
          const lines = linesOf(children)
          const runs = [...lines, ...killed.map((l) => ({ ...l, type: "done", redisUs: killedAt }))]
          const queue = yield* TaskQueue.TaskQueue
          const records = yield* Effect.forEach(killed, (l) => queue.get(l.id))
          const starts = lines.filter((l) => l.type === "start")
          const report = {
            tasks: handles.length,
            holdMs: HOLD,
            leaseMs: 1000,
            starts: starts.length,
            killedRuns: killed.length,
            killedTasksStarts: killed.map((k) => starts.filter((l) => l.id === k.id).length),
            killedTasksRedeliveries: records.map((r) => r?.redeliveries),
            mostAtOnce: mostAtOnce(runs, "k")
          }
          console.log(`[concurrency-multiprocess] SIGKILL: ${JSON.stringify(report)}`)
          for (const [i, k] of killed.entries()) {
            assert.strictEqual(records[i]?.state, "succeeded")
            assert.strictEqual(records[i]?.redeliveries, 1, "its lease lapsed once")
            // the processes' lines in time order (linesOf lists them process by process)
            const again = starts.filter((l) => l.id === k.id).sort((a, b) => a.redisUs - b.redisUs)
            assert.strictEqual(again.length, 2, "it ran again")
            assert.strictEqual(again[0]!.pid, victim.child.pid)
            assert.notStrictEqual(again[1]!.pid, victim.child.pid, "in another process")
          }
          assert.strictEqual(starts.length, handles.length + killed.length, "every other task ran once")
          assert.isAtMost(report.mostAtOnce, LIMIT, JSON.stringify(report))
          assert.strictEqual(report.mostAtOnce, LIMIT, "the limit was used")
        }).pipe(Effect.provide(backend("fair-kill"))),
      120_000
    )
  })
})
