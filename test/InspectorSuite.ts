/**
 * The inspector conformance suite: every read of `Inspector` (counts, tasks by state with cursor paging, a task's
 * detail, the bounded index, the worker registry, the argument checks), run against each backend by
 * `Inspector.memory.test.ts` and `Inspector.redis.test.ts`. Memory runs on `TestClock`, Redis on the real clock;
 * every wait goes through `backend.advance`. Each test gets its own queue.
 */
import type { Vitest } from "@effect/vitest"
import { assert } from "@effect/vitest"
import { Clock, Context, Deferred, Duration, Effect, Layer, Schema, type Scope } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { InvalidArgument } from "../src/Errors.ts"
import * as Heimdall from "../src/Heimdall.ts"
import * as Inspector from "../src/Inspector.ts"
import * as Task from "../src/Task.ts"
import * as TaskQueue from "../src/TaskQueue.ts"
import * as Worker from "../src/Worker.ts"
import type { BackendContext } from "./support/backends.ts"
import { assertInvalid } from "./support/invalid.ts"
import { together } from "./support/partitions.ts"

/** Hands each test a fresh queue of the backend under test, with its inspector. */
export class InspectorUnderTest extends Context.Service<
  InspectorUnderTest,
  {
    readonly layer: (
      queue: string,
      options?: Heimdall.Options
    ) => Layer.Layer<TaskQueue.TaskQueue | Inspector.Inspector | Heimdall.Heimdall, InvalidArgument>
    /** The Redis service on the Redis backend, for assertions on keys. */
    readonly redis: Redis.Redis["Service"] | undefined
    /** The key prefix on the Redis backend. */
    readonly prefix: string
  }
>()("test/InspectorUnderTest") {}

let counter = 0
const withQueue = <A, E>(
  body: Effect.Effect<
    A,
    E,
    TaskQueue.TaskQueue | Inspector.Inspector | Heimdall.Heimdall | Scope.Scope | InspectorUnderTest
  >,
  options?: Heimdall.Options
): Effect.Effect<A, E | InvalidArgument, InspectorUnderTest> =>
  Effect.flatMap(InspectorUnderTest, (t) =>
    body.pipe(Effect.scoped, Effect.provide(t.layer(`i${++counter}-${Date.now() % 100000}`, options)))
  )

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

const states = ["queued", "scheduled", "running", "succeeded", "failed", "dead", "skipped", "cancelled"] as const

/** Every page of a state, following the cursors. */
const allPages = (inspector: Inspector.Inspector["Service"], query: Inspector.TasksQuery) =>
  Effect.gen(function* () {
    const ids: Array<string> = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = yield* inspector.tasks({ ...query, cursor })
      ids.push(...page.tasks.map((t) => t.id))
      cursor = page.cursor
      if (++pages > 100) assert.fail("more than 100 pages")
    } while (cursor !== undefined)
    return ids
  })

export const inspectorSuite = (it: Vitest.MethodsNonLive<InspectorUnderTest>, backend: BackendContext) => {
  const advance = backend.advance
  let tokens = 0
  const claim = (options?: Partial<TaskQueue.ClaimOptions>) =>
    Effect.flatMap(TaskQueue.TaskQueue, (q) =>
      q.claim({ token: `t${++tokens}`, leaseMillis: 10_000, max: 1, worker: "w1", ...options })
    )
  /** Claims exactly the task `id` (the only one due) and returns its lease token. */
  const claimId = (id: string, options?: Partial<TaskQueue.ClaimOptions>) =>
    Effect.map(claim(options), (result) => {
      assert.strictEqual(result._tag === "Claimed" ? result.task.id : result._tag, id)
      return result._tag === "Claimed" ? result.task.token : ""
    })

  it.effect("counts follow every transition, per name and in total, and agree with the records", () =>
    withQueue(
      Effect.gen(function* () {
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        const ids: Array<string> = []
        const enqueue = (task: TaskQueue.NewTask) =>
          Effect.map(q.enqueue(task), (r) => {
            assert.strictEqual(r._tag, "Created", task.id)
            ids.push(task.id)
          })
        // complete
        yield* enqueue(newTask("a1"))
        assert.isTrue(yield* q.complete("a1", yield* claimId("a1"), "1"))
        // fail and retry (scheduled), then fail for good
        yield* enqueue(newTask("a2"))
        assert.isTrue(yield* q.fail("a2", yield* claimId("a2"), '"e1"', 50))
        assert.strictEqual((yield* inspector.counts).byName.a!.scheduled, 1)
        yield* advance(80)
        assert.isTrue(yield* q.fail("a2", yield* claimId("a2"), '"e2"', undefined))
        // reschedule, release, dead-letter
        yield* enqueue(newTask("b1", "b"))
        assert.isTrue(yield* q.reschedule("b1", yield* claimId("b1"), 50))
        yield* advance(80)
        assert.isTrue(yield* q.release("b1", yield* claimId("b1")))
        assert.strictEqual((yield* inspector.counts).byName.b!.queued, 1)
        assert.isTrue(yield* q.deadLetter("b1", yield* claimId("b1"), "undecodable"))
        // a lapsed lease: requeued (and claimed again), then dead past maxRedeliveries
        yield* enqueue(newTask("b2", "b"))
        yield* claimId("b2", { leaseMillis: 100 })
        yield* advance(150)
        yield* claimId("b2", { leaseMillis: 100, maxRedeliveries: 5 })
        yield* advance(150)
        assert.strictEqual((yield* claim({ maxRedeliveries: 1 }))._tag, "Idle")
        // skipped: a unique task whose lock expired and was taken by a newer one
        yield* enqueue(newTask("u1", "c", 0, { key: "k", ttlMillis: 100, keep: false }))
        yield* advance(150)
        yield* enqueue(newTask("u2", "c", 0, { key: "k", ttlMillis: 10_000, keep: false }))
        const both = yield* claim({ max: 2 })
        assert.deepStrictEqual(both._tag === "Claimed" && both.tasks.map((t) => t.id), ["u2"])
        assert.isTrue(yield* q.complete("u2", both._tag === "Claimed" ? both.task.token : "", "1"))
        // parked for a worker that runs its name (still queued), then dead-lettered by a beat
        yield* enqueue(newTask("c3", "c"))
        const passed = yield* claim({ names: ["a"] })
        assert.deepStrictEqual(passed._tag === "Idle" && passed.passed, ["c"])
        assert.strictEqual((yield* inspector.counts).byName.c!.queued, 1)
        yield* advance(150)
        const beat = yield* q.beat(["a"], 100)
        assert.deepStrictEqual(beat, [{ name: "c", parked: 0, deadLettered: 1 }])
        // hand-off: on Redis an idle worker's registration takes the next enqueue (running at once)
        const waiter = yield* q.waiterAs("w2")
        assert.strictEqual((yield* waiter.claim({ token: "h", leaseMillis: 10_000, max: 1 }, 30_000))._tag, "Idle")
        yield* enqueue(newTask("h1"))
        const handed = yield* waiter.wait(backend.redis ? 1000 : 0)
        // (on a partitioned queue a wake-up in another partition can end the wait first: the handed task goes back
        // to the line, and the worker's next claim takes it, leaving its other registrations)
        const token =
          handed?.token ??
          (yield* Effect.map(waiter.claim({ token: "h2", leaseMillis: 10_000, max: 1 }, 30_000), (claimed) => {
            assert.strictEqual(claimed._tag === "Claimed" ? claimed.task.id : claimed._tag, "h1")
            return claimed._tag === "Claimed" ? claimed.task.token : ""
          }))
        assert.isTrue(yield* q.complete("h1", token, "1"))
        // a stopping worker hands back what it was handed (on Redis): queued again
        yield* Effect.scoped(
          Effect.gen(function* () {
            const stopping = yield* q.waiterAs("w3")
            yield* stopping.claim({ token: "z", leaseMillis: 10_000, max: 1, names: ["zz"] }, 30_000)
            yield* enqueue(newTask("z1", "zz"))
          })
        )
        yield* advance(10)
        // and one task in each current state
        yield* enqueue(newTask("a5"))
        yield* claimId("a5", { names: ["a"] }) // z1, of a name it does not run, is parked on the way
        yield* enqueue(newTask("a3"))
        yield* enqueue(newTask("a4", "a", 60_000))

        const counts = yield* inspector.counts
        const expected = {
          a: { queued: 1, scheduled: 1, running: 1, succeeded: 2, failed: 1, dead: 0, skipped: 0, cancelled: 0 },
          b: { queued: 0, scheduled: 0, running: 0, succeeded: 0, failed: 0, dead: 2, skipped: 0, cancelled: 0 },
          c: { queued: 0, scheduled: 0, running: 0, succeeded: 1, failed: 0, dead: 1, skipped: 1, cancelled: 0 },
          zz: { queued: 1, scheduled: 0, running: 0, succeeded: 0, failed: 0, dead: 0, skipped: 0, cancelled: 0 }
        }
        assert.deepStrictEqual(counts.byName, expected)
        assert.deepStrictEqual(counts.total, {
          queued: 2,
          scheduled: 1,
          running: 1,
          succeeded: 3,
          failed: 1,
          dead: 3,
          skipped: 1,
          cancelled: 0
        })
        // the same tally from the records themselves (every record is within the retention)
        const tally: Record<string, Record<string, number>> = {}
        for (const id of ids) {
          const record = (yield* q.get(id))!
          tally[record.name] ??= Object.fromEntries(states.map((s) => [s, 0]))
          tally[record.name]![record.state]!++
        }
        assert.deepStrictEqual(counts.byName, tally as unknown as typeof counts.byName)
        assert.strictEqual(counts.oldestWaiting?.id, "z1")
      })
    )
  )

  it.effect("the oldest waiting task and its age", () =>
    withQueue(
      Effect.gen(function* () {
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        const empty = yield* inspector.counts
        assert.isUndefined(empty.oldestWaiting)
        assert.isUndefined(empty.oldestWaitingMillis)
        yield* q.enqueue(newTask("old", "x"))
        yield* advance(200)
        yield* q.enqueue(newTask("young"))
        yield* q.enqueue(newTask("younger"))
        const counts = yield* inspector.counts
        assert.strictEqual(counts.oldestWaiting?.id, "old")
        assert.isAtLeast(counts.oldestWaitingMillis!, 200)
        assert.isBelow(counts.oldestWaitingMillis!, 5000)
        assert.strictEqual(counts.oldestWaiting!.since, (yield* q.get("old"))!.enqueuedAt)
        assert.strictEqual(counts.total.queued, 3)
        // a task parked for a worker that runs its name waits too: still the oldest
        yield* claimId("young", { names: ["a"] })
        const after = yield* inspector.counts
        assert.strictEqual(after.oldestWaiting?.id, "old")
        assert.deepStrictEqual([after.byName.x!.queued, after.byName.a!.queued, after.byName.a!.running], [1, 1, 1])
        // and once it is gone, the next in line
        yield* claimId("old", { names: ["x"] })
        assert.strictEqual((yield* inspector.counts).oldestWaiting?.id, "younger")
      })
    )
  )

  /** Each name's oldest waiting task: its id when found, else its tag. */
  const oldestIds = (counts: Inspector.QueueCounts) =>
    Object.fromEntries(
      Object.entries(counts.oldestByName)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, w]) => [name, w._tag === "Found" ? w.id : w._tag])
    )
  /** Checks that `name`'s oldest waiting task is `id`, due since its run time, with its age at the reading. */
  const assertFound = (counts: Inspector.QueueCounts, name: string, id: string) =>
    Effect.gen(function* () {
      const q = yield* TaskQueue.TaskQueue
      const waiting = counts.oldestByName[name]
      assert.strictEqual(waiting?._tag === "Found" ? waiting.id : waiting?._tag, id, name)
      const found = waiting as Extract<Inspector.WaitingAge, { _tag: "Found" }>
      assert.strictEqual(found.since, (yield* q.get(id))!.runAt, `${name}: since its run time`)
      assert.strictEqual(found.millis, counts.now - found.since, `${name}: its age at the reading`)
      return found
    })

  it.effect("each task name's oldest waiting task: names interleaved, a name only parked, stale ids skipped", () =>
    withQueue(
      Effect.gen(function* () {
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        const t = yield* InspectorUnderTest
        assert.deepStrictEqual((yield* inspector.counts).oldestByName, {})
        yield* q.enqueue(newTask("p1", "p"))
        yield* advance(100)
        yield* q.enqueue(newTask("a1", "a"))
        yield* advance(100)
        for (const [id, name] of [
          ["b1", "b"],
          ["a2", "a"],
          ["b2", "b"],
          ["c1", "c"]
        ] as const)
          yield* q.enqueue(newTask(id, name))
        const counts = yield* inspector.counts
        assert.deepStrictEqual(oldestIds(counts), { a: "a1", b: "b1", c: "c1", p: "p1" })
        const p = yield* assertFound(counts, "p", "p1")
        const a = yield* assertFound(counts, "a", "a1")
        yield* assertFound(counts, "b", "b1")
        yield* assertFound(counts, "c", "c1")
        assert.isAtLeast(p.millis, 200)
        assert.isAtLeast(p.millis - a.millis, 100)
        assert.deepStrictEqual(counts.oldestWaiting, { id: "p1", since: p.since })
        // a worker that runs only "a" parks p1 on its way to a1: "p" waits only in its parked list, from the same time
        yield* claimId("a1", { names: ["a"] })
        const after = yield* inspector.counts
        assert.deepStrictEqual(oldestIds(after), { a: "a2", b: "b1", c: "c1", p: "p1" })
        assert.strictEqual((yield* assertFound(after, "p", "p1")).since, p.since)
        yield* assertFound(after, "a", "a2")
        assert.deepStrictEqual([after.byName.p!.queued, after.byName.a!.running], [1, 1])
        assert.strictEqual(after.oldestWaiting?.id, "p1")
        if (t.redis !== undefined) {
          // ids of tasks no longer queued (a1 runs, "gone" has no record) at the old end of the lists are skipped
          const base = `${t.prefix}:{${q.queue}}:`
          yield* t.redis.send("RPUSH", `${base}ready`, "a1", "gone")
          // parked before p1 (a lower place in the parked line, see includes.lua, parkRange)
          for (const id of ["a1", "gone"])
            yield* t.redis.send("ZADD", `${base}parkline`, "0", `1:p\0${"0".repeat(15)}\0${id}`)
          const stale = yield* inspector.counts
          assert.deepStrictEqual(oldestIds(stale), { a: "a2", b: "b1", c: "c1", p: "p1" })
          yield* assertFound(stale, "p", "p1")
        }
      })
    )
  )

  it.effect("a name past the scan (waitingScan) is flagged with the last task read, not given an age", () =>
    withQueue(
      Effect.gen(function* () {
        const p0 = yield* placed
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        // "r" only runs: nothing of it waits
        yield* q.enqueue(newTask(p0("r1"), "r"))
        yield* claimId(p0("r1"), { names: ["r"] })
        for (const id of [p0("a1"), p0("a2"), p0("a3")]) {
          yield* q.enqueue(newTask(id, "a"))
          yield* advance(100)
        }
        yield* q.enqueue(newTask(p0("b1"), "b"))
        yield* q.enqueue(newTask(p0("b2"), "b"))
        const counts = yield* inspector.counts
        assert.deepStrictEqual(oldestIds(counts), { a: p0("a1"), b: "BeyondScan" })
        assert.isAtLeast((yield* assertFound(counts, "a", p0("a1"))).millis, 300)
        const last = (yield* q.get(p0("a3")))!.runAt
        assert.deepStrictEqual(counts.oldestByName.b, {
          _tag: "BeyondScan",
          scanned: 3,
          lastSince: last,
          lastMillis: counts.now - last
        })
        assert.strictEqual(counts.oldestWaiting?.id, p0("a1"))
        // once a claim takes a1, the scan reaches b1: exact again
        yield* claimId(p0("a1"), { names: ["a"] })
        const after = yield* inspector.counts
        assert.deepStrictEqual(oldestIds(after), { a: p0("a2"), b: p0("b1") })
        yield* assertFound(after, "b", p0("b1"))
      }),
      { waitingScan: 3 }
    )
  )

  it.effect("scheduled tasks are not waiting until due; then they wait from their run time", () =>
    withQueue(
      Effect.gen(function* () {
        const p0 = yield* placed
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        yield* q.enqueue(newTask(p0("a1"), "a"))
        yield* q.enqueue(newTask(p0("d1"), "d", 500))
        yield* q.enqueue(newTask(p0("d2"), "d", 300))
        yield* q.enqueue(newTask(p0("s1"), "s", 60_000))
        const before = yield* inspector.counts
        assert.deepStrictEqual(oldestIds(before), { a: p0("a1") })
        assert.strictEqual(before.oldestWaiting?.id, p0("a1"))
        yield* advance(700)
        // due, not yet moved to the ready list by a claim: waiting since its run time
        const due = yield* inspector.counts
        assert.deepStrictEqual(oldestIds(due), { a: p0("a1"), d: p0("d2") })
        assert.strictEqual(due.byName.d!.scheduled, 2)
        const d = yield* assertFound(due, "d", p0("d2"))
        assert.isAtLeast(d.millis, 400)
        assert.strictEqual(due.oldestWaiting?.id, p0("a1"))
        // a claim moves them to the ready list (a worker that runs only "a"): the same task, the same time
        yield* claimId(p0("a1"), { names: ["a"] })
        const moved = yield* inspector.counts
        assert.deepStrictEqual(oldestIds(moved), { d: p0("d2") })
        assert.strictEqual(moved.byName.d!.queued, 2)
        assert.strictEqual((yield* assertFound(moved, "d", p0("d2"))).since, d.since)
        assert.deepStrictEqual(moved.oldestWaiting, { id: p0("d2"), since: d.since })
      })
    )
  )

  it.effect(
    "scheduled tasks page newest first, by run time; tasks moving between pages are neither skipped nor repeated",
    () =>
      withQueue(
        Effect.gen(function* () {
          const q = yield* TaskQueue.TaskQueue
          const inspector = yield* Inspector.Inspector
          for (let i = 0; i < 10; i++)
            yield* q.enqueue(newTask(`s${i}`, i % 2 === 0 ? "even" : "odd", 10_000 + i * 1000))
          yield* q.enqueue(newTask("soon", "even", 50))
          const first = yield* inspector.tasks({ state: "scheduled", limit: 4 })
          assert.deepStrictEqual(
            first.tasks.map((t) => t.id),
            ["s9", "s8", "s7", "s6"]
          )
          assert.strictEqual(first.tasks[0]!.state, "scheduled")
          assert.strictEqual(first.tasks[0]!.name, "odd")
          assert.strictEqual(first.tasks[0]!.at - first.tasks[0]!.enqueuedAt, 19_000)
          assert.isDefined(first.cursor)
          // between pages: a newer one (before the cursor: not listed), one among those to come, and one that becomes
          // due and is claimed
          yield* q.enqueue(newTask("later", "even", 100_000))
          yield* q.enqueue(newTask("between", "even", 10_500))
          yield* advance(100)
          yield* claimId("soon")
          const second = yield* inspector.tasks({ state: "scheduled", limit: 4, cursor: first.cursor })
          assert.deepStrictEqual(
            second.tasks.map((t) => t.id),
            ["s5", "s4", "s3", "s2"]
          )
          const third = yield* inspector.tasks({ state: "scheduled", limit: 4, cursor: second.cursor })
          // "between" runs 10.5 s after its enqueue: between s0 and s1
          assert.deepStrictEqual(
            third.tasks.map((t) => t.id),
            ["s1", "between", "s0"]
          )
          assert.isUndefined(third.cursor)
          // by name
          assert.deepStrictEqual(yield* allPages(inspector, { state: "scheduled", name: "odd", limit: 2 }), [
            "s9",
            "s7",
            "s5",
            "s3",
            "s1"
          ])
          assert.deepStrictEqual(yield* allPages(inspector, { state: "scheduled", name: "none" }), [])
        })
      )
  )

  it.effect("queued tasks page newest first; claims and enqueues between pages skip and repeat nothing", () =>
    withQueue(
      Effect.gen(function* () {
        const p0 = yield* placed
        // on a partitioned queue a page shares its limit out among the partitions not done yet: a first page of
        // 3 per partition takes 3 of partition 0's line (the others are empty, done after it), the next pages 3
        const partitions = (yield* TaskQueue.TaskQueue).config.partitions
        const limit = 3
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        for (let i = 0; i < 10; i++) yield* q.enqueue(newTask(p0(`t${i}`)))
        const pages: Array<ReadonlyArray<string>> = []
        const page1 = yield* inspector.tasks({ state: "queued", limit: limit * partitions })
        pages.push(page1.tasks.map((t) => t.id))
        yield* q.enqueue(newTask(p0("n0")))
        assert.strictEqual((yield* claim({ max: 2 }))._tag, "Claimed") // t0, t1
        const page2 = yield* inspector.tasks({ state: "queued", limit, cursor: page1.cursor })
        pages.push(page2.tasks.map((t) => t.id))
        yield* claimId(p0("t2"))
        yield* q.enqueue(newTask(p0("n1")))
        const page3 = yield* inspector.tasks({ state: "queued", limit, cursor: page2.cursor })
        pages.push(page3.tasks.map((t) => t.id))
        assert.deepStrictEqual(pages, [[p0("t9"), p0("t8"), p0("t7")], [p0("t6"), p0("t5"), p0("t4")], [p0("t3")]])
        assert.isUndefined(page3.cursor)
        assert.strictEqual(page1.tasks[0]!.state, "queued")
        // the cursor's own task claimed between pages: every older one was claimed before it, the list is done
        const again = yield* inspector.tasks({ state: "queued", limit: 2 * partitions })
        assert.deepStrictEqual(
          again.tasks.map((t) => t.id),
          [p0("n1"), p0("n0")]
        )
        const claimed = yield* claim({ max: 20 })
        assert.strictEqual(claimed._tag === "Claimed" && claimed.tasks.length, 9) // t3..t9, n0, n1
        const rest = yield* inspector.tasks({ state: "queued", limit: 2, cursor: again.cursor })
        assert.deepStrictEqual(rest.tasks, [])
        assert.isUndefined(rest.cursor)
      })
    )
  )

  it.effect("queued covers the tasks parked for a worker of their name, after the ready list, and by name", () =>
    withQueue(
      Effect.gen(function* () {
        const p0 = yield* placed
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        yield* q.enqueue(newTask(p0("z0"), "z"))
        yield* q.enqueue(newTask(p0("z1"), "z"))
        const passed = yield* claim({ names: ["a"] })
        assert.deepStrictEqual(passed._tag === "Idle" && passed.passed, ["z", "z"])
        yield* q.enqueue(newTask(p0("r0")))
        yield* q.enqueue(newTask(p0("r1")))
        const all = yield* inspector.tasks({ state: "queued" })
        assert.deepStrictEqual(
          all.tasks.map((t) => t.id),
          [p0("r1"), p0("r0"), p0("z1"), p0("z0")]
        )
        assert.deepStrictEqual(yield* allPages(inspector, { state: "queued", limit: 3 }), [
          p0("r1"),
          p0("r0"),
          p0("z1"),
          p0("z0")
        ])
        assert.deepStrictEqual(yield* allPages(inspector, { state: "queued", limit: 1 }), [
          p0("r1"),
          p0("r0"),
          p0("z1"),
          p0("z0")
        ])
        assert.deepStrictEqual(yield* allPages(inspector, { state: "queued", name: "z", limit: 1 }), [
          p0("z1"),
          p0("z0")
        ])
        assert.deepStrictEqual(yield* allPages(inspector, { state: "queued", name: "a" }), [p0("r1"), p0("r0")])
      })
    )
  )

  it.effect("a page of parked tasks goes on below its cursor's task when that task left meanwhile (cancelled)", () =>
    withQueue(
      Effect.gen(function* () {
        const p0 = yield* placed
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        for (const id of ["z0", "z1", "z2", "z3"]) yield* q.enqueue(newTask(p0(id), "z"))
        const passed = yield* claim({ names: ["a"] }) // parks all four
        assert.strictEqual(passed._tag === "Idle" && passed.passed?.length, 4)
        // one task per page (on a partitioned queue the pages cross every partition), up to z2
        const ids: Array<string> = []
        let cursor: string | undefined
        do {
          const page = yield* inspector.tasks({ state: "queued", limit: 1, cursor })
          ids.push(...page.tasks.map((t) => t.id))
          cursor = page.cursor
        } while (!ids.includes(p0("z2")) && cursor !== undefined)
        assert.deepStrictEqual(ids, [p0("z3"), p0("z2")])
        // the cursor's task leaves: the next pages go on with the older ones
        assert.strictEqual((yield* q.cancel(p0("z2")))._tag, "Cancelled")
        while (cursor !== undefined) {
          const page = yield* inspector.tasks({ state: "queued", limit: 1, cursor })
          ids.push(...page.tasks.map((t) => t.id))
          cursor = page.cursor
        }
        assert.deepStrictEqual(ids, [p0("z3"), p0("z2"), p0("z1"), p0("z0")])
      })
    )
  )

  it.effect("parked tasks of names that share a prefix (x, x\\0, x\\0y, xy) each go to a worker of their name", () =>
    withQueue(
      Effect.gen(function* () {
        const p0 = yield* placed
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        const names = ["x", "x\u0000", "x\u0000y", "xy"]
        for (const [i, name] of names.entries()) {
          yield* q.enqueue(newTask(p0(`${i}a`), name))
          yield* q.enqueue(newTask(p0(`${i}b`), name))
        }
        // a worker of none of them parks all eight
        const passed = yield* claim({ names: ["other"] })
        assert.strictEqual(passed._tag === "Idle" && passed.passed?.length, 8)
        const counts = yield* inspector.counts
        for (const name of names) assert.strictEqual(counts.byName[name]?.queued, 2, JSON.stringify(name))
        // each name's worker takes its own two, oldest first, and nothing else
        for (const [i, name] of names.entries()) {
          yield* claimId(p0(`${i}a`), { names: [name] })
          yield* claimId(p0(`${i}b`), { names: [name] })
          assert.strictEqual((yield* claim({ names: [name] }))._tag, "Idle", JSON.stringify(name))
        }
        assert.deepStrictEqual((yield* inspector.tasks({ state: "queued" })).tasks, [])
      })
    )
  )

  it.effect("running tasks page by lease end; finished ones by finish time, with their error or reason", () =>
    withQueue(
      Effect.gen(function* () {
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        for (const [id, lease] of [
          ["r1", 30_000],
          ["r2", 10_000],
          ["r3", 20_000]
        ] as const) {
          yield* q.enqueue(newTask(id))
          yield* claimId(id, { leaseMillis: lease })
        }
        const running = yield* inspector.tasks({ state: "running" })
        assert.deepStrictEqual(
          running.tasks.map((t) => [t.id, t.state, t.attempts]),
          [
            ["r1", "running", 1],
            ["r3", "running", 1],
            ["r2", "running", 1]
          ]
        )
        for (const id of ["f1", "f2"]) {
          yield* q.enqueue(newTask(id))
          assert.isTrue(yield* q.fail(id, yield* claimId(id), `{"why":"${id}"}`, undefined))
          yield* advance(5)
        }
        const failed = yield* inspector.tasks({ state: "failed" })
        assert.deepStrictEqual(
          failed.tasks.map((t) => [t.id, t.error]),
          [
            ["f2", '{"why":"f2"}'],
            ["f1", '{"why":"f1"}']
          ]
        )
        assert.isAtLeast(failed.tasks[0]!.at, failed.tasks[1]!.at)
        yield* q.enqueue(newTask("d1"))
        assert.isTrue(yield* q.deadLetter("d1", yield* claimId("d1"), "no such task"))
        const dead = yield* inspector.tasks({ state: "dead" })
        assert.deepStrictEqual(
          dead.tasks.map((t) => [t.id, t.error]),
          [["d1", "no such task"]]
        )
        assert.deepStrictEqual((yield* inspector.tasks({ state: "skipped" })).tasks, [])
      })
    )
  )

  it.effect("completeAndClaim counts a completion and the next claim of a name in one step", () =>
    withQueue(
      Effect.gen(function* () {
        const p0 = yield* placed
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        for (const id of [p0("c1"), p0("c2"), p0("c3")]) yield* q.enqueue(newTask(id))
        let token = yield* claimId(p0("c1"))
        const t = yield* InspectorUnderTest
        const countsKey = `${t.prefix}:{${q.queue}}:counts`
        for (const [id, next] of [
          [p0("c1"), p0("c2")],
          [p0("c2"), p0("c3")]
        ] as const) {
          const done = yield* q.completeAndClaim(id, token, "null", { token: `n-${next}`, leaseMillis: 10_000 })
          assert.isTrue(done.completed)
          assert.strictEqual(done.next._tag === "Claimed" && done.next.task.id, next)
          token = `n-${next}`
        }
        const counts = yield* inspector.counts
        assert.deepStrictEqual(
          { queued: counts.total.queued, running: counts.total.running, succeeded: counts.total.succeeded },
          { queued: 0, running: 1, succeeded: 2 }
        )
        const name = newTask("x").name
        assert.deepStrictEqual(counts.byName[name], { ...counts.total })
        if (t.redis) {
          // counters that only increase: 3 created queued, 1 claim, then 2 chained moves (one HINCRBY each)
          const hash = yield* t.redis.send<Array<string>>("HGETALL", countsKey)
          const fields = Object.fromEntries(hash.flatMap((v, i) => (i % 2 === 0 ? [[v, hash[i + 1]]] : [])))
          assert.deepStrictEqual(fields, {
            [`queued:${name}`]: "3",
            [`queued>running:${name}`]: "1",
            [`queued>succeeded:${name}`]: "2"
          })
        }
      })
    )
  )

  it.effect("limits: rate limits (admitted, booked, next free slot) and concurrency limits (holders, leases)", () => {
    const stamp = `${Date.now() % 100000}-${++counter}`
    return withQueue(
      Effect.gen(function* () {
        const inspector = yield* Inspector.Inspector
        const t = yield* InspectorUnderTest
        const perTen = { times: 2, per: "10 seconds" } as const
        const t0 = yield* Clock.currentTimeMillis
        yield* Heimdall.take("api:a", perTen)
        yield* Heimdall.take("api:a", perTen)
        const once = { times: 1, per: "10 seconds" } as const
        yield* Heimdall.reserve("api:b", once) // now
        const later = yield* Heimdall.reserve("api:b", once) // the next window: booked
        assert.isAtLeast(Duration.toMillis(later.delay), 9_000)
        yield* Heimdall.acquireSlot("pool", { limit: 3, lease: "30 seconds", holder: "h1" })
        yield* Heimdall.acquireSlot("pool", { limit: 3, lease: "200 millis", holder: "h2" })
        const before = (yield* inspector.limits()).concurrency
        assert.deepStrictEqual(
          before.map((c) => [c.key, c.limit, c.holders.map((h) => h.holder)]),
          [["pool", 3, ["h2", "h1"]]] // soonest lease end first
        )
        yield* advance(300)
        const limits = yield* inspector.limits()
        assert.deepStrictEqual(
          limits.rate.map((r) => [r.key, r.windowMillis, r.admitted, r.booked]),
          [
            ["api:a", 10_000, 2, 0],
            ["api:b", 10_000, 1, 1]
          ]
        )
        const [a, b] = limits.rate
        assert.deepStrictEqual(a!.limits, [{ times: 2, perMillis: 10_000, used: 2 }])
        assert.isUndefined(a!.bookedUntil)
        // api:a is full until its first admission leaves the window; api:b after its booked slot's window
        assert.isAtLeast(a!.nextFreeAt!, t0 + 10_000 - 50)
        assert.isAtMost(a!.nextFreeAt!, t0 + 10_000 + 1_000)
        assert.isAtLeast(b!.nextFreeAt! - b!.bookedUntil!, 10_000)
        assert.isAtMost(b!.nextFreeAt! - b!.bookedUntil!, 10_001)
        const pool = limits.concurrency
        assert.deepStrictEqual(
          pool.map((c) => [c.key, c.limit, c.holders.map((h) => h.holder)]),
          [["pool", 3, ["h1"]]] // h2's lease ended
        )
        assert.isAbove(pool[0]!.holders[0]!.expiresInMillis, 25_000)
        assert.isAtMost(pool[0]!.holders[0]!.expiresInMillis, 30_000)
        // a prefix of the key (without the backend's prefix)
        const onlyA = yield* inspector.limits("api:a")
        assert.deepStrictEqual([onlyA.rate.map((r) => r.key), onlyA.concurrency], [["api:a"], []])
        if (t.redis) {
          // another process (its own store) knows no limit: usage only, the window from the key's expiry
          const other = yield* Effect.provide(
            Inspector.Inspector.use((i) => i.limits("api:")),
            t.layer(inspector.queue, { ratePrefix: `rl-${stamp}:`, concurrencyPrefix: `cl-${stamp}:` })
          )
          const [oa, ob] = other.rate
          assert.deepStrictEqual([oa!.key, oa!.admitted, oa!.limits, oa!.nextFreeAt], ["api:a", 2, [], undefined])
          assert.deepStrictEqual([ob!.key, ob!.admitted, ob!.booked], ["api:b", 1, 1])
          assert.isAtLeast(oa!.windowMillis, 9_990)
          assert.isAtMost(oa!.windowMillis, 10_010)
        }
      }),
      { ratePrefix: `rl-${stamp}:`, concurrencyPrefix: `cl-${stamp}:` }
    )
  })

  it.effect("the index of failed and dead tasks is capped by count and trimmed past the retention", () =>
    withQueue(
      Effect.gen(function* () {
        const p0 = yield* placed
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        const deadLetter = (id: string) =>
          Effect.gen(function* () {
            yield* q.enqueue(newTask(id))
            assert.isTrue(yield* q.deadLetter(id, yield* claimId(id), `reason ${id}`))
            yield* advance(2)
          })
        for (let i = 0; i < 5; i++) yield* deadLetter(p0(`d${i}`))
        assert.deepStrictEqual(yield* allPages(inspector, { state: "dead", limit: 2 }), [p0("d4"), p0("d3"), p0("d2")])
        assert.strictEqual((yield* inspector.counts).total.dead, 5) // the counts are totals, not the index
        const t = yield* InspectorUnderTest
        const indexKey = `${t.prefix}:{${q.queue}}:index:dead`
        if (t.redis) assert.strictEqual(yield* t.redis.send<number>("ZCARD", indexKey), 3)
        // past the retention: no longer listed (their records expired), and trimmed when the next one arrives
        yield* advance(1100)
        assert.deepStrictEqual((yield* inspector.tasks({ state: "dead" })).tasks, [])
        yield* deadLetter(p0("d5"))
        assert.deepStrictEqual(yield* allPages(inspector, { state: "dead" }), [p0("d5")])
        if (t.redis) {
          assert.strictEqual(yield* t.redis.send<number>("ZCARD", indexKey), 1)
          assert.isAbove(yield* t.redis.send<number>("PTTL", indexKey), 0) // it expires with its newest entry
        }
      }),
      { indexSize: 3, retention: "1 second" }
    )
  )

  it.effect("a task's detail: record, worker, lease end, unique lock and booking", () =>
    withQueue(
      Effect.gen(function* () {
        const p0 = yield* placed
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        yield* q.enqueue(newTask(p0("u"), "mail", 0, { key: p0("user-1"), ttlMillis: 60_000, keep: false }))
        const queued = (yield* inspector.task(p0("u")))!
        assert.strictEqual(queued.record.state, "queued")
        assert.isUndefined(queued.leaseEndsAt)
        assert.isUndefined(queued.record.worker)
        assert.isUndefined(queued.record.startedAt)
        assert.strictEqual(queued.lock?.key, queued.record.lockKey)
        assert.strictEqual(queued.lock?.holder, p0("u"))
        const token = yield* claimId(p0("u"), { worker: "worker-7", leaseMillis: 10_000 })
        const running = (yield* inspector.task(p0("u")))!
        assert.deepStrictEqual(
          [running.record.state, running.record.name, running.record.payload, running.record.attempts],
          ["running", "mail", JSON.stringify({ id: p0("u") }), 1]
        )
        assert.strictEqual(running.record.worker, "worker-7")
        assert.isAtLeast(running.record.startedAt!, running.record.enqueuedAt)
        assert.isAtLeast(running.leaseEndsAt! - running.now, 9_000)
        assert.isAtMost(running.leaseEndsAt! - running.now, 10_000)
        assert.strictEqual(running.lock?.holder, p0("u"))
        assert.isAbove(running.lock!.expiresInMillis!, 50_000)
        assert.isFalse(running.booked)
        assert.isTrue(yield* q.reschedule(p0("u"), token, 60_000, true))
        const booked = (yield* inspector.task(p0("u")))!
        assert.deepStrictEqual(
          [booked.record.state, booked.record.attempts, booked.record.reschedules, booked.booked],
          ["scheduled", 0, 1, true]
        )
        assert.isUndefined(booked.leaseEndsAt)
        // finished: result and finish time; the lock is free
        yield* q.enqueue(newTask(p0("v"), "mail", 0, { key: p0("user-2"), ttlMillis: 60_000, keep: false }))
        assert.isTrue(yield* q.complete(p0("v"), yield* claimId(p0("v")), '"ok"'))
        const done = (yield* inspector.task(p0("v")))!
        assert.deepStrictEqual([done.record.state, done.record.result], ["succeeded", '"ok"'])
        assert.isAtLeast(done.record.finishedAt!, done.record.startedAt!)
        assert.isUndefined(done.lock?.holder)
        assert.isUndefined(yield* inspector.task("missing"))
        // locks: the unique task's lock, by its key without the lock prefix
        const locks = yield* inspector.locks(q.lockKey(""))
        assert.deepStrictEqual(
          locks.map((l) => [l.key, l.holder]),
          [[q.lockKey(p0("user-1")), p0("u")]]
        )
      })
    )
  )

  it.effect("the worker registry: a worker appears with its fields, leaves when it stops, lapses when it dies", () =>
    withQueue(
      Effect.gen(function* () {
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        const Hold = Task.make("hold", { payload: Schema.Number })
        const release = yield* Deferred.make<void>()
        const HoldLive = Task.implement(Hold, () => Deferred.await(release))
        yield* Effect.scoped(
          Effect.gen(function* () {
            // beats every 200 ms (a third of deadLetterUnknownAfter), registration for three beats
            yield* Layer.build(
              Worker.layer({ concurrency: 3, tasks: [HoldLive], deadLetterUnknownAfter: "600 millis", gracePeriod: 0 })
            )
            yield* advance(50)
            const [worker, ...others] = yield* inspector.workers
            assert.deepStrictEqual(others, [])
            assert.strictEqual(worker!.queue, q.queue)
            assert.strictEqual(worker!.concurrency, 3)
            assert.deepStrictEqual(worker!.names, ["hold"])
            assert.strictEqual(worker!.pid, process.pid)
            assert.isAbove(worker!.host.length, 0)
            assert.deepStrictEqual(worker!.running, [])
            assert.isAtMost(worker!.startedAt, worker!.lastBeatAt)
            assert.strictEqual(worker!.expiresAt - worker!.lastBeatAt, 600)
            // a running task shows in the next beat, and its record names the worker
            const handle = yield* Task.enqueue(Hold, 1)
            for (let i = 0; i < 6; i++) yield* advance(50)
            const [busy] = yield* inspector.workers
            assert.deepStrictEqual(busy!.running, [handle.id])
            assert.isAbove(busy!.lastBeatAt, worker!.lastBeatAt)
            assert.strictEqual((yield* inspector.task(handle.id))!.record.worker, worker!.id)
            yield* Deferred.succeed(release, undefined)
            yield* Task.join(handle)
          })
        )
        // stopped: gone at once
        assert.deepStrictEqual(yield* inspector.workers, [])
        // a worker that stops beating (it died): gone once its registration lapses
        yield* q.beat(["x"], undefined, {
          id: "ghost",
          host: "elsewhere",
          pid: 42,
          startedAt: 1,
          concurrency: 2,
          running: ["t1"],
          ttlMillis: 300
        })
        const [ghost] = yield* inspector.workers
        assert.deepStrictEqual(
          [ghost?.id, ghost?.host, ghost?.pid, ghost?.startedAt, ghost?.concurrency, ghost?.names, ghost?.running],
          ["ghost", "elsewhere", 42, 1, 2, ["x"], ["t1"]]
        )
        yield* advance(200)
        assert.strictEqual((yield* inspector.workers).length, 1)
        yield* advance(150)
        assert.deepStrictEqual(yield* inspector.workers, [])
        // leave removes a registration at once
        yield* q.beat(["x"], undefined, {
          id: "w",
          host: "h",
          pid: 1,
          startedAt: 1,
          concurrency: 1,
          running: [],
          ttlMillis: 10_000
        })
        assert.strictEqual((yield* inspector.workers).length, 1)
        yield* q.leave("w")
        assert.deepStrictEqual(yield* inspector.workers, [])
      })
    )
  )

  it.effect("a bad state, limit, name or cursor fails with InvalidArgument naming it", () =>
    withQueue(
      Effect.gen(function* () {
        const q = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        const fails = (query: unknown) => Effect.flip(inspector.tasks(query as Inspector.TasksQuery))
        assertInvalid(yield* fails({ state: "succeeded" }), "state", '"succeeded"')
        assertInvalid(yield* fails({ state: "queued", limit: 0 }), "limit", "0")
        assertInvalid(yield* fails({ state: "queued", limit: 501 }), "limit", "501")
        assertInvalid(yield* fails({ state: "queued", limit: 1.5 }), "limit", "1.5")
        assertInvalid(yield* fails({ state: "queued", name: "" }), "name", '""')
        assertInvalid(yield* fails({ state: "queued", cursor: "nonsense" }), "cursor", '"nonsense"')
        // a cursor of another state's pages
        for (let i = 0; i < 3; i++) yield* q.enqueue(newTask(`s${i}`, "a", 10_000))
        const page = yield* inspector.tasks({ state: "scheduled", limit: 1 })
        assertInvalid(yield* fails({ state: "running", cursor: page.cursor }), "cursor", `"${page.cursor}"`)
        assert.strictEqual(
          (yield* inspector.tasks({ state: "scheduled", limit: 500, cursor: page.cursor })).tasks.length,
          2
        )
      })
    )
  )
}
