/**
 * The conformance suite of unique and rate-limited tasks, run on each backend
 * by `Unique.test.ts`. Each test gets a fresh queue and key prefixes from
 * `TasksUnderTest`. Memory runs on TestClock, Redis on the real clock.
 */
import { assert, expectTypeOf, type Vitest } from "@effect/vitest"
import { Clock, Context, Duration, Effect, Layer, Option, Ref, Result, Schema, type Scope } from "effect"
import type * as Redis from "effect/persistence/Redis"
import {
  AlreadyQueued,
  Heimdall,
  type HeimdallStore,
  type InvalidArgument,
  Task,
  TaskQueue,
  Worker
} from "../src/index.ts"
import type { BackendContext } from "./support/backends.ts"

type Backend = Heimdall.Heimdall | HeimdallStore.HeimdallStore | TaskQueue.TaskQueue

/** Hands each test a fresh queue (and fresh key prefixes) of the backend under test. */
export class TasksUnderTest extends Context.Service<
  TasksUnderTest,
  {
    readonly layer: (queue: string, options?: Heimdall.Options) => Layer.Layer<Backend, InvalidArgument>
    readonly redis: Redis.Redis["Service"] | undefined
  }
>()("test/TasksUnderTest") {}

let counter = 0
const withTasks = <A, E>(
  body: Effect.Effect<A, E, Backend | Scope.Scope>,
  options?: Heimdall.Options
): Effect.Effect<A, E | InvalidArgument, TasksUnderTest> =>
  Effect.flatMap(TasksUnderTest, (t) =>
    body.pipe(Effect.scoped, Effect.provide(t.layer(`u${++counter}-${Date.now() % 100000}`, options)))
  )

/** Runs a worker for the rest of the current scope. */
const worker = (impls: ReadonlyArray<Task.Implementation<any, any>>, concurrency = 4) =>
  Layer.build(Worker.layer({ concurrency, tasks: impls, gracePeriod: 0 }))

const Customer = Schema.Struct({ customerId: Schema.Number })

const Report = Task.make("report", { payload: Customer, success: Schema.String, unique: true })

const ms = (d: Duration.Duration) => Duration.toMillis(d)

export const uniqueSuite = (it: Vitest.MethodsNonLive<TasksUnderTest>, backend: BackendContext) => {
  const { advance } = backend
  const steps = (total: number, step = 50) =>
    Effect.gen(function* () {
      for (let t = 0; t < total; t += step) yield* advance(step)
    })
  const slack = backend.redis ? 60 : 0
  it.effect("unique: ten enqueues of one payload give one task and one id", () =>
    withTasks(
      Effect.gen(function* () {
        const handles = yield* Effect.forEach(Array.from({ length: 10 }), () => Task.enqueue(Report, { customerId: 1 }))
        const ids = new Set(handles.map((h) => h.id))
        assert.strictEqual(ids.size, 1)
        const other = yield* Task.enqueue(Report, { customerId: 2 })
        assert.notStrictEqual(other.id, handles[0]!.id, "another payload is another task")
        const queue = yield* TaskQueue.TaskQueue
        const record = yield* queue.get(handles[0]!.id)
        assert.strictEqual(record?.state, "queued")
        // the lock is held by the task id, under the queue's hash tag
        const key = yield* Task.uniqueKey(Report, { customerId: 1 })
        const lock = yield* Heimdall.inspectLock(queue.lockKey(key))
        assert.strictEqual(Option.getOrThrow(lock).holder, handles[0]!.id)
        assert.strictEqual(record?.lockKey?.endsWith(`{${queue.queue}}:${key}`), true)
      })
    )
  )

  it.effect("unique: the default key ignores field order and differs per task name", () =>
    withTasks(
      Effect.gen(function* () {
        const Tally = Task.make("tally", { payload: Schema.Record(Schema.String, Schema.Number), unique: true })
        const Other = Task.make("other", { payload: Schema.Record(Schema.String, Schema.Number), unique: true })
        const a = yield* Task.uniqueKey(Tally, { x: 1, y: 2 })
        assert.strictEqual(yield* Task.uniqueKey(Tally, { y: 2, x: 1 }), a)
        assert.notStrictEqual(yield* Task.uniqueKey(Tally, { x: 1, y: 3 }), a)
        assert.notStrictEqual(yield* Task.uniqueKey(Other, { x: 1, y: 2 }), a)
        assert.match(a, /^tally:[0-9a-f]{32}$/)
        // pinned: a default key never changes between versions (producers of two versions must see each other's
        // duplicates during a deploy): the task name and the first 32 hex digits of the SHA-256 of the payload's
        // JSON with sorted keys, here {"x":1,"y":2} and {"a":{"y":"q","z":1},"b":[1,2,null]}
        assert.strictEqual(a, "tally:689a8f1db95402580476e38c264278ce")
        const Nested = Task.make("nested", {
          payload: Schema.Struct({
            b: Schema.Array(Schema.NullOr(Schema.Number)),
            a: Schema.Struct({ z: Schema.Number, y: Schema.String })
          }),
          unique: true
        })
        assert.strictEqual(
          yield* Task.uniqueKey(Nested, { b: [1, 2, null], a: { z: 1, y: "q" } }),
          "nested:ab5bbbbaa97726bd41bc6419612119c6"
        )
        const first = yield* Task.enqueue(Tally, { x: 1, y: 2 })
        assert.strictEqual((yield* Task.enqueue(Tally, { y: 2, x: 1 })).id, first.id)
      })
    )
  )

  it.effect("unique: a new task is accepted once the first one succeeded, or failed", () =>
    withTasks(
      Effect.gen(function* () {
        class Nope extends Schema.TaggedError<Nope>()("Nope", {}) {}
        const Flaky = Task.make("flaky", { payload: Customer, error: Nope, unique: true })
        yield* worker(
          [
            Task.implement(Report, ({ customerId }) => Effect.succeed(`report ${customerId}`)),
            Task.implement(Flaky, () => Effect.fail(new Nope()))
          ],
          4
        )
        const first = yield* Task.enqueue(Report, { customerId: 1 })
        assert.strictEqual(yield* Task.join(first), "report 1")
        const second = yield* Task.enqueue(Report, { customerId: 1 })
        assert.notStrictEqual(second.id, first.id)
        yield* Task.join(second)

        const failing = yield* Task.enqueue(Flaky, { customerId: 1 })
        assert.strictEqual((yield* Effect.flip(Task.join(failing)))._tag, "Nope")
        const again = yield* Task.enqueue(Flaky, { customerId: 1 })
        assert.notStrictEqual(again.id, failing.id)
      })
    )
  )

  it.effect("unique: onDuplicate fail gives AlreadyQueued with likelyCulprit and expiresIn, read atomically", () =>
    withTasks(
      Effect.gen(function* () {
        const Strict = Task.make("strict", {
          payload: Customer,
          unique: { onDuplicate: "fail", timeout: "2 seconds" }
        })
        const first = yield* Task.enqueue(Strict, { customerId: 5 })
        const error = yield* Effect.flip(Task.enqueue(Strict, { customerId: 5 }))
        assert.instanceOf(error, AlreadyQueued)
        const dup = error as AlreadyQueued
        assert.strictEqual(dup._tag, "AlreadyQueued")
        assert.strictEqual(dup.likelyCulprit, first.id)
        assert.isTrue(Math.abs(ms(dup.expiresIn) - 2000) <= slack + 5, `expiresIn ${ms(dup.expiresIn)}`)
        assert.strictEqual(dup.taskName, "strict")
        const caught = yield* Task.enqueue(Strict, { customerId: 5 }).pipe(
          Effect.map(() => "started"),
          Effect.catchTag("AlreadyQueued", (e) => Effect.succeed(`already: ${e.likelyCulprit}`))
        )
        assert.strictEqual(caught, `already: ${first.id}`)
        // the error type names AlreadyQueued only for tasks that can produce it
        expectTypeOf(Task.enqueue(Strict, { customerId: 1 })).toExtend<
          Effect.Effect<unknown, AlreadyQueued | Schema.SchemaError | Redis.RedisError | InvalidArgument, unknown>
        >()
      })
    )
  )

  it.effect("unique: concurrent enqueues of one key (one batch on Redis) give one task; every caller its handle", () =>
    withTasks(
      Effect.gen(function* () {
        const queue = yield* TaskQueue.TaskQueue
        // a lone enqueue first: on Redis the duplicates gather behind it and go as one call
        const [, handles] = yield* Effect.all(
          [
            Task.enqueue(Report, { customerId: 100 }),
            Effect.forEach(Array.from({ length: 10 }), () => Task.enqueue(Report, { customerId: 7 }), {
              concurrency: "unbounded"
            })
          ],
          { concurrency: "unbounded" }
        )
        const ids = new Set(handles.map((h) => h.id))
        assert.strictEqual(ids.size, 1)
        const key = yield* Task.uniqueKey(Report, { customerId: 7 })
        const lock = yield* Heimdall.inspectLock(queue.lockKey(key))
        assert.strictEqual(Option.getOrThrow(lock).holder, handles[0]!.id)
        assert.strictEqual((yield* queue.counts).byName.report?.queued, 2)
        // with onDuplicate "fail": the first caller's task, nine AlreadyQueued naming it
        const Strict = Task.make("strict", { payload: Customer, unique: { onDuplicate: "fail" } })
        const [, exits] = yield* Effect.all(
          [
            Task.enqueue(Report, { customerId: 101 }),
            Effect.forEach(Array.from({ length: 10 }), () => Effect.result(Task.enqueue(Strict, { customerId: 7 })), {
              concurrency: "unbounded"
            })
          ],
          { concurrency: "unbounded" }
        )
        assert.isTrue(Result.isSuccess(exits[0]!))
        const winner = Result.isSuccess(exits[0]!) ? exits[0].success.id : ""
        const failures = exits.slice(1).map((r) => (Result.isFailure(r) ? r.failure : undefined))
        for (const failure of failures) {
          assert.instanceOf(failure, AlreadyQueued)
          assert.strictEqual((failure as AlreadyQueued).likelyCulprit, winner)
        }
      })
    )
  )

  it.effect(
    "unique: enqueueAll with a duplicate inside: one task; the later payload gets its handle or AlreadyQueued",
    () =>
      withTasks(
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const results = yield* Task.enqueueAll(Report, [{ customerId: 1 }, { customerId: 2 }, { customerId: 1 }])
          const ids = results.map((r) => (Result.isSuccess(r) ? r.success.id : "failed"))
          assert.strictEqual(ids[2], ids[0], "the duplicate gets the first payload's handle")
          assert.notStrictEqual(ids[1], ids[0])
          assert.strictEqual((yield* queue.counts).byName.report?.queued, 2)
          const Strict = Task.make("strict", {
            payload: Customer,
            unique: { onDuplicate: "fail", timeout: "1 minute" }
          })
          const strict = yield* Task.enqueueAll(Strict, [{ customerId: 1 }, { customerId: 1 }, { customerId: 3 }])
          assert.deepStrictEqual(
            strict.map((r) => r._tag),
            ["Success", "Failure", "Success"]
          )
          const dup = Result.isFailure(strict[1]!) ? strict[1].failure : undefined
          assert.instanceOf(dup, AlreadyQueued)
          assert.strictEqual(
            (dup as AlreadyQueued).likelyCulprit,
            Result.isSuccess(strict[0]!) ? strict[0].success.id : ""
          )
          assert.isTrue(ms((dup as AlreadyQueued).expiresIn) > 50_000)
          // the duplicate never made a record: two strict tasks
          assert.strictEqual((yield* queue.counts).byName.strict?.queued, 2)
          // a key held before the call: the payload gets the holder
          const again = yield* Task.enqueueAll(Report, [{ customerId: 2 }])
          assert.strictEqual(Result.isSuccess(again[0]!) && again[0].success.id, ids[1])
        })
      )
  )

  it.effect("unique: a duplicate never creates a record, and a lock never exists without its task", () =>
    withTasks(
      Effect.gen(function* () {
        const queue = yield* TaskQueue.TaskQueue
        const first = yield* Task.enqueue(Report, { customerId: 9 }, { id: "first-9" })
        const dup = yield* Task.enqueue(Report, { customerId: 9 }, { id: "second-9" })
        assert.strictEqual(dup.id, "first-9")
        assert.isUndefined(yield* queue.get("second-9"))
        const key = queue.lockKey(yield* Task.uniqueKey(Report, { customerId: 9 }))
        assert.strictEqual(Option.getOrThrow(yield* Heimdall.inspectLock(key)).holder, first.id)
        assert.strictEqual((yield* queue.get(first.id))?.state, "queued")
      })
    )
  )

  it.effect("unique: the timeout frees the key at the latest, even if the task hangs", () =>
    withTasks(
      Effect.gen(function* () {
        const Hangs = Task.make("hangs", { payload: Customer, unique: { timeout: 300 } })
        yield* worker([Task.implement(Hangs, () => Effect.never)], 4)
        const first = yield* Task.enqueue(Hangs, { customerId: 1 })
        yield* steps(100)
        assert.strictEqual(yield* Task.status(first), "running")
        assert.strictEqual((yield* Task.enqueue(Hangs, { customerId: 1 })).id, first.id)
        yield* steps(300)
        const second = yield* Task.enqueue(Hangs, { customerId: 1 })
        assert.notStrictEqual(second.id, first.id, "the hung task's key expired")
      })
    )
  )

  it.effect("unique: custom keys, a constant or a function of the typed payload", () =>
    withTasks(
      Effect.gen(function* () {
        const OnePerApp = Task.make("one-per-app", { payload: Customer, unique: { key: "generate_report" } })
        const a = yield* Task.enqueue(OnePerApp, { customerId: 1 })
        assert.strictEqual((yield* Task.enqueue(OnePerApp, { customerId: 2 })).id, a.id, "one report at a time")
        const ByParity = Task.make("by-parity", {
          payload: Customer,
          unique: { key: ({ customerId }) => `parity:${customerId % 2}` }
        })
        const odd = yield* Task.enqueue(ByParity, { customerId: 1 })
        assert.strictEqual((yield* Task.enqueue(ByParity, { customerId: 3 })).id, odd.id)
        assert.notStrictEqual((yield* Task.enqueue(ByParity, { customerId: 2 })).id, odd.id)
        const Empty = Task.make("empty-key", { payload: Customer, unique: { key: () => "" } })
        assert.strictEqual((yield* Effect.flip(Task.enqueue(Empty, { customerId: 1 })))._tag, "InvalidArgument")
      })
    )
  )

  it.effect("unique interval: waitForExpiry keeps the key after the task ends, until the timeout", () =>
    withTasks(
      Effect.gen(function* () {
        const Hourly = Task.make("hourly", {
          payload: Customer,
          success: Schema.String,
          unique: { timeout: 600, waitForExpiry: true }
        })
        yield* worker([Task.implement(Hourly, () => Effect.succeed("done"))], 4)
        const first = yield* Task.enqueue(Hourly, { customerId: 1 })
        assert.strictEqual(yield* Task.join(first), "done")
        assert.strictEqual((yield* Task.enqueue(Hourly, { customerId: 1 })).id, first.id, "still within the interval")
        yield* steps(650)
        const next = yield* Task.enqueue(Hourly, { customerId: 1 })
        assert.notStrictEqual(next.id, first.id)
      })
    )
  )

  it.effect("run-time check: a task whose key another task holds is skipped with the reason, not run", () =>
    withTasks(
      Effect.gen(function* () {
        const Short = Task.make("short", { payload: Customer, success: Schema.String, unique: { timeout: 200 } })
        const queue = yield* TaskQueue.TaskQueue
        const stale = yield* Task.enqueue(Short, { customerId: 1 })
        yield* steps(250) // its lock expires while it waits in the queue
        const fresh = yield* Task.enqueue(Short, { customerId: 1 })
        assert.notStrictEqual(fresh.id, stale.id)
        const runs = yield* Ref.make<Array<string>>([])
        yield* worker(
          [
            Task.implement(Short, () =>
              Effect.flatMap(Task.CurrentTask, (t) => Ref.update(runs, (r) => [...r, t.id])).pipe(Effect.as("ran"))
            )
          ],
          1
        )
        yield* steps(100)
        assert.strictEqual(yield* Task.join(fresh), "ran")
        const skipped = yield* Effect.flip(Task.join(stale))
        assert.strictEqual(skipped._tag, "TaskSkipped")
        assert.include((skipped as Task.TaskSkipped).reason, fresh.id)
        assert.strictEqual(yield* Task.status(stale), "skipped")
        assert.deepStrictEqual(yield* Ref.get(runs), [fresh.id])
        assert.strictEqual((yield* queue.get(stale.id))?.attempts, 0)
      })
    )
  )

  it.effect("rate limit: never more than `times` starts in any window of `per`; rescheduled without a retry", () =>
    withTasks(
      Effect.gen(function* () {
        const Download = Task.make("download", {
          payload: Customer,
          rateLimit: { times: 2, per: 500, jitter: 0 }
        })
        const starts = yield* Ref.make<Array<number>>([])
        yield* worker(
          [
            Task.implement(Download, () =>
              Effect.flatMap(Task.CurrentTask, ({ startedAt }) => Ref.update(starts, (s) => [...s, startedAt]))
            )
          ],
          8
        )
        const handles = yield* Effect.forEach([1, 2, 3, 4, 5, 6], (customerId) =>
          Task.enqueue(Download, { customerId })
        )
        yield* steps(1600)
        for (const h of handles) yield* Task.join(h)
        const times = (yield* Ref.get(starts)).sort((a, b) => a - b)
        assert.strictEqual(times.length, 6)
        for (let i = 0; i + 2 < times.length; i++) {
          assert.isAtLeast(times[i + 2]! - times[i]!, 500, `starts ${times}`)
        }
        const queue = yield* TaskQueue.TaskQueue
        const records = yield* Effect.forEach(handles, (h) => queue.get(h.id))
        assert.isTrue(
          records.every((r) => r?.attempts === 1),
          "no retry spent"
        )
        assert.isAtLeast(records.filter((r) => (r?.reschedules ?? 0) > 0).length, 4, "over the limit: rescheduled")
        // the last pair's window opens at 1000 ms; a start that lags its booked slot on a loaded machine is booked
        // again into the next window (500 ms later): seen once in CI (1,536 ms, under the key-slot check's wrapping)
        assert.isAtMost(times[times.length - 1]! - times[0]!, 1000 + 600, "and not later than needed")
      })
    )
  )

  it.effect("rate limit: a late start is checked against the actual starts, not its booking", () =>
    withTasks(
      Effect.gen(function* () {
        const Limited = Task.make("late", { payload: Customer, rateLimit: { times: 2, per: 500, jitter: 0 } })
        const Blocker = Task.make("blocker", { payload: Customer })
        const starts = yield* Ref.make<Array<number>>([])
        const record = Effect.flatMap(Task.CurrentTask, ({ startedAt }) => Ref.update(starts, (s) => [...s, startedAt]))
        for (const customerId of [1, 2, 3, 4, 5, 6]) yield* Task.enqueue(Limited, { customerId })
        yield* Task.enqueue(Blocker, { customerId: 0 })
        // one slot: 1 and 2 start, 3..6 book slots at 500 and 1000, then the blocker holds the only
        // slot until 700, so 3 and 4 start late, at 700; 5 and 6 must then wait until 1200, not 1000
        const t0 = yield* Clock.currentTimeMillis
        yield* worker([Task.implement(Limited, () => record), Task.implement(Blocker, () => Effect.sleep(700))], 1)
        // 1,600 ms would do; a start that lags on a loaded machine is booked into the next window (1,700): seen once
        // under the key-slot check's wrapping with the machine busy, so the run watches until 2,200
        yield* steps(2200)
        const times = (yield* Ref.get(starts)).map((t) => t - t0).sort((a, b) => a - b)
        assert.strictEqual(times.length, 6, `starts ${times}`)
        for (let i = 0; i + 2 < times.length; i++) {
          assert.isAtLeast(times[i + 2]! - times[i]!, 500, `starts ${times}`)
        }
        assert.isAtLeast(times[2]!, 690, `3 and 4 started late, after the blocker: ${times}`)
      })
    )
  )

  it.effect("rate limit: `margin` spaces starts by per + margin (default per/100, at most 10 ms); 0: exactly per", () =>
    withTasks(
      Effect.gen(function* () {
        const Margined = Task.make("margined", {
          payload: Customer,
          rateLimit: { times: 1, per: 400, margin: 40, jitter: 0 }
        })
        const Exact = Task.make("exact", { payload: Customer, rateLimit: { times: 1, per: 400, margin: 0, jitter: 0 } })
        const Default = Task.make("default-margin", { payload: Customer, rateLimit: { times: 1, per: 600, jitter: 0 } })
        const starts = yield* Ref.make<Record<string, Array<number>>>({})
        const record = Effect.flatMap(Task.CurrentTask, ({ name, startedAt }) =>
          Ref.update(starts, (s) => ({ ...s, [name]: [...(s[name] ?? []), startedAt] }))
        )
        yield* worker(
          [
            Task.implement(Margined, () => record),
            Task.implement(Exact, () => record),
            Task.implement(Default, () => record)
          ],
          8
        )
        const joins = []
        for (const customerId of [1, 2]) {
          joins.push(Task.join(yield* Task.enqueue(Margined, { customerId })))
          joins.push(Task.join(yield* Task.enqueue(Exact, { customerId })))
          joins.push(Task.join(yield* Task.enqueue(Default, { customerId })))
        }
        yield* steps(1000)
        for (const join of joins) yield* join
        const gap = (name: string, all: Record<string, Array<number>>) => {
          const [a, b] = [...all[name]!].sort((x, y) => x - y)
          return b! - a!
        }
        const all = yield* Ref.get(starts)
        assert.isAtLeast(gap("margined", all), 440, "per + margin")
        assert.isAtLeast(gap("exact", all), 400, "per")
        assert.isAtMost(gap("exact", all), 400 + 30 + slack, "no margin")
        assert.isAtLeast(gap("default-margin", all), 606, "per + per/100")
      })
    )
  )

  it.effect("rate limit: keyed by task name by default, by `key` when given, or computed per payload", () =>
    withTasks(
      Effect.gen(function* () {
        const ByName = Task.make("by-name", { payload: Customer, rateLimit: { times: 1, per: "10 seconds" } })
        const ByCustomer = Task.make("by-customer", {
          payload: Customer,
          rateLimit: { times: 1, per: "10 seconds", key: ({ customerId }) => `customer:${customerId}` }
        })
        const Dynamic = Task.make("dynamic", {
          payload: Customer,
          rateLimit: ({ customerId }) => ({
            times: customerId === 1 ? 1 : 2,
            per: "10 seconds",
            key: `d:${customerId}`
          })
        })
        yield* worker(
          [
            Task.implement(ByName, () => Effect.void),
            Task.implement(ByCustomer, () => Effect.void),
            Task.implement(Dynamic, () => Effect.void)
          ],
          8
        )
        const queue = yield* TaskQueue.TaskQueue
        const enqueueAll = <T extends Task.Any>(task: T, customers: ReadonlyArray<number>) =>
          Effect.forEach(customers, (customerId) => Task.enqueue(task, { customerId } as Task.Payload<T>))
        const byName = yield* enqueueAll(ByName, [1, 2])
        const byCustomer = yield* enqueueAll(ByCustomer, [1, 2])
        const dynamic = yield* enqueueAll(Dynamic, [1, 1, 2, 2])
        yield* steps(300)
        const states = (handles: ReadonlyArray<Task.Handle<Task.Any>>) =>
          Effect.forEach(handles, (h) => Effect.map(queue.get(h.id), (r) => r?.state))
        // which of two tasks on one full key gets the slot is not promised (they are claimed and admitted
        // concurrently); how many do is
        const sorted = (handles: ReadonlyArray<Task.Handle<Task.Any>>) =>
          Effect.map(states(handles), (all) => [...all].sort())
        assert.deepStrictEqual(yield* sorted(byName), ["scheduled", "succeeded"], "one limit for the task name")
        assert.deepStrictEqual(yield* states(byCustomer), ["succeeded", "succeeded"], "a limit per customer")
        assert.deepStrictEqual(yield* sorted(dynamic.slice(0, 2)), ["scheduled", "succeeded"], "customer 1 gets 1")
        assert.deepStrictEqual(yield* states(dynamic.slice(2)), ["succeeded", "succeeded"], "customer 2 gets 2")
      })
    )
  )

  it.effect("the lock follows its task: a rescheduled unique task keeps its key and runs later", () =>
    withTasks(
      Effect.gen(function* () {
        const Limited = Task.make("limited", {
          payload: Customer,
          success: Schema.String,
          unique: true,
          rateLimit: { times: 1, per: 600, key: "shared", jitter: 0 }
        })
        const queue = yield* TaskQueue.TaskQueue
        // someone else just used the limit
        yield* Heimdall.take("shared", { times: 1, per: 600 })
        yield* worker([Task.implement(Limited, ({ customerId }) => Effect.succeed(`ran ${customerId}`))], 4)
        const handle = yield* Task.enqueue(Limited, { customerId: 1 })
        yield* steps(150)
        assert.strictEqual(yield* Task.status(handle), "scheduled", "put off by the limit")
        assert.strictEqual((yield* Task.enqueue(Limited, { customerId: 1 })).id, handle.id, "its key is still held")
        yield* steps(600)
        assert.strictEqual(yield* Task.join(handle), "ran 1")
        const record = yield* queue.get(handle.id)
        assert.strictEqual(record?.attempts, 1)
        assert.isAtLeast(record?.reschedules ?? 0, 1)
        assert.notStrictEqual((yield* Task.enqueue(Limited, { customerId: 1 })).id, handle.id, "freed when it ended")
      })
    )
  )

  it.effect("per-task overrides: a unique task's own lock prefix", () =>
    withTasks(
      Effect.gen(function* () {
        const Own = Task.make("own-prefix", { payload: Customer, unique: { prefix: "custom-lock:" } })
        const queue = yield* TaskQueue.TaskQueue
        const handle = yield* Task.enqueue(Own, { customerId: 1 })
        const record = yield* queue.get(handle.id)
        assert.isTrue(record?.lockKey?.startsWith("custom-lock:{"), record?.lockKey)
        assert.strictEqual((yield* Task.enqueue(Own, { customerId: 1 })).id, handle.id)
        assert.throws(() => Task.make("bad", { payload: Customer, unique: { prefix: "a{b}" } }))
      })
    )
  )

  it.effect("Heimdall.onlyAfter inside a task", () =>
    withTasks(
      Effect.gen(function* () {
        const Notify = Task.make("notify", { payload: Customer, success: Schema.Boolean })
        yield* worker(
          [
            Task.implement(Notify, ({ customerId }) =>
              Heimdall.onlyAfter(`notify:${customerId}`, "1 minute").pipe(Effect.orDie)
            )
          ],
          4
        )
        const first = yield* Task.join(yield* Task.enqueue(Notify, { customerId: 1 }))
        const second = yield* Task.join(yield* Task.enqueue(Notify, { customerId: 1 }))
        assert.deepStrictEqual([first, second], [true, false])
      })
    )
  )

  it.effect("pipeable modifiers read like the options", () =>
    withTasks(
      Effect.gen(function* () {
        const Piped = Task.make("piped", { payload: Customer }).pipe(
          Task.unique({ onDuplicate: "fail" }),
          Task.rateLimit({ times: 5, per: "1 second" })
        )
        assert.strictEqual(Piped.settings.unique?.onDuplicate, "fail")
        assert.isDefined(Piped.settings.rateLimit)
        yield* Task.enqueue(Piped, { customerId: 1 })
        const error = yield* Effect.flip(Task.enqueue(Piped, { customerId: 1 }))
        assert.strictEqual(error._tag, "AlreadyQueued")
      })
    )
  )

  const Sync = Task.make("sync", {
    payload: Schema.Struct({ n: Schema.Number }),
    success: Schema.Number,
    unique: { key: "sync", onDuplicate: "replace", timeout: "1 minute" }
  })
  const Other = Task.make("other-sync", { payload: Schema.Struct({ n: Schema.Number }), success: Schema.Number })

  it.effect("replace: a duplicate replaces the waiting task's payload: same id, same place in line", () =>
    withTasks(
      Effect.gen(function* () {
        const queue = yield* TaskQueue.TaskQueue
        const first = yield* Task.enqueueOutcome(Sync, { n: 1 })
        assert.strictEqual(first._tag, "Created")
        const other = yield* Task.enqueue(Other, { n: 100 })
        const second = yield* Task.enqueueOutcome(Sync, { n: 2 })
        const third = yield* Task.enqueueOutcome(Sync, { n: 3 }, { id: "ignored" })
        assert.deepStrictEqual(
          [second, third].map((o) => (o._tag === "Replaced" ? [o._tag, o.handle.id, o.state, o.created] : [o._tag])),
          [
            ["Replaced", first.handle.id, "queued", false],
            ["Replaced", first.handle.id, "queued", false]
          ]
        )
        assert.strictEqual((yield* Task.enqueue(Sync, { n: 4 })).id, first.handle.id, "enqueue: the same handle")
        assert.strictEqual((yield* queue.get("ignored"))?.id, undefined, "no record for the duplicate's id")
        assert.strictEqual((yield* queue.get(first.handle.id))?.payload, JSON.stringify({ n: 4 }))
        const order = yield* Ref.make<Array<string>>([])
        const note = (label: string) =>
          Effect.flatMap(Task.CurrentTask, (t) => Ref.update(order, (o) => [...o, `${label}:${t.id}`]))
        yield* worker(
          [
            Task.implement(Sync, ({ n }) => Effect.as(note(`sync ${n}`), n)),
            Task.implement(Other, ({ n }) => Effect.as(note(`other ${n}`), n))
          ],
          1
        )
        assert.strictEqual(yield* Task.join(first.handle), 4)
        assert.strictEqual(yield* Task.join(other), 100)
        // the replaced task kept its place in line: before the task enqueued after it
        assert.deepStrictEqual(yield* Ref.get(order), [`sync 4:${first.handle.id}`, `other 100:${other.id}`])
      })
    )
  )

  it.effect("replace: a duplicate with its own delay moves the waiting task to that delay", () =>
    withTasks(
      Effect.gen(function* () {
        const queue = yield* TaskQueue.TaskQueue
        const first = yield* Task.enqueue(Sync, { n: 1 })
        const before = yield* Clock.currentTimeMillis
        const moved = yield* Task.enqueueOutcome(Sync, { n: 2 }, { delay: 400 })
        assert.strictEqual(moved._tag, "Replaced")
        assert.strictEqual(moved.handle.id, first.id)
        assert.strictEqual(moved._tag === "Replaced" && moved.state, "scheduled")
        const record = yield* queue.get(first.id)
        assert.strictEqual(record?.state, "scheduled")
        assert.strictEqual(record?.payload, JSON.stringify({ n: 2 }))
        assert.isAtLeast(record!.runAt, before + 400)
        assert.isAtMost(record!.runAt, before + 400 + slack + 50)
        const starts = yield* Ref.make<Array<number>>([])
        yield* worker(
          [
            Task.implement(Sync, ({ n }) =>
              Effect.flatMap(Task.CurrentTask, (t) => Ref.update(starts, (s) => [...s, t.startedAt - before])).pipe(
                Effect.as(n)
              )
            )
          ],
          1
        )
        yield* steps(300)
        assert.deepStrictEqual(yield* Ref.get(starts), [], "not before its new delay")
        yield* steps(200 + slack)
        assert.strictEqual(yield* Task.join(first), 2)
        assert.strictEqual((yield* Ref.get(starts)).length, 1)
      })
    )
  )

  it.effect("replace: while the task runs, the newest payload runs once after it, never at the same time", () =>
    withTasks(
      Effect.gen(function* () {
        const runs = yield* Ref.make<Array<number>>([])
        const active = yield* Ref.make(0)
        const most = yield* Ref.make(0)
        yield* worker(
          [
            Task.implement(Sync, ({ n }) =>
              Effect.gen(function* () {
                const now = yield* Ref.updateAndGet(active, (a) => a + 1)
                yield* Ref.update(most, (m) => Math.max(m, now))
                yield* Ref.update(runs, (r) => [...r, n])
                yield* Effect.sleep(300)
                yield* Ref.update(active, (a) => a - 1)
                return n
              })
            )
          ],
          4
        )
        const first = yield* Task.enqueue(Sync, { n: 1 })
        yield* steps(100)
        assert.strictEqual(yield* Task.status(first), "running")
        const behind = yield* Task.enqueueOutcome(Sync, { n: 2 })
        assert.strictEqual(behind._tag, "Replaced")
        assert.notStrictEqual(behind.handle.id, first.id)
        assert.deepStrictEqual(behind._tag === "Replaced" && [behind.state, behind.created], ["scheduled", true])
        const later = yield* Effect.forEach([3, 4, 5], (n) => Task.enqueueOutcome(Sync, { n }))
        assert.deepStrictEqual(
          later.map((o) => (o._tag === "Replaced" ? [o.handle.id, o.created] : o._tag)),
          [3, 4, 5].map(() => [behind.handle.id, false])
        )
        assert.strictEqual(yield* Task.status(behind.handle), "scheduled")
        yield* steps(300 + slack)
        assert.strictEqual(yield* Task.join(first), 1)
        yield* steps(400 + slack)
        assert.strictEqual(yield* Task.join(behind.handle), 5)
        assert.deepStrictEqual(yield* Ref.get(runs), [1, 5], "each payload that ran, in order: the newest once")
        assert.strictEqual(yield* Ref.get(most), 1, "never two at once")
        // the key is free again: a new task
        const next = yield* Task.enqueueOutcome(Sync, { n: 6 })
        assert.strictEqual(next._tag, "Created")
      })
    )
  )

  it.effect("replace: a cancelled running holder hands the key to the task behind it", () =>
    withTasks(
      Effect.gen(function* () {
        const queue = yield* TaskQueue.TaskQueue
        const first = yield* Task.enqueue(Sync, { n: 1 })
        const behind = yield* Task.enqueue(Sync, { n: 2 })
        assert.strictEqual(behind.id, first.id, "waiting: replaced")
        const claimed = yield* queue.claim({ token: "t1", leaseMillis: 60_000 })
        assert.strictEqual(claimed._tag === "Claimed" && claimed.tasks[0]?.id, first.id)
        const queued = yield* Task.enqueue(Sync, { n: 3 })
        assert.notStrictEqual(queued.id, first.id)
        assert.strictEqual(yield* Task.status(queued), "scheduled")
        yield* queue.cancel(first.id)
        assert.strictEqual(yield* Task.status(queued), "queued")
        const key = yield* Task.uniqueKey(Sync, { n: 3 })
        const lock = yield* Heimdall.inspectLock(queue.lockKey(key))
        assert.strictEqual(Option.getOrThrow(lock).holder, queued.id)
        assert.strictEqual((yield* queue.get(queued.id))?.payload, JSON.stringify({ n: 3 }))
      })
    )
  )

  it.effect("onDuplicate: any other value is InvalidArgument naming the option, the value and the choices", () =>
    withTasks(
      Effect.sync(() => {
        const error = Result.try(() =>
          Task.make("bad", { payload: Customer, unique: { onDuplicate: "replaced" as "replace" } })
        )
        assert.isTrue(Result.isFailure(error))
        const failure = (error as Result.Failure<unknown, any>).failure
        assert.strictEqual(failure._tag, "InvalidArgument")
        assert.include(failure.message, "unique.onDuplicate")
        assert.include(failure.message, "replaced")
        assert.include(failure.message, '"oneBehind"')
      })
    )
  )

  const Rebuild = Task.make("rebuild", {
    payload: Schema.Struct({ n: Schema.Number }),
    success: Schema.Number,
    unique: { key: "rebuild", onDuplicate: "oneBehind", timeout: "1 minute" }
  })

  it.effect("oneBehind: one runs, one waits, however many requests came in; the waiting one keeps its payload", () =>
    withTasks(
      Effect.gen(function* () {
        const queue = yield* TaskQueue.TaskQueue
        const first = yield* Task.enqueueOutcome(Rebuild, { n: 1 })
        assert.deepStrictEqual(first._tag === "Created" && first.state, "queued")
        const waiting = yield* Task.enqueueOutcome(Rebuild, { n: 2 }, { id: "not-created" })
        assert.deepStrictEqual([waiting._tag, waiting.handle.id], ["Existing", first.handle.id])
        assert.strictEqual((yield* queue.get(first.handle.id))?.payload, JSON.stringify({ n: 1 }), "not replaced")
        assert.isUndefined(yield* queue.get("not-created"))

        const runs = yield* Ref.make<Array<number>>([])
        const active = yield* Ref.make(0)
        const most = yield* Ref.make(0)
        yield* worker(
          [
            Task.implement(Rebuild, ({ n }) =>
              Effect.gen(function* () {
                const now = yield* Ref.updateAndGet(active, (a) => a + 1)
                yield* Ref.update(most, (m) => Math.max(m, now))
                yield* Ref.update(runs, (r) => [...r, n])
                yield* Effect.sleep(300)
                yield* Ref.update(active, (a) => a - 1)
                return n
              })
            )
          ],
          4
        )
        yield* steps(100)
        assert.strictEqual(yield* Task.status(first.handle), "running")
        const behind = yield* Task.enqueueOutcome(Rebuild, { n: 3 })
        assert.deepStrictEqual(behind._tag === "Created" && behind.state, "scheduled")
        assert.notStrictEqual(behind.handle.id, first.handle.id)
        const more = yield* Effect.forEach([4, 5, 6], (n) => Task.enqueueOutcome(Rebuild, { n }))
        assert.deepStrictEqual(
          more.map((o) => [o._tag, o.handle.id]),
          [4, 5, 6].map(() => ["Existing", behind.handle.id])
        )
        assert.strictEqual((yield* Task.enqueue(Rebuild, { n: 7 })).id, behind.handle.id, "enqueue: its handle")
        yield* steps(300 + slack)
        assert.strictEqual(yield* Task.join(first.handle), 1)
        yield* steps(400 + slack)
        assert.strictEqual(yield* Task.join(behind.handle), 3)
        assert.deepStrictEqual(yield* Ref.get(runs), [1, 3], "two runs: the first, then one more")
        assert.strictEqual(yield* Ref.get(most), 1, "never two at once")
        const next = yield* Task.enqueueOutcome(Rebuild, { n: 8 })
        assert.strictEqual(next._tag, "Created", "the key is free again")
      })
    )
  )

  it.effect("oneBehind: a failed holder hands the key to the task behind it", () =>
    withTasks(
      Effect.gen(function* () {
        const queue = yield* TaskQueue.TaskQueue
        const first = yield* Task.enqueue(Rebuild, { n: 1 })
        const claimed = yield* queue.claim({ token: "t1", leaseMillis: 60_000 })
        assert.strictEqual(claimed._tag === "Claimed" && claimed.tasks[0]?.id, first.id)
        const behind = yield* Task.enqueue(Rebuild, { n: 2 })
        assert.notStrictEqual(behind.id, first.id)
        assert.strictEqual((yield* Task.enqueue(Rebuild, { n: 3 })).id, behind.id)
        assert.isTrue(yield* queue.fail(first.id, "t1", "{}", undefined))
        assert.strictEqual(yield* Task.status(first), "failed")
        assert.strictEqual(yield* Task.status(behind), "queued")
        const key = yield* Task.uniqueKey(Rebuild, { n: 2 })
        const lock = yield* Heimdall.inspectLock(queue.lockKey(key))
        assert.strictEqual(Option.getOrThrow(lock).holder, behind.id)
        // the one behind now waits: a duplicate gets its handle
        assert.strictEqual((yield* Task.enqueue(Rebuild, { n: 4 })).id, behind.id)
      })
    )
  )

  const Search = Task.make("search", {
    payload: Schema.Struct({ n: Schema.Number }),
    success: Schema.Number,
    unique: { key: "search", onDuplicate: { debounce: 300, maxWait: 700 }, timeout: "1 minute" }
  })
  const recorder = Effect.gen(function* () {
    const runs = yield* Ref.make<Array<{ readonly n: number; readonly id: string; readonly at: number }>>([])
    yield* worker(
      [
        Task.implement(Search, ({ n }) =>
          Effect.flatMap(Task.CurrentTask, (t) =>
            Ref.update(runs, (r) => [...r, { n, id: t.id, at: t.startedAt }])
          ).pipe(Effect.as(n))
        )
      ],
      4
    )
    return runs
  })

  it.effect("debounce: each duplicate pushes the start to `wait` after it; the latest payload runs, once", () =>
    withTasks(
      Effect.gen(function* () {
        const queue = yield* TaskQueue.TaskQueue
        const runs = yield* recorder
        const first = yield* Task.enqueueOutcome(Search, { n: 1 })
        assert.deepStrictEqual(first._tag === "Created" && first.state, "scheduled", "the first request waits too")
        const e = (yield* queue.get(first.handle.id))!.enqueuedAt
        assert.strictEqual((yield* queue.get(first.handle.id))!.runAt, e + 300)
        yield* steps(150)
        const second = yield* Task.enqueueOutcome(Search, { n: 2 })
        assert.strictEqual(second._tag, "Debounced")
        assert.strictEqual(second.handle.id, first.handle.id)
        const startsAt = second._tag === "Debounced" ? second.startsAt : 0
        assert.isAtLeast(startsAt, e + 150 + 300)
        assert.isAtMost(startsAt, e + 150 + 300 + slack)
        assert.strictEqual((yield* queue.get(first.handle.id))!.runAt, startsAt, "the record's run time")
        yield* steps(200)
        assert.deepStrictEqual(yield* Ref.get(runs), [], "not at its first start time")
        const third = yield* Task.enqueueOutcome(Search, { n: 3 })
        assert.deepStrictEqual([third._tag, third.handle.id], ["Debounced", first.handle.id])
        yield* steps(400 + slack)
        assert.strictEqual(yield* Task.join(first.handle), 3)
        const ran = yield* Ref.get(runs)
        assert.deepStrictEqual(
          ran.map((r) => [r.n, r.id]),
          [[3, first.handle.id]]
        )
        assert.isAtLeast(ran[0]!.at, third._tag === "Debounced" ? third.startsAt : Number.POSITIVE_INFINITY)
      })
    )
  )

  it.effect("debounce: however many duplicates, it starts at most `maxWait` after the first request", () =>
    withTasks(
      Effect.gen(function* () {
        const queue = yield* TaskQueue.TaskQueue
        const runs = yield* recorder
        const first = yield* Task.enqueue(Search, { n: 0 })
        const e = (yield* queue.get(first.id))!.enqueuedAt
        const outcomes: Array<Task.EnqueueOutcome<typeof Search>> = []
        for (let n = 1; n <= 6; n++) {
          yield* steps(100)
          outcomes.push(yield* Task.enqueueOutcome(Search, { n }))
        }
        // each moved the start, never past e + maxWait. On Redis (real time) the last request can come after the
        // task started at e + maxWait (six steps of 100 ms plus their round trips): it is then not a debounce of it
        const starts = outcomes.map((o) => (o._tag === "Debounced" ? o.startsAt : -1))
        const debounced = backend.redis ? starts.filter((at) => at !== -1) : starts
        assert.isAtLeast(debounced.length, backend.redis ? 4 : 6, `${starts.map((at) => at - e)}`)
        assert.isTrue(
          debounced.every((at) => at > e && at <= e + 700),
          `${starts.map((at) => at - e)}`
        )
        if (!backend.redis) assert.strictEqual(starts.at(-1), e + 700, "the last ones are capped at maxWait")
        yield* steps(200 + slack)
        const ran = yield* Ref.get(runs)
        assert.strictEqual(ran.length, 1, "one run")
        assert.strictEqual(ran[0]!.id, first.id)
        assert.isAtMost(ran[0]!.at, e + 700 + slack + 50, "not later than maxWait (and a claim's poll)")
        assert.isAtLeast(ran[0]!.n, 6 - Math.ceil(slack / 100), "the latest payload before it started")
      })
    )
  )

  it.effect("debounce: while it runs, one task waits behind it, with the latest payload, after `wait`", () =>
    withTasks(
      Effect.gen(function* () {
        const Slow = Task.make("slow-search", {
          payload: Schema.Struct({ n: Schema.Number }),
          success: Schema.Number,
          unique: { key: "slow-search", onDuplicate: { debounce: 100 }, timeout: "1 minute" }
        })
        const runs = yield* Ref.make<Array<number>>([])
        yield* worker(
          [
            Task.implement(Slow, ({ n }) =>
              Ref.update(runs, (r) => [...r, n]).pipe(Effect.andThen(Effect.sleep(400)), Effect.as(n))
            )
          ],
          4
        )
        const first = yield* Task.enqueue(Slow, { n: 1 })
        yield* steps(200)
        assert.strictEqual(yield* Task.status(first), "running")
        const behind = yield* Task.enqueueOutcome(Slow, { n: 2 })
        assert.deepStrictEqual(behind._tag === "Debounced" && [behind.created, behind.state], [true, "scheduled"])
        assert.notStrictEqual(behind.handle.id, first.id)
        const again = yield* Task.enqueueOutcome(Slow, { n: 3 })
        assert.deepStrictEqual(
          [again._tag, again.handle.id, again._tag === "Debounced" && again.created],
          ["Debounced", behind.handle.id, false]
        )
        yield* steps(300 + slack)
        assert.strictEqual(yield* Task.join(first), 1)
        yield* steps(500 + slack)
        assert.strictEqual(yield* Task.join(behind.handle), 3)
        assert.deepStrictEqual(yield* Ref.get(runs), [1, 3])
      })
    )
  )

  it.effect("debounce: a wait that is not a positive duration, or a maxWait below it, is InvalidArgument", () =>
    withTasks(
      Effect.sync(() => {
        const make = (onDuplicate: Task.Debounce) => () =>
          Task.make("bad-debounce", { payload: Customer, unique: { onDuplicate } })
        const zero = Result.try(make({ debounce: 0 }))
        assert.isTrue(Result.isFailure(zero))
        const z = (zero as Result.Failure<unknown, any>).failure
        assert.strictEqual(z._tag, "InvalidArgument")
        assert.include(z.message, "unique.onDuplicate.debounce")
        const below = Result.try(make({ debounce: "2 seconds", maxWait: "1 second" }))
        const b = (below as Result.Failure<unknown, any>).failure
        assert.strictEqual(b._tag, "InvalidArgument")
        assert.include(b.message, "unique.onDuplicate.maxWait")
        assert.include(b.message, "1 second")
      })
    )
  )

  it.effect(
    "debounce: a task behind a running one starts `wait` after its latest request, if the run ended before",
    () =>
      withTasks(
        Effect.gen(function* () {
          const Quick = Task.make("quick-search", {
            payload: Schema.Struct({ n: Schema.Number }),
            success: Schema.Number,
            unique: { key: "quick-search", onDuplicate: { debounce: 400 }, timeout: "1 minute" }
          })
          const queue = yield* TaskQueue.TaskQueue
          const runs = yield* Ref.make<Array<number>>([])
          yield* worker(
            [
              Task.implement(Quick, ({ n }) =>
                Ref.update(runs, (r) => [...r, n]).pipe(Effect.andThen(Effect.sleep(200)), Effect.as(n))
              )
            ],
            4
          )
          const first = yield* Task.enqueue(Quick, { n: 1 })
          yield* steps(450)
          assert.strictEqual(yield* Task.status(first), "running")
          const behind = yield* Task.enqueueOutcome(Quick, { n: 2 })
          assert.strictEqual(behind._tag, "Debounced")
          const startsAt = behind._tag === "Debounced" ? behind.startsAt : 0
          yield* steps(250 + slack)
          assert.strictEqual(yield* Task.join(first), 1)
          const waiting = yield* queue.get(behind.handle.id)
          assert.deepStrictEqual([waiting?.state, waiting?.runAt], ["scheduled", startsAt], "waits for its own start")
          const key = yield* Task.uniqueKey(Quick, { n: 2 })
          assert.strictEqual(
            Option.getOrThrow(yield* Heimdall.inspectLock(queue.lockKey(key))).holder,
            behind.handle.id
          )
          yield* steps(450 + slack) // it starts at 850 and runs 200 ms
          assert.strictEqual(yield* Task.join(behind.handle), 2)
          assert.deepStrictEqual(yield* Ref.get(runs), [1, 2])
        })
      )
  )

  /** A worker for `task` that records each run (payload, id, start) and holds it `holdMs`. */
  const runsOf = <T extends Task.Task<string, Schema.Codec<{ readonly n: number }, any>, Schema.Codec<number, any>>>(
    task: T,
    holdMs = 0
  ) =>
    Effect.gen(function* () {
      const runs = yield* Ref.make<Array<{ readonly n: number; readonly id: string; readonly at: number }>>([])
      yield* worker(
        [
          Task.implement(task, ({ n }: { readonly n: number }) =>
            Effect.flatMap(Task.CurrentTask, (t) =>
              Ref.update(runs, (r) => [...r, { n, id: t.id, at: t.startedAt }])
            ).pipe(Effect.andThen(holdMs > 0 ? Effect.sleep(holdMs) : Effect.void), Effect.as(n))
          ) as Task.Implementation<any, any>
        ],
        4
      )
      return runs
    })
  const edgeTask = (name: string, debounce: Task.Debounce) =>
    Task.make(name, {
      payload: Schema.Struct({ n: Schema.Number }),
      success: Schema.Number,
      unique: { key: name, onDuplicate: debounce, timeout: "1 minute" }
    })
  const started = (outcome: Task.EnqueueOutcome<Task.Any>) =>
    outcome._tag === "Created" && (outcome.state === "queued" || outcome.state === "running")

  it.effect(
    "debounce leading: the first request of a burst runs at once; the rest start nothing until a quiet `wait`",
    () =>
      withTasks(
        Effect.gen(function* () {
          const Lead = edgeTask("lead", { debounce: 600, edge: "leading" })
          const queue = yield* TaskQueue.TaskQueue
          const runs = yield* runsOf(Lead)
          const first = yield* Task.enqueueOutcome(Lead, { n: 1 })
          assert.isTrue(started(first), `the first runs at once: ${first._tag}`)
          const e = (yield* queue.get(first.handle.id))!.enqueuedAt
          yield* steps(100)
          assert.deepStrictEqual(
            (yield* Ref.get(runs)).map((r) => [r.n, r.id]),
            [[1, first.handle.id]]
          )
          assert.isAtMost((yield* Ref.get(runs))[0]!.at, e + slack, "without waiting for `wait`")
          // within `wait` of the one before: nothing new; each moves the window's end
          const second = yield* Task.enqueueOutcome(Lead, { n: 2 })
          assert.deepStrictEqual([second._tag, second.handle.id], ["Existing", first.handle.id])
          yield* steps(250) // 350: the window ends at 100 + 600 = 700
          const third = yield* Task.enqueueOutcome(Lead, { n: 3 })
          assert.deepStrictEqual([third._tag, third.handle.id], ["Existing", first.handle.id])
          yield* steps(300) // 650: 300 after the third, the window holds (ends at 950)
          const fourth = yield* Task.enqueueOutcome(Lead, { n: 4 })
          assert.deepStrictEqual([fourth._tag, fourth.handle.id], ["Existing", first.handle.id])
          assert.strictEqual((yield* Ref.get(runs)).length, 1, "one run so far")
          yield* steps(650 + slack) // quiet for more than `wait`: a new burst
          const fifth = yield* Task.enqueueOutcome(Lead, { n: 5 })
          assert.isTrue(started(fifth), `a new burst runs at once: ${fifth._tag}`)
          assert.notStrictEqual(fifth.handle.id, first.handle.id)
          yield* steps(100 + slack)
          assert.deepStrictEqual(
            (yield* Ref.get(runs)).map((r) => [r.n, r.id]),
            [
              [1, first.handle.id],
              [5, fifth.handle.id]
            ]
          )
        })
      )
  )

  it.effect(
    "debounce both: the first runs at once, then one trailing run `wait` after the latest, with its payload",
    () =>
      withTasks(
        Effect.gen(function* () {
          const Both = edgeTask("both", { debounce: 400, edge: "both" })
          const queue = yield* TaskQueue.TaskQueue
          const runs = yield* runsOf(Both)
          const first = yield* Task.enqueueOutcome(Both, { n: 1 })
          assert.isTrue(started(first), first._tag)
          yield* steps(100)
          const second = yield* Task.enqueueOutcome(Both, { n: 2 })
          assert.strictEqual(second._tag, "Debounced")
          assert.notStrictEqual(second.handle.id, first.handle.id)
          const d2 = second._tag === "Debounced" ? second : undefined
          assert.deepStrictEqual([d2?.created, d2?.state], [true, "scheduled"])
          const e2 = (yield* queue.get(second.handle.id))!.enqueuedAt
          assert.isAtLeast(d2!.startsAt, e2 + 400)
          assert.isAtMost(d2!.startsAt, e2 + 400 + slack)
          yield* steps(100)
          const third = yield* Task.enqueueOutcome(Both, { n: 3 })
          const d3 = third._tag === "Debounced" ? third : undefined
          assert.deepStrictEqual([third._tag, third.handle.id, d3?.created], ["Debounced", second.handle.id, false])
          assert.isAtLeast(d3!.startsAt, e2 + 100 + 400, "moved to `wait` after the latest")
          assert.strictEqual((yield* queue.get(second.handle.id))!.runAt, d3!.startsAt)
          yield* steps(300)
          // on Redis, where a loaded machine stretches the steps, the trailing run's start is checked below
          if (!backend.redis) {
            assert.deepStrictEqual(
              (yield* Ref.get(runs)).map((r) => r.n),
              [1],
              "not before `wait` after the latest"
            )
          }
          yield* steps(200 + slack)
          const ran = yield* Ref.get(runs)
          assert.deepStrictEqual(
            ran.map((r) => [r.n, r.id]),
            [
              [1, first.handle.id],
              [3, second.handle.id]
            ]
          )
          assert.isAtLeast(ran[1]!.at, d3!.startsAt)
          // the burst is over (its window ended with the trailing run): the next request runs at once
          yield* steps(100)
          const next = yield* Task.enqueueOutcome(Both, { n: 4 })
          assert.isTrue(started(next), next._tag)
          yield* steps(100 + slack)
          assert.deepStrictEqual(
            (yield* Ref.get(runs)).map((r) => r.n),
            [1, 3, 4]
          )
        })
      )
  )

  it.effect("debounce leading with maxWait: a burst longer than maxWait runs again, at most once per maxWait", () =>
    withTasks(
      Effect.gen(function* () {
        const Lead = edgeTask("lead-max", { debounce: 300, maxWait: 500, edge: "leading" })
        const queue = yield* TaskQueue.TaskQueue
        const runs = yield* runsOf(Lead)
        const outcomes: Array<{ readonly n: number; readonly tag: string; readonly id: string; readonly at: number }> =
          []
        for (let n = 0; n < 12; n++) {
          const o = yield* Task.enqueueOutcome(Lead, { n })
          const at = (yield* queue.get(o.handle.id))!.enqueuedAt
          outcomes.push({ n, tag: started(o) ? "run" : o._tag, id: o.handle.id, at })
          yield* steps(100)
        }
        yield* steps(100 + slack)
        const runners = outcomes.filter((o) => o.tag === "run")
        const ran = yield* Ref.get(runs)
        assert.deepStrictEqual(
          ran.map((r) => [r.n, r.id]),
          runners.map((o) => [o.n, o.id]),
          "each run is a request that started one, with its payload"
        )
        assert.isTrue(
          outcomes.every((o) => o.tag === "run" || o.tag === "Existing"),
          JSON.stringify(outcomes)
        )
        if (!backend.redis)
          assert.deepStrictEqual(
            runners.map((o) => o.n),
            [0, 5, 10]
          )
        else assert.isAtLeast(runners.length, 2)
        for (let i = 1; i < runners.length; i++) {
          assert.isAtLeast(runners[i]!.at - runners[i - 1]!.at, 500, "at most one run per maxWait")
        }
      })
    )
  )

  it.effect(
    "debounce both with maxWait: a burst that never stops runs at most `maxWait` apart, the latest payload last",
    () =>
      withTasks(
        Effect.gen(function* () {
          const Both = edgeTask("both-max", { debounce: 300, maxWait: 500, edge: "both" })
          const runs = yield* runsOf(Both)
          const outcomes: Array<Task.EnqueueOutcome<typeof Both>> = []
          for (let n = 0; n < 12; n++) {
            outcomes.push(yield* Task.enqueueOutcome(Both, { n }))
            yield* steps(100)
          }
          yield* steps(400 + slack)
          const ran = yield* Ref.get(runs)
          assert.isTrue(started(outcomes[0]!), "the first runs at once")
          assert.isTrue(
            outcomes.slice(1).every((o) => o._tag === "Debounced" || o._tag === "Replaced"),
            outcomes.map((o) => o._tag).join(", ")
          )
          // each trailing run starts `debounce` after the latest request, but at most `maxWait` after the run before
          for (let i = 1; i < ran.length; i++) {
            assert.isAtMost(ran[i]!.at - ran[i - 1]!.at, 500 + slack, `runs at ${ran.map((r) => r.at - ran[0]!.at)}`)
          }
          assert.isAtLeast(ran.length, 3, "the burst of 1.1 s ran at 0, about 500 and about 1000, and after it")
          assert.strictEqual(ran.at(-1)!.n, 11, "the latest payload ran last")
          assert.strictEqual(new Set(ran.map((r) => r.id)).size, ran.length, "each run a task of its own, once")
          // every payload that ran was the latest of its run's requests
          for (const run of ran) {
            const given = outcomes.flatMap((o, n) => (o.handle.id === run.id ? [n] : []))
            assert.strictEqual(run.n, Math.max(...given), `run ${run.id} got ${given}`)
          }
        })
      )
  )

  it.effect(
    "debounce leading: after its window, a request while the key runs waits behind the run, never beside it",
    () =>
      withTasks(
        Effect.gen(function* () {
          const Lead = edgeTask("lead-slow", { debounce: 100, edge: "leading" })
          const runs = yield* runsOf(Lead, 400)
          const first = yield* Task.enqueue(Lead, { n: 1 })
          yield* steps(200)
          assert.strictEqual(yield* Task.status(first), "running")
          const behind = yield* Task.enqueueOutcome(Lead, { n: 2 })
          assert.deepStrictEqual([behind._tag, behind._tag === "Created" && behind.state], ["Created", "scheduled"])
          yield* steps(50)
          const folded = yield* Task.enqueueOutcome(Lead, { n: 3 })
          assert.deepStrictEqual([folded._tag, folded.handle.id], ["Existing", behind.handle.id])
          yield* steps(300 + slack)
          assert.strictEqual(yield* Task.join(first), 1)
          yield* steps(500 + slack)
          assert.strictEqual(yield* Task.join(behind.handle), 2)
          const ran = yield* Ref.get(runs)
          assert.deepStrictEqual(
            ran.map((r) => r.n),
            [1, 2]
          )
          assert.isAtLeast(ran[1]!.at, ran[0]!.at + 400, "after the first ended")
        })
      )
  )

  it.effect(
    "debounce leading/both: a run that has not started yet keeps (leading) or takes (both) a request's payload",
    () =>
      withTasks(
        Effect.gen(function* () {
          const Lead = edgeTask("lead-idle", { debounce: 1000, edge: "leading" })
          const Both = edgeTask("both-idle", { debounce: 1000, edge: "both" })
          const queue = yield* TaskQueue.TaskQueue
          // no worker yet: the first request's task waits in the queue
          const lead = yield* Task.enqueueOutcome(Lead, { n: 1 })
          const both = yield* Task.enqueueOutcome(Both, { n: 1 })
          assert.deepStrictEqual([lead._tag, both._tag], ["Created", "Created"])
          const lead2 = yield* Task.enqueueOutcome(Lead, { n: 2 })
          const both2 = yield* Task.enqueueOutcome(Both, { n: 2 })
          assert.deepStrictEqual([lead2._tag, lead2.handle.id], ["Existing", lead.handle.id])
          assert.deepStrictEqual(
            [both2._tag, both2.handle.id, both2._tag === "Replaced" && both2.created],
            ["Replaced", both.handle.id, false]
          )
          assert.strictEqual((yield* queue.get(lead.handle.id))!.payload, JSON.stringify({ n: 1 }))
          assert.strictEqual((yield* queue.get(both.handle.id))!.payload, JSON.stringify({ n: 2 }))
          const leadRuns = yield* runsOf(Lead)
          const bothRuns = yield* runsOf(Both)
          yield* steps(100 + slack)
          assert.strictEqual(yield* Task.join(lead.handle), 1)
          assert.strictEqual(yield* Task.join(both.handle), 2)
          assert.deepStrictEqual(
            [(yield* Ref.get(leadRuns)).map((r) => r.n), (yield* Ref.get(bothRuns)).map((r) => r.n)],
            [[1], [2]],
            "one run each"
          )
        })
      )
  )

  it.effect("debounce: an `edge` other than trailing, leading or both is InvalidArgument naming it", () =>
    withTasks(
      Effect.sync(() => {
        const bad = Result.try(() =>
          Task.make("bad-edge", {
            payload: Customer,
            unique: { onDuplicate: { debounce: 100, edge: "middle" as "leading" } }
          })
        )
        const failure = (bad as Result.Failure<unknown, any>).failure
        assert.strictEqual(failure?._tag, "InvalidArgument")
        assert.include(failure.message, "unique.onDuplicate.edge")
        assert.include(failure.message, "middle")
      })
    )
  )

  it.effect(
    "replace: a holder whose worker died is redelivered with its own payload; the task behind waits, then runs",
    () =>
      withTasks(
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const first = yield* Task.enqueue(Sync, { n: 1 })
          // a worker claims it and dies (SIGKILL): nothing settles it, its lease lapses
          const claimed = yield* queue.claim({ token: "dead", leaseMillis: 200 })
          assert.strictEqual(claimed._tag === "Claimed" && claimed.tasks[0]?.id, first.id)
          const behind = yield* Task.enqueue(Sync, { n: 2 })
          assert.notStrictEqual(behind.id, first.id)
          yield* steps(250 + slack)
          const runs = yield* Ref.make<Array<[string, number]>>([])
          yield* worker(
            [
              Task.implement(Sync, ({ n }) =>
                Effect.flatMap(Task.CurrentTask, (t) =>
                  Ref.update(runs, (r) => [...r, [t.id, n] as [string, number]])
                ).pipe(Effect.andThen(Effect.sleep(100)), Effect.as(n))
              )
            ],
            4
          )
          yield* steps(400 + slack)
          assert.strictEqual(yield* Task.join(first), 1)
          assert.strictEqual(yield* Task.join(behind), 2)
          assert.deepStrictEqual(yield* Ref.get(runs), [
            [first.id, 1],
            [behind.id, 2]
          ])
          assert.strictEqual((yield* queue.get(first.id))?.redeliveries, 1)
        })
      )
  )

  /** The task holding `key` of `task` now (undefined: the key is free), as `Heimdall.inspectLock` sees it. */
  const holderOf = <T extends Task.Any>(task: T, payload: Task.Payload<T>) =>
    Effect.gen(function* () {
      const queue = yield* TaskQueue.TaskQueue
      const lock = yield* Heimdall.inspectLock(queue.lockKey(yield* Task.uniqueKey(task, payload)))
      return Option.getOrUndefined(lock)?.holder
    })
  /** The first task a claim took (its id and lease token), failing the test when it took none. */
  const claimOne = (token: string, leaseMillis: number) =>
    Effect.gen(function* () {
      const queue = yield* TaskQueue.TaskQueue
      const claimed = yield* queue.claim({ token, leaseMillis })
      assert.strictEqual(claimed._tag, "Claimed", `claim ${token}`)
      const task = claimed._tag === "Claimed" ? claimed.tasks[0]! : undefined
      return { id: task!.id, token: task!.token, attempts: task!.attempts }
    })

  for (const hold of ["untilStart", "untilEnd", "untilExpiry"] as const) {
    it.effect(
      `hold ${hold}: who holds the key and what a duplicate gets: waiting, running, retry wait, ended, after the timeout`,
      () =>
        withTasks(
          Effect.gen(function* () {
            const queue = yield* TaskQueue.TaskQueue
            const Held = Task.make(`held-${hold}`, { payload: Customer, unique: { key: "held", hold, timeout: 1000 } })
            assert.strictEqual(Held.settings.unique?.hold, hold)
            assert.strictEqual(Held.settings.unique?.waitForExpiry, hold === "untilExpiry")
            const p = { customerId: 1 }
            const first = yield* Task.enqueue(Held, p)
            const holders: Array<string> = []
            const answers: Array<string> = []
            /** The holder now, then what a duplicate gets: "existing" (the first task's handle) or "new" (cancelled). */
            const probe = Effect.gen(function* () {
              const holder = yield* holderOf(Held, p)
              holders.push(holder === undefined ? "free" : holder === first.id ? "first" : holder)
              const dup = yield* Task.enqueue(Held, p)
              if (dup.id === first.id) return answers.push("existing")
              answers.push("new")
              assert.strictEqual(yield* holderOf(Held, p), dup.id, "the new task holds the key")
              // out of the way of the next steps; it frees the key it holds
              assert.deepStrictEqual(yield* queue.cancel(dup.id), { _tag: "Cancelled", previous: "queued" })
              assert.isUndefined(yield* holderOf(Held, p))
            })
            yield* probe // waiting
            const run1 = yield* claimOne("run-1", 60_000)
            assert.strictEqual(run1.id, first.id)
            yield* probe // running
            assert.isTrue(yield* queue.fail(first.id, run1.token, "boom", 50))
            assert.strictEqual(yield* Task.status(first), "scheduled")
            yield* probe // retry wait
            yield* steps(100)
            const run2 = yield* claimOne("run-2", 60_000)
            assert.deepStrictEqual([run2.id, run2.attempts], [first.id, 2])
            assert.isTrue(yield* queue.complete(first.id, run2.token, "null"))
            yield* probe // ended
            yield* steps(1000 + slack)
            yield* probe // after the timeout (1 s after the enqueue)
            const expected = {
              untilStart: {
                holders: ["first", "free", "free", "free", "free"],
                answers: ["existing", "new", "new", "new", "new"]
              },
              untilEnd: {
                holders: ["first", "first", "first", "free", "free"],
                answers: ["existing", "existing", "existing", "new", "new"]
              },
              untilExpiry: {
                holders: ["first", "first", "first", "first", "free"],
                answers: ["existing", "existing", "existing", "existing", "new"]
              }
            }[hold]
            assert.deepStrictEqual({ holders, answers }, expected)
          })
        )
    )
  }

  const Feed = Task.make("feed", {
    payload: Customer,
    success: Schema.Number,
    unique: { key: ({ customerId }) => `feed:${customerId}`, hold: "untilStart", timeout: "1 minute" }
  })

  it.effect(
    "hold untilStart: a worker's start frees the key; a duplicate while it runs is a new task, run beside it",
    () =>
      withTasks(
        Effect.gen(function* () {
          const runs = yield* Ref.make<Array<string>>([])
          const active = yield* Ref.make(0)
          const most = yield* Ref.make(0)
          yield* worker(
            [
              Task.implement(Feed, ({ customerId }) =>
                Effect.gen(function* () {
                  const { id } = yield* Task.CurrentTask
                  yield* Ref.update(runs, (r) => [...r, id])
                  const now = yield* Ref.updateAndGet(active, (a) => a + 1)
                  yield* Ref.update(most, (m) => Math.max(m, now))
                  yield* Effect.sleep(300)
                  yield* Ref.update(active, (a) => a - 1)
                  return customerId
                })
              )
            ],
            4
          )
          const first = yield* Task.enqueue(Feed, { customerId: 1 })
          yield* steps(100)
          assert.strictEqual(yield* Task.status(first), "running")
          assert.isUndefined(yield* holderOf(Feed, { customerId: 1 }), "freed as the worker started it")
          const second = yield* Task.enqueueOutcome(Feed, { customerId: 1 })
          assert.strictEqual(second._tag, "Created")
          assert.notStrictEqual(second.handle.id, first.id)
          yield* steps(100)
          assert.strictEqual(yield* Task.status(second.handle), "running")
          yield* steps(300 + slack)
          assert.strictEqual(yield* Task.join(first), 1)
          assert.strictEqual(yield* Task.join(second.handle), 1)
          assert.deepStrictEqual(yield* Ref.get(runs), [first.id, second.handle.id])
          assert.strictEqual(yield* Ref.get(most), 2, "the key does not keep two runs apart")
        })
      )
  )

  it.effect(
    "hold untilStart: enqueued one by one or in a batch while a worker idles, a claim starts it and frees the key",
    () =>
      withTasks(
        Effect.gen(function* () {
          const started = yield* Ref.make<Array<number>>([])
          yield* worker(
            [
              Task.implement(Feed, ({ customerId }) =>
                Ref.update(started, (s) => [...s, customerId]).pipe(Effect.andThen(Effect.never))
              )
            ],
            4
          )
          yield* steps(100) // the worker is idle (on Redis: registered for hand-offs)
          const one = yield* Task.enqueue(Feed, { customerId: 1 })
          const results = yield* Task.enqueueAll(Feed, [{ customerId: 2 }, { customerId: 3 }, { customerId: 2 }])
          const ids = results.map((r) => (Result.isSuccess(r) ? r.success.id : "failed"))
          assert.strictEqual(ids[2], ids[0], "a waiting duplicate in the same batch gets the first")
          yield* steps(100)
          assert.deepStrictEqual((yield* Ref.get(started)).toSorted(), [1, 2, 3])
          for (const [customerId, id] of [
            [1, one.id],
            [2, ids[0]!],
            [3, ids[1]!]
          ] as const) {
            assert.strictEqual(yield* Task.status(Task.handle(Feed, id)), "running")
            assert.isUndefined(yield* holderOf(Feed, { customerId }), `key ${customerId} freed as it started`)
          }
        })
      )
  )

  it.effect(
    "hold untilStart: a retried task and one whose worker died run again without the key; whoever took it keeps it",
    () =>
      withTasks(
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const p = { customerId: 7 }
          const first = yield* Task.enqueue(Feed, p)
          const run1 = yield* claimOne("run-1", 60_000)
          assert.strictEqual(run1.id, first.id)
          assert.isTrue(yield* queue.fail(first.id, run1.token, "boom", 50))
          // its retry wait does not take the key again: a duplicate is a new task (delayed, to stay out of the way)
          assert.isUndefined(yield* holderOf(Feed, p))
          const dup = yield* Task.enqueue(Feed, p, { delay: "1 minute" })
          assert.notStrictEqual(dup.id, first.id)
          assert.strictEqual(yield* holderOf(Feed, p), dup.id)
          yield* steps(100)
          const run2 = yield* claimOne("run-2", 200)
          assert.deepStrictEqual([run2.id, run2.attempts], [first.id, 2])
          assert.strictEqual(yield* holderOf(Feed, p), dup.id, "its second start leaves the duplicate's key alone")
          // the worker running it is SIGKILLed: nothing settles it, its lease lapses and it is redelivered
          yield* steps(250 + slack)
          const run3 = yield* claimOne("run-3", 60_000)
          assert.deepStrictEqual([run3.id, run3.attempts], [first.id, 3])
          assert.strictEqual((yield* queue.get(first.id))?.redeliveries, 1)
          assert.strictEqual(yield* holderOf(Feed, p), dup.id)
          // its end (here a cancel) frees nothing it does not hold
          assert.deepStrictEqual(yield* queue.cancel(first.id), { _tag: "Cancelled", previous: "running" })
          assert.strictEqual(yield* holderOf(Feed, p), dup.id)
          assert.deepStrictEqual(yield* queue.cancel(dup.id), { _tag: "Cancelled", previous: "scheduled" })
          assert.isUndefined(yield* holderOf(Feed, p), "a waiting task's cancel frees its key")
        })
      )
  )

  it.effect(
    "hold untilStart: a task given back without running (rate-limit reschedule, release) takes the key again",
    () =>
      withTasks(
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const p = { customerId: 8 }
          const first = yield* Task.enqueue(Feed, p)
          const run1 = yield* claimOne("run-1", 60_000)
          assert.strictEqual(run1.id, first.id)
          assert.isUndefined(yield* holderOf(Feed, p))
          assert.isTrue(yield* queue.reschedule(first.id, run1.token, 100))
          assert.strictEqual(yield* holderOf(Feed, p), first.id, "rescheduled before it ran: it waits with its key")
          assert.strictEqual((yield* Task.enqueue(Feed, p)).id, first.id)
          yield* steps(150)
          const run2 = yield* claimOne("run-2", 60_000)
          assert.deepStrictEqual([run2.id, run2.attempts], [first.id, 1])
          assert.isUndefined(yield* holderOf(Feed, p))
          const dup = yield* Task.enqueue(Feed, p, { delay: "1 minute" })
          assert.notStrictEqual(dup.id, first.id)
          assert.isTrue(yield* queue.release(first.id, run2.token))
          assert.strictEqual(yield* Task.status(first), "queued")
          assert.strictEqual(yield* holderOf(Feed, p), dup.id, "the duplicate that took the key meanwhile keeps it")
          const run3 = yield* claimOne("run-3", 60_000)
          assert.deepStrictEqual([run3.id, run3.attempts], [first.id, 1])
          assert.strictEqual(yield* holderOf(Feed, p), dup.id)
        })
      )
  )

  it.effect("hold untilStart with a rate limit: a task that waits for its slot keeps its key; duplicates get it", () =>
    withTasks(
      Effect.gen(function* () {
        const Call = Task.make("call-api", {
          payload: Customer,
          success: Schema.Number,
          unique: { key: ({ customerId }) => `call:${customerId}`, hold: "untilStart", timeout: "1 minute" },
          rateLimit: { times: 1, per: 600, jitter: 0, margin: 0 }
        })
        const runs = yield* Ref.make<Array<number>>([])
        yield* worker(
          [
            Task.implement(Call, ({ customerId }) =>
              Ref.update(runs, (r) => [...r, customerId]).pipe(Effect.as(customerId))
            )
          ],
          4
        )
        const a = yield* Task.enqueue(Call, { customerId: 1 })
        const b = yield* Task.enqueue(Call, { customerId: 2 })
        yield* steps(200)
        assert.strictEqual(yield* Task.join(a), 1)
        assert.strictEqual(yield* Task.status(b), "scheduled", "rescheduled to the rate limit's next slot")
        assert.strictEqual(yield* holderOf(Call, { customerId: 2 }), b.id)
        assert.strictEqual((yield* Task.enqueue(Call, { customerId: 2 })).id, b.id, "still waiting: the same task")
        yield* steps(600 + slack)
        assert.strictEqual(yield* Task.join(b), 2)
        assert.deepStrictEqual(yield* Ref.get(runs), [1, 2])
      })
    )
  )

  it.effect(
    "hold untilEnd: a task whose worker died keeps the key through the lapse, until it ends or the timeout",
    () =>
      withTasks(
        Effect.gen(function* () {
          const Ends = Task.make("ends", { payload: Customer, unique: { key: "ends", timeout: 600 } })
          const p = { customerId: 1 }
          const first = yield* Task.enqueue(Ends, p)
          const run1 = yield* claimOne("dies", 200)
          assert.strictEqual(run1.id, first.id)
          yield* steps(250 + slack) // its lease lapsed; it waits for its redelivery
          assert.strictEqual(yield* holderOf(Ends, p), first.id)
          assert.strictEqual((yield* Task.enqueue(Ends, p)).id, first.id)
          yield* steps(400) // past the timeout, 600 ms after the enqueue
          assert.isUndefined(yield* holderOf(Ends, p))
          assert.notStrictEqual((yield* Task.enqueue(Ends, p)).id, first.id)
        })
      )
  )

  it.effect(
    "hold untilStart with replace or debounce: the policy acts on the waiting task; after its start, a new task",
    () =>
      withTasks(
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const N = Schema.Struct({ n: Schema.Number })
          const Latest = Task.make("latest", {
            payload: N,
            unique: { key: "latest", hold: "untilStart", onDuplicate: "replace", timeout: "1 minute" }
          })
          const a = yield* Task.enqueueOutcome(Latest, { n: 1 })
          assert.strictEqual(a._tag, "Created")
          const b = yield* Task.enqueueOutcome(Latest, { n: 2 })
          assert.deepStrictEqual([b._tag, b.handle.id], ["Replaced", a.handle.id])
          assert.strictEqual((yield* queue.get(a.handle.id))?.payload, JSON.stringify({ n: 2 }))
          const run = yield* claimOne("run", 60_000)
          assert.strictEqual(run.id, a.handle.id)
          // running: not a task behind it (as with untilEnd), a new task, queued now
          const c = yield* Task.enqueueOutcome(Latest, { n: 3 })
          assert.deepStrictEqual(c._tag === "Created" && c.state, "queued")
          assert.notStrictEqual(c.handle.id, a.handle.id)
          const d = yield* Task.enqueueOutcome(Latest, { n: 4 })
          assert.deepStrictEqual([d._tag, d.handle.id], ["Replaced", c.handle.id])
          assert.strictEqual((yield* queue.get(c.handle.id))?.payload, JSON.stringify({ n: 4 }))
          assert.strictEqual(yield* holderOf(Latest, { n: 0 }), c.handle.id)
          yield* queue.cancel(c.handle.id) // out of the way of the claim below

          const Quiet = Task.make("quiet", {
            payload: N,
            unique: { key: "quiet", hold: "untilStart", onDuplicate: { debounce: 300 }, timeout: "1 minute" }
          })
          const q1 = yield* Task.enqueueOutcome(Quiet, { n: 1 })
          assert.deepStrictEqual(q1._tag === "Created" && q1.state, "scheduled", "the first request waits too")
          yield* steps(100)
          const q2 = yield* Task.enqueueOutcome(Quiet, { n: 2 })
          assert.deepStrictEqual([q2._tag, q2.handle.id], ["Debounced", q1.handle.id])
          yield* steps(350 + slack)
          const started = yield* claimOne("quiet", 60_000)
          assert.strictEqual(started.id, q1.handle.id)
          assert.strictEqual((yield* queue.get(q1.handle.id))?.payload, JSON.stringify({ n: 2 }))
          const q3 = yield* Task.enqueueOutcome(Quiet, { n: 3 })
          assert.deepStrictEqual(q3._tag === "Created" && q3.state, "scheduled", "a new task, which waits `wait`")
          assert.notStrictEqual(q3.handle.id, q1.handle.id)
          const record = yield* queue.get(q3.handle.id)
          assert.strictEqual(record!.runAt - record!.enqueuedAt, 300)
          assert.strictEqual(yield* holderOf(Quiet, { n: 0 }), q3.handle.id)
        })
      )
  )

  it.effect(
    "hold untilStart with the leading or both edge: a start frees the key; a request after it is a new task",
    () =>
      withTasks(
        Effect.gen(function* () {
          const N = Schema.Struct({ n: Schema.Number })
          const make = (name: string, edge: "leading" | "both") =>
            Task.make(name, {
              payload: N,
              unique: { key: name, hold: "untilStart", onDuplicate: { debounce: 200, edge }, timeout: "1 minute" }
            })
          const Lead = make("lead-start", "leading")
          const first = yield* Task.enqueueOutcome(Lead, { n: 1 })
          assert.deepStrictEqual(first._tag === "Created" && first.state, "queued")
          assert.strictEqual(yield* holderOf(Lead, { n: 0 }), first.handle.id, "waiting, it holds the key")
          assert.strictEqual((yield* claimOne("lead", 60_000)).id, first.handle.id)
          assert.isUndefined(yield* holderOf(Lead, { n: 0 }), "its start freed the key")
          // within the burst's window: the leading edge starts nothing
          const second = yield* Task.enqueueOutcome(Lead, { n: 2 })
          assert.deepStrictEqual([second._tag, second.handle.id], ["Existing", first.handle.id])
          yield* steps(250 + slack)
          // a new burst while the first runs: a new task, queued now (holding until the end, it would wait behind)
          const third = yield* Task.enqueueOutcome(Lead, { n: 3 })
          assert.deepStrictEqual(third._tag === "Created" && third.state, "queued")
          assert.notStrictEqual(third.handle.id, first.handle.id)
          assert.strictEqual(yield* holderOf(Lead, { n: 0 }), third.handle.id)

          const Both = make("both-start", "both")
          const lead = yield* Task.enqueueOutcome(Both, { n: 1 })
          assert.deepStrictEqual(lead._tag === "Created" && lead.state, "queued")
          // the claim takes the oldest waiting task first: the leading task above, then this one
          assert.strictEqual((yield* claimOne("third", 60_000)).id, third.handle.id)
          assert.strictEqual((yield* claimOne("both", 60_000)).id, lead.handle.id)
          assert.isUndefined(yield* holderOf(Both, { n: 0 }), "its start freed the key")
          // within the window, the trailing run: a new task holding the free key, `wait` from now
          const trailing = yield* Task.enqueueOutcome(Both, { n: 2 })
          assert.strictEqual(trailing._tag, "Debounced")
          assert.notStrictEqual(trailing.handle.id, lead.handle.id)
          assert.strictEqual(yield* holderOf(Both, { n: 0 }), trailing.handle.id)
          const record = (yield* (yield* TaskQueue.TaskQueue).get(trailing.handle.id))!
          assert.deepStrictEqual([record.state, record.runAt - record.enqueuedAt], ["scheduled", 200])
        })
      )
  )

  it.effect("hold untilStart with the leading edge, while a worker idles: its start frees the key", () =>
    withTasks(
      Effect.gen(function* () {
        const Lead = Task.make("lead-idle-start", {
          payload: Schema.Struct({ n: Schema.Number }),
          unique: {
            key: ({ n }) => `k${n}`,
            hold: "untilStart",
            onDuplicate: { debounce: 200, edge: "leading" },
            timeout: "1 minute"
          }
        })
        const started = yield* Ref.make<Array<number>>([])
        yield* worker(
          [Task.implement(Lead, ({ n }) => Ref.update(started, (s) => [...s, n]).pipe(Effect.andThen(Effect.never)))],
          4
        )
        yield* steps(100) // the worker is idle (on Redis: registered for hand-offs)
        const one = yield* Task.enqueueOutcome(Lead, { n: 1 })
        const two = yield* Task.enqueueOutcome(Lead, { n: 2 })
        assert.deepStrictEqual([one._tag, two._tag], ["Created", "Created"])
        yield* steps(100)
        assert.deepStrictEqual((yield* Ref.get(started)).toSorted(), [1, 2])
        for (const [n, outcome] of [
          [1, one],
          [2, two]
        ] as const) {
          assert.strictEqual(yield* Task.status(outcome.handle), "running")
          assert.isUndefined(yield* holderOf(Lead, { n }), `key ${n} freed as it started`)
        }
      })
    )
  )

  it.effect(
    "hold: a value outside the choices, or one that contradicts waitForExpiry or oneBehind, is InvalidArgument",
    () =>
      withTasks(
        Effect.sync(() => {
          const failure = (unique: Task.UniqueOptions<unknown>) => {
            const made = Result.try(() => Task.make("bad-hold", { payload: Customer, unique }))
            assert.isTrue(Result.isFailure(made), JSON.stringify(unique))
            const error = (made as Result.Failure<unknown, any>).failure
            assert.strictEqual(error._tag, "InvalidArgument")
            return error.message as string
          }
          const outside = failure({ hold: "untilRun" as "untilEnd" })
          for (const part of ["unique.hold", "untilRun", '"untilStart"', '"untilEnd"', '"untilExpiry"']) {
            assert.include(outside, part)
          }
          const contradicts = failure({ hold: "untilStart", waitForExpiry: true })
          for (const part of ["unique.hold", "untilStart", "waitForExpiry: true"]) assert.include(contradicts, part)
          const contradictsFalse = failure({ hold: "untilExpiry", waitForExpiry: false })
          for (const part of ["unique.hold", "untilExpiry", "waitForExpiry: false"])
            assert.include(contradictsFalse, part)
          const oneBehind = failure({ hold: "untilStart", onDuplicate: "oneBehind" })
          for (const part of ["unique.hold", "untilStart", "oneBehind"]) assert.include(oneBehind, part)
          assert.include(failure({ waitForExpiry: "yes" as unknown as boolean }), "unique.waitForExpiry")
          // the pipeable form checks the same
          const piped = Result.try(() =>
            Task.make("piped", { payload: Customer }).pipe(
              Task.unique({ hold: "untilStart", onDuplicate: "oneBehind" })
            )
          )
          assert.isTrue(Result.isFailure(piped))
          // accepted: both saying the same, and each alone
          const settings = (unique: Task.UniqueOptions<unknown>) =>
            Task.make("good-hold", { payload: Customer, unique }).settings.unique?.hold
          assert.strictEqual(settings({ hold: "untilExpiry", waitForExpiry: true }), "untilExpiry")
          assert.strictEqual(settings({ waitForExpiry: true }), "untilExpiry")
          assert.strictEqual(settings({ hold: "untilStart", waitForExpiry: false }), "untilStart")
          assert.strictEqual(settings({}), "untilEnd")
        })
      )
  )
}
