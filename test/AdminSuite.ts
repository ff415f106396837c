/**
 * The admin conformance suite: every action of `Admin` (retry, retryAll, purge, cancel, releaseLock,
 * resetRateLimit) and every refusal (no such task, wrong state, a held unique key, invalid arguments), run against
 * each backend by `Admin.memory.test.ts` and `Admin.redis.test.ts` (and `keySlots.test.ts`). States, counts, index
 * entries, lock holders and, on Redis, the keys themselves are asserted. Memory runs on `TestClock`, Redis on the
 * real clock; every wait goes through `backend.advance`. Each test gets its own queue.
 */
import type { Vitest } from "@effect/vitest"
import { assert } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Option, Ref, Schedule, Schema, type Scope } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Admin from "../src/Admin.ts"
import { AlreadyQueued, type InvalidArgument, TaskCancelled, TaskNotFound, TaskStateConflict } from "../src/Errors.ts"
import * as Heimdall from "../src/Heimdall.ts"
import * as HeimdallStore from "../src/HeimdallStore.ts"
import * as Inspector from "../src/Inspector.ts"
import * as Task from "../src/Task.ts"
import * as TaskQueue from "../src/TaskQueue.ts"
import * as Worker from "../src/Worker.ts"
import type { BackendContext } from "./support/backends.ts"
import { assertInvalid } from "./support/invalid.ts"
import { together } from "./support/partitions.ts"
import { storedRecord, tasksKey } from "./support/records.ts"

type Services =
  | TaskQueue.TaskQueue
  | Inspector.Inspector
  | Admin.Admin
  | Heimdall.Heimdall
  | HeimdallStore.HeimdallStore

/** Hands each test a fresh queue of the backend under test, with its admin. */
export class AdminUnderTest extends Context.Service<
  AdminUnderTest,
  {
    readonly layer: (queue: string, options?: Heimdall.Options) => Layer.Layer<Services, InvalidArgument>
    /** The Redis service on the Redis backend, for assertions on keys. */
    readonly redis: Redis.Redis["Service"] | undefined
    /** The queue key prefix on the Redis backend. */
    readonly prefix: string
  }
>()("test/AdminUnderTest") {}

let counter = 0
const withQueue = <A, E>(
  body: (queue: string) => Effect.Effect<A, E, Services | Scope.Scope | AdminUnderTest>,
  options?: Heimdall.Options
): Effect.Effect<A, E | InvalidArgument, AdminUnderTest> =>
  Effect.flatMap(AdminUnderTest, (t) => {
    const queue = `a${++counter}-${Date.now() % 100000}`
    return body(queue).pipe(Effect.scoped, Effect.provide(t.layer(queue, options)))
  })

/**
 * The queue under test's `together` (QueueSuite): on a partitioned queue, an id or unique key placed in partition 0,
 * for the tests whose claim (FIFO per partition), index cap, scan budget or raw keys hold per partition; `text` itself
 * on one partition.
 */
const placed = Effect.map(TaskQueue.TaskQueue, together)

type Unique = TaskQueue.NewTask["unique"]
const newTask = (id: string, name = "a", delayMillis = 0, unique?: Unique): TaskQueue.NewTask => ({
  id,
  name,
  payload: `{"id":"${id}"}`,
  delayMillis,
  trace: undefined,
  unique
})
const uniqueKey = (key: string): Unique => ({ key, ttlMillis: 60_000, keep: false })

const A = Task.make("a", { payload: Schema.Struct({ id: Schema.String }) })

/** The ids of every page of a state (one page is enough here). */
const listed = (state: Inspector.ListState, name?: string) =>
  Effect.flatMap(Inspector.Inspector, (i) =>
    Effect.map(i.tasks({ state, name, limit: 500 }), (page) => page.tasks.map((t) => t.id))
  )
const stateOf = (id: string) =>
  Effect.flatMap(TaskQueue.TaskQueue, (q) => Effect.map(q.get(id), (r) => r?.state ?? "missing"))
const countsOf = (name: string) =>
  Effect.flatMap(Inspector.Inspector, (i) => Effect.map(i.counts, (c) => c.byName[name]))

export const adminSuite = (it: Vitest.MethodsNonLive<AdminUnderTest>, backend: BackendContext) => {
  const advance = backend.advance
  let tokens = 0
  const claim = (options?: Partial<TaskQueue.ClaimOptions>) =>
    Effect.flatMap(TaskQueue.TaskQueue, (q) =>
      q.claim({ token: `t${++tokens}`, leaseMillis: 10_000, max: 1, worker: "w1", ...options })
    )
  /** Claims exactly the task `id` (the only one due) and returns its lease token. */
  const claimId = (id: string) =>
    Effect.map(claim(), (result) => {
      assert.strictEqual(result._tag === "Claimed" ? result.task.id : result._tag, id)
      return result._tag === "Claimed" ? result.task.token : ""
    })
  const enqueue = (task: TaskQueue.NewTask) =>
    Effect.flatMap(TaskQueue.TaskQueue, (q) =>
      Effect.map(q.enqueue(task), (r) => assert.strictEqual(r._tag, "Created", task.id))
    )
  /** The lock holder of a unique task (its detail), undefined when free. */
  const lockHolder = (id: string) =>
    Effect.flatMap(Inspector.Inspector, (i) => Effect.map(i.task(id), (d) => d?.lock?.holder))
  /** On Redis only: assertions on the keys themselves. */
  const redisCheck = <A>(f: (redis: Redis.Redis["Service"], prefix: string) => Effect.Effect<A, unknown>) =>
    Effect.flatMap(AdminUnderTest, (t) =>
      t.redis === undefined ? Effect.void : Effect.asVoid(Effect.orDie(f(t.redis, t.prefix)))
    )

  it.effect("cancel a queued task: out of the line, counted, indexed, its lock freed, its join fails", () =>
    withQueue((queue) =>
      Effect.gen(function* () {
        const p0 = yield* placed
        const admin = yield* Admin.Admin
        yield* enqueue(newTask(p0("q1"), "a", 0, uniqueKey(p0("k1"))))
        yield* enqueue(newTask(p0("q2")))
        assert.strictEqual(yield* lockHolder(p0("q1")), p0("q1"))
        const joined = yield* Effect.forkChild(Effect.flip(Task.join(Task.handle(A, p0("q1")))))
        yield* advance(10)

        assert.deepStrictEqual(yield* admin.cancel(p0("q1")), { previous: "queued" })
        assert.strictEqual(yield* stateOf(p0("q1")), "cancelled")
        assert.strictEqual(yield* lockHolder(p0("q1")), undefined)
        const counts = yield* countsOf("a")
        assert.strictEqual(counts!.queued, 1)
        assert.strictEqual(counts!.cancelled, 1)
        assert.deepStrictEqual(yield* listed("cancelled"), [p0("q1")])
        assert.deepStrictEqual(yield* listed("queued"), [p0("q2")])
        yield* redisCheck((redis, prefix) =>
          Effect.map(redis.send<Array<string>>("LRANGE", `${prefix}:{${queue}}:ready`, "0", "-1"), (ids) =>
            assert.deepStrictEqual(ids, [p0("q2")])
          )
        )
        const error = yield* Fiber.join(joined)
        assert.instanceOf(error, TaskCancelled)
        assert.strictEqual((error as TaskCancelled).taskId, p0("q1"))
        assert.strictEqual((error as TaskCancelled).taskName, "a")
        assert.include((error as TaskCancelled).message, p0("q1"))
        // no worker ever runs it: the next claims find q2, then nothing
        yield* claimId(p0("q2"))
        assert.strictEqual((yield* claim())._tag, "Idle")
        // a second cancel: the task has ended
        const again = yield* Effect.flip(admin.cancel(p0("q1")))
        assert.instanceOf(again, TaskStateConflict)
        assert.strictEqual((again as TaskStateConflict).state, "cancelled")
      })
    )
  )

  it.effect("cancel a scheduled task and a task parked for another worker: neither runs", () =>
    withQueue(() =>
      Effect.gen(function* () {
        const admin = yield* Admin.Admin
        yield* enqueue(newTask("s1", "a", 100))
        yield* enqueue(newTask("p1", "other"))
        // a claim of a worker that runs only "a" parks p1 for a worker that runs "other"
        assert.strictEqual((yield* claim({ names: ["a"] }))._tag, "Idle")
        assert.deepStrictEqual(yield* listed("queued"), ["p1"])
        assert.deepStrictEqual(yield* admin.cancel("s1"), { previous: "scheduled" })
        assert.deepStrictEqual(yield* admin.cancel("p1"), { previous: "queued" })
        assert.deepStrictEqual(yield* listed("scheduled"), [])
        assert.deepStrictEqual(yield* listed("queued"), [])
        yield* advance(150)
        assert.strictEqual((yield* claim())._tag, "Idle")
        assert.strictEqual((yield* claim({ names: ["other"] }))._tag, "Idle")
        assert.strictEqual((yield* countsOf("a"))!.scheduled, 0)
        assert.strictEqual((yield* countsOf("a"))!.cancelled, 1)
        assert.strictEqual((yield* countsOf("other"))!.queued, 0)
        assert.deepStrictEqual((yield* listed("cancelled")).sort(), ["p1", "s1"])
      })
    )
  )

  it.effect("cancel a running task: its lease is gone, its completion changes nothing, watchers are told", () =>
    withQueue(() =>
      Effect.gen(function* () {
        const q = yield* TaskQueue.TaskQueue
        const admin = yield* Admin.Admin
        const told: Array<string> = []
        yield* q.watchCancels((id) => {
          told.push(id)
        })
        yield* advance(20)
        yield* enqueue(newTask("r1", "a", 0, uniqueKey("k2")))
        yield* enqueue(newTask("q3"))
        const token = yield* claimId("r1")
        assert.deepStrictEqual(yield* admin.cancel("r1"), { previous: "running" })
        assert.isFalse(yield* q.complete("r1", token, "1"))
        assert.isFalse(yield* q.renew("r1", token, 10_000))
        assert.strictEqual(yield* stateOf("r1"), "cancelled")
        assert.strictEqual(yield* lockHolder("r1"), undefined)
        const counts = yield* countsOf("a")
        assert.strictEqual(counts!.running, 0)
        assert.strictEqual(counts!.succeeded, 0)
        assert.strictEqual(counts!.cancelled, 1)
        assert.deepStrictEqual(yield* listed("running"), [])
        // a cancelled queued task is not announced: no worker runs it
        assert.deepStrictEqual(yield* admin.cancel("q3"), { previous: "queued" })
        for (let i = 0; i < 20 && told.length === 0; i++) yield* advance(10)
        yield* advance(20)
        assert.deepStrictEqual(told, ["r1"])
        // the lease never lapses into a redelivery
        assert.strictEqual((yield* claim())._tag, "Idle")
      })
    )
  )

  it.effect("cancel refuses a finished task (conflict naming its state), a missing one, an empty id", () =>
    withQueue(() =>
      Effect.gen(function* () {
        const q = yield* TaskQueue.TaskQueue
        const admin = yield* Admin.Admin
        yield* enqueue(newTask("d1"))
        assert.isTrue(yield* q.complete("d1", yield* claimId("d1"), "1"))
        const conflict = yield* Effect.flip(admin.cancel("d1"))
        assert.instanceOf(conflict, TaskStateConflict)
        const c = conflict as TaskStateConflict
        assert.deepStrictEqual([c.taskId, c.state, c.action], ["d1", "succeeded", "cancel"])
        assert.include(c.message, "d1")
        assert.include(c.message, "succeeded")
        assert.strictEqual(yield* stateOf("d1"), "succeeded")
        assert.strictEqual((yield* countsOf("a"))!.cancelled, 0)
        const missing = yield* Effect.flip(admin.cancel("nope"))
        assert.instanceOf(missing, TaskNotFound)
        assert.strictEqual((missing as TaskNotFound).taskId, "nope")
        assertInvalid(yield* Effect.flip(admin.cancel("")), "id", '""')
        assertInvalid(yield* Effect.flip(admin.retry("")), "id", '""')
      })
    )
  )

  it.effect("a worker's running handler is interrupted by a cancel, its finalizer runs, no retry follows", () =>
    withQueue(() =>
      Effect.gen(function* () {
        const admin = yield* Admin.Admin
        const started = yield* Deferred.make<void>()
        const finalized = yield* Ref.make(0)
        const runs = yield* Ref.make(0)
        const Long = Task.make("long", { payload: Schema.Number, retry: Schedule.recurs(3) })
        const LongLive = Task.implement(Long, () =>
          Effect.gen(function* () {
            yield* Ref.update(runs, (n) => n + 1)
            yield* Deferred.succeed(started, undefined)
            return yield* Effect.never
          }).pipe(Effect.ensuring(Ref.update(finalized, (n) => n + 1)))
        )
        yield* Effect.scoped(
          Effect.gen(function* () {
            // a lease of a minute: without the notice, the interruption would wait for a renewal 20 s later
            yield* Layer.build(Worker.layer({ concurrency: 1, tasks: [LongLive], lease: "1 minute", gracePeriod: 0 }))
            yield* advance(20)
            const handle = yield* Task.enqueue(Long, 1)
            for (let i = 0; i < 50 && !(yield* Deferred.isDone(started)); i++) yield* advance(10)
            assert.isTrue(yield* Deferred.isDone(started))
            assert.deepStrictEqual(yield* admin.cancel(handle.id), { previous: "running" })
            for (let i = 0; i < 50 && (yield* Ref.get(finalized)) === 0; i++) yield* advance(10)
            assert.strictEqual(yield* Ref.get(finalized), 1)
            const error = yield* Effect.flip(Task.join(handle))
            assert.instanceOf(error, TaskCancelled)
            yield* advance(100)
            assert.strictEqual(yield* Ref.get(runs), 1)
            assert.strictEqual(yield* stateOf(handle.id), "cancelled")
          })
        )
      })
    )
  )

  it.effect("retry a failed and a dead task: queued again at the back, reset, out of the index; refusals", () =>
    withQueue((queue) =>
      Effect.gen(function* () {
        const q = yield* TaskQueue.TaskQueue
        const admin = yield* Admin.Admin
        yield* enqueue(newTask("f1"))
        assert.isTrue(yield* q.fail("f1", yield* claimId("f1"), '"e1"', undefined))
        yield* enqueue(newTask("x1", "b"))
        assert.isTrue(yield* q.deadLetter("x1", yield* claimId("x1"), "poison"))
        yield* enqueue(newTask("w1"))
        assert.deepStrictEqual(yield* listed("failed"), ["f1"])
        const before = yield* countsOf("a")

        yield* admin.retry("f1")
        const record = (yield* q.get("f1"))!
        assert.strictEqual(record.state, "queued")
        assert.strictEqual(record.attempts, 0)
        assert.strictEqual(record.error, undefined)
        assert.strictEqual(record.lastError, '"e1"')
        assert.deepStrictEqual(record.failures, [])
        assert.strictEqual(record.finishedAt, undefined)
        assert.deepStrictEqual(yield* listed("failed"), [])
        const after = yield* countsOf("a")
        assert.strictEqual(after!.queued, before!.queued + 1)
        assert.strictEqual(after!.failed, before!.failed, "the total of failures stays")
        yield* redisCheck((redis, prefix) =>
          Effect.gen(function* () {
            const stored = yield* storedRecord(tasksKey(prefix, queue), "f1")
            assert.strictEqual(stored?.x, undefined, "a queued record does not expire")
            assert.isNull(yield* redis.send("ZSCORE", `${prefix}:{${queue}}:expiry`, "f1"), "nor waits to be swept")
          }).pipe(Effect.provideService(Redis.Redis, redis))
        )
        yield* admin.retry("x1")
        assert.strictEqual((yield* q.get("x1"))!.lastError, "poison")
        assert.deepStrictEqual(yield* listed("dead"), [])
        // at the back of the line: w1 first, then f1, then x1; each starts its attempts again
        yield* claimId("w1")
        const claimed = yield* claim()
        assert.strictEqual(claimed._tag === "Claimed" ? `${claimed.task.id}:${claimed.task.attempts}` : "idle", "f1:1")
        yield* claimId("x1")

        const conflict = yield* Effect.flip(admin.retry("f1"))
        assert.instanceOf(conflict, TaskStateConflict)
        const c = conflict as TaskStateConflict
        assert.deepStrictEqual([c.taskId, c.state, c.action], ["f1", "running", "retry"])
        assert.instanceOf(yield* Effect.flip(admin.retry("nope")), TaskNotFound)
      })
    )
  )

  it.effect("retry of a unique task takes its lock again, or fails with AlreadyQueued and changes nothing", () =>
    withQueue(() =>
      Effect.gen(function* () {
        const q = yield* TaskQueue.TaskQueue
        const admin = yield* Admin.Admin
        yield* enqueue(newTask("u1", "a", 0, uniqueKey("k3")))
        assert.isTrue(yield* q.fail("u1", yield* claimId("u1"), '"e"', undefined))
        assert.strictEqual(yield* lockHolder("u1"), undefined)
        yield* enqueue(newTask("u2", "a", 0, uniqueKey("k3")))
        const duplicate = yield* Effect.flip(admin.retry("u1"))
        assert.instanceOf(duplicate, AlreadyQueued)
        assert.strictEqual((duplicate as AlreadyQueued).likelyCulprit, "u2")
        assert.strictEqual((duplicate as AlreadyQueued).taskName, "a")
        assert.strictEqual(yield* stateOf("u1"), "failed")
        assert.deepStrictEqual(yield* listed("failed"), ["u1"])
        // once u2 ended, the retry takes the key
        assert.isTrue(yield* q.complete("u2", yield* claimId("u2"), "1"))
        yield* admin.retry("u1")
        assert.strictEqual(yield* lockHolder("u1"), "u1")
        assert.strictEqual(yield* stateOf("u1"), "queued")
      })
    )
  )

  it.effect("retryAll requeues every task of a state (of one name), oldest first; invalid queries refused", () =>
    withQueue(() =>
      Effect.gen(function* () {
        const p0 = yield* placed
        const q = yield* TaskQueue.TaskQueue
        const admin = yield* Admin.Admin
        for (const [id, name] of [
          [p0("d1"), "a"],
          [p0("d2"), "b"],
          [p0("d3"), "a"]
        ] as const) {
          yield* enqueue(newTask(id, name))
          assert.isTrue(yield* q.deadLetter(id, yield* claimId(id), "r"))
          yield* advance(5)
        }
        yield* enqueue(newTask(p0("f9")))
        assert.isTrue(yield* q.fail(p0("f9"), yield* claimId(p0("f9")), '"e"', undefined))
        assert.strictEqual(yield* admin.retryAll({ state: "dead", name: "a" }), 2)
        assert.deepStrictEqual(yield* listed("dead"), [p0("d2")])
        assert.deepStrictEqual(yield* listed("failed"), [p0("f9")])
        yield* claimId(p0("d1"))
        yield* claimId(p0("d3"))
        assert.strictEqual((yield* claim())._tag, "Idle")
        assert.strictEqual(yield* admin.retryAll({ state: "dead" }), 1)
        assert.strictEqual(yield* admin.retryAll({ state: "dead" }), 0)
        assert.strictEqual(yield* stateOf(p0("d2")), "queued")
        assertInvalid(yield* Effect.flip(admin.retryAll({ state: "succeeded" as never })), "state", '"succeeded"')
        assertInvalid(yield* Effect.flip(admin.retryAll({ state: "failed", name: "" })), "name", '""')
      })
    )
  )

  it.effect("purge deletes the records of a state (of one name) and their index entries", () =>
    withQueue((queue) =>
      Effect.gen(function* () {
        const p0 = yield* placed
        const q = yield* TaskQueue.TaskQueue
        const admin = yield* Admin.Admin
        yield* enqueue(newTask(p0("f1")))
        assert.isTrue(yield* q.fail(p0("f1"), yield* claimId(p0("f1")), '"e"', undefined))
        yield* enqueue(newTask(p0("f2"), "b"))
        assert.isTrue(yield* q.fail(p0("f2"), yield* claimId(p0("f2")), '"e"', undefined))
        yield* enqueue(newTask(p0("c1")))
        yield* admin.cancel(p0("c1"))
        assert.strictEqual(yield* admin.purge({ state: "failed", name: "a" }), 1)
        assert.strictEqual(yield* stateOf(p0("f1")), "missing")
        assert.strictEqual(yield* stateOf(p0("f2")), "failed")
        assert.deepStrictEqual(yield* listed("failed"), [p0("f2")])
        yield* redisCheck((redis, prefix) =>
          Effect.gen(function* () {
            assert.strictEqual(Number(yield* redis.send("HEXISTS", tasksKey(prefix, queue), "f1")), 0)
            assert.isNull(yield* redis.send("ZSCORE", `${prefix}:{${queue}}:expiry`, "f1"))
            const index = yield* redis.send<Array<string>>("ZRANGE", `${prefix}:{${queue}}:index:failed`, "0", "-1")
            assert.deepStrictEqual(index, [p0("f2")])
          })
        )
        assert.strictEqual(yield* admin.purge({ state: "cancelled" }), 1)
        assert.strictEqual(yield* stateOf(p0("c1")), "missing")
        assert.deepStrictEqual(yield* listed("cancelled"), [])
        assert.strictEqual(yield* admin.purge({ state: "dead" }), 0)
        // totals stay: they count what happened
        assert.strictEqual((yield* countsOf("a"))!.failed, 1)
        assertInvalid(yield* Effect.flip(admin.purge({ state: "succeeded" as never })), "state", '"succeeded"')
        assertInvalid(yield* Effect.flip(admin.purge({ state: "queued" as never, name: "a" })), "state", '"queued"')
      })
    )
  )

  it.effect("releaseLock frees a lock whoever holds it, keeping its fence; resetRateLimit forgets a key", () =>
    withQueue(() =>
      Effect.gen(function* () {
        const admin = yield* Admin.Admin
        const store = yield* HeimdallStore.HeimdallStore
        const { config } = yield* Heimdall.Heimdall
        const full = `${config.lockPrefix}op-lock`
        const taken = yield* store.lockAcquire(full, "someone", 60_000)
        assert.strictEqual(taken._tag, "Acquired")
        assert.isTrue(yield* admin.releaseLock("op-lock"))
        assert.isTrue(Option.isNone(yield* store.lockInspect(full)))
        assert.isFalse(yield* admin.releaseLock("op-lock"))
        const next = yield* store.lockAcquire(full, "other", 60_000)
        assert.isTrue(next._tag === "Acquired" && taken._tag === "Acquired" && next.fence > taken.fence)
        assertInvalid(yield* Effect.flip(admin.releaseLock("")), "key", '""')

        const limit = { times: 1, per: "1 minute" } as const
        yield* Heimdall.take("op-rate", limit)
        assert.strictEqual((yield* Effect.flip(Heimdall.take("op-rate", limit)))._tag, "RateLimited")
        assert.isTrue(yield* admin.resetRateLimit("op-rate"))
        yield* Heimdall.take("op-rate", limit)
        assert.isFalse(yield* admin.resetRateLimit("never-used"))
        assertInvalid(yield* Effect.flip(admin.resetRateLimit("")), "key", '""')
      })
    )
  )
}
