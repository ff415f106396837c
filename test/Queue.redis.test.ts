import { assert, layer } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Option, Schema, Scope } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Heimdall from "../src/Heimdall.ts"
import * as Task from "../src/Task.ts"
import * as TaskQueue from "../src/TaskQueue.ts"
import { QueueUnderTest, queueSuite } from "./QueueSuite.ts"
import type { Backend } from "./support/backends.ts"
import { conformance } from "./support/backends.ts"
import { storedIds, storedRecord, tasksKey } from "./support/records.ts"
import { clusterLayer, describeRedis, keyPrefix, keysWithoutTtl, redisLayer, scanKeys } from "./support/redis.ts"

const prefix = keyPrefix(import.meta.url).slice(0, -1) // keys: <prefix>:{<queue>}:...

const backendOn = (
  name: string,
  redisLive: Layer.Layer<Redis.Redis, unknown>,
  cluster = false,
  extra?: Heimdall.Options
): Backend<QueueUnderTest | Redis.Redis, unknown> => ({
  name,
  redis: true,
  cluster,
  layer: Layer.effect(
    QueueUnderTest,
    Effect.gen(function* () {
      const context = yield* Effect.context<Redis.Redis>()
      return {
        layer: (queue: string, options?: Heimdall.Options) =>
          Heimdall.layerRedis({ ...extra, ...options, queue, queuePrefix: prefix }).pipe(
            Layer.provide(Layer.succeedContext(context))
          ),
        redis: yield* Redis.Redis,
        prefix
      }
    })
  ).pipe(Layer.provideMerge(redisLive))
})

conformance(
  "Task queue",
  [
    backendOn("redis", redisLayer()),
    backendOn("redis cluster", clusterLayer(), true),
    backendOn("redis, 3 partitions", redisLayer(), false, { partitions: 3 }),
    backendOn("redis cluster, 3 partitions", clusterLayer(), true, { partitions: 3 })
  ],
  queueSuite
)

describeRedis("Task queue leaves nothing behind", () => {
  layer(redisLayer(), { excludeTestServices: true })((it) => {
    it.effect("after the suite, every key has a TTL or is a documented long-lived one", () =>
      Effect.gen(function* () {
        const keys = yield* scanKeys(prefix)
        assert.isAbove(keys.length, 0) // the suite wrote here
        const forever = yield* keysWithoutTtl(prefix)
        // Long-lived by design: the ready/scheduled/running structures, which exist only while they hold
        // ids, the records hash and the expiry of finished ones (swept by the scripts, see includes.lua, recExpire).
        const allowed = /:(scheduled|counts|tasks|expiry)$/
        const unexpected = forever.filter((k) => !allowed.test(k))
        assert.deepStrictEqual(unexpected, [])
        // a record stays only while its task has not finished (tests that leave delayed tasks scheduled); a finished
        // one expires ("x"), and is entered in the expiry sweep
        const redis = yield* Redis.Redis
        for (const tasks of forever.filter((k) => k.endsWith(":tasks"))) {
          const expiry = `${tasks.slice(0, -"tasks".length)}expiry`
          for (const id of yield* storedIds(tasks)) {
            const stored = (yield* storedRecord(tasks, id))!
            if (stored.x === undefined) {
              assert.strictEqual(stored.s, "s", `${tasks} ${id}`) // scheduled
              assert.isNull(yield* redis.send("ZSCORE", expiry, id), `${tasks} ${id}`)
            } else
              assert.strictEqual(Number(yield* redis.send("ZSCORE", expiry, id)), Number(stored.x), `${tasks} ${id}`)
          }
        }
      })
    )
  })
})

const Plain = Task.make("plain", { payload: Schema.Struct({ n: Schema.Number }) })
const Unique = Task.make("unique", { payload: Schema.Struct({ n: Schema.Number }), unique: true })
const Interval = Task.make("interval", {
  payload: Schema.Struct({ n: Schema.Number }),
  unique: { waitForExpiry: true, timeout: "1 minute" }
})

describeRedis("Task queue record layout", () => {
  layer(redisLayer(), { excludeTestServices: true })((it) => {
    it.effect(
      "a waiting task stores no derived fields, under short names; a small packed record with a 16-character id",
      () =>
        Effect.gen(function* () {
          const redis = yield* Redis.Redis
          const queue = yield* TaskQueue.TaskQueue
          const tasks = tasksKey(prefix, "layout")
          const read = (id: string) => Effect.map(storedRecord(tasks, id), (stored) => stored ?? {})
          // the packed record's length (its field in the queue's records hash)
          const bytes = (id: string) => Effect.map(redis.send<number>("HSTRLEN", tasks, id), Number)

          // a plain task, enqueued in the caller's span: name, payload, state, enqueue time, trace
          const plain = yield* Task.enqueue(Plain, { n: 1234 }).pipe(Effect.withSpan("producer"))
          assert.match(plain.id, /^[\w-]{16}$/)
          const stored = yield* read(plain.id)
          assert.deepStrictEqual(Object.keys(stored).sort(), ["e", "n", "p", "s", "tr"])
          assert.deepStrictEqual([stored.n, stored.p, stored.s], ["plain", '{"n":1234}', "q"])
          assert.match(stored.tr!, /^[\w-]{32}$/) // both W3C ids in base64url, sampled
          // 5 fields of one or two letters, 64 bytes of values, 6 bytes of msgpack headers (the layout with a UUID,
          // attempts, runAt and a hex trace, as a hash of its own: 312 bytes)
          assert.isAtMost(yield* bytes(plain.id), 90)
          const record = (yield* queue.get(plain.id))!
          assert.strictEqual(record.state, "queued")
          assert.strictEqual(record.attempts, 0)
          assert.strictEqual(record.runAt, record.enqueuedAt)
          assert.strictEqual(record.enqueuedAt, Number(stored.e))

          // delayed: scheduled, with its run time
          yield* queue.enqueue({ id: "later", name: "plain", payload: "1", delayMillis: 60_000, trace: undefined })
          const later = yield* read("later")
          assert.deepStrictEqual(Object.keys(later).sort(), ["e", "n", "p", "r", "s"])
          assert.strictEqual(later.s, "s")
          assert.strictEqual(Number(later.r) - Number(later.e), 60_000)
          assert.strictEqual((yield* queue.get("later"))!.runAt, Number(later.r))

          // unique: the lock's key and ttl (the release channel is the backend's); "lk" only for a kept lock
          const unique = yield* Task.enqueue(Unique, { n: 1 }).pipe(Effect.withSpan("producer"))
          const u = yield* read(unique.id)
          assert.deepStrictEqual(Object.keys(u).sort(), ["e", "l", "lp", "lt", "n", "p", "s", "tr"])
          assert.strictEqual(u.lt, String(60 * 60 * 1000))
          // the lock key without the queue's hash tag: its prefix and the unique key
          const uniqueKey = yield* Task.uniqueKey(Unique, { n: 1 })
          assert.deepStrictEqual([u.lp, u.l], [`${prefix}lock:`, uniqueKey])
          assert.strictEqual((yield* queue.get(unique.id))!.lockKey, `${prefix}lock:{layout}:${uniqueKey}`)
          // the lock key is not stored whole (its prefix and unique key; the queue's hash tag is the backend's)
          assert.isAtMost(yield* bytes(unique.id), 170)
          const interval = yield* Task.enqueue(Interval, { n: 1 }).pipe(Effect.withSpan("producer"))
          const i = yield* read(interval.id)
          assert.deepStrictEqual(Object.keys(i).sort(), ["e", "l", "lk", "lp", "lt", "n", "p", "s", "tr"])
          assert.deepStrictEqual([i.lk, i.lt], ["1", "60000"])

          // claimed: attempts, state with the lease token, start time (the lease end is the running zset's score only)
          const claimed = yield* queue.claim({ token: "tok", leaseMillis: 10_000, max: 1 })
          assert.strictEqual(claimed._tag === "Claimed" && claimed.task.id, plain.id)
          const running = yield* read(plain.id)
          assert.deepStrictEqual(Object.keys(running).sort(), ["a", "e", "n", "p", "s", "startedAt", "tr"])
          assert.deepStrictEqual([running.s, running.a], ["r:tok", "1"])
          // finished: the outcome (the lease token went with the running state) and when the record expires
          assert.isTrue(yield* queue.complete(plain.id, "tok", "null"))
          const done = yield* read(plain.id)
          assert.deepStrictEqual(Object.keys(done).sort(), [
            "a",
            "e",
            "finishedAt",
            "n",
            "p",
            "result",
            "s",
            "startedAt",
            "tr",
            "x"
          ])
          assert.strictEqual(done.s, "succeeded")
          assert.strictEqual(Number(done.x), Number(done.finishedAt) + 24 * 60 * 60 * 1000)
          assert.strictEqual(Number(yield* redis.send("ZSCORE", `${prefix}:{layout}:expiry`, plain.id)), Number(done.x))
          assert.strictEqual((yield* queue.get(plain.id))!.state, "succeeded")
        }).pipe(
          Effect.provide(
            Heimdall.layerRedis({
              queue: "layout",
              queuePrefix: prefix,
              lockPrefix: `${prefix}lock:`,
              ratePrefix: `${prefix}rate:`,
              concurrencyPrefix: `${prefix}sem:`
            })
          )
        )
    )
  })
})

describeRedis("Task queue worker registry", () => {
  layer(redisLayer(), { excludeTestServices: true })((it) => {
    it.effect("registrations live in one hash beside the registry; a beat drops lapsed ones, leave its own", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        const queue = yield* TaskQueue.TaskQueue
        const info = `${prefix}:{registry}:workerinfo`
        const registry = `${prefix}:{registry}:workers`
        const worker = (id: string, ttlMillis: number) => ({
          id,
          host: "h",
          pid: 1,
          startedAt: 1,
          concurrency: 1,
          running: [],
          ttlMillis
        })
        yield* queue.beat(["x"], undefined, worker("dies", 100))
        yield* queue.beat(["x"], undefined, worker("lives", 60_000))
        assert.deepStrictEqual((yield* redis.send<Array<string>>("HKEYS", info)).sort(), ["dies", "lives"])
        const stored: Array<string> = JSON.parse(yield* redis.send<string>("HGET", info, "lives"))
        assert.deepStrictEqual(stored.slice(0, 13), [
          "host",
          "h",
          "pid",
          "1",
          "startedAt",
          "1",
          "concurrency",
          "1",
          "names",
          "x",
          "running",
          "",
          "beat"
        ])
        assert.match(stored[13]!, /^\d{13}$/) // the beat's time (ms, Redis clock), not in float notation
        // the hash lives as long as the latest registration
        assert.isAbove(yield* redis.send<number>("PTTL", info), 59_000)
        yield* Effect.sleep("150 millis")
        // a dead worker's registration is gone from the hash with its member at the next beat of any worker
        yield* queue.beat(["x"], undefined, worker("lives", 60_000))
        assert.deepStrictEqual(yield* redis.send<Array<string>>("HKEYS", info), ["lives"])
        assert.deepStrictEqual(yield* redis.send<Array<string>>("ZRANGE", registry, "0", "-1"), ["lives"])
        yield* queue.leave("lives")
        assert.strictEqual(yield* redis.send<number>("EXISTS", info), 0)
        assert.strictEqual(yield* redis.send<number>("EXISTS", registry), 0)
      }).pipe(Effect.provide(Heimdall.layerRedis({ queue: "registry", queuePrefix: prefix })))
    )
  })
})

describeRedis("Task queue hand-off to idle workers", () => {
  layer(redisLayer(), { excludeTestServices: true })((it) => {
    let n = 0
    /** A fresh queue of its own per test. */
    const withQueue = <A, E>(body: Effect.Effect<A, E, TaskQueue.TaskQueue | Redis.Redis | Scope.Scope>) =>
      body.pipe(Effect.scoped, Effect.provide(Heimdall.layerRedis({ queue: `handoff${++n}`, queuePrefix: prefix })))
    const newTask = (id: string) => ({ id, name: "plain", payload: '{"n":1}', delayMillis: 0, trace: undefined })
    const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

    it.effect(
      "16 idle workers hold a hand-off inbox each; a 17th registers without one and is woken instead of handed a task",
      () =>
        // 17 blocked waiters: each reserves a connection (the pool's default is 10)
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const redis = yield* Redis.Redis
          const waiters: Array<TaskQueue.Waiter> = []
          for (let i = 0; i < 17; i++) {
            const waiter = yield* queue.waiter
            const idle = yield* waiter.claim({ token: `w${i}`, leaseMillis: 30_000, max: 1 }, 30_000)
            assert.strictEqual(idle._tag, "Idle")
            waiters.push(waiter)
          }
          // each registration names its inbox slot (claim-30.lua): 0 to 15 once each, then none
          const members = yield* redis.send<Array<string>>("ZRANGE", `${prefix}:{handoff${n}}:idle`, "0", "-1")
          const slots = members.map((member) => member.split("|")[4]!)
          assert.deepStrictEqual(
            [...slots].sort((a, b) => (a === "" ? 99 : Number(a)) - (b === "" ? 99 : Number(b))),
            [...Array.from({ length: 16 }, (_, i) => String(i)), ""]
          )
          for (let i = 0; i < 17; i++) {
            const created = yield* queue.enqueue(newTask(`t${i}`))
            assert.deepStrictEqual(created, { _tag: "Created", state: i < 16 ? "running" : "queued" }, `t${i}`)
          }
          // each of the first 16 takes its own task from its inbox
          const handed: Array<string | undefined> = []
          for (const waiter of waiters.slice(0, 16)) handed.push((yield* waiter.wait(5_000))?.id)
          assert.deepStrictEqual(handed.sort(), Array.from({ length: 16 }, (_, i) => `t${i}`).sort())
          // the 17th is woken through the wake list, and claims the task left in the line
          assert.isUndefined(yield* waiters[16]!.wait(5_000))
          const claimed = yield* waiters[16]!.claim({ token: "w16b", leaseMillis: 30_000, max: 1 }, 30_000)
          assert.strictEqual(claimed._tag === "Claimed" ? claimed.task.id : claimed._tag, "t16")
        }).pipe(
          Effect.scoped,
          Effect.provide(
            Heimdall.layerRedis({ queue: `handoff${++n}`, queuePrefix: prefix }).pipe(
              Layer.provideMerge(redisLayer({ maxConnections: 24 }))
            )
          )
        )
    )

    it.effect(
      "an enqueue hands its task to the idle worker: claimed for it in the same step, one per registration",
      () =>
        withQueue(
          Effect.gen(function* () {
            const queue = yield* TaskQueue.TaskQueue
            const waiter = yield* queue.waiter
            const idle = yield* waiter.claim({ token: "w1", leaseMillis: 30_000, max: 4 }, 30_000)
            assert.strictEqual(idle._tag, "Idle")
            // the enqueue claims it for the registered worker: running, attempt 1, the registration's token
            const created = yield* queue.enqueue(newTask("a"))
            assert.deepStrictEqual(created, { _tag: "Created", state: "running" })
            const handed = yield* waiter.wait(5_000)
            assert.strictEqual(handed?.id, "a")
            assert.strictEqual(handed?.token, "w1")
            assert.strictEqual(handed?.attempts, 1)
            assert.isTrue(handed?.handedOff)
            assert.strictEqual(handed?.payload, '{"n":1}')
            const record = (yield* queue.get("a"))!
            assert.deepStrictEqual([record.state, record.attempts], ["running", 1])
            // the token holds the lease: the worker renews it to its own, and settles the task
            assert.isTrue(yield* queue.renew("a", "w1", 30_000))
            assert.isTrue(yield* queue.complete("a", "w1", "null"))
            // the registration was used up: the next task waits in the queue (and wakes the worker)
            assert.deepStrictEqual(yield* queue.enqueue(newTask("b")), { _tag: "Created", state: "queued" })
            assert.isUndefined(yield* waiter.wait(5_000))
            // a delayed task is never handed over
            yield* waiter.claim({ token: "w2", leaseMillis: 30_000, max: 4 }, 30_000)
            assert.deepStrictEqual(yield* queue.enqueue({ ...newTask("c"), delayMillis: 60_000 }), {
              _tag: "Created",
              state: "scheduled"
            })
          })
        )
    )

    it.effect("a task handed over but not taken comes first in the worker's next claim, with that claim's token", () =>
      withQueue(
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const waiter = yield* queue.waiter
          yield* waiter.claim({ token: "w1", leaseMillis: 30_000, max: 2 }, 30_000)
          yield* queue.enqueue(newTask("a")) // handed over
          yield* queue.enqueue(newTask("b")) // queued
          const next = yield* waiter.claim({ token: "w2", leaseMillis: 30_000, max: 2 }, 30_000)
          assert.strictEqual(next._tag, "Claimed")
          if (next._tag !== "Claimed") return
          assert.deepStrictEqual(
            next.tasks.map((t) => [t.id, t.token, t.attempts]),
            [
              ["a", "w2", 1],
              ["b", "w2:2", 1]
            ]
          )
          // the hand-off's token is void now
          assert.isFalse(yield* queue.renew("a", "w1", 30_000))
          assert.isTrue(yield* queue.renew("a", "w2", 30_000))
        })
      )
    )

    it.effect(
      "a handed-over task whose first lease lapsed before its worker took it is claimed once, as redelivered",
      () =>
        withQueue(
          Effect.gen(function* () {
            const queue = yield* TaskQueue.TaskQueue
            const redis = yield* Redis.Redis
            const waiter = yield* queue.waiter
            yield* waiter.claim({ token: "w1", leaseMillis: 30_000, max: 2 }, 30_000)
            yield* queue.enqueue(newTask("a")) // handed over, never taken from the inbox
            yield* sleep(2_100) // past the 2 s first lease
            // the same claim requeues the lapsed lease (its attempt stays spent) and claims it again
            const next = yield* waiter.claim({ token: "w2", leaseMillis: 30_000, max: 2 }, 30_000)
            assert.deepStrictEqual(next._tag === "Claimed" && next.tasks.map((t) => [t.id, t.token, t.attempts]), [
              ["a", "w2", 2]
            ])
            const record = (yield* queue.get("a"))!
            assert.deepStrictEqual([record.state, record.attempts, record.redeliveries], ["running", 2, 1])
            // nothing left behind for a second claim
            assert.strictEqual(yield* redis.send<number>("LLEN", `${prefix}:{${queue.queue}}:ready`), 0)
            assert.strictEqual((yield* waiter.claim({ token: "w3", leaseMillis: 30_000, max: 2 }, 30_000))._tag, "Idle")
          })
        )
    )

    it.effect("a stopping worker hands back what it was handed: queued again, its attempt given back", () =>
      withQueue(
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          yield* Effect.scoped(
            Effect.gen(function* () {
              const waiter = yield* queue.waiter
              yield* waiter.claim({ token: "w1", leaseMillis: 30_000, max: 1 }, 30_000)
              yield* queue.enqueue(newTask("a"))
              assert.strictEqual((yield* queue.get("a"))!.state, "running")
            })
          )
          const record = (yield* queue.get("a"))!
          assert.deepStrictEqual([record.state, record.attempts], ["queued", 0])
          // and the worker is no longer registered: the next task is queued too
          assert.deepStrictEqual(yield* queue.enqueue(newTask("b")), { _tag: "Created", state: "queued" })
          const claimed = yield* queue.claim({ token: "t", leaseMillis: 30_000, max: 2 })
          assert.deepStrictEqual(claimed._tag === "Claimed" && claimed.tasks.map((t) => t.id), ["a", "b"])
        })
      )
    )

    it.effect("a registration lapses a second after the worker's longest wait", () =>
      withQueue(
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const redis = yield* Redis.Redis
          const waiter = yield* queue.waiter
          yield* waiter.claim({ token: "w1", leaseMillis: 30_000, max: 1 }, 100)
          const idleKey = `${prefix}:{${queue.queue}}:idle`
          const ttl = yield* redis.send<number>("PTTL", idleKey)
          assert.isTrue(ttl > 0 && ttl <= 1100, `idle set ttl ${ttl}`)
          yield* sleep(1200)
          assert.deepStrictEqual(yield* queue.enqueue(newTask("a")), { _tag: "Created", state: "queued" })
          // a lapsed registration ahead of a live one is dropped on the way to it
          assert.strictEqual((yield* queue.claim({ token: "t", leaseMillis: 30_000, max: 1 }))._tag, "Claimed") // "a"
          yield* waiter.claim({ token: "w2", leaseMillis: 30_000, max: 1 }, 100)
          yield* sleep(5) // registered in a later millisecond: equal scores would be ordered by member
          const other = yield* queue.waiter
          yield* other.claim({ token: "o1", leaseMillis: 30_000, max: 1 }, 30_000)
          yield* sleep(1200)
          assert.strictEqual(yield* redis.send<number>("ZCARD", idleKey), 2)
          assert.deepStrictEqual(yield* queue.enqueue(newTask("b")), { _tag: "Created", state: "running" })
          assert.strictEqual((yield* other.wait(1000))?.id, "b")
          assert.strictEqual(yield* redis.send<number>("ZCARD", idleKey), 0)
        })
      )
    )

    it.effect("a task handed to a worker that died is redelivered after a short first lease, not the worker's", () =>
      withQueue(
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          // a worker registers, then dies: it never takes its inbox (its scope is never closed here)
          const scope = yield* Scope.make()
          const dead = yield* queue.waiter.pipe(Scope.provide(scope))
          yield* dead.claim({ token: "dead", leaseMillis: 60_000, max: 1 }, 30_000)
          assert.deepStrictEqual(yield* queue.enqueue(newTask("a")), { _tag: "Created", state: "running" })
          // the hand-off lease is at most 2 s: another worker gets it soon after (a redelivery)
          assert.strictEqual((yield* queue.claim({ token: "t", leaseMillis: 30_000, max: 1 }))._tag, "Idle")
          yield* sleep(2_100)
          const claimed = yield* queue.claim({ token: "t", leaseMillis: 30_000, max: 1 })
          assert.strictEqual(claimed._tag === "Claimed" && claimed.task.id, "a")
          assert.strictEqual((yield* queue.get("a"))!.redeliveries, 1)
          yield* Scope.close(scope, Exit.void)
        })
      )
    )
  })
})

describeRedis("Task queue records expire (one hash per queue, swept by the scripts)", () => {
  layer(redisLayer(), { excludeTestServices: true })((it) => {
    let n = 0
    const withQueue = <A, E>(
      retention: number,
      body: (queue: string) => Effect.Effect<A, E, TaskQueue.TaskQueue | Redis.Redis | Scope.Scope>
    ) => {
      const queue = `expiry${++n}`
      return body(queue).pipe(
        Effect.scoped,
        Effect.provide(Heimdall.layerRedis({ queue, queuePrefix: prefix, retention }))
      )
    }
    const newTask = (id: string) => ({ id, name: "plain", payload: '{"n":1}', delayMillis: 0, trace: undefined })
    const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
    /** Enqueues, claims and completes the tasks `ids` (one claim, one completion call): their records finish together. */
    const runAll = (ids: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const queue = yield* TaskQueue.TaskQueue
        yield* Effect.forEach(ids, (id) => queue.enqueue(newTask(id)))
        const claimed = yield* queue.claim({ token: "t", leaseMillis: 30_000, max: ids.length })
        assert.strictEqual(claimed._tag === "Claimed" && claimed.tasks.length, ids.length)
        if (claimed._tag !== "Claimed") return
        const outcomes = yield* queue.completeAndClaimMany(
          claimed.tasks.map((t) => ({ id: t.id, token: t.token, result: "null" })),
          { token: "next", leaseMillis: 30_000, max: 1 }
        )
        assert.isTrue(outcomes.every((o) => o.completed))
      })

    it.effect("a finished record reads as missing once its retention passes, before any script deletes it", () =>
      withQueue(300, (name) =>
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const redis = yield* Redis.Redis
          const tasks = tasksKey(prefix, name)
          // a task that waits keeps the records hash (with only finished records it would expire whole: see below)
          yield* queue.enqueue({ ...newTask("keep"), delayMillis: 60_000 })
          yield* runAll(["a"])
          const stored = (yield* storedRecord(tasks, "a"))!
          assert.strictEqual(stored.s, "succeeded")
          assert.strictEqual(Number(stored.x), Number(stored.finishedAt) + 300)
          assert.strictEqual((yield* queue.get("a"))?.state, "succeeded")
          yield* sleep(400)
          assert.isUndefined(yield* queue.get("a"))
          assert.isUndefined(yield* queue.detail("a"))
          assert.deepStrictEqual(yield* queue.cancel("a"), { _tag: "NotFound" })
          // still stored: no script has ended a task since
          assert.strictEqual(Number(yield* redis.send("HEXISTS", tasks, "a")), 1)
          // the next finish deletes it, and its entry in the expiry set
          yield* runAll(["b"])
          assert.strictEqual(Number(yield* redis.send("HEXISTS", tasks, "a")), 0)
          assert.isNull(yield* redis.send("ZSCORE", `${prefix}:{${name}}:expiry`, "a"))
          assert.strictEqual((yield* queue.get("b"))?.state, "succeeded")
        })
      )
    )

    it.effect(
      "an id enqueued again after its record expired is a new task, which the old expiry entry leaves alone",
      () =>
        withQueue(200, (name) =>
          Effect.gen(function* () {
            const queue = yield* TaskQueue.TaskQueue
            const redis = yield* Redis.Redis
            // a task that waits keeps the records hash (with only finished records it would expire whole)
            yield* queue.enqueue({ ...newTask("keep"), delayMillis: 60_000 })
            yield* runAll(["again"])
            yield* sleep(300)
            assert.isAbove(Number(yield* redis.send("ZSCORE", `${prefix}:{${name}}:expiry`, "again")), 0)
            // the old record expired: the id names a new task (not the { Existing } of an id in use)
            assert.deepStrictEqual(yield* queue.enqueue(newTask("again")), { _tag: "Created", state: "queued" })
            const fresh = (yield* storedRecord(tasksKey(prefix, name), "again"))!
            assert.deepStrictEqual([fresh.s, fresh.x, fresh.a], ["q", undefined, undefined])
            // the old entry left the expiry set as the new record was created: no sweep can take the new record
            assert.isNull(yield* redis.send("ZSCORE", `${prefix}:{${name}}:expiry`, "again"))
            yield* queue.enqueue(newTask("other"))
            const claimed = yield* queue.claim({ token: "t", leaseMillis: 30_000, max: 2 })
            assert.deepStrictEqual(claimed._tag === "Claimed" && claimed.tasks.map((t) => t.id), ["again", "other"])
            assert.isTrue(yield* queue.complete("other", "t:2", "null"))
            assert.isNull(yield* redis.send("ZSCORE", `${prefix}:{${name}}:expiry`, "again"))
            assert.strictEqual((yield* queue.get("again"))?.state, "running")
          })
        )
    )

    it.effect("one script deletes at most 32 expired records: the rest go with the next ones", () =>
      withQueue(300, (name) =>
        Effect.gen(function* () {
          const redis = yield* Redis.Redis
          const tasks = tasksKey(prefix, name)
          const expiry = `${prefix}:{${name}}:expiry`
          const queue = yield* TaskQueue.TaskQueue
          yield* queue.enqueue({ ...newTask("keep"), delayMillis: 60_000 })
          yield* runAll(Array.from({ length: 40 }, (_, i) => `old${i}`))
          assert.strictEqual(Number(yield* redis.send("HLEN", tasks)), 41)
          assert.strictEqual(Number(yield* redis.send("ZCARD", expiry)), 40)
          yield* sleep(400)
          yield* runAll(["n1"])
          assert.strictEqual(Number(yield* redis.send("HLEN", tasks)), 1 + 40 - 32 + 1)
          assert.strictEqual(Number(yield* redis.send("ZCARD", expiry)), 40 - 32 + 1)
          yield* runAll(["n2"])
          assert.deepStrictEqual((yield* storedIds(tasks)).sort(), ["keep", "n1", "n2"])
        })
      )
    )

    it.effect("a queue whose tasks all finished keeps nothing past the retention; a new task keeps its records", () =>
      withQueue(300, (name) =>
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const redis = yield* Redis.Redis
          const tasks = tasksKey(prefix, name)
          const expiry = `${prefix}:{${name}}:expiry`
          const ttls = Effect.all([redis.send("PTTL", tasks), redis.send("PTTL", expiry)]).pipe(
            Effect.map((both) => both.map(Number))
          )
          yield* runAll(["a", "b"])
          // only finished records: both keys go with the last of them
          for (const ttl of yield* ttls) assert.isTrue(ttl > 0 && ttl <= 300, String(ttl))
          // a new task waits: its record must outlive them
          yield* queue.enqueue({ ...newTask("c"), delayMillis: 60_000 })
          assert.deepStrictEqual(yield* ttls, [-1, -1])
          yield* sleep(400)
          assert.strictEqual((yield* queue.get("c"))?.state, "scheduled")
          assert.isUndefined(yield* queue.get("a"))
          // its finish sweeps a and b, and leaves only finished records again
          const claimedAt = yield* queue.cancel("c")
          assert.strictEqual(claimedAt._tag, "Cancelled")
          assert.deepStrictEqual(yield* storedIds(tasks), ["c"])
          for (const ttl of yield* ttls) assert.isTrue(ttl > 0 && ttl <= 300, String(ttl))
          yield* sleep(400)
          assert.deepStrictEqual(yield* Effect.all([redis.send("EXISTS", tasks), redis.send("EXISTS", expiry)]), [0, 0])
        })
      )
    )
  })
})

describeRedis("Unique task locks live in the queue's locks hash (no lock key of their own)", () => {
  layer(redisLayer(), { excludeTestServices: true })((it) => {
    let n = 0
    /** A unique task keyed by `n`, whose lock lasts `timeout` (kept until it expires with `hold`). */
    const keyed = (name: string, timeout: Duration.Input, hold?: "untilExpiry") =>
      Task.make(name, {
        payload: Schema.Struct({ n: Schema.Number }),
        unique: { key: ({ n }) => `${name}-${n}`, timeout, hold }
      })
    const Solo = keyed("solo", "400 millis")
    const Long = keyed("long", "2 minutes")
    const Keeper = keyed("keeper", "1 minute")
    const lockPrefix = `${prefix}-lock:`
    const withQueue = <A, E>(
      body: (
        queue: string,
        locks: string
      ) => Effect.Effect<A, E, TaskQueue.TaskQueue | Heimdall.Heimdall | Redis.Redis | Scope.Scope>
    ) => {
      const queue = `ulocks${++n}`
      return body(queue, `${prefix}:{${queue}}:locks`).pipe(
        Effect.scoped,
        Effect.provide(Heimdall.layerRedis({ queue, queuePrefix: prefix, lockPrefix }))
      )
    }
    const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
    const parse = (value: unknown) => {
      const [fence, at, holder] = String(value).split(":")
      return { fence: Number(fence), at: Number(at), holder }
    }

    it.effect("a unique task's lock is a field of :locks, seen by the lock API as a lock of its own", () =>
      withQueue((queue, locks) =>
        Effect.gen(function* () {
          const tq = yield* TaskQueue.TaskQueue
          const redis = yield* Redis.Redis
          const first = yield* Task.enqueue(Solo, { n: 1 })
          const name = tq.lockKey(yield* Task.uniqueKey(Solo, { n: 1 }))
          const full = `${lockPrefix}${name}`
          assert.strictEqual(name, `{${queue}}:solo-1`)
          // no key of its own: a field of the queue's hash, "<fence>:<expires at>:<holder>"
          assert.strictEqual(Number(yield* redis.send("EXISTS", full)), 0)
          const stored = parse(yield* redis.send("HGET", locks, full))
          assert.strictEqual(stored.holder, first.id)
          // a hash table from the first lock (the fence counter is longer than a listpack value may be)
          assert.strictEqual(yield* redis.send("OBJECT", "ENCODING", locks), "hashtable")
          // the hash lives as long as the lock, and at most a minute more
          const ttl = Number(yield* redis.send("PTTL", locks))
          assert.isAbove(ttl, 400)
          assert.isAtMost(ttl, 400 + 60_000)
          // the lock API reaches it: inspect, list, acquire (held by the task), force release
          const seen = Option.getOrThrow(yield* Heimdall.inspectLock(name))
          assert.deepStrictEqual([seen.holder, seen.fence], [first.id, stored.fence])
          assert.isAtMost(Duration.toMillis(seen.expiresIn), 400)
          const listed = yield* Heimdall.listLocks(`{${queue}}:`)
          assert.deepStrictEqual(
            listed.map((l) => [l.key, l.holder]),
            [[name, first.id]]
          )
          const taken = yield* Effect.flip(Heimdall.acquireLock(name, { ttl: "1 second" }))
          assert.deepStrictEqual([taken._tag, taken._tag === "LockTaken" && taken.holder], ["LockTaken", first.id])
          assert.isTrue(yield* Heimdall.forceReleaseLock(name))
          assert.isTrue(Option.isNone(yield* Heimdall.inspectLock(name)))
          // released: the entry goes; the queue's fence counter makes the next holder's fence larger
          const second = yield* Task.enqueueOutcome(Solo, { n: 1 })
          assert.strictEqual(second._tag, "Created")
          const next = parse(yield* redis.send("HGET", locks, full))
          assert.strictEqual(next.holder, second.handle.id)
          assert.isAbove(next.fence, stored.fence)
        })
      )
    )

    it.effect(
      "an expired lock is free at once, though still stored; a task that outlived its lock deletes it as it ends",
      () =>
        withQueue((_, locks) =>
          Effect.gen(function* () {
            const tq = yield* TaskQueue.TaskQueue
            const redis = yield* Redis.Redis
            const first = yield* Task.enqueue(Solo, { n: 2 })
            const name = tq.lockKey(yield* Task.uniqueKey(Solo, { n: 2 }))
            const full = `${lockPrefix}${name}`
            const claimed = yield* tq.claim({ token: "t", leaseMillis: 10_000, max: 1 })
            assert.strictEqual(claimed._tag === "Claimed" && claimed.task.id, first.id)
            yield* sleep(450)
            // past its time while its task runs: free (the lock API sees none), though no script has deleted it yet
            assert.strictEqual(parse(yield* redis.send("HGET", locks, full)).holder, first.id)
            assert.isTrue(Option.isNone(yield* Heimdall.inspectLock(name)))
            // its task ends: its own entry goes with it (nothing else would delete it: see the next test)
            assert.isTrue(yield* tq.complete(first.id, "t", "null"))
            assert.isNull(yield* redis.send("HGET", locks, full))
            // a duplicate of a task whose lock expired while it waited is a new task
            const waiting = yield* Task.enqueue(Solo, { n: 3 })
            yield* sleep(450)
            const again = yield* Task.enqueueOutcome(Solo, { n: 3 })
            assert.strictEqual(again._tag, "Created")
            assert.notStrictEqual(again.handle.id, waiting.id)
          })
        )
    )

    it.effect("locks kept until they expire are swept as their tasks end; one new lock in 8 sweeps", () =>
      withQueue((_, locks) =>
        Effect.gen(function* () {
          const tq = yield* TaskQueue.TaskQueue
          const redis = yield* Redis.Redis
          const Kept = keyed("kept", "3 seconds", "untilExpiry")
          const KeptLong = keyed("kept-long", "2 minutes", "untilExpiry")
          const hlen = Effect.map(redis.send("HLEN", locks), Number)
          /** Runs the queued task `id` to its end (claimed, completed). */
          const runTask = (id: string) =>
            Effect.gen(function* () {
              const claimed = yield* tq.claim({ token: id, leaseMillis: 10_000, max: 1 })
              assert.strictEqual(claimed._tag === "Claimed" && claimed.task.id, id)
              assert.isTrue(yield* tq.complete(id, id, "null"))
            })
          // 300 tasks that end keeping their locks, which then expire: entries no release will delete
          for (let i = 0; i < 300; i++) yield* runTask((yield* Task.enqueue(Kept, { n: i })).id)
          const entries = (yield* redis.send<Array<string>>("HGETALL", locks)).filter((_, i) => i % 2 === 1)
          // the fence counter and the 300 (unless a new lock swept one that expired while this ran on a slow machine)
          const stored = entries.length - 1
          assert.isAtLeast(stored, 290)
          const lastExpiry = Math.max(...entries.filter((v) => v.includes(":")).map((v) => parse(v).at))
          yield* sleep(Math.max(0, lastExpiry - Date.now()) + 100)
          // 200 new locks held until their tasks end: one in 8 (by its fence) sweeps 2 entries; none deletes more
          const plain: Array<number> = []
          for (let i = 0; i < 200; i++) {
            yield* Task.enqueue(Keeper, { n: i }, { delay: "1 hour" }) // waiting, out of the way of the claims below
            plain.push(yield* hlen)
          }
          const deletedByPlain = 1 + stored + 200 - plain.at(-1)!
          for (let i = 1; i < plain.length; i++) assert.isAtLeast(plain[i]!, plain[i - 1]! + 1 - 2)
          // a simulation of this sampling: 37 deleted (median of 3,000 trials; at most 65); every write sweeping: ~235
          assert.isAtMost(deletedByPlain, 100, JSON.stringify(plain))
          // 200 tasks that keep their locks until they expire, each run to its end: each end sweeps 2 entries
          const ended: Array<number> = []
          for (let i = 0; i < 200; i++) {
            yield* runTask((yield* Task.enqueue(KeptLong, { n: i })).id)
            ended.push(yield* hlen)
          }
          const left = ended.at(-1)! - (1 + 200 + 200)
          console.log(
            `[locks] ${stored} expired kept locks: ${stored - deletedByPlain} left after 200 new locks, then after 1, 50, 100, 200 ends of kept-lock tasks: ${[0, 49, 99, 199].map((i) => ended[i]! - (1 + 200 + i + 1)).join(", ")}`
          )
          // simulated: 101 left (median of 3,000 trials; at most 135); no end sweeping: about 230
          assert.isAtMost(left, 160, JSON.stringify(ended))
        })
      )
    )

    it.effect("the locks hash outlives its latest lock by at most a minute; its TTL moves only when shorter", () =>
      withQueue((_, locks) =>
        Effect.gen(function* () {
          const redis = yield* Redis.Redis
          yield* Task.enqueue(Solo, { n: 1 })
          const first = Number(yield* redis.send("PTTL", locks))
          assert.isAbove(first, 60_000)
          assert.isAtMost(first, 400 + 60_000)
          yield* sleep(200)
          // a lock of the same timeout: the TTL, still longer than it, is left alone
          yield* Task.enqueue(Solo, { n: 2 })
          assert.isAtMost(Number(yield* redis.send("PTTL", locks)), first - 150)
          // a lock of 2 minutes: longer than the TTL left, which moves to its time and a minute more
          yield* Task.enqueue(Long, { n: 1 })
          const moved = Number(yield* redis.send("PTTL", locks))
          assert.isAbove(moved, 120_000 + 59_000)
          assert.isAtMost(moved, 120_000 + 60_000)
        })
      )
    )
  })
})
