import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Ref, Schema } from "effect"
import { afterAll, afterEach } from "vitest"
import { Heimdall, Inspector, RedisIoredis, Task, TaskQueue, Worker } from "../../src/index.ts"
import { OneBehind, Replacing } from "../fixtures/unique-tasks.ts"
import { privateServer } from "../support/privateServer.ts"
import { type Child, killAll, spawnFixture } from "../support/processes.ts"
import { describeRedis, keyPrefix, redisLayer, redisUrl } from "../support/redis.ts"

const prefix = keyPrefix(import.meta.url)

afterEach(killAll)
afterAll(killAll)

/** The queue (and the Redis service) on a private server, with a short command timeout. */
const queueOn = (url: string, queue: string) =>
  Heimdall.layerRedis({ queuePrefix: `${prefix}q`, lockPrefix: `${prefix}lock:`, queue }).pipe(
    Layer.provideMerge(RedisIoredis.layer(url, { commandTimeout: "1 second", connectTimeout: "1 second" }))
  )

const EVERY_MS = 100
const Tick = Task.make("rs-tick", { payload: Schema.Struct({ n: Schema.Number }) })
const tickOf = (id: string) => Date.parse(id.slice(id.indexOf("@") + 1))

/** Runs a worker and a scheduler (every 100 ms, catchUp "all") around a restart of `server`; the ticks that ran. */
const ticksAcrossRestart = (persistent: boolean) =>
  Effect.gen(function* () {
    const server = yield* privateServer(persistent)
    const queue = `ticks-${persistent ? "aof" : "none"}`
    return yield* Effect.gen(function* () {
      // each run: the tick's id, its attempt and when its handler ended
      const ran = yield* Ref.make<Array<{ id: string; attempt: number; endedAt: number }>>([])
      yield* Layer.build(
        Worker.layer({
          concurrency: 4,
          lease: "2 seconds",
          gracePeriod: 0,
          tasks: [
            Task.implement(Tick, () =>
              Effect.flatMap(Task.CurrentTask, (t) =>
                Ref.update(ran, (r) => [...r, { id: t.id, attempt: t.attempt, endedAt: Date.now() }])
              )
            )
          ]
        })
      )
      let killedAt = 0
      let restartedAt = 0
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Layer.build(
            Task.layerSchedules([
              Task.schedule(Tick, { every: EVERY_MS, payload: { n: 1 }, overlap: "allow", catchUp: "all" })
            ])
          )
          yield* Effect.sleep("1200 millis")
          killedAt = Date.now()
          yield* Effect.promise(() => server.restart({ signal: "SIGKILL", downMs: 700 }))
          restartedAt = Date.now()
          yield* Effect.sleep("2500 millis")
        })
      )
      // the schedulers stopped: let the worker finish (a task claimed as Redis died is redelivered after its lease)
      yield* Effect.sleep("2500 millis")
      const schedules = yield* (yield* Inspector.Inspector).schedules
      const runs = yield* Ref.get(ran)
      const ids = runs.map((r) => r.id)
      const ticks = [...new Set(ids)].map(tickOf).sort((a, b) => a - b)
      // a tick enqueued twice would run twice as attempt 1 (a new task); a tick whose worker's lease lapsed while
      // Redis was away (its completion not on disk when Redis was killed, or the lease's deadline passed during the
      // outage) runs again as its next attempt: at-least-once, documented, and only for a run that ended then
      const reruns = runs.filter((r) => r.attempt > 1)
      const earlier = reruns.map((r) => runs.find((o) => o.id === r.id && o.attempt === r.attempt - 1))
      const missing: Array<number> = []
      for (let t = ticks[0]!; t <= ticks.at(-1)!; t += EVERY_MS) if (!ticks.includes(t)) missing.push(t)
      const report = {
        persistent,
        ticks: ticks.length,
        runs: ids.length,
        redelivered: reruns.map((r, i) => ({
          id: r.id,
          attempt: r.attempt,
          firstEnded: (earlier[i]?.endedAt ?? 0) - killedAt
        })),
        missing: missing.map((t) => new Date(t).toISOString()),
        afterRestart: ticks.filter((t) => t >= restartedAt - 700).length
      }
      console.log(`[restart] schedule across a Redis restart: ${JSON.stringify(report)}`)
      const attempts = runs.map((r) => `${r.id}#${r.attempt}`)
      assert.strictEqual(attempts.length, new Set(attempts).size, `no tick enqueued twice: ${JSON.stringify(report)}`)
      assert.isAtMost(reruns.length, 4, `only the tasks in flight as Redis died: ${JSON.stringify(report)}`)
      for (const run of earlier) {
        assert.isDefined(run, `a rerun follows its earlier attempt: ${JSON.stringify(report)}`)
        assert.isAtLeast(
          run!.endedAt,
          killedAt - 1000,
          `the earlier attempt ended around the kill: ${JSON.stringify(report)}`
        )
        assert.isAtMost(run!.endedAt, restartedAt + 2000, `...or in the outage: ${JSON.stringify(report)}`)
      }
      assert.isAtLeast(ticks.length, 30, JSON.stringify(report))
      assert.isAtLeast(report.afterRestart, 20, `it kept firing after the restart: ${JSON.stringify(report)}`)
      assert.isAbove(ticks.at(-1)!, restartedAt + 2000, "still firing at the end")
      assert.deepStrictEqual(
        schedules.map((s) => s.name),
        ["rs-tick"],
        "the schedule's record exists after the restart (re-synced)"
      )
      return { missing }
    }).pipe(Effect.provide(queueOn(server.url, queue)))
  })

const N = Schema.Struct({ n: Schema.Number })
const Trailing = Task.make("rs-trailing", {
  payload: N,
  unique: { key: "rs-trailing", onDuplicate: { debounce: 200 }, timeout: "1 minute" }
})
const Replace = Task.make("rs-replace", { payload: N, unique: { key: "rs-replace", onDuplicate: "replace" } })
const Leading = Task.make("rs-leading", {
  payload: N,
  unique: { key: "rs-leading", onDuplicate: { debounce: "10 seconds", edge: "leading" }, timeout: "1 minute" }
})
const Behind = Task.make("rs-one-behind", {
  payload: N,
  unique: { key: "rs-one-behind", onDuplicate: "oneBehind", timeout: "1 minute" }
})

/** A worker for the duplicate tasks above that records each run (task name, payload, id); `rs-one-behind` holds 1.5 s. */
const duplicateWorker = Effect.gen(function* () {
  const runs = yield* Ref.make<Array<readonly [string, number, string]>>([])
  const record = (name: string, n: number) =>
    Effect.flatMap(Task.CurrentTask, (t) => Ref.update(runs, (r) => [...r, [name, n, t.id] as const]))
  yield* Layer.build(
    Worker.layer({
      concurrency: 4,
      lease: "2 seconds",
      gracePeriod: 0,
      tasks: [
        Task.implement(Trailing, ({ n }) => record("trailing", n)),
        Task.implement(Replace, ({ n }) => record("replace", n)),
        Task.implement(Leading, ({ n }) => record("leading", n)),
        Task.implement(Behind, ({ n }) => Effect.andThen(record("oneBehind", n), Effect.sleep("1500 millis")))
      ]
    })
  )
  return runs
})

const workerScript = fileURLToPath(new URL("../fixtures/duplicate-worker.ts", import.meta.url))

const Limited = Task.make("rs-limited", { payload: N, concurrency: { limit: 2, key: "rs-key" } })

/** The most of these runs at once (a run that ends as another starts, in the same millisecond, is not beside it). */
const mostAtOnce = (runs: ReadonlyArray<{ readonly from: number; readonly to: number }>) => {
  const events = runs.flatMap((r) => [
    [r.from, 1],
    [r.to, -1]
  ])
  events.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!)
  let now = 0
  let most = 0
  for (const [, step] of events) {
    now += step!
    most = Math.max(most, now)
  }
  return most
}

/**
 * A worker of 4 slots for `Limited` whose runs last 400 ms; each run's payload and interval (this host's clock), the
 * payloads of the runs interrupted (a lost lease), and the most runs of the key at once.
 */
const limitedWorker = Effect.gen(function* () {
  const runs = yield* Ref.make<Array<{ readonly n: number; readonly from: number; readonly to: number }>>([])
  const interrupted: Array<number> = []
  let running = 0
  let most = 0
  yield* Layer.build(
    Worker.layer({
      concurrency: 4,
      lease: "1 second",
      gracePeriod: 0,
      tasks: [
        Task.implement(Limited, ({ n }) =>
          Effect.gen(function* () {
            running++
            most = Math.max(most, running)
            const from = Date.now()
            yield* Effect.sleep("400 millis").pipe(
              Effect.onInterrupt(() => Effect.sync(() => interrupted.push(n))),
              Effect.ensuring(Effect.sync(() => running--))
            )
            yield* Ref.update(runs, (r) => [...r, { n, from, to: Date.now() }])
          })
        )
      ]
    })
  )
  return { runs, interrupted, most: () => most, running: () => running }
})

describeRedis("Schedules, duplicate policies and per-key concurrency across a Redis restart", () => {
  layer(redisLayer(), { excludeTestServices: true, timeout: "120 seconds" })((it) => {
    it.effect(
      "schedule, persistent Redis killed and restarted: every tick enqueued exactly once and run, none lost; only a run in flight at the kill runs again",
      () =>
        Effect.gen(function* () {
          const { missing } = yield* ticksAcrossRestart(true)
          assert.deepStrictEqual(missing, [], "no tick lost")
        }),
      60_000
    )

    it.effect(
      "schedule, Redis restarted without persistence: it keeps firing, the schedule is re-synced, no tick twice",
      () =>
        Effect.gen(function* () {
          const { missing } = yield* ticksAcrossRestart(false)
          assert.isAtMost(missing.length, 1, "at most the tick in flight when Redis died")
        }),
      60_000
    )

    it.effect(
      "duplicates, persistent Redis killed and restarted: debounced, replaced, leading-edge and oneBehind tasks run once, with the right payload",
      () =>
        Effect.gen(function* () {
          const server = yield* privateServer(true)
          yield* Effect.gen(function* () {
            // waiting tasks, no worker yet
            const d1 = yield* Task.enqueueOutcome(Trailing, { n: 1 })
            const d2 = yield* Task.enqueueOutcome(Trailing, { n: 2 })
            const r1 = yield* Task.enqueueOutcome(Replace, { n: 1 })
            const r2 = yield* Task.enqueueOutcome(Replace, { n: 2 })
            const l1 = yield* Task.enqueueOutcome(Leading, { n: 1 })
            const l2 = yield* Task.enqueueOutcome(Leading, { n: 2 })
            assert.deepStrictEqual(
              [d1._tag, d2._tag, r1._tag, r2._tag, l1._tag, l2._tag],
              ["Created", "Debounced", "Created", "Replaced", "Created", "Existing"]
            )
            yield* Effect.promise(() => server.restart({ signal: "SIGKILL", downMs: 500 }))
            // the lock and the burst window are back with the data: still duplicates
            const r3 = yield* Task.enqueueOutcome(Replace, { n: 3 })
            const l3 = yield* Task.enqueueOutcome(Leading, { n: 3 })
            assert.deepStrictEqual([r3._tag, r3.handle.id], ["Replaced", r1.handle.id])
            assert.deepStrictEqual([l3._tag, l3.handle.id], ["Existing", l1.handle.id])
            const runs = yield* duplicateWorker
            // a run in progress and one behind it, then Redis dies mid-run
            const o1 = yield* Task.enqueueOutcome(Behind, { n: 1 })
            yield* Effect.sleep("300 millis")
            assert.strictEqual(yield* Task.status(o1.handle), "running")
            const o2 = yield* Task.enqueueOutcome(Behind, { n: 2 })
            const o3 = yield* Task.enqueueOutcome(Behind, { n: 3 })
            assert.deepStrictEqual([o2._tag, o3._tag, o3.handle.id], ["Created", "Existing", o2.handle.id])
            yield* Effect.promise(() => server.restart({ signal: "SIGKILL", downMs: 500 }))
            yield* Task.join(d1.handle)
            yield* Task.join(r1.handle)
            yield* Task.join(l1.handle)
            yield* Task.join(o1.handle)
            yield* Task.join(o2.handle)
            yield* Effect.sleep("500 millis")
            const ran = (yield* Ref.get(runs)).map(([name, n, id]) => [name, n, id])
            assert.sameDeepMembers(ran, [
              ["trailing", 2, d1.handle.id],
              ["replace", 3, r1.handle.id],
              ["leading", 1, l1.handle.id],
              ["oneBehind", 1, o1.handle.id],
              ["oneBehind", 2, o2.handle.id]
            ])
          }).pipe(Effect.scoped, Effect.provide(queueOn(server.url, "dup-aof")))
        }),
      60_000
    )

    it.effect(
      "duplicates, Redis restarted without persistence: the waiting task and its key are gone, the next request is a first",
      () =>
        Effect.gen(function* () {
          const server = yield* privateServer(false)
          yield* Effect.gen(function* () {
            const r1 = yield* Task.enqueueOutcome(Replace, { n: 1 })
            const l1 = yield* Task.enqueueOutcome(Leading, { n: 1 })
            yield* Effect.promise(() => server.restart({ signal: "SIGKILL", downMs: 200 }))
            const lost = yield* Effect.flip(Task.status(r1.handle))
            assert.strictEqual(lost._tag, "TaskNotFound")
            const r2 = yield* Task.enqueueOutcome(Replace, { n: 2 })
            const l2 = yield* Task.enqueueOutcome(Leading, { n: 2 })
            assert.deepStrictEqual([r2._tag, l2._tag], ["Created", "Created"])
            assert.notStrictEqual(r2.handle.id, r1.handle.id)
            assert.notStrictEqual(l2.handle.id, l1.handle.id)
          }).pipe(Effect.scoped, Effect.provide(queueOn(server.url, "dup-none")))
        }),
      60_000
    )

    it.effect(
      "per-key concurrency, persistent Redis killed and restarted mid-run: admissions and the key's line survive; every task runs, never more than 2 at once, in order",
      () =>
        Effect.gen(function* () {
          const server = yield* privateServer(true)
          yield* Effect.gen(function* () {
            // 2 admitted, 4 waiting in the key's line
            const handles = yield* Effect.forEach([1, 2, 3, 4, 5, 6], (n) => Task.enqueue(Limited, { n }))
            const { runs, most, running } = yield* limitedWorker
            while (running() < 2) yield* Effect.sleep("10 millis")
            yield* Effect.promise(() => server.restart({ signal: "SIGKILL", downMs: 500 }))
            yield* Effect.forEach(handles, Task.join, { discard: true })
            const ran = yield* Ref.get(runs)
            const report = { runs: ran.length, most: most(), order: ran.map((r) => r.n) }
            console.log(`[restart] per-key concurrency across a Redis restart (aof): ${JSON.stringify(report)}`)
            assert.isAtMost(most(), 2, `never more than the limit at once: ${JSON.stringify(report)}`)
            assert.deepStrictEqual([...new Set(report.order)].toSorted(), [1, 2, 3, 4, 5, 6], "every task ran")
            // the waiting ones started in their enqueue order (a run in flight as Redis died may run again)
            const firstStarts = [...new Set(ran.toSorted((a, b) => a.from - b.from).map((r) => r.n))]
            assert.deepStrictEqual(firstStarts.slice(2), [3, 4, 5, 6], JSON.stringify(report))
            // and the key's count came back to 0: a new task is admitted at once
            const next = yield* Task.enqueueOutcome(Limited, { n: 7 })
            assert.deepStrictEqual(next._tag === "Created" && next.state !== "queued" ? "admitted" : "", "admitted")
          }).pipe(Effect.scoped, Effect.provide(queueOn(server.url, "cc-aof")))
        }),
      60_000
    )

    it.effect(
      "per-key concurrency, Redis restarted without persistence mid-run: the runs in flight stop (their leases are gone), and the key's next tasks keep the limit",
      () =>
        Effect.gen(function* () {
          const server = yield* privateServer(false)
          yield* Effect.gen(function* () {
            yield* Effect.forEach([1, 2, 3, 4], (n) => Task.enqueue(Limited, { n }))
            const { runs, interrupted, running } = yield* limitedWorker
            while (running() < 2) yield* Effect.sleep("10 millis")
            yield* Effect.promise(() => server.restart({ signal: "SIGKILL", downMs: 100 }))
            // the two runs in flight: the server forgot them, so their next lease renewal finds no lease and the
            // worker stops them, settling nothing (an end must not free an admission the new server never gave)
            yield* Effect.sleep("600 millis")
            const before = { ended: (yield* Ref.get(runs)).length, interrupted: interrupted.toSorted() }
            const handles = yield* Effect.forEach([11, 12, 13, 14, 15, 16], (n) => Task.enqueue(Limited, { n }))
            yield* Effect.forEach(handles, Task.join, { discard: true })
            const after = (yield* Ref.get(runs)).filter((r) => r.n > 10)
            const report = { inFlight: before, runs: after.map((r) => r.n), most: mostAtOnce(after) }
            console.log(`[restart] per-key concurrency across a Redis restart (none): ${JSON.stringify(report)}`)
            assert.deepStrictEqual(before, { ended: 0, interrupted: [1, 2] }, "the runs in flight were stopped")
            assert.isAtMost(mostAtOnce(after), 2, `the new tasks keep the limit: ${JSON.stringify(report)}`)
            assert.deepStrictEqual(after.map((r) => r.n).toSorted(), [11, 12, 13, 14, 15, 16])
          }).pipe(Effect.scoped, Effect.provide(queueOn(server.url, "cc-none")))
        }),
      60_000
    )

    for (const policy of ["replace", "oneBehind"] as const) {
      it.effect(
        `${policy}: a worker SIGKILLed mid-run: the task is redelivered, the one behind it runs after it, each once`,
        () =>
          Effect.gen(function* () {
            const queue = `killed-${policy}`
            const task = policy === "replace" ? Replacing : OneBehind
            const start = (hold: number): Child =>
              spawnFixture(workerScript, {
                REDIS_URL: redisUrl,
                KEY_PREFIX: prefix,
                QUEUE: queue,
                POLICY: policy,
                SENDER: "none",
                SENDS: "0",
                GO: `${prefix}go:${queue}`,
                HOLD_MS: String(hold),
                LEASE: "1 second"
              })
            const doomed = start(60_000)
            yield* Effect.promise(() => doomed.waitFor("ready", (l) => l.includes('"type":"ready"'), 20_000))
            const first = yield* Task.enqueueOutcome(task, { sender: "test", seq: 1 })
            yield* Effect.promise(() => doomed.waitFor("start", (l) => l.includes('"type":"start"'), 10_000))
            const behind = yield* Task.enqueueOutcome(task, { sender: "test", seq: 2 })
            const again = yield* Task.enqueueOutcome(task, { sender: "test", seq: 3 })
            assert.notStrictEqual(behind.handle.id, first.handle.id)
            assert.strictEqual(again.handle.id, behind.handle.id, "one task waits behind the run")
            assert.deepStrictEqual(yield* Effect.promise(() => doomed.stop("SIGKILL")), {
              code: null,
              signal: "SIGKILL"
            })
            const rescuer = start(50)
            yield* Effect.addFinalizer(() => Effect.promise(() => rescuer.stop("SIGTERM")).pipe(Effect.ignore))
            yield* Task.join(first.handle)
            yield* Task.join(behind.handle)
            yield* Effect.sleep("300 millis")
            type Line = { readonly type: string; readonly id: string; readonly seq: number; readonly redisUs: number }
            const lines = rescuer.json() as Array<Line>
            const starts = lines.filter((l) => l.type === "start")
            const done = lines.filter((l) => l.type === "done")
            // replace: the last payload waits behind; oneBehind: the creator's payload (seq 2), the third folded in
            const behindSeq = policy === "replace" ? 3 : 2
            assert.deepStrictEqual(
              starts.map((l) => [l.id, l.seq]),
              [
                [first.handle.id, 1],
                [behind.handle.id, behindSeq]
              ],
              "redelivered with its own payload, then the one behind, each once"
            )
            assert.isAtLeast(starts[1]!.redisUs, done[0]!.redisUs, "never two at once")
            const record = yield* (yield* TaskQueue.TaskQueue).get(first.handle.id)
            assert.strictEqual(record?.redeliveries, 1)
          }).pipe(
            Effect.provide(
              Heimdall.layerRedis({
                queue: `killed-${policy}`,
                queuePrefix: `${prefix}q`,
                lockPrefix: `${prefix}lock:`
              })
            )
          ),
        60_000
      )
    }
  })
})
