/**
 * The conformance suite of per-key concurrency (`concurrency: { limit, key }`), run on each backend by
 * `Concurrency.test.ts` (memory on TestClock, Redis and the Redis Cluster on the real clock) and by
 * `keySlots.test.ts`. Each test gets a fresh queue from `TasksUnderTest`.
 */
import { assert, type Vitest } from "@effect/vitest"
import { Effect, Layer, Ref, Schema, type Scope } from "effect"
import { type Heimdall, type HeimdallStore, Inspector, InvalidArgument, Task, TaskQueue, Worker } from "../src/index.ts"
import type { BackendContext } from "./support/backends.ts"
import { TasksUnderTest } from "./UniqueSuite.ts"

type Backend = Heimdall.Heimdall | HeimdallStore.HeimdallStore | TaskQueue.TaskQueue | Inspector.Inspector

let counter = 0
const withTasks = <A, E>(
  body: Effect.Effect<A, E, Backend | Scope.Scope | TasksUnderTest>
): Effect.Effect<A, E | InvalidArgument, TasksUnderTest> =>
  Effect.flatMap(TasksUnderTest, (t) =>
    body.pipe(
      Effect.scoped,
      // every backend layer provides the Inspector too (TasksUnderTest's type leaves it out)
      Effect.provide(t.layer(`c${++counter}-${Date.now() % 100000}`) as Layer.Layer<Backend, InvalidArgument>)
    )
  )

const worker = (impls: ReadonlyArray<Task.Implementation<any, any>>, concurrency: number) =>
  Layer.build(Worker.layer({ concurrency, tasks: impls, gracePeriod: 0 }))

const Job = Schema.Struct({ key: Schema.String, n: Schema.Number })

/** A task limited to `limit` running per payload key. */
const limited = (name: string, limit: number) =>
  Task.make(name, { payload: Job, success: Schema.Number, concurrency: { limit, key: ({ key }) => key } })

/** What the handlers saw: starts in order per key, and the most running at once per key. */
const recorder = Effect.gen(function* () {
  const running = new Map<string, number>()
  const most = new Map<string, number>()
  const starts = yield* Ref.make<Array<{ readonly key: string; readonly n: number; readonly at: number }>>([])
  const run = (millis: number) => (job: typeof Job.Type) =>
    Effect.gen(function* () {
      const now = (running.get(job.key) ?? 0) + 1
      running.set(job.key, now)
      most.set(job.key, Math.max(most.get(job.key) ?? 0, now))
      const { startedAt } = yield* Task.CurrentTask
      yield* Ref.update(starts, (s) => [...s, { key: job.key, n: job.n, at: startedAt }])
      yield* Effect.sleep(millis)
      running.set(job.key, (running.get(job.key) ?? 1) - 1)
      return job.n
    })
  return { running, most, starts, run }
})

export const concurrencySuite = (it: Vitest.MethodsNonLive<TasksUnderTest>, backend: BackendContext) => {
  const { advance } = backend
  // a queue of several partitions (see Concurrency.test.ts): its pages do not follow one queue-wide order
  const partitioned = backend.name.includes("partitions")
  const steps = (total: number, step = 50) =>
    Effect.gen(function* () {
      for (let t = 0; t < total; t += step) yield* advance(step)
    })
  const slack = backend.redis ? 100 : 0
  /** On Redis: with nothing admitted and nothing held back, the queue's `:cc` and `:ccwait` keys are gone. */
  const noAdmissionsLeft = (queueName: string) =>
    Effect.gen(function* () {
      const { redis } = yield* TasksUnderTest
      if (redis === undefined || backend.cluster) return
      const left = yield* redis.send<Array<string>>("KEYS", `*\\{${queueName}\\}:cc*`)
      assert.deepStrictEqual(left, [])
    })

  it.effect("concurrency: never more than `limit` running per key; the others wait, then start in order", () =>
    withTasks(
      Effect.gen(function* () {
        const Sync = limited("sync", 2)
        const queue = yield* TaskQueue.TaskQueue
        const a = yield* Effect.forEach([1, 2, 3, 4, 5, 6], (n) => Task.enqueue(Sync, { key: "a", n }))
        const b = yield* Effect.forEach([1, 2, 3], (n) => Task.enqueue(Sync, { key: "b", n }))
        // all of them read as queued; the counts add up
        const records = yield* Effect.forEach([...a, ...b], (h) => queue.get(h.id))
        assert.deepStrictEqual(
          records.map((r) => r?.state),
          Array(9).fill("queued")
        )
        const counts = yield* queue.counts
        assert.strictEqual(counts.byName.sync?.queued, 9)

        const seen = yield* recorder
        yield* worker([Task.implement(Sync, seen.run(200))], 8)
        yield* steps(100)
        // the first two of each key run, the rest wait, though the worker has free slots
        const first = yield* Ref.get(seen.starts)
        assert.deepStrictEqual(
          first.map((s) => `${s.key}${s.n}`).sort(),
          ["a1", "a2", "b1", "b2"],
          "two of each key at once"
        )
        assert.strictEqual(yield* Task.status(a[2]!), "queued")
        assert.strictEqual((yield* queue.counts).byName.sync?.running, 4)
        yield* steps(800 + 4 * slack)
        for (const h of [...a, ...b]) yield* Task.join(h)
        const all = yield* Ref.get(seen.starts)
        assert.strictEqual(all.length, 9)
        assert.deepStrictEqual(
          all.filter((s) => s.key === "a").map((s) => s.n),
          [1, 2, 3, 4, 5, 6],
          "a key's tasks start in the order they were enqueued"
        )
        assert.deepStrictEqual(
          all.filter((s) => s.key === "b").map((s) => s.n),
          [1, 2, 3]
        )
        assert.strictEqual(seen.most.get("a"), 2)
        assert.strictEqual(seen.most.get("b"), 2)
        const done = yield* queue.counts
        assert.strictEqual(done.byName.sync?.succeeded, 9)
        assert.strictEqual(done.byName.sync?.queued, 0)
        yield* noAdmissionsLeft(queue.queue)
      })
    )
  )

  it.effect('unique hold "whileRunning": every request is a task; one of a key runs at a time, in order', () =>
    withTasks(
      Effect.gen(function* () {
        const Refresh = Task.make("refresh", {
          payload: Job,
          success: Schema.Number,
          unique: { key: ({ key }) => key, hold: "whileRunning" }
        })
        const queue = yield* TaskQueue.TaskQueue
        const a = yield* Effect.forEach([1, 2, 3], (n) => Task.enqueueOutcome(Refresh, { key: "a", n }))
        const b = yield* Task.enqueueOutcome(Refresh, { key: "b", n: 1 })
        // nothing is merged: each request is a task of its own
        assert.deepStrictEqual(
          [...a, b].map((o) => o._tag),
          ["Created", "Created", "Created", "Created"]
        )
        assert.strictEqual(new Set([...a, b].map((o) => o.handle.id)).size, 4)
        const seen = yield* recorder
        yield* worker([Task.implement(Refresh, seen.run(200))], 4)
        yield* steps(100)
        // one of key a runs, beside key b's; the other two wait their turn though slots are free
        assert.deepStrictEqual((yield* Ref.get(seen.starts)).map((s) => `${s.key}${s.n}`).sort(), ["a1", "b1"])
        assert.strictEqual(yield* Task.status(a[1]!.handle), "queued")
        // a request while a1 runs is a new task too, behind the others
        const late = yield* Task.enqueueOutcome(Refresh, { key: "a", n: 4 })
        assert.strictEqual(late._tag, "Created")
        yield* steps(900 + 4 * slack)
        for (const o of [...a, b, late]) yield* Task.join(o.handle)
        const all = yield* Ref.get(seen.starts)
        assert.deepStrictEqual(
          all.filter((s) => s.key === "a").map((s) => s.n),
          [1, 2, 3, 4],
          "every request ran, in order"
        )
        assert.strictEqual(seen.most.get("a"), 1, "never two of one key at once")
        assert.strictEqual((yield* queue.counts).byName.refresh?.succeeded, 5)
        yield* noAdmissionsLeft(queue.queue)
        // nothing waits holding the key, so no other answer than a new task can be given
        const bad = (onDuplicate: Task.UniqueOptions<typeof Job.Type>["onDuplicate"]) =>
          Effect.flip(
            Effect.try({
              try: () => Task.make("bad", { payload: Job, unique: { hold: "whileRunning", onDuplicate } }),
              catch: (e) => e as InvalidArgument
            })
          )
        const error = yield* bad("fail")
        assert.instanceOf(error, InvalidArgument)
        assert.strictEqual(error.argument, "unique.onDuplicate")
        assert.include(error.message, '"fail"')
        assert.include(error.message, "whileRunning")
      })
    )
  )

  it.effect("concurrency: the Inspector lists held-back tasks as queued, after the ready ones; pages miss none", () =>
    withTasks(
      Effect.gen(function* () {
        const Mail = limited("mail", 1)
        const queue = yield* TaskQueue.TaskQueue
        const inspector = yield* Inspector.Inspector
        const a = yield* Effect.forEach([1, 2, 3], (n) => Task.enqueue(Mail, { key: "a", n }))
        const b = yield* Effect.forEach([1, 2], (n) => Task.enqueue(Mail, { key: "b", n }))
        const ids: Array<string> = []
        let cursor: string | undefined
        for (let page = 0; page < 10; page++) {
          const listed = yield* inspector.tasks({ state: "queued", limit: 2, ...(cursor ? { cursor } : {}) })
          ids.push(...listed.tasks.map((t) => t.id))
          assert.isTrue(listed.tasks.every((t) => t.state === "queued"))
          cursor = listed.cursor
          if (cursor === undefined) break
        }
        // the ready list (newest first), then the lines by key, each oldest first; on a partitioned queue a page
        // takes a share of each partition's line and orders it by time (README, "Partitions"): every task once
        const expected = [b[0]!.id, a[0]!.id, a[1]!.id, a[2]!.id, b[1]!.id]
        if (partitioned) {
          assert.sameMembers(ids, expected)
          assert.strictEqual(ids.length, expected.length, "no task twice")
        } else assert.deepStrictEqual(ids, expected)
        assert.strictEqual((yield* inspector.counts).total.queued, ids.length)
        // a held-back task admitted between pages is listed once (one partition: a partitioned claim takes from one
        // partition at a time, so its counts differ; partitioned pages are Partitions.test.ts's)
        if (partitioned) return
        const first = yield* inspector.tasks({ state: "queued", limit: 3 })
        const claimed = yield* queue.claim({ token: "c1", leaseMillis: 60_000, max: 4 })
        assert.strictEqual(claimed._tag === "Claimed" && claimed.tasks.length, 2)
        assert.isTrue(yield* queue.complete(a[0]!.id, "c1", "1"))
        const rest = yield* inspector.tasks({ state: "queued", limit: 10, cursor: first.cursor! })
        assert.deepStrictEqual(
          [...first.tasks, ...rest.tasks].map((t) => t.id),
          [b[0]!.id, a[0]!.id, a[1]!.id, a[2]!.id, b[1]!.id]
        )
        assert.deepStrictEqual(
          (yield* inspector.tasks({ state: "queued", limit: 10 })).tasks.map((t) => t.id),
          [a[1]!.id, a[2]!.id, b[1]!.id]
        )
      })
    )
  )

  it.effect(
    "concurrency: a name whose waiting tasks are all held back has its oldest held task as oldest waiting",
    () =>
      withTasks(
        Effect.gen(function* () {
          const Mail = limited("mailage", 1)
          const queue = yield* TaskQueue.TaskQueue
          const inspector = yield* Inspector.Inspector
          const [first, second] = yield* Effect.forEach([1, 2, 3], (n) => Task.enqueue(Mail, { key: "a", n }))
          // the first is admitted and claimed (a partitioned claim looks at one partition at a time): the other two
          // wait in the key's line, none in the ready list
          let claimed: ReadonlyArray<string> = []
          for (let i = 0; i < 6 && claimed.length === 0; i++) {
            const result = yield* queue.claim({ token: `c${i}`, leaseMillis: 60_000, max: 4 })
            if (result._tag === "Claimed") claimed = result.tasks.map((t) => t.id)
          }
          assert.deepStrictEqual(claimed, [first!.id])
          const counts = yield* inspector.counts
          assert.strictEqual(counts.byName.mailage?.queued, 2)
          const age = counts.oldestByName.mailage
          assert.strictEqual(age?._tag === "Found" ? age.id : age?._tag, second!.id)
          assert.strictEqual(counts.oldestWaiting?.id, second!.id)
        })
      )
  )

  it.effect("concurrency: fair across keys: a key's one task does not wait behind another key's many", () =>
    withTasks(
      Effect.gen(function* () {
        const Crawl = limited("crawl", 1)
        const heavy = yield* Effect.forEach(
          Array.from({ length: 40 }, (_, i) => i),
          (n) => Task.enqueue(Crawl, { key: "heavy", n })
        )
        const light = yield* Task.enqueue(Crawl, { key: "light", n: 0 })
        const queue = yield* TaskQueue.TaskQueue
        const enqueuedAt = (yield* queue.get(light.id))!.enqueuedAt
        const seen = yield* recorder
        // two slots: one heavy task at a time, the other slot free for the light key at once
        yield* worker([Task.implement(Crawl, seen.run(100))], 2)
        yield* steps(150)
        assert.strictEqual(yield* Task.join(light), 0)
        const started = (yield* queue.get(light.id))!.startedAt!
        assert.isAtMost(started - enqueuedAt, 100 + slack, "the light task started within one task duration")
        assert.strictEqual(yield* Task.status(heavy[39]!), "queued", "the heavy key is far from done")
        assert.strictEqual(seen.most.get("heavy"), 1)
      })
    )
  )

  it.effect("concurrency: final failure, dead letter, cancel and skip-free success each release the slot", () =>
    withTasks(
      Effect.gen(function* () {
        const Mail = limited("mail", 1)
        const queue = yield* TaskQueue.TaskQueue
        const [t1, t2, t3, t4, t5] = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => Task.enqueue(Mail, { key: "k", n }))
        const claimOne = (token: string) =>
          Effect.map(queue.claim({ token, leaseMillis: 60_000, max: 4 }), (r) =>
            r._tag === "Claimed" ? r.tasks.map((t) => t.id) : []
          )
        assert.deepStrictEqual(yield* claimOne("c1"), [t1!.id], "one admitted")
        // a retry keeps the admission: the task is scheduled again, the next still waits
        assert.isTrue(yield* queue.fail(t1!.id, "c1", "{}", 100))
        assert.strictEqual(yield* Task.status(t1!), "scheduled")
        assert.deepStrictEqual(yield* claimOne("c2"), [])
        yield* advance(150)
        assert.deepStrictEqual(yield* claimOne("c3"), [t1!.id], "the retry, not the next task")
        // final failure
        assert.isTrue(yield* queue.fail(t1!.id, "c3", "{}", undefined))
        assert.deepStrictEqual(yield* claimOne("c4"), [t2!.id])
        // dead letter
        assert.isTrue(yield* queue.deadLetter(t2!.id, "c4", "bad payload"))
        assert.strictEqual(yield* Task.status(t3!), "queued")
        // cancel of the admitted, waiting task: the next one is admitted
        const cancelled = yield* queue.cancel(t3!.id)
        assert.strictEqual(cancelled._tag, "Cancelled")
        // cancel of a held-back task: it leaves the line, nothing else changes
        assert.strictEqual((yield* queue.cancel(t5!.id))._tag, "Cancelled")
        assert.deepStrictEqual(yield* claimOne("c5"), [t4!.id])
        assert.deepStrictEqual(yield* claimOne("c6"), [])
        assert.isTrue(yield* queue.complete(t4!.id, "c5", "4"))
        assert.deepStrictEqual(yield* claimOne("c7"), [], "the cancelled held-back task never runs")
        // the key is free: a new task is admitted at once
        const t6 = yield* Task.enqueue(Mail, { key: "k", n: 6 })
        assert.deepStrictEqual(yield* claimOne("c8"), [t6.id])
        const counts = yield* queue.counts
        assert.deepStrictEqual(
          [counts.byName.mail?.queued, counts.byName.mail?.running, counts.byName.mail?.cancelled],
          [0, 1, 2]
        )
      })
    )
  )

  it.effect("concurrency: an operator's retry takes an admission again, or waits in the key's line", () =>
    withTasks(
      Effect.gen(function* () {
        const Mail = limited("mail", 1)
        const queue = yield* TaskQueue.TaskQueue
        const [t1, t2] = yield* Effect.forEach([1, 2], (n) => Task.enqueue(Mail, { key: "k", n }))
        const claimOne = (token: string) =>
          Effect.map(queue.claim({ token, leaseMillis: 60_000, max: 4 }), (r) =>
            r._tag === "Claimed" ? r.tasks.map((t) => t.id) : []
          )
        assert.deepStrictEqual(yield* claimOne("c1"), [t1!.id])
        assert.isTrue(yield* queue.fail(t1!.id, "c1", "{}", undefined))
        assert.deepStrictEqual(yield* claimOne("c2"), [t2!.id])
        assert.strictEqual((yield* queue.retry(t1!.id))._tag, "Requeued")
        assert.strictEqual(yield* Task.status(t1!), "queued")
        assert.deepStrictEqual(yield* claimOne("c3"), [], "behind the running task of its key")
        assert.isTrue(yield* queue.complete(t2!.id, "c2", "2"))
        assert.deepStrictEqual(yield* claimOne("c4"), [t1!.id])
        assert.isTrue(yield* queue.complete(t1!.id, "c4", "1"))
        yield* noAdmissionsLeft(queue.queue)
      })
    )
  )

  it.effect("concurrency: a dead worker's lease lapses; the task runs again, still within the limit", () =>
    withTasks(
      Effect.gen(function* () {
        const Mail = limited("mail", 1)
        const queue = yield* TaskQueue.TaskQueue
        const [t1, t2] = yield* Effect.forEach([1, 2], (n) => Task.enqueue(Mail, { key: "k", n }))
        const claimed = yield* queue.claim({ token: "dead", leaseMillis: 200 })
        assert.strictEqual(claimed._tag === "Claimed" && claimed.tasks[0]?.id, t1!.id)
        // the worker died: nobody renews; the lease lapses and a live worker takes the same task, not the next
        yield* advance(250)
        const seen = yield* recorder
        yield* worker([Task.implement(Mail, seen.run(200))], 4)
        yield* steps(100)
        assert.deepStrictEqual(
          (yield* Ref.get(seen.starts)).map((s) => s.n),
          [1]
        )
        assert.strictEqual(yield* Task.status(t2!), "queued")
        yield* steps(400 + 2 * slack)
        assert.strictEqual(yield* Task.join(t1!), 1)
        assert.strictEqual(yield* Task.join(t2!), 2)
        assert.strictEqual((yield* queue.get(t1!.id))?.redeliveries, 1)
        assert.strictEqual(seen.most.get("k"), 1)
      })
    )
  )

  it.effect("concurrency: a delayed task holds its admission while it waits for its run time", () =>
    withTasks(
      Effect.gen(function* () {
        const Mail = limited("mail", 1)
        const queue = yield* TaskQueue.TaskQueue
        const later = yield* Task.enqueue(Mail, { key: "k", n: 1 }, { delay: 300 })
        const now = yield* Task.enqueue(Mail, { key: "k", n: 2 })
        assert.strictEqual(yield* Task.status(later), "scheduled")
        assert.strictEqual(yield* Task.status(now), "queued")
        const claimAll = (token: string) =>
          Effect.map(queue.claim({ token, leaseMillis: 60_000, max: 4 }), (r) =>
            r._tag === "Claimed" ? r.tasks.map((t) => t.id) : []
          )
        assert.deepStrictEqual(yield* claimAll("c1"), [])
        yield* advance(350)
        assert.deepStrictEqual(yield* claimAll("c2"), [later.id])
        assert.isTrue(yield* queue.complete(later.id, "c2", "1"))
        assert.deepStrictEqual(yield* claimAll("c3"), [now.id])
        // a delayed task that waited in line keeps its run time once admitted
        const third = yield* Task.enqueue(Mail, { key: "k", n: 3 }, { delay: 300 })
        assert.strictEqual(yield* Task.status(third), "queued", "held back")
        assert.isTrue(yield* queue.complete(now.id, "c3", "2"))
        assert.strictEqual(yield* Task.status(third), "scheduled", "admitted, until its run time")
        assert.deepStrictEqual(yield* claimAll("c4"), [])
        yield* advance(350)
        assert.deepStrictEqual(yield* claimAll("c5"), [third.id])
      })
    )
  )

  it.effect("concurrency: a limit that is not a positive integer, an empty key, or with unique: InvalidArgument", () =>
    withTasks(
      Effect.gen(function* () {
        const bad = (options: unknown): unknown => {
          try {
            Task.make("bad", { payload: Job, concurrency: options as any })
            return undefined
          } catch (e) {
            return e
          }
        }
        for (const [options, argument, value] of [
          [{ limit: 0, key: "k" }, "concurrency.limit", "0"],
          [{ limit: 1.5, key: "k" }, "concurrency.limit", "1.5"],
          [{ limit: "2", key: "k" }, "concurrency.limit", '"2"'],
          [{ limit: 2, key: "" }, "concurrency.key", '""'],
          [{ limit: 2, key: "a\0b" }, "concurrency.key", '"a'],
          [5, "concurrency", "5"]
        ] as const) {
          const error = bad(options)
          assert.instanceOf(error, InvalidArgument, `${JSON.stringify(options)} rejected`)
          const invalid = error as InvalidArgument
          assert.strictEqual(invalid.argument, argument)
          assert.include(invalid.message, `invalid ${argument} = ${value}`)
        }
        assert.throws(
          () => Task.make("both", { payload: Job, unique: true, concurrency: { limit: 1, key: "k" } }),
          /invalid concurrency = .*cannot combine with unique/
        )
        assert.throws(() => limited("piped", 1).pipe(Task.unique()), /cannot combine with unique/)
        assert.throws(
          () => Task.schedule(limited("cron", 1), { every: "1 minute", payload: { key: "k", n: 1 } }),
          /concurrency limit/
        )
        // a key computed from the payload is checked by enqueue, before anything is written
        const Computed = Task.make("computed", {
          payload: Job,
          concurrency: { limit: 1, key: ({ key }) => key }
        })
        const error = yield* Effect.flip(Task.enqueue(Computed, { key: "", n: 1 }, { id: "never" }))
        assert.strictEqual(error._tag, "InvalidArgument")
        assert.strictEqual(error._tag === "InvalidArgument" && error.argument, "concurrency.key")
        const queue = yield* TaskQueue.TaskQueue
        assert.isUndefined(yield* queue.get("never"))
      })
    )
  )
}
