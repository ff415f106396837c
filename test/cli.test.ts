/**
 * The `heimdall` command, run as a user runs it: the built binary (dist/cli/main.js, the package's `bin`) in its own
 * process, against the test Redis, on tasks and locks that the library wrote.
 */
import { execFile } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Schema, Scope } from "effect"
import { countRows } from "../src/cli/render.ts"
import { Heimdall, HeimdallStore, Task, TaskQueue, Worker } from "../src/index.ts"
import {
  clusterLayer,
  clusterNodes,
  describeCluster,
  describeRedis,
  keyPrefix,
  redisLayer,
  redisUrl
} from "./support/redis.ts"

const bin = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url))
const prefix = keyPrefix(import.meta.url)
const options = { queue: "cli", queuePrefix: `${prefix}q`, lockPrefix: `${prefix}lock:` }
const flags = ["--queue", "cli", "--queue-prefix", `${prefix}q`, "--lock-prefix", `${prefix}lock:`]

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the binary with `args` (and `env` over this process's), to its end. */
const heimdall = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.promise(
    () =>
      new Promise<Run>((resolve) => {
        execFile(
          process.execPath,
          [bin, ...args],
          { env: { ...process.env, REDIS_URL: redisUrl, ...env }, timeout: 30_000 },
          (error, stdout, stderr) =>
            resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr })
        )
      })
  )

/** A loopback port nothing listens on. */
const closedPort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const server = createServer()
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as { port: number }).port
        server.close(() => resolve(port))
      })
    })
)

const Report = Task.make("cli-report", {
  payload: Schema.Struct({ customerId: Schema.Number }),
  success: Schema.String
})

const backend = Heimdall.layerRedis(options).pipe(Layer.provideMerge(redisLayer()))

/** A queue of the test's own (counts start at zero), and the CLI flags that name it. */
const ownQueue = (queue: string) => ({
  layer: Heimdall.layerRedis({ ...options, queue }),
  flags: ["--queue", queue, "--queue-prefix", `${prefix}q`, "--lock-prefix", `${prefix}lock:`]
})

const Other = Task.make("cli-other", { payload: Schema.Struct({ n: Schema.Number }) })

describeRedis("heimdall CLI", () => {
  layer(backend, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("tasks show: a task's record as JSON and as a table that fits 80 columns", () =>
      Effect.gen(function* () {
        const handle = yield* Task.enqueue(Report, { customerId: 7 })
        const json = yield* heimdall([...flags, "tasks", "show", handle.id, "--json"])
        assert.strictEqual(json.code, 0, json.stderr)
        const detail = JSON.parse(json.stdout)
        const record = detail.record
        assert.isUndefined(detail.leaseEndsAt, "not running")
        assert.isFalse(detail.booked)
        assert.strictEqual(record.id, handle.id)
        assert.strictEqual(record.name, "cli-report")
        assert.strictEqual(record.state, "queued")
        assert.deepStrictEqual(JSON.parse(record.payload), { customerId: 7 })
        assert.strictEqual(record.attempts, 0)

        const text = yield* heimdall([...flags, "tasks", "show", handle.id])
        assert.strictEqual(text.code, 0, text.stderr)
        assert.match(text.stdout, new RegExp(`^id\\s+${handle.id}$`, "m"))
        assert.match(text.stdout, /^state\s+queued$/m)
        assert.match(text.stdout, /^payload\s+\{"customerId":7\}$/m)
        for (const line of text.stdout.trimEnd().split("\n")) assert.isAtMost(line.length, 80, line)
      })
    )

    it.effect("limits: rate and concurrency limits in use, as JSON and as 80-column tables, --prefix filters", () => {
      const limitFlags = [...flags, "--rate-prefix", `${prefix}rate:`, "--concurrency-prefix", `${prefix}sem:`]
      return Effect.gen(function* () {
        const perMinute = { times: 5, per: "1 minute" } as const
        for (let i = 0; i < 3; i++) yield* Heimdall.take("cli:api", perMinute)
        yield* Heimdall.take("other:api", perMinute)
        yield* Heimdall.acquireSlot("cli:pool", { limit: 4, holder: "worker-a", lease: "1 minute" })
        const json = yield* heimdall([...limitFlags, "limits", "--prefix", "cli:", "--json"])
        assert.strictEqual(json.code, 0, json.stderr)
        const limits = JSON.parse(json.stdout)
        // another process: the keys' usage, not the limits (only the process that calls a key knows its limit)
        assert.deepStrictEqual(
          limits.rate.map((r: Record<string, unknown>) => [r.key, r.admitted, r.booked, r.limits, r.nextFreeAt]),
          [["cli:api", 3, 0, [], undefined]]
        )
        assert.isAtLeast(limits.rate[0].windowMillis, 59_900)
        assert.isAtMost(limits.rate[0].windowMillis, 60_100)
        assert.deepStrictEqual(
          limits.concurrency.map((c: Record<string, unknown>) => [
            c.key,
            c.limit,
            (c.holders as Array<{ holder: string }>).map((h) => h.holder)
          ]),
          [["cli:pool", undefined, ["worker-a"]]]
        )

        const text = yield* heimdall([...limitFlags, "limits"])
        assert.strictEqual(text.code, 0, text.stderr)
        const lines = text.stdout.trimEnd().split("\n")
        assert.match(lines[0]!, /^RATE LIMIT\s+WINDOW\s+ADMITTED\s+BOOKED\s+LIMIT\s+NEXT FREE$/)
        assert.isTrue(
          lines.some((l) => /^cli:api\s+(59\.\d s|60\.\d s|1 min 0 s)\s+3\s+0\s+\?\s+\?$/.test(l)),
          text.stdout
        )
        assert.isTrue(
          lines.some((l) => /^other:api\s+\S+( \S+)*\s+1\s+0\s+\?\s+\?$/.test(l)),
          text.stdout
        )
        assert.isTrue(
          lines.some((l) => /^cli:pool\s+1\/\?\s+in \d+\.\d s\s+worker-a$/.test(l)),
          text.stdout
        )
        for (const line of lines) assert.isAtMost(line.length, 80, line)
      }).pipe(
        Effect.provide(
          Heimdall.layerRedis({ ...options, ratePrefix: `${prefix}rate:`, concurrencyPrefix: `${prefix}sem:` })
        )
      )
    })

    it.effect("locks: held locks with holder, time left and fence (JSON and table), --prefix filters", () =>
      Effect.gen(function* () {
        const lock = yield* Heimdall.acquireLock("cli:deploy", { owner: "operator-1", ttl: "1 minute" })
        yield* Heimdall.acquireLock("other:thing", { owner: "operator-2", ttl: "1 minute" })
        const json = yield* heimdall([...flags, "locks", "--prefix", "cli:", "--json"])
        assert.strictEqual(json.code, 0, json.stderr)
        const locks = JSON.parse(json.stdout) as ReadonlyArray<Record<string, unknown>>
        assert.deepStrictEqual(
          locks.map((l) => [l.key, l.holder, l.fence]),
          [["cli:deploy", "operator-1", lock.fence]]
        )
        const left = locks[0]!.expiresInMillis as number
        assert.isTrue(left > 30_000 && left <= 60_000, `expires in ${left} ms`)

        const text = yield* heimdall([...flags, "locks"])
        assert.strictEqual(text.code, 0, text.stderr)
        const lines = text.stdout.trimEnd().split("\n")
        assert.match(lines[0]!, /^KEY\s+HOLDER\s+EXPIRES IN\s+FENCE$/)
        assert.isTrue(
          lines.some((l) => /^cli:deploy\s+operator-1\s+\d+\.\d s\s+\d+$/.test(l)),
          text.stdout
        )
        assert.isTrue(
          lines.some((l) => l.startsWith("other:thing")),
          text.stdout
        )
        for (const line of lines) assert.isAtMost(line.length, 80, line)
      })
    )

    it.effect("status: counts by state for the queue and per task name, as JSON and as an 80-column table", () =>
      Effect.gen(function* () {
        const own = ownQueue("cli-status")
        const [first] = yield* Effect.provide(
          Effect.all([
            Task.enqueue(Report, { customerId: 1 }),
            Task.enqueue(Report, { customerId: 2 }),
            Task.enqueue(Other, { n: 1 }, { delay: "1 hour" })
          ]),
          own.layer
        )
        const json = yield* heimdall([...own.flags, "status", "--json"])
        assert.strictEqual(json.code, 0, json.stderr)
        const counts = JSON.parse(json.stdout)
        assert.strictEqual(counts.total.queued, 2)
        assert.strictEqual(counts.total.scheduled, 1)
        assert.strictEqual(counts.byName["cli-report"].queued, 2)
        assert.strictEqual(counts.byName["cli-other"].scheduled, 1)
        assert.isAtLeast(counts.oldestWaitingMillis, 0)
        // per task name with waiting tasks: its oldest (the scheduled one is not due)
        assert.deepStrictEqual(Object.keys(counts.oldestByName), ["cli-report"])
        const report = counts.oldestByName["cli-report"]
        assert.deepStrictEqual([report._tag, report.id], ["Found", first.id])
        assert.strictEqual(report.millis, counts.now - report.since)

        const text = yield* heimdall([...own.flags, "status"])
        assert.strictEqual(text.code, 0, text.stderr)
        assert.match(text.stdout, /^queue cli-status: oldest waiting: /m)
        assert.match(text.stdout, /^cli-report\s+2\s+0\s+0\s+0\s+0\s+0\s+0\s+0$/m)
        assert.match(text.stdout, /^\(all\)\s+2\s+1\s+0/m)
        assert.match(text.stdout, /^WAITING\s+OLDEST\s+ID$/m)
        assert.match(text.stdout, new RegExp(`^cli-report\\s+\\d+(\\.\\d)? m?s\\s+${first.id}$`, "m"))
        assert.notMatch(text.stdout, /^cli-other\s+\d+(\.\d)? m?s/m)
        for (const line of text.stdout.trimEnd().split("\n")) assert.isAtMost(line.length, 80, line)
      })
    )

    it.effect("tasks list: newest first, page by page with the printed cursor, every task once", () =>
      Effect.gen(function* () {
        const own = ownQueue("cli-list")
        const handles = yield* Effect.provide(
          Effect.forEach([1, 2, 3], (n) => Task.enqueue(Report, { customerId: n })),
          own.layer
        )
        const first = yield* heimdall([...own.flags, "tasks", "list", "--state", "queued", "--limit", "2", "--json"])
        assert.strictEqual(first.code, 0, first.stderr)
        const page1 = JSON.parse(first.stdout)
        assert.deepStrictEqual(
          page1.tasks.map((t: { id: string }) => t.id),
          [handles[2]!.id, handles[1]!.id]
        )
        assert.isString(page1.cursor)
        const second = yield* heimdall([
          ...own.flags,
          "tasks",
          "list",
          "--state",
          "queued",
          "--limit",
          "2",
          "--cursor",
          page1.cursor,
          "--json"
        ])
        const page2 = JSON.parse(second.stdout)
        assert.deepStrictEqual(
          page2.tasks.map((t: { id: string }) => t.id),
          [handles[0]!.id]
        )
        assert.isUndefined(page2.cursor)

        const text = yield* heimdall([...own.flags, "tasks", "list", "--state", "queued", "--limit", "2"])
        assert.strictEqual(text.code, 0, text.stderr)
        assert.match(text.stdout, /^ID\s+NAME\s+STATE\s+AT\s+TRIES\s+ERROR$/m)
        assert.match(text.stdout, new RegExp(`^${handles[2]!.id}\\s+cli-report\\s+queued`, "m"))
        assert.match(text.stdout, /^more: --cursor \S+$/m)
        for (const line of text.stdout.trimEnd().split("\n")) assert.isAtMost(line.length, 80, line)

        const bad = yield* heimdall([...own.flags, "tasks", "list", "--state", "sleeping"])
        assert.strictEqual(bad.code, 1)
      })
    )

    it.effect("workers: a live worker with its pid, slots and task names; gone once it stops", () =>
      Effect.gen(function* () {
        const own = ownQueue("cli-workers")
        const impl = Task.implement(Report, ({ customerId }) => Effect.succeed(`report ${customerId}`))
        const scope = yield* Scope.make()
        yield* Layer.buildWithScope(
          Worker.layer({ tasks: [impl], concurrency: 3 }).pipe(Layer.provide(own.layer)),
          scope
        )
        const json = yield* heimdall([...own.flags, "workers", "--json"])
        assert.strictEqual(json.code, 0, json.stderr)
        const workers = JSON.parse(json.stdout) as ReadonlyArray<Record<string, unknown>>
        assert.strictEqual(workers.length, 1)
        assert.strictEqual(workers[0]!.pid, process.pid)
        assert.strictEqual(workers[0]!.concurrency, 3)
        assert.deepStrictEqual(workers[0]!.names, ["cli-report"])
        const text = yield* heimdall([...own.flags, "workers"])
        assert.match(text.stdout, new RegExp(`\\s${process.pid}\\s+3\\s+0\\s`))
        for (const line of text.stdout.trimEnd().split("\n")) assert.isAtMost(line.length, 80, line)
        yield* Scope.close(scope, Exit.void)
        const after = yield* heimdall([...own.flags, "workers", "--json"])
        assert.deepStrictEqual(JSON.parse(after.stdout), [])
      })
    )

    it.effect("schedules: a schedule with its next tick and latest task; schedules remove deletes it", () =>
      Effect.gen(function* () {
        const own = ownQueue("cli-schedules")
        const scope = yield* Scope.make()
        const every = Task.schedule(Report, { every: "1 hour", payload: { customerId: 1 }, name: "hourly" })
        yield* Layer.buildWithScope(Task.layerSchedules([every]).pipe(Layer.provide(own.layer)), scope)
        yield* Effect.sleep("300 millis") // the scheduler wrote the schedule's record
        yield* Scope.close(scope, Exit.void)
        const json = yield* heimdall([...own.flags, "schedules", "--json"])
        assert.strictEqual(json.code, 0, json.stderr)
        const list = JSON.parse(json.stdout) as ReadonlyArray<Record<string, unknown>>
        assert.strictEqual(list.length, 1)
        assert.strictEqual(list[0]!.name, "hourly")
        assert.strictEqual(list[0]!.task, "cli-report")
        assert.strictEqual(list[0]!.everyMillis, 3_600_000)
        assert.strictEqual(list[0]!.nextTick, (Math.floor((list[0]!.now as number) / 3_600_000) + 1) * 3_600_000)
        const text = yield* heimdall([...own.flags, "schedules"])
        assert.match(text.stdout, /^hourly\s+every 1 h 0 min\s+skip\s+in /m)
        for (const line of text.stdout.trimEnd().split("\n")) assert.isAtMost(line.length, 80, line)
        const removed = yield* heimdall([...own.flags, "schedules", "remove", "hourly"])
        assert.strictEqual(removed.code, 0, removed.stderr)
        assert.strictEqual(removed.stdout.trim(), "schedule hourly removed")
        const again = yield* heimdall([...own.flags, "schedules", "remove", "hourly", "--json"])
        assert.deepStrictEqual(JSON.parse(again.stdout), { name: "hourly", removed: false })
        assert.strictEqual((yield* heimdall([...own.flags, "schedules"])).stdout.trim(), "no schedules")
      })
    )

    it.effect(
      "actions: retry (one, --all), cancel, purge, locks release, limits reset; JSON, text and exit codes",
      () =>
        Effect.gen(function* () {
          const own = ownQueue("cli-actions")
          const q = yield* Effect.provide(TaskQueue.TaskQueue, own.layer)
          const run = (...args: ReadonlyArray<string>) => heimdall([...own.flags, ...args])
          const handles = yield* Effect.provide(
            Effect.forEach([1, 2, 3], (customerId) => Task.enqueue(Report, { customerId })),
            own.layer
          )
          const [failed, deadA, deadB] = handles.map((h) => h.id) as [string, string, string]
          const claimed = yield* q.claim({ token: "cli", leaseMillis: 60_000, max: 3 })
          assert.strictEqual(claimed._tag === "Claimed" ? claimed.tasks.length : 0, 3)
          const tokens = new Map(claimed._tag === "Claimed" ? claimed.tasks.map((t) => [t.id, t.token] as const) : [])
          assert.isTrue(yield* q.fail(failed, tokens.get(failed)!, '"boom"', undefined))
          assert.isTrue(yield* q.deadLetter(deadA, tokens.get(deadA)!, "poison"))
          assert.isTrue(yield* q.deadLetter(deadB, tokens.get(deadB)!, "poison"))
          const waiting = (yield* Effect.provide(Task.enqueue(Other, { n: 1 }), own.layer)).id

          const retried = yield* run("tasks", "retry", failed, "--json")
          assert.strictEqual(retried.code, 0, retried.stderr)
          assert.deepStrictEqual(JSON.parse(retried.stdout), { id: failed, retried: 1 })
          assert.strictEqual((yield* q.get(failed))?.state, "queued")
          const again = yield* run("tasks", "retry", failed)
          assert.strictEqual(again.code, 4)
          assert.include(again.stderr, `cannot retry task ${failed}: it is queued`)
          const all = yield* run("tasks", "retry", "--all", "--state", "dead", "--json")
          assert.strictEqual(all.code, 0, all.stderr)
          assert.deepStrictEqual(JSON.parse(all.stdout), { retried: 2 })
          assert.strictEqual((yield* q.get(deadB))?.state, "queued")
          assert.strictEqual((yield* run("tasks", "retry", "--all")).code, 1)
          assert.strictEqual((yield* run("tasks", "retry", "--all", "--state", "succeeded")).code, 1)

          const cancelled = yield* run("tasks", "cancel", waiting)
          assert.strictEqual(cancelled.code, 0, cancelled.stderr)
          assert.strictEqual(cancelled.stdout.trim(), `task ${waiting} cancelled (it was queued)`)
          assert.strictEqual((yield* q.get(waiting))?.state, "cancelled")
          assert.strictEqual((yield* run("tasks", "cancel", waiting)).code, 4)
          assert.strictEqual((yield* run("tasks", "cancel", "no-such-task")).code, 2)
          const listed = yield* run("tasks", "list", "--state", "cancelled", "--json")
          assert.deepStrictEqual(
            JSON.parse(listed.stdout).tasks.map((t: { id: string }) => t.id),
            [waiting]
          )
          const purged = yield* run("tasks", "purge", "--state", "cancelled", "--json")
          assert.strictEqual(purged.code, 0, purged.stderr)
          assert.deepStrictEqual(JSON.parse(purged.stdout), { purged: 1 })
          assert.strictEqual(yield* q.get(waiting), undefined)

          const store = yield* Effect.provide(HeimdallStore.HeimdallStore, own.layer)
          assert.strictEqual((yield* store.lockAcquire(`${prefix}lock:cli-held`, "someone", 60_000))._tag, "Acquired")
          const released = yield* run("locks", "release", "cli-held", "--json")
          assert.strictEqual(released.code, 0, released.stderr)
          assert.deepStrictEqual(JSON.parse(released.stdout), { key: "cli-held", released: true })
          assert.strictEqual((yield* run("locks", "release", "cli-held")).stdout.trim(), "lock cli-held was not held")

          const rateKey = `${prefix}cli-rate`
          const limit = { times: 1, per: "1 minute" } as const
          yield* Effect.provide(Heimdall.take(rateKey, limit), own.layer)
          const reset = yield* run("limits", "reset", rateKey, "--json")
          assert.strictEqual(reset.code, 0, reset.stderr)
          assert.deepStrictEqual(JSON.parse(reset.stdout), { key: rateKey, reset: true })
          yield* Effect.provide(Heimdall.take(rateKey, limit), own.layer)
          assert.strictEqual((yield* run("limits", "reset", "")).code, 1)
        }),
      // about 20 runs of the real binary: 12 s alone, more on a loaded 2-core machine (CI runs the cluster suites too)
      90_000
    )

    it.effect("exit codes: 2 for a task that does not exist, 1 for bad usage, 3 when Redis is unreachable", () =>
      Effect.gen(function* () {
        const missing = yield* heimdall([...flags, "tasks", "show", "no-such-task"])
        assert.strictEqual(missing.code, 2)
        assert.include(missing.stderr, 'no task no-such-task in queue "cli"')
        assert.strictEqual(missing.stdout, "")

        const usage = yield* heimdall([...flags, "tasks", "frobnicate"])
        assert.strictEqual(usage.code, 1)

        const port = yield* closedPort
        const down = yield* heimdall([...flags, "locks"], { REDIS_URL: `redis://127.0.0.1:${port}` })
        assert.strictEqual(down.code, 3)
        assert.include(down.stderr, `redis://127.0.0.1:${port}`)
        assert.include(down.stderr, "ECONNREFUSED")

        // --url wins over REDIS_URL
        const url = yield* heimdall(["--url", redisUrl, ...flags, "locks", "--json"], {
          REDIS_URL: `redis://127.0.0.1:${port}`
        })
        assert.strictEqual(url.code, 0, url.stderr)
      })
    )
  })
})

describe("heimdall status table", () => {
  it("a name past the counts' scan shows no age, only what is known, within 80 columns", () => {
    const zero = { queued: 0, scheduled: 0, running: 0, succeeded: 0, failed: 0, dead: 0, skipped: 0, cancelled: 0 }
    const big = { ...zero, queued: 12_345, succeeded: 987_654 }
    const text = countRows("q", {
      now: 10_000_000,
      total: big,
      byName: { "a-very-long-task-name-indeed": big, late: { ...zero, queued: 1 } },
      oldestWaiting: { id: "first-id-0123456", since: 0 },
      oldestWaitingMillis: 10_000_000,
      oldestByName: {
        "a-very-long-task-name-indeed": { _tag: "Found", id: "first-id-0123456", since: 0, millis: 10_000_000 },
        late: { _tag: "BeyondScan", scanned: 100_000, lastSince: 9_999_000, lastMillis: 1_000 }
      }
    })
    assert.match(text, /^a-very-long-t…\s+2 h 47 min\s+first-id-0123456$/m)
    assert.match(text, /^late\s+\?\s+behind 100000\+ in line; last read waited 1\.0 s$/m)
    for (const line of text.split("\n")) assert.isAtMost(line.length, 80, line)
  })
})

describeCluster("heimdall CLI on a Redis Cluster", () => {
  it.effect("--cluster host:port,...: status and tasks show read a queue on the cluster", () =>
    Effect.gen(function* () {
      const queue = "cli-cluster"
      const handle = yield* Effect.provide(
        Task.enqueue(Report, { customerId: 9 }),
        Heimdall.layerRedis({ ...options, queue }).pipe(Layer.provide(clusterLayer()))
      )
      const own = ["--cluster", clusterNodes.join(","), "--queue", queue, "--queue-prefix", `${prefix}q`]
      const status = yield* heimdall([...own, "status", "--json"])
      assert.strictEqual(status.code, 0, status.stderr)
      assert.strictEqual(JSON.parse(status.stdout).byName["cli-report"].queued, 1)
      const show = yield* heimdall([...own, "tasks", "show", handle.id, "--json"])
      assert.strictEqual(show.code, 0, show.stderr)
      assert.strictEqual(JSON.parse(show.stdout).record.id, handle.id)
      // the same queue is not on the single server: --url alone does not find the task
      const single = yield* heimdall(["--queue", queue, "--queue-prefix", `${prefix}q`, "tasks", "show", handle.id])
      assert.strictEqual(single.code, 2, single.stderr)
    })
  )
})
