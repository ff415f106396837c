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
      const ran = yield* Ref.make<Array<string>>([])
      yield* Layer.build(
        Worker.layer({
          concurrency: 4,
          lease: "2 seconds",
          gracePeriod: 0,
          tasks: [
            Task.implement(Tick, () => Effect.flatMap(Task.CurrentTask, (t) => Ref.update(ran, (r) => [...r, t.id])))
          ]
        })
      )
      let restartedAt = 0
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Layer.build(
            Task.layerSchedules([
              Task.schedule(Tick, { every: EVERY_MS, payload: { n: 1 }, overlap: "allow", catchUp: "all" })
            ])
          )
          yield* Effect.sleep("1200 millis")
          yield* Effect.promise(() => server.restart({ signal: "SIGKILL", downMs: 700 }))
          restartedAt = Date.now()
          yield* Effect.sleep("2500 millis")
        })
      )
      // the schedulers stopped: let the worker finish (a task claimed as Redis died is redelivered after its lease)
      yield* Effect.sleep("2500 millis")
      const schedules = yield* (yield* Inspector.Inspector).schedules
      const ids = yield* Ref.get(ran)
      const ticks = [...new Set(ids)].map(tickOf).sort((a, b) => a - b)
      const missing: Array<number> = []
      for (let t = ticks[0]!; t <= ticks.at(-1)!; t += EVERY_MS) if (!ticks.includes(t)) missing.push(t)
      const report = {
        persistent,
        ticks: ticks.length,
        runs: ids.length,
        missing: missing.map((t) => new Date(t).toISOString()),
        afterRestart: ticks.filter((t) => t >= restartedAt - 700).length
      }
      console.log(`[restart] schedule across a Redis restart: ${JSON.stringify(report)}`)
      assert.strictEqual(ids.length, new Set(ids).size, `no tick ran twice: ${JSON.stringify(report)}`)
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

describeRedis("Schedules and duplicate policies across a Redis restart", () => {
  layer(redisLayer(), { excludeTestServices: true, timeout: "120 seconds" })((it) => {
    it.effect(
      "schedule, persistent Redis killed and restarted: every tick enqueued and run exactly once, none lost",
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
