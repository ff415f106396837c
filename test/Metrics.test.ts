/**
 * The metrics of `Task.metrics` and `Heimdall.metrics`: each test runs with a
 * fresh `MetricRegistry` and asserts the recorded values (counts, sums,
 * buckets). Memory backend on `TestClock`, so times are exact; one test runs
 * a worker on Redis.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Metric, Schedule, Schema, type Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Heimdall from "../src/Heimdall.ts"
import * as Inspector from "../src/Inspector.ts"
import * as Task from "../src/Task.ts"
import * as TaskQueue from "../src/TaskQueue.ts"
import * as Worker from "../src/Worker.ts"
import { hasRedis, keyPrefix, redisLayer } from "./support/redis.ts"

/** Runs `body` with a registry of its own (no test sees another's series) and a fresh memory backend. */
const isolated = <A, E>(body: Effect.Effect<A, E, Heimdall.Heimdall | TaskQueue.TaskQueue | Scope.Scope>) =>
  body.pipe(
    Effect.scoped,
    Effect.provide(Heimdall.layerMemory),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

const counterOf = (
  metric: Metric.Metric<number, Metric.CounterState<number>>,
  attributes: Record<string, string> = {}
) => Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (s) => s.count)

const histogramOf = (metric: Metric.Metric<number, Metric.HistogramState>, attributes: Record<string, string> = {}) =>
  Metric.value(Metric.withAttributes(metric, attributes))

/** The cumulative count of a histogram at `boundary`. */
const bucket = (state: Metric.HistogramState, boundary: number) => state.buckets.find(([b]) => b === boundary)?.[1]

const startWorker = (impls: ReadonlyArray<Task.Implementation<any, never>>, concurrency = 1) =>
  Layer.build(Worker.layer({ concurrency, tasks: impls }))

/** Lets `total` ms pass in steps, so that the worker's work on TestClock runs in order. */
const advanceSteps = (total: number, step = 10) =>
  Effect.gen(function* () {
    for (let t = 0; t < total; t += step) yield* TestClock.adjust(step)
  })

describe("Task.metrics (memory, TestClock)", () => {
  it.effect("enqueue-to-start: the first attempt's wait from its enqueue, delays included, retries not", () =>
    isolated(
      Effect.gen(function* () {
        const Slow = Task.make("metrics-slow", { payload: Schema.Number })
        yield* startWorker([Task.implement(Slow, (ms) => Effect.sleep(ms))])
        const first = yield* Task.enqueue(Slow, 500) // starts at once: 0 ms
        const second = yield* Task.enqueue(Slow, 100) // waits for the one slot: 500 ms
        const delayed = yield* Task.enqueue(Slow, 0, { delay: "3 seconds" }) // 3 000 ms
        const joined = yield* Effect.forkChild(Effect.all([first, second, delayed].map((h) => Task.join(h))))
        yield* advanceSteps(3_100)
        yield* Fiber.join(joined)
        const waits = yield* histogramOf(Task.metrics.enqueueToStart, { task: "metrics-slow" })
        assert.strictEqual(waits.count, 3)
        assert.strictEqual(waits.sum, 0 + 500 + 3_000)
        assert.strictEqual(waits.min, 0)
        assert.strictEqual(waits.max, 3_000)
        assert.strictEqual(bucket(waits, 1), 1) // 0 ms
        assert.strictEqual(bucket(waits, 500), 2) // and 500 ms
        assert.strictEqual(bucket(waits, 2_500), 2)
        assert.strictEqual(bucket(waits, 5_000), 3) // and 3 000 ms
        // the untagged series (another task's) is untouched: the attribute is the task's name
        assert.strictEqual((yield* histogramOf(Task.metrics.enqueueToStart)).count, 0)
        assert.strictEqual(yield* counterOf(Task.metrics.started, { task: "metrics-slow" }), 3)
      })
    )
  )

  it.effect("run duration per outcome; retries counted, a retried attempt records no enqueue-to-start", () =>
    isolated(
      Effect.gen(function* () {
        class Flaky extends Schema.TaggedError<Flaky>()("Flaky", {}) {}
        const Retried = Task.make("metrics-retried", {
          payload: Schema.Number,
          error: Flaky,
          retry: Schedule.spaced("1 second").pipe(Schedule.upTo({ times: 2 }))
        })
        let calls = 0
        const impl = Task.implement(Retried, () =>
          Effect.suspend(() => {
            calls++
            // 200 ms then fail, twice; then 50 ms and succeed
            return calls <= 2 ? Effect.andThen(Effect.sleep(200), Effect.fail(new Flaky())) : Effect.sleep(50)
          })
        )
        yield* startWorker([impl])
        const handle = yield* Task.enqueue(Retried, 1)
        const joined = yield* Effect.forkChild(Task.join(handle))
        yield* advanceSteps(2_600)
        yield* Fiber.join(joined)
        const task = { task: "metrics-retried" }
        const failures = yield* histogramOf(Task.metrics.runDuration, { ...task, outcome: "failure" })
        const successes = yield* histogramOf(Task.metrics.runDuration, { ...task, outcome: "success" })
        assert.deepStrictEqual([failures.count, failures.sum, failures.min, failures.max], [2, 400, 200, 200])
        assert.deepStrictEqual([successes.count, successes.sum], [1, 50])
        assert.strictEqual(bucket(failures, 100), 0)
        assert.strictEqual(bucket(failures, 250), 2)
        assert.strictEqual(bucket(successes, 50), 1)
        assert.strictEqual(bucket(successes, 25), 0)
        assert.strictEqual(yield* counterOf(Task.metrics.retried, task), 2)
        assert.strictEqual(yield* counterOf(Task.metrics.failed, task), 0)
        assert.strictEqual(yield* counterOf(Task.metrics.succeeded, task), 1)
        assert.strictEqual(yield* counterOf(Task.metrics.started, task), 3)
        const waits = yield* histogramOf(Task.metrics.enqueueToStart, task)
        assert.deepStrictEqual([waits.count, waits.sum], [1, 0]) // the first attempt only
      })
    )
  )

  it.effect("a failure for good is counted; a defect and a timeout are failures of the run", () =>
    isolated(
      Effect.gen(function* () {
        const Doomed = Task.make("metrics-doomed", { payload: Schema.Number, timeout: "300 millis" })
        yield* startWorker([
          Task.implement(Doomed, (n) => (n === 0 ? Effect.die("boom") : Effect.sleep("1 hour"))),
          Task.implement(Task.make("metrics-unused", { payload: Schema.Number }), () => Effect.void)
        ])
        const defect = yield* Task.enqueue(Doomed, 0)
        const timeout = yield* Task.enqueue(Doomed, 1)
        const joined = yield* Effect.forkChild(Effect.all([defect, timeout].map((h) => Effect.exit(Task.join(h)))))
        yield* advanceSteps(400)
        const exits = yield* Fiber.join(joined)
        assert.isTrue(exits.every(Exit.isFailure))
        const task = { task: "metrics-doomed" }
        const failures = yield* histogramOf(Task.metrics.runDuration, { ...task, outcome: "failure" })
        assert.deepStrictEqual([failures.count, failures.sum], [2, 300]) // 0 ms and the 300 ms timeout
        assert.strictEqual(yield* counterOf(Task.metrics.failed, task), 2)
        assert.strictEqual(yield* counterOf(Task.metrics.retried, task), 0)
        assert.strictEqual((yield* histogramOf(Task.metrics.runDuration, { ...task, outcome: "success" })).count, 0)
      })
    )
  )

  it.effect(
    "a rate-limited task is rescheduled without an attempt; its wait for the slot is its enqueue-to-start",
    () =>
      isolated(
        Effect.gen(function* () {
          const Limited = Task.make("metrics-limited", {
            payload: Schema.Number,
            rateLimit: { times: 1, per: "1 second", margin: 0, jitter: 0 }
          })
          yield* startWorker([Task.implement(Limited, () => Effect.void)], 2)
          const handles = yield* Effect.forEach([1, 2], (n) => Task.enqueue(Limited, n))
          const joined = yield* Effect.forkChild(Effect.forEach(handles, Task.join))
          yield* advanceSteps(1_200)
          yield* Fiber.join(joined)
          const task = { task: "metrics-limited" }
          assert.strictEqual(yield* counterOf(Task.metrics.rescheduled, task), 1)
          assert.strictEqual(yield* counterOf(Task.metrics.started, task), 2)
          const waits = yield* histogramOf(Task.metrics.enqueueToStart, task)
          assert.deepStrictEqual([waits.count, waits.min], [2, 0])
          assert.isAtLeast(waits.max, 1_000) // the second started at its booked slot, a second later
          assert.isAtMost(waits.max, 1_020)
          // tasks' rate limits are not the primitives' calls
          assert.strictEqual((yield* histogramOf(Heimdall.metrics.rateLimitWait)).count, 0)
        })
      )
  )

  it.effect("a tagged series is the same as Metric.withAttributes(Task.metrics.x, { task })", () =>
    isolated(
      Effect.gen(function* () {
        const Named = Task.make("metrics-named", { payload: Schema.Number })
        yield* Task.enqueue(Named, 1)
        yield* Task.enqueue(Named, 2)
        assert.strictEqual(yield* counterOf(Task.metrics.enqueued, { task: "metrics-named" }), 2)
        const names = (yield* Metric.snapshot).filter((s) => s.id === "heimdall_tasks_enqueued")
        assert.deepStrictEqual(
          names.map((s) => s.attributes),
          [{ task: "metrics-named" }]
        )
      })
    )
  )
})

describe("Heimdall.metrics (memory, TestClock)", () => {
  it.effect("take: admissions and denials, no wait", () =>
    isolated(
      Effect.gen(function* () {
        const limits: Heimdall.Limit = { times: 2, per: "1 second" }
        const results = yield* Effect.forEach([1, 2, 3], () => Effect.exit(Heimdall.take("metrics:take", limits)))
        assert.deepStrictEqual(results.map(Exit.isSuccess), [true, true, false])
        const take = { operation: "take" }
        assert.strictEqual(yield* counterOf(Heimdall.metrics.rateLimitAdmissions, take), 2)
        assert.strictEqual(yield* counterOf(Heimdall.metrics.rateLimitDenials, take), 1)
        assert.strictEqual((yield* histogramOf(Heimdall.metrics.rateLimitWait, take)).count, 0)
        assert.strictEqual(yield* counterOf(Heimdall.metrics.rateLimitAdmissions, { operation: "reserve" }), 0)
      })
    )
  )

  it.effect("reserve: the delay booked is its wait; maxDelay refusals are denials", () =>
    isolated(
      Effect.gen(function* () {
        const limits: Heimdall.Limit = { times: 1, per: "1 second" }
        const delays = yield* Effect.forEach([1, 2, 3], () => Heimdall.reserve("metrics:reserve", limits))
        assert.deepStrictEqual(
          delays.map((a) => a.delay.toString()),
          ["0 millis", "1000 millis", "2000 millis"]
        )
        const refused = yield* Effect.exit(Heimdall.reserve("metrics:reserve", limits, { maxDelay: "1 second" }))
        assert.isTrue(Exit.isFailure(refused))
        const reserve = { operation: "reserve" }
        assert.strictEqual(yield* counterOf(Heimdall.metrics.rateLimitAdmissions, reserve), 3)
        assert.strictEqual(yield* counterOf(Heimdall.metrics.rateLimitDenials, reserve), 1)
        const wait = yield* histogramOf(Heimdall.metrics.rateLimitWait, reserve)
        assert.deepStrictEqual([wait.count, wait.sum, bucket(wait, 1_000), bucket(wait, 2_500)], [2, 3_000, 1, 2])
      })
    )
  )

  it.effect("withRateLimit: the time slept until the slot; onLimit fail denials", () =>
    isolated(
      Effect.gen(function* () {
        const options = { limits: { times: 1, per: "1 second" }, margin: 0 } as const
        yield* Effect.void.pipe(Heimdall.withRateLimit("metrics:with", options))
        const waiting = yield* Effect.forkChild(Effect.void.pipe(Heimdall.withRateLimit("metrics:with", options)))
        const failing = yield* Effect.exit(
          Effect.void.pipe(Heimdall.withRateLimit("metrics:with", { ...options, onLimit: "fail" }))
        )
        assert.isTrue(Exit.isFailure(failing))
        yield* TestClock.adjust(1_000)
        yield* Fiber.join(waiting)
        const op = { operation: "withRateLimit" }
        assert.strictEqual(yield* counterOf(Heimdall.metrics.rateLimitAdmissions, op), 2)
        assert.strictEqual(yield* counterOf(Heimdall.metrics.rateLimitDenials, op), 1)
        const wait = yield* histogramOf(Heimdall.metrics.rateLimitWait, op)
        assert.deepStrictEqual([wait.count, wait.sum], [1, 1_000]) // the first call did not wait: not recorded
      })
    )
  )

  it.effect("locks: acquisitions, LockTaken denials, and the time of acquisitions with wait", () =>
    isolated(
      Effect.gen(function* () {
        const held = yield* Heimdall.acquireLock("metrics:lock", { owner: "a", ttl: "1 minute" })
        const refused = yield* Effect.exit(Heimdall.acquireLock("metrics:lock", { owner: "b" }))
        assert.isTrue(Exit.isFailure(refused))
        const waiter = yield* Effect.forkChild(
          Heimdall.acquireLock("metrics:lock", { owner: "c", ttl: "1 minute", wait: "5 seconds" })
        )
        yield* TestClock.adjust(2_000)
        yield* Heimdall.releaseLock(held)
        const second = yield* Fiber.join(waiter)
        // a wait that runs out is a denial, its whole wait recorded
        const timedOut = yield* Effect.forkChild(
          Effect.exit(Heimdall.acquireLock("metrics:lock", { owner: "d", wait: "1 second" }))
        )
        yield* advanceSteps(1_100, 50)
        assert.isTrue(Exit.isFailure(yield* Fiber.join(timedOut)))
        yield* Effect.succeed(1).pipe(Heimdall.withLock("metrics:other", { ttl: "1 second" }))
        yield* Heimdall.releaseLock(second)
        assert.strictEqual(yield* counterOf(Heimdall.metrics.lockAcquisitions), 3)
        assert.strictEqual(yield* counterOf(Heimdall.metrics.lockDenials), 2)
        const acquired = yield* histogramOf(Heimdall.metrics.lockWait, { outcome: "acquired" })
        const denied = yield* histogramOf(Heimdall.metrics.lockWait, { outcome: "denied" })
        assert.deepStrictEqual([acquired.count, acquired.sum, bucket(acquired, 2_500)], [1, 2_000, 1])
        assert.deepStrictEqual([denied.count, denied.sum, bucket(denied, 1_000)], [1, 1_000, 1])
        // the concurrency limits' metrics are their own
        assert.strictEqual(yield* counterOf(Heimdall.metrics.concurrencyAcquisitions), 0)
      })
    )
  )

  it.effect("concurrency limits: acquisitions, ConcurrencyLimited denials, waits", () =>
    isolated(
      Effect.gen(function* () {
        const options: Heimdall.SlotOptions = { limit: 1, lease: "1 minute" }
        const slot = yield* Heimdall.acquireSlot("metrics:slots", options)
        assert.isTrue(Exit.isFailure(yield* Effect.exit(Heimdall.acquireSlot("metrics:slots", options))))
        const waiter = yield* Effect.forkChild(
          Effect.succeed("ran").pipe(Heimdall.withConcurrencyLimit("metrics:slots", { ...options, wait: "10 seconds" }))
        )
        yield* TestClock.adjust(300)
        yield* Heimdall.releaseSlot(slot)
        assert.strictEqual(yield* Fiber.join(waiter), "ran")
        assert.strictEqual(yield* counterOf(Heimdall.metrics.concurrencyAcquisitions), 2)
        assert.strictEqual(yield* counterOf(Heimdall.metrics.concurrencyDenials), 1)
        const acquired = yield* histogramOf(Heimdall.metrics.concurrencyWait, { outcome: "acquired" })
        assert.deepStrictEqual(
          [acquired.count, acquired.sum, bucket(acquired, 250), bucket(acquired, 500)],
          [1, 300, 0, 1]
        )
        assert.strictEqual(yield* counterOf(Heimdall.metrics.lockAcquisitions), 0)
      })
    )
  )

  it.effect("invalid arguments are not counted", () =>
    isolated(
      Effect.gen(function* () {
        yield* Effect.exit(Heimdall.take("", { times: 1, per: "1 second" }))
        yield* Effect.exit(Heimdall.acquireLock("metrics:bad", { ttl: -1 }))
        yield* Effect.exit(Heimdall.acquireSlot("metrics:bad", { limit: 0 }))
        const all = (yield* Metric.snapshot).filter((s) => s.id.startsWith("heimdall_"))
        assert.deepStrictEqual(all, [])
      })
    )
  )
})

/** A queue gauge's value (`Inspector.gauges`). */
const gaugeOf = (metric: Metric.Metric<number, Metric.GaugeState<number>>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (s) => s.value)

describe("Inspector.layerGauges (memory, TestClock)", () => {
  it.effect("sets depth per state and name and the oldest wait from the counts, at once and on every tick", () =>
    Effect.gen(function* () {
      const q = yield* TaskQueue.TaskQueue
      const task = (id: string, name: string, delayMillis = 0) =>
        q.enqueue({ id, name, payload: "1", delayMillis, trace: undefined })
      yield* task("a1", "mail")
      yield* task("a2", "mail", 60_000)
      yield* task("b1", "report")
      yield* TestClock.adjust(500)
      yield* Layer.build(Inspector.layerGauges({ every: "1 second" }))
      yield* Effect.yieldNow
      const tasks = (state: string, name: string) =>
        gaugeOf(Inspector.gauges.tasks, { queue: q.queue, state, task: name })
      assert.strictEqual(yield* tasks("queued", "mail"), 1)
      assert.strictEqual(yield* tasks("scheduled", "mail"), 1)
      assert.strictEqual(yield* tasks("queued", "report"), 1)
      assert.strictEqual(yield* tasks("running", "report"), 0)
      assert.strictEqual(yield* gaugeOf(Inspector.gauges.oldestWaiting, { queue: q.queue }), 500)
      const oldest = (name: string) => gaugeOf(Inspector.gauges.oldestWaiting, { queue: q.queue, task: name })
      yield* task("b2", "report")
      assert.deepStrictEqual([yield* oldest("mail"), yield* oldest("report")], [500, 500])
      // a claim and a dead letter between ticks: the gauges follow at the next tick, not before
      const claimed = yield* q.claim({ token: "t1", leaseMillis: 10_000, names: ["report"] })
      assert.strictEqual(claimed._tag === "Claimed" && claimed.task.id, "b1")
      assert.isTrue(yield* q.deadLetter("b1", "t1", "gone"))
      assert.strictEqual(yield* tasks("queued", "report"), 1)
      yield* TestClock.adjust(1_000)
      // b2, enqueued at 500, is report's oldest now
      assert.deepStrictEqual([yield* oldest("mail"), yield* oldest("report")], [1_500, 1_000])
      yield* q.claim({ token: "t2", leaseMillis: 10_000, names: ["report"] })
      yield* TestClock.adjust(1_000)
      assert.deepStrictEqual([yield* oldest("mail"), yield* oldest("report")], [2_500, 0])
      assert.strictEqual(yield* tasks("queued", "report"), 0)
      assert.strictEqual(yield* tasks("dead", "report"), 1)
      assert.strictEqual(yield* tasks("queued", "mail"), 1)
      assert.strictEqual(yield* gaugeOf(Inspector.gauges.oldestWaiting, { queue: q.queue }), 2_500)
    }).pipe(
      Effect.scoped,
      Effect.provide(Heimdall.layerMemory),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  )

  it.effect("a task name past the counts' scan: the wait of the last task read, not a made-up age", () =>
    Effect.gen(function* () {
      const q = yield* TaskQueue.TaskQueue
      yield* q.enqueue({ id: "x1", name: "x", payload: "1", delayMillis: 0, trace: undefined })
      yield* TestClock.adjust(300)
      yield* q.enqueue({ id: "y1", name: "y", payload: "1", delayMillis: 0, trace: undefined })
      yield* TestClock.adjust(200)
      yield* Layer.build(Inspector.layerGauges({ every: "1 second" }))
      yield* Effect.yieldNow
      const oldest = (task: string) => gaugeOf(Inspector.gauges.oldestWaiting, { queue: q.queue, task })
      // the scan read x1 only (waitingScan 1): y's age is not known, x1's 500 ms is what the gauge says
      assert.deepStrictEqual([yield* oldest("x"), yield* oldest("y")], [500, 500])
      assert.strictEqual((yield* (yield* Inspector.Inspector).counts).oldestByName.y?._tag, "BeyondScan")
      yield* q.claim({ token: "t1", leaseMillis: 10_000, names: ["x"] })
      yield* TestClock.adjust(1_000)
      assert.deepStrictEqual([yield* oldest("x"), yield* oldest("y")], [0, 1_200])
    }).pipe(
      Effect.scoped,
      Effect.provide(Heimdall.layerMemoryWith({ waitingScan: 1 })),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  )

  it.effect("an every that is not a duration of at least 100 ms is an InvalidArgument naming it", () =>
    Effect.gen(function* () {
      for (const every of [50, "soon", -1] as const) {
        const error = yield* Effect.flip(Layer.build(Inspector.layerGauges({ every: every as never })))
        assert.strictEqual(error._tag, "InvalidArgument")
        assert.strictEqual(error.argument, "every")
        assert.include(error.message, String(every))
      }
    }).pipe(Effect.scoped, Effect.provide(Heimdall.layerMemory))
  )
})

describe.skipIf(!hasRedis)("Task.metrics (redis, real clock)", () => {
  const prefix = keyPrefix(import.meta.url).slice(0, -1)
  layer(redisLayer(), { excludeTestServices: true })((it) => {
    it.effect("enqueue-to-start on Redis' clock and run duration on the worker's", () =>
      Effect.gen(function* () {
        const Slow = Task.make("metrics-redis", { payload: Schema.Number })
        yield* startWorker([Task.implement(Slow, (ms) => Effect.sleep(ms))])
        const handles = yield* Effect.forEach([150, 50], (ms) => Task.enqueue(Slow, ms))
        yield* Effect.forEach(handles, Task.join)
        const task = { task: "metrics-redis" }
        const waits = yield* histogramOf(Task.metrics.enqueueToStart, task)
        assert.strictEqual(waits.count, 2)
        assert.isAtMost(waits.min, 50) // the first starts at once
        assert.isAtLeast(waits.max, 140) // the second waits for the one slot (Redis' clock, ms)
        assert.isAtMost(waits.max, 1_000)
        const runs = yield* histogramOf(Task.metrics.runDuration, { ...task, outcome: "success" })
        assert.strictEqual(runs.count, 2)
        assert.isAtLeast(runs.sum, 195)
        assert.isAtMost(runs.sum, 1_000)
        assert.isAtLeast(runs.max, 145)
        assert.strictEqual(bucket(runs, 25), 0)
        assert.strictEqual(bucket(runs, 250), 2)
      }).pipe(
        Effect.scoped,
        Effect.provide(Heimdall.layerRedis({ queue: `metrics-${Date.now() % 100000}`, queuePrefix: prefix })),
        Effect.provideService(Metric.MetricRegistry, new Map())
      )
    )

    it.effect("queue gauges from the counts on Redis: tasks another producer enqueued, and the oldest wait", () =>
      Effect.gen(function* () {
        const queue = `gauges-${Date.now() % 100000}`
        const Mail = Task.make("gauge-mail", { payload: Schema.Number })
        // another process' work: enqueued through a layer of its own on the same Redis
        yield* Effect.forEach([1, 2, 3], (n) => Task.enqueue(Mail, n)).pipe(
          Effect.provide(Heimdall.layerRedis({ queue, queuePrefix: prefix }))
        )
        yield* Effect.sleep("120 millis")
        yield* Layer.build(Inspector.layerGauges({ every: "200 millis" })).pipe(
          Effect.provide(Heimdall.layerRedis({ queue, queuePrefix: prefix }))
        )
        yield* Effect.sleep("50 millis")
        const queued = { queue, state: "queued", task: "gauge-mail" }
        assert.strictEqual(yield* gaugeOf(Inspector.gauges.tasks, queued), 3)
        const oldest = yield* gaugeOf(Inspector.gauges.oldestWaiting, { queue })
        assert.isAtLeast(oldest, 120)
        assert.isBelow(oldest, 5_000)
        const mail = yield* gaugeOf(Inspector.gauges.oldestWaiting, { queue, task: "gauge-mail" })
        assert.strictEqual(mail, oldest, "one name waits: its oldest is the queue's")
        yield* Task.enqueue(Mail, 4).pipe(Effect.provide(Heimdall.layerRedis({ queue, queuePrefix: prefix })))
        yield* Effect.sleep("300 millis")
        assert.strictEqual(yield* gaugeOf(Inspector.gauges.tasks, queued), 4)
      }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map()))
    )
  })
})
