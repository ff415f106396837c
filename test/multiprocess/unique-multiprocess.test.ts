/**
 * What only Redis can show for unique and rate-limited tasks: real OS processes
 * sharing one queue. Worker processes run `test/fixtures/unique-worker.ts`
 * (Node 24 runs .ts directly) and print one JSON line per event.
 *
 * 1. Two worker processes share one rate limit (10 starts per second, keyed
 *    by the task name): every start is checked against every sliding window.
 * 2. A unique task's worker is SIGKILLed mid-task: while the task is orphaned
 *    and after its redelivery to another process, its lock names it and no
 *    duplicate is accepted; once it completes, the key is free again.
 */
import { fileURLToPath } from "node:url"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, type Layer, Option } from "effect"
import * as Redis from "effect/persistence/Redis"
import { afterAll, afterEach } from "vitest"
import { Heimdall, Task, TaskQueue } from "../../src/index.ts"
import { Exclusive, LIMIT, Limited } from "../fixtures/unique-tasks.ts"
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
const script = fileURLToPath(new URL("../fixtures/unique-worker.ts", import.meta.url))

/** The same key layout as the fixture's workers. */
const backend = (queue: string) =>
  Heimdall.layerRedis({
    queue,
    queuePrefix: `${prefix}q`,
    lockPrefix: `${prefix}lock:`,
    ratePrefix: `${prefix}rate:`
  })

// -----------------------------------------------------------------------------
// worker processes
// -----------------------------------------------------------------------------

type Line = { readonly type: string; readonly pid: number } & Record<string, unknown>
interface StartLine extends Line {
  readonly type: "start"
  readonly task: string
  readonly id: string
  readonly attempt: number
  readonly redisUs: number
  readonly localMs: number
  /** Limited only: the score of this start's admission in the limit's log (µs), null when absent. */
  readonly admittedUs?: number | null
}

type WorkerProcess = Child

afterEach(killAll)
afterAll(killAll)

/** The worker's JSON lines, as the fixture prints them. */
const linesOf = (worker: WorkerProcess): Array<Line> => worker.json() as Array<Line>

/** Waits for a JSON line `match` accepts. */
const waitFor = (worker: WorkerProcess, what: string, match: (line: Line) => boolean, ms?: number): Promise<Line> =>
  worker
    .waitFor(
      what,
      (text) => {
        const line = parseJson(text)
        return typeof line === "object" && line !== null && match(line as Line)
      },
      ms
    )
    .then((text) => parseJson(text) as Line)

const ready = (worker: WorkerProcess) =>
  Effect.promise(() => waitFor(worker, "ready line", (l) => l.type === "ready", 15_000))

const stop = (worker: WorkerProcess, signal: NodeJS.Signals) => Effect.promise(() => worker.stop(signal))

const starts = (workers: ReadonlyArray<WorkerProcess>, task: string): Array<StartLine> =>
  workers.flatMap(linesOf).filter((l): l is StartLine => l.type === "start" && l.task === task)

/** Redis TIME in µs. */
const redisMicros = Effect.gen(function* () {
  const [seconds, micros] = yield* (yield* Redis.Redis).send<[string, string]>("TIME")
  return Number(seconds) * 1_000_000 + Number(micros)
})

// -----------------------------------------------------------------------------
// sliding windows (pure)
// -----------------------------------------------------------------------------

/** Spans (last - first) of every run of `n` consecutive points, in time order. */
const spans = (points: ReadonlyArray<number>, n: number): Array<number> => {
  const sorted = [...points].sort((a, b) => a - b)
  const out: Array<number> = []
  for (let i = 0; i + n - 1 < sorted.length; i++) out.push(sorted[i + n - 1]! - sorted[i]!)
  return out
}

/**
 * Windows that hold more than `times` points: a window of length `perMs` holds
 * `times + 1` points exactly when some `times + 1` consecutive points span less
 * than `perMs`. Returns how many such runs there are when points may be late by
 * up to `toleranceMs` (a run counts only if it spans less than `perMs - toleranceMs`).
 */
const violations = (points: ReadonlyArray<number>, times: number, perMs: number, toleranceMs: number) =>
  spans(points, times + 1).filter((span) => span < perMs - toleranceMs).length

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits

describe("sliding-window checker", () => {
  it("counts runs of times + 1 points inside one window, with and without tolerance", () => {
    // 2 per 1000 ms, exact: every 3 consecutive points span 1000 ms or more
    assert.strictEqual(violations([0, 1, 1000, 1001, 2000, 2001], 2, 1000, 0), 0)
    // a fixed window's boundary burst: 4 points within 21 ms
    assert.strictEqual(violations([990, 991, 1010, 1011], 2, 1000, 0), 2)
    // an 11th start 999 ms after the first: a violation, forgiven only by a tolerance of more than 1 ms
    const late = [...Array.from({ length: 10 }, (_, i) => i), 999]
    assert.strictEqual(violations(late, 10, 1000, 0), 1)
    assert.strictEqual(violations(late, 10, 1000, 1), 0)
    assert.strictEqual(violations(late, 10, 1000, 0.5), 1)
    assert.deepStrictEqual(spans([5, 0, 10, 1000], 3), [10, 995])
  })
})

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

/**
 * The tolerance of the start-time check, in ms.
 *
 * What is guaranteed: a worker admits a rate-limited start with one script on
 * Redis TIME (µs), right before the handler runs: "task" mode (admit now, else
 * book a slot and reschedule), or "booked" mode at a booked slot (admit now if
 * the admissions in (now - per, now] leave room, else book again). Admissions
 * are thus decided atomically, on one clock, and no window of `per` holds more
 * than `times` of them: that log is checked exactly (tolerance 0), with each
 * start's own admission time read back from the limit's sorted set.
 *
 * A start is observed after its admission: the handler's first Redis TIME read
 * comes after the admitting script's reply, the worker's few steps before the
 * handler, and a round trip (delay d >= 0, asserted). So any `times + 1` starts
 * span at least `per - max d`. d is small on an idle machine (median 1-3 ms;
 * the booked slot's wake-up latency is not in it: admission happens after the
 * claim) but has no bound except the machine's load: a GC pause or a busy event
 * loop with 10 handlers per process, on 2 shared cores (we saw up to 56 ms).
 * We allow 100 ms on the observed starts; the counts without tolerance are
 * reported, and the measured delays too. A limiter that admits an 11th start
 * more than 100 ms early (a fixed window's boundary burst, an off-by-one, a
 * start that skipped its check) still fails it; one that is early by less
 * fails the exact check on admissions.
 */
const TOLERANCE_MS = 100

/** The same proofs on one server and on the local Redis Cluster (worker processes connect to what the test uses). */
const on = (
  describeOn: (name: string, body: () => void) => void,
  redisLive: () => Layer.Layer<Redis.Redis, Redis.RedisError>,
  clusterNodes: string
) =>
  describeOn("Unique and rate-limited tasks across processes", () => {
    const startWorker = (queue: string, env: Record<string, string> = {}): WorkerProcess =>
      spawnFixture(script, {
        REDIS_URL: redisUrl,
        CLUSTER_NODES: clusterNodes,
        KEY_PREFIX: prefix,
        QUEUE: queue,
        ...env
      })
    layer(redisLive(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
      it.effect(
        "two worker processes share one rate limit: no sliding 1 s window holds more than 10 starts",
        () =>
          Effect.gen(function* () {
            const N = 60
            const queue = "rate"
            const a = startWorker(queue, { CONCURRENCY: "10", LEASE: "10 seconds" })
            const b = startWorker(queue, { CONCURRENCY: "10", LEASE: "10 seconds" })
            yield* Effect.addFinalizer(() => Effect.all([stop(a, "SIGKILL"), stop(b, "SIGKILL")]))
            yield* Effect.all([ready(a), ready(b)], { concurrency: 2 })

            const enqueuedFrom = yield* redisMicros
            const handles = yield* Effect.forEach(
              Array.from({ length: N }, (_, n) => n),
              (n) => Task.enqueue(Limited, { n }),
              { concurrency: "unbounded" }
            )
            const enqueuedTo = yield* redisMicros
            yield* Effect.forEach(handles, Task.join, { concurrency: "unbounded", discard: true })
            // the start lines were written before the tasks completed; let the pipes deliver them
            yield* Effect.sleep("20 millis").pipe(
              Effect.repeat({ until: () => starts([a, b], Limited.name).length >= N }),
              Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.void })
            )

            // every task ran once, on its first attempt, and none was lost or run twice
            const lines = starts([a, b], Limited.name)
            assert.strictEqual(lines.length, N, "one start per task")
            assert.deepStrictEqual(
              lines.map((l) => l.id).sort(),
              handles.map((h) => h.id).sort(),
              "the started ids are the enqueued ids"
            )
            assert.isTrue(
              lines.every((l) => l.attempt === 1),
              "every start is attempt 1"
            )
            const tq = yield* TaskQueue.TaskQueue
            const records = yield* Effect.forEach(handles, (h) => tq.get(h.id))
            assert.deepStrictEqual(
              records.map((r) => r?.state),
              handles.map((): string | undefined => "succeeded")
            )
            assert.deepStrictEqual(
              records.map((r) => r?.attempts),
              handles.map(() => 1),
              "no retry spent"
            )
            assert.deepStrictEqual(
              records.map((r) => r?.redeliveries),
              handles.map(() => 0)
            )
            const rescheduled = records.filter((r) => (r?.reschedules ?? 0) > 0)
            // all N were claimed within the first second: all but the first `times` were over the limit
            assert.isAtLeast(rescheduled.length, N - LIMIT.times, "over the limit: rescheduled, not failed")
            const perProcess = {
              a: lines.filter((l) => l.pid === a.child.pid).length,
              b: lines.filter((l) => l.pid === b.child.pid).length
            }
            assert.strictEqual(perProcess.a + perProcess.b, N)
            assert.isAbove(perProcess.a, 0, "process a ran tasks")
            assert.isAbove(perProcess.b, 0, "process b ran tasks")

            // the admission log, exactly: every start has its admission, no window of `per` holds more than `times`
            const admitted = lines.map((l) => l.admittedUs)
            assert.isTrue(
              admitted.every((x) => typeof x === "number"),
              "every start found its admission in the log"
            )
            const admissionsMs = (admitted as Array<number>).map((us) => us / 1000)
            const admissionMinSpan = Math.min(...spans(admissionsMs, LIMIT.times + 1))
            const admissionViolations = violations(admissionsMs, LIMIT.times, LIMIT.perMs, 0)
            // each start is observed after its admission
            const delays = lines.map((l) => (l.redisUs - (l.admittedUs as number)) / 1000).sort((x, y) => x - y)

            // the observed starts, on Redis TIME (µs, one clock for every process)
            const redisMs = lines.map((l) => l.redisUs / 1000)
            const redisSpans = spans(redisMs, LIMIT.times + 1)
            const minSpan = Math.min(...redisSpans)
            const strict = violations(redisMs, LIMIT.times, LIMIT.perMs, 0)
            const tolerant = violations(redisMs, LIMIT.times, LIMIT.perMs, TOLERANCE_MS)
            // the same on each process's local clock (performance.timeOrigin + now; not one clock: reported only)
            const localMs = lines.map((l) => l.localMs)
            const localMinSpan = Math.min(...spans(localMs, LIMIT.times + 1))

            // utilization: N starts at `times` per `per` need (ceil(N / times) - 1) * per between the first and
            // the last start at best; achieved rate = N / (last - first + per), allowed = times / per
            const sorted = [...redisMs].sort((x, y) => x - y)
            const spanMs = sorted[N - 1]! - sorted[0]!
            const idealSpanMs = (Math.ceil(N / LIMIT.times) - 1) * LIMIT.perMs
            const achievedPerSecond = (N / (spanMs + LIMIT.perMs)) * 1000
            const allowedPerSecond = (LIMIT.times / LIMIT.perMs) * 1000
            const reschedules: Record<number, number> = {}
            for (const r of records) reschedules[r!.reschedules] = (reschedules[r!.reschedules] ?? 0) + 1
            const report = {
              starts: N,
              perProcess,
              reschedules,
              enqueueMs: round((enqueuedTo - enqueuedFrom) / 1000),
              admissionMinSpanOf11Ms: round(admissionMinSpan),
              admissionViolatingWindows: admissionViolations,
              startDelayAfterAdmissionMs: {
                min: round(delays[0]!),
                median: round(delays[Math.floor(N / 2)]!),
                max: round(delays[N - 1]!)
              },
              minSpanOf11Ms: round(minSpan),
              violatingWindowsStrict: strict,
              violatingWindowsWithTolerance: tolerant,
              toleranceMs: TOLERANCE_MS,
              localClockMinSpanOf11Ms: round(localMinSpan),
              localClockViolatingWindowsStrict: violations(localMs, LIMIT.times, LIMIT.perMs, 0),
              firstToLastMs: round(spanMs),
              idealFirstToLastMs: idealSpanMs,
              achievedPerSecond: round(achievedPerSecond),
              allowedPerSecond,
              utilization: round(achievedPerSecond / allowedPerSecond)
            }
            console.log(`[unique-multiprocess] rate: ${JSON.stringify(report)}`)
            if (process.env.DEBUG_RATE) {
              const t0 = sorted[0]!
              for (const l of [...lines].sort((x, y) => x.redisUs - y.redisUs)) {
                const r = records.find((r) => r!.id === l.id)!
                console.log(
                  `n=${l.n} pid=${l.pid} reschedules=${r.reschedules} runAt=${round(r.runAt - t0)} ` +
                    `admitted=${round((l.admittedUs as number) / 1000 - t0)} start=${round(l.redisUs / 1000 - t0)}`
                )
              }
            }

            const detail = JSON.stringify(report)
            assert.strictEqual(admissionViolations, 0, `admissions: 11 within ${LIMIT.perMs} ms: ${detail}`)
            assert.isAtLeast(delays[0]!, 0, "no start is observed before its admission")
            assert.strictEqual(
              tolerant,
              0,
              `11 starts within ${LIMIT.perMs - TOLERANCE_MS} ms: ${detail}; spans ${redisSpans.map((x) => round(x, 1))}`
            )
            assert.isAtLeast(minSpan, LIMIT.perMs - TOLERANCE_MS)
            // throughput: not grossly below the limit (the ideal needs 5 s here; a stall or a starved task would not)
            assert.isAtMost(spanMs, 2 * idealSpanMs, detail)
          }).pipe(Effect.provide(backend("rate"))),
        60_000
      )

      it.effect(
        "SIGKILL mid-task: the orphaned and then redelivered unique task keeps its lock, no duplicate is accepted",
        () =>
          Effect.gen(function* () {
            const queueName = "kill"
            const payload = { customerId: 7 }
            const tq = yield* TaskQueue.TaskQueue
            const redis = yield* Redis.Redis
            const lockKey = tq.lockKey(yield* Task.uniqueKey(Exclusive, payload))
            const holder = Effect.map(
              Heimdall.inspectLock(lockKey),
              Option.map((info) => info.holder)
            )
            const queueKey = (name: string) => `${prefix}q:{${queueName}}:${name}`

            // the first worker starts the task and hangs in it
            const first = startWorker(queueName, { LEASE: "1 second", HOLD_MS: "600000" })
            yield* Effect.addFinalizer(() => stop(first, "SIGKILL"))
            yield* ready(first)
            const handle = yield* Task.enqueue(Exclusive, payload)
            const id = handle.id
            yield* Effect.promise(() =>
              waitFor(first, `start of ${id}`, (l) => l.type === "start" && l.id === id && l.attempt === 1)
            )
            assert.strictEqual(yield* Task.status(handle), "running")
            assert.deepStrictEqual(yield* holder, Option.some(id))

            // SIGKILL: no finalizer runs, the task is orphaned with its lease and its lock
            const killedAtUs = yield* redisMicros
            assert.deepStrictEqual(yield* stop(first, "SIGKILL"), { code: null, signal: "SIGKILL" })

            // orphaned, before the lease lapses: same id, the lock names the task, nothing new was queued
            const orphanAgain = yield* Task.enqueue(Exclusive, payload)
            assert.strictEqual(orphanAgain.id, id, "no duplicate while orphaned")
            assert.deepStrictEqual(yield* holder, Option.some(id), "the orphan holds its lock")
            const orphan = (yield* tq.get(id))!
            assert.strictEqual(orphan.state, "running")
            assert.strictEqual(orphan.redeliveries, 0)
            assert.strictEqual(yield* redis.send<number>("LLEN", queueKey("ready")), 0)
            assert.strictEqual(yield* redis.send<number>("ZCARD", queueKey("scheduled")), 0)
            const leaseUntilMs = Number(yield* redis.send<string>("ZSCORE", queueKey("running"), id))
            const checkedAtUs = yield* redisMicros
            assert.isBelow(checkedAtUs / 1000, leaseUntilMs, "the orphan checks ran before the lease lapsed")

            // a second process redelivers it once the lease lapsed
            const second = startWorker(queueName, { LEASE: "1 second", HOLD_MS: "1500" })
            yield* Effect.addFinalizer(() => stop(second, "SIGKILL"))
            const rerun = (yield* Effect.promise(() =>
              waitFor(second, `redelivered start of ${id}`, (l) => l.type === "start" && l.id === id, 15_000)
            )) as StartLine
            assert.strictEqual(rerun.attempt, 2)
            assert.isAtLeast(rerun.redisUs / 1000, leaseUntilMs, "not redelivered before the lease lapsed")

            // redelivered and running again: still the same id, still its lock
            const redeliveredAgain = yield* Task.enqueue(Exclusive, payload)
            assert.strictEqual(redeliveredAgain.id, id, "no duplicate after redelivery")
            assert.deepStrictEqual(yield* holder, Option.some(id), "the redelivered task holds its lock")
            const running = (yield* tq.get(id))!
            assert.strictEqual(running.state, "running")
            assert.strictEqual(running.redeliveries, 1)
            assert.strictEqual(running.attempts, 2)

            // it completes in the second process; then the lock is free and a new task is accepted
            assert.deepStrictEqual(yield* Task.join(handle), { pid: second.child.pid!, attempt: 2 })
            const finished = (yield* tq.get(id))!
            assert.strictEqual(finished.state, "succeeded")
            assert.isAtLeast(finished.redeliveries, 1)
            assert.deepStrictEqual(yield* holder, Option.none(), "freed when the task ended")
            const next = yield* Task.enqueue(Exclusive, payload)
            assert.notStrictEqual(next.id, id, "a new task once the first ended")
            assert.deepStrictEqual(yield* holder, Option.some(next.id))
            assert.deepStrictEqual(yield* Task.join(next), { pid: second.child.pid!, attempt: 1 })
            assert.deepStrictEqual(yield* holder, Option.none())

            // each run is accounted for: the killed one, the redelivered one, the new task
            const runs = starts([first, second], Exclusive.name).map((l) => [l.pid, l.id, l.attempt])
            assert.deepStrictEqual(runs, [
              [first.child.pid, id, 1],
              [second.child.pid, id, 2],
              [second.child.pid, next.id, 1]
            ])
            const report = {
              id,
              newId: next.id,
              leaseLapsedAfterKillMs: round(leaseUntilMs - killedAtUs / 1000),
              orphanChecksDoneAfterKillMs: round((checkedAtUs - killedAtUs) / 1000),
              redeliveredAfterKillMs: round((rerun.redisUs - killedAtUs) / 1000),
              redeliveredAfterLeaseMs: round(rerun.redisUs / 1000 - leaseUntilMs),
              redeliveries: finished.redeliveries,
              attempts: finished.attempts
            }
            console.log(`[unique-multiprocess] sigkill: ${JSON.stringify(report)}`)
            yield* stop(second, "SIGTERM")
          }).pipe(Effect.provide(backend("kill"))),
        60_000
      )
    })
  })

on(describeRedis, redisLayer, "")
on(describeCluster, clusterLayer, clusterNodes.join(","))
