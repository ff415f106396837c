/**
 * The dashboard's JSON API, served in-process (the server the `heimdall dashboard` command runs) over a real Redis,
 * asked with fetch: every read, the actions with their token checks, the error mapping; and the command itself
 * (the built binary): its options, its printed URL and token, its end on SIGTERM.
 */
import { execFile, spawn } from "node:child_process"
import { request } from "node:http"
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Schema, Scope } from "effect"
import { HttpServer } from "effect/http"
import { it } from "vitest"
import * as Dashboard from "../src/cli/dashboard.ts"
import { Admin, Heimdall, Inspector, RedisIoredis, Task, TaskQueue, Worker } from "../src/index.ts"
import { describeRedis, keyPrefix, redisLayer, redisUrl } from "./support/redis.ts"
import { startRedisServer } from "./support/redisServer.ts"

const bin = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url))
const prefix = keyPrefix(import.meta.url)
const options = { queuePrefix: `${prefix}q`, lockPrefix: `${prefix}lock:` }
const queueLayer = (queue: string) => Heimdall.layerRedis({ ...options, queue })
const flags = (queue: string) => ["--queue", queue, "--queue-prefix", `${prefix}q`, "--lock-prefix", `${prefix}lock:`]

const Report = Task.make("dash-report", { payload: Schema.Struct({ n: Schema.Number }), success: Schema.String })

interface Reply {
  readonly status: number
  readonly type: string
  readonly headers: Headers
  readonly body: any
}

/** A request to the dashboard; the body parsed as JSON when it is JSON. */
const http = (url: string, init?: RequestInit) =>
  Effect.promise(async (): Promise<Reply> => {
    const response = await fetch(url, init)
    const type = response.headers.get("content-type") ?? ""
    const text = await response.text()
    return {
      status: response.status,
      type,
      headers: response.headers,
      body: type.includes("json") ? JSON.parse(text) : text
    }
  })

/** Serves the dashboard for the Inspector (and Admin) in context, for the test's scope; returns its base URL. */
const serve = (actions: { readonly token: string } | undefined) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      Dashboard.layer({
        port: 0,
        host: "127.0.0.1",
        actions: actions === undefined ? undefined : { token: actions.token, admin: yield* Admin.Admin },
        sampleEveryMillis: 100
      })
    )
    return Dashboard.url(Context.get(context, HttpServer.HttpServer).address, undefined)
  })

/** A task of `Report` that failed for good: enqueued, claimed, failed without a retry. */
const failedTask = (error: string) =>
  Effect.gen(function* () {
    const handle = yield* Task.enqueue(Report, { n: 1 })
    const queue = yield* TaskQueue.TaskQueue
    const claimed = yield* queue.claim({ token: `tok-${handle.id}`, leaseMillis: 10_000, max: 1 })
    assert.strictEqual(claimed._tag === "Claimed" ? claimed.task.id : claimed._tag, handle.id)
    assert.isTrue(
      yield* queue.fail(handle.id, `tok-${handle.id}`, JSON.stringify({ _tag: "Boom", message: error }), undefined)
    )
    return handle.id
  })

const token = "a-token-of-24-characters"
const bearer = (t: string) => ({ method: "POST", headers: { authorization: `Bearer ${t}` } })

describeRedis("dashboard API", () => {
  layer(queueLayer("dash-reads").pipe(Layer.provideMerge(redisLayer())), {
    excludeTestServices: true,
    timeout: "60 seconds"
  })((it) => {
    it.effect("reads: config, counts, history, tasks by state with paging, task detail, workers, locks, the page", () =>
      Effect.gen(function* () {
        const base = yield* serve(undefined)
        const failed = yield* failedTask("disk full")
        const handles = yield* Effect.forEach([1, 2, 3], (n) => Task.enqueue(Report, { n }))

        const config = yield* http(`${base}api/config`)
        assert.deepStrictEqual(config.body, { queue: "dash-reads", actions: false, sampleEveryMillis: 100 })

        const counts = yield* http(`${base}api/counts`)
        assert.strictEqual(counts.status, 200)
        assert.strictEqual(counts.body.total.queued, 3)
        assert.strictEqual(counts.body.total.failed, 1)
        assert.strictEqual(counts.body.byName["dash-report"].queued, 3)
        const oldest = counts.body.oldestByName["dash-report"]
        assert.deepStrictEqual([oldest._tag, oldest.id], ["Found", handles[0]!.id])
        assert.strictEqual(oldest.millis, counts.body.now - oldest.since)

        const page1 = yield* http(`${base}api/tasks?state=queued&limit=2`)
        assert.deepStrictEqual(
          page1.body.tasks.map((t: { id: string }) => t.id),
          [handles[2]!.id, handles[1]!.id]
        )
        const page2 = yield* http(
          `${base}api/tasks?state=queued&limit=2&cursor=${encodeURIComponent(page1.body.cursor)}`
        )
        assert.deepStrictEqual(
          page2.body.tasks.map((t: { id: string }) => t.id),
          [handles[0]!.id]
        )
        assert.isUndefined(page2.body.cursor)

        const failedPage = yield* http(`${base}api/tasks?state=failed&name=dash-report`)
        assert.deepStrictEqual(
          failedPage.body.tasks.map((t: { id: string; error: string }) => [t.id, JSON.parse(t.error).message]),
          [[failed, "disk full"]]
        )

        const detail = yield* http(`${base}api/tasks/${handles[0]!.id}`)
        assert.strictEqual(detail.status, 200)
        assert.strictEqual(detail.body.record.id, handles[0]!.id)
        assert.strictEqual(detail.body.record.state, "queued")
        assert.deepStrictEqual(JSON.parse(detail.body.record.payload), { n: 1 })

        const lock = yield* Heimdall.acquireLock("dash:deploy", { owner: "operator-1", ttl: "1 minute" })
        const locks = yield* http(`${base}api/locks?prefix=dash:`)
        assert.deepStrictEqual(
          locks.body.map((l: { key: string; holder: string; fence: number }) => [l.key, l.holder, l.fence]),
          [["dash:deploy", "operator-1", lock.fence]]
        )

        const scope = yield* Scope.make()
        yield* Layer.buildWithScope(
          Worker.layer({ tasks: [Task.implement(Report, ({ n }) => Effect.succeed(`r${n}`))], concurrency: 2 }),
          scope
        )
        const workers = yield* http(`${base}api/workers`)
        assert.deepStrictEqual(
          workers.body.map((w: { pid: number; concurrency: number; names: Array<string> }) => [
            w.pid,
            w.concurrency,
            w.names
          ]),
          [[process.pid, 2, ["dash-report"]]]
        )
        // the worker runs the three queued tasks; the history's samples see the succeeded total grow
        yield* Effect.sleep("600 millis")
        yield* Scope.close(scope, Exit.void)
        const history = yield* http(`${base}api/history`)
        const samples = history.body.samples as ReadonlyArray<{ at: number; succeeded: number; failed: number }>
        assert.isAtLeast(samples.length, 3)
        assert.strictEqual(samples.at(-1)!.succeeded, 3)
        assert.strictEqual(samples.at(-1)!.failed, 1)
        for (let i = 1; i < samples.length; i++) assert.isAbove(samples[i]!.at, samples[i - 1]!.at)

        const pageHtml = yield* http(base)
        assert.strictEqual(pageHtml.status, 200)
        assert.include(pageHtml.type, "text/html")
        assert.include(pageHtml.body, "<title>heimdall dashboard</title>")
        assert.include(pageHtml.headers.get("content-security-policy") ?? "", "default-src 'none'")
        assert.strictEqual(pageHtml.headers.get("x-frame-options"), "DENY")
      })
    )

    it.effect("limits: rate limits (admitted, booked, next free slot) and concurrency holders, known or not", () =>
      Effect.gen(function* () {
        const base = yield* serve(undefined)
        const perMinute = { times: 2, per: "1 minute" } as const
        const api = `${prefix}partner-api`
        const t0 = Date.now()
        const calls = yield* Effect.forEach([1, 2], (n) =>
          Effect.succeed(n).pipe(Heimdall.withRateLimit(api, { limits: perMinute, onLimit: "fail", margin: 0 }))
        )
        assert.deepStrictEqual(calls, [1, 2])
        const booked = yield* Heimdall.reserve(api, perMinute) // the window is full: the next one
        assert.isAtLeast(Duration.toMillis(booked.delay), 55_000)
        yield* Heimdall.acquireSlot(`${prefix}pool`, { limit: 3, lease: "1 minute", holder: "dash-holder" })
        yield* Heimdall.take(`${prefix}other`, perMinute)

        const limits = yield* http(`${base}api/limits?prefix=${encodeURIComponent(`${prefix}p`)}`)
        assert.strictEqual(limits.status, 200)
        const [rate] = limits.body.rate
        assert.strictEqual(limits.body.rate.length, 1, "the prefix leaves out the other key")
        assert.deepStrictEqual(
          [rate.key, rate.windowMillis, rate.admitted, rate.booked, rate.limits],
          [api, 60_000, 2, 1, [{ times: 2, perMillis: 60_000, used: 2 }]]
        )
        assert.isAtLeast(rate.bookedUntil, t0 + 55_000)
        assert.isAtMost(rate.bookedUntil, Date.now() + 60_000)
        // the window after the booked slot holds it and the second admission: free when that one leaves
        assert.isAtLeast(rate.nextFreeAt, rate.bookedUntil)
        assert.isAtMost(rate.nextFreeAt, Date.now() + 60_000)
        assert.deepStrictEqual(
          limits.body.concurrency.map((c: Inspector.ConcurrencyLimitEntry) => [
            c.key,
            c.limit,
            c.holders.map((h) => h.holder)
          ]),
          [[`${prefix}pool`, 3, ["dash-holder"]]]
        )
        const lease = limits.body.concurrency[0].holders[0].expiresInMillis
        assert.isAbove(lease, 50_000)
        assert.isAtMost(lease, 60_000)

        // a dashboard whose process never called the keys (its own store): usage only, no limit, no next free slot
        const elsewhere = yield* Layer.build(queueLayer("dash-reads").pipe(Layer.provide(redisLayer())))
        const otherBase = yield* Effect.provide(serve(undefined), elsewhere)
        const other = yield* http(`${otherBase}api/limits?prefix=${encodeURIComponent(`${prefix}p`)}`)
        const [unknown] = other.body.rate
        assert.deepStrictEqual(
          [unknown.key, unknown.admitted, unknown.booked, unknown.limits, unknown.nextFreeAt],
          [api, 2, 1, [], undefined]
        )
        assert.deepStrictEqual(
          other.body.concurrency.map((c: Inspector.ConcurrencyLimitEntry) => [c.key, c.limit, c.holders.length]),
          [[`${prefix}pool`, undefined, 1]]
        )
        const all = yield* http(`${base}api/limits?prefix=${encodeURIComponent(prefix)}`)
        assert.deepStrictEqual(
          all.body.rate.map((r: Inspector.RateLimitEntry) => r.key),
          [`${prefix}other`, api]
        )
      })
    )

    it.effect("errors: JSON bodies with a message, 400 for bad arguments, 404 for no such task or route", () =>
      Effect.gen(function* () {
        const base = yield* serve(undefined)
        const badState = yield* http(`${base}api/tasks?state=sleeping`)
        assert.strictEqual(badState.status, 400)
        assert.strictEqual(badState.body.error, "InvalidArgument")
        assert.strictEqual(badState.body.argument, "state")
        assert.include(badState.body.message, 'invalid state = "sleeping"')

        const badLimit = yield* http(`${base}api/tasks?state=queued&limit=0`)
        assert.strictEqual(badLimit.status, 400)
        assert.include(badLimit.body.message, "invalid limit = 0")
        const textLimit = yield* http(`${base}api/tasks?state=queued&limit=ten`)
        assert.strictEqual(textLimit.status, 400)
        assert.include(textLimit.body.message, 'invalid limit = "ten"')
        const badCursor = yield* http(`${base}api/tasks?state=failed&cursor=nonsense`)
        assert.strictEqual(badCursor.status, 400)
        assert.include(badCursor.body.message, 'invalid cursor = "nonsense"')

        const missing = yield* http(`${base}api/tasks/no-such-task`)
        assert.strictEqual(missing.status, 404)
        assert.deepStrictEqual(missing.body, {
          error: "TaskNotFound",
          message: 'no task no-such-task in queue "dash-reads"'
        })
        const route = yield* http(`${base}api/nothing-here`)
        assert.strictEqual(route.status, 404)
        assert.strictEqual(route.body.error, "NotFound")
        assert.include(route.body.message, "/api/nothing-here")
      })
    )

    it.effect(
      "a Host that is not a loopback name is refused (DNS rebinding) while the server listens on loopback",
      () =>
        Effect.gen(function* () {
          const base = new URL(yield* serve(undefined))
          const get = (host: string) =>
            Effect.promise(
              () =>
                new Promise<{ status: number; body: any }>((resolve, reject) => {
                  const req = request(
                    { host: base.hostname, port: base.port, path: "/api/counts", headers: { host } },
                    (res) => {
                      let text = ""
                      res.on("data", (chunk) => {
                        text += chunk
                      })
                      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
                    }
                  )
                  req.on("error", reject)
                  req.end()
                })
            )
          const evil = yield* get(`evil.example:${base.port}`)
          assert.strictEqual(evil.status, 403)
          assert.include(evil.body.message, '"evil.example" refused')
          assert.strictEqual((yield* get(`localhost:${base.port}`)).status, 200)
        })
    )
  })

  layer(queueLayer("dash-actions").pipe(Layer.provideMerge(redisLayer())), {
    excludeTestServices: true,
    timeout: "60 seconds"
  })((it) => {
    it.effect("actions off: retry and cancel are 403 and change nothing", () =>
      Effect.gen(function* () {
        const base = yield* serve(undefined)
        const id = yield* failedTask("off")
        const retry = yield* http(`${base}api/tasks/${id}/retry`, bearer(token))
        assert.strictEqual(retry.status, 403)
        assert.strictEqual(retry.body.error, "ActionsDisabled")
        assert.include(retry.body.message, "--allow-actions")
        const cancel = yield* http(`${base}api/tasks/${id}/cancel`, bearer(token))
        assert.strictEqual(cancel.status, 403)
        assert.strictEqual((yield* (yield* Inspector.Inspector).task(id))?.record.state, "failed")
      })
    )

    it.effect("actions on: 401 without a token, 403 with a wrong one; with it retry and cancel act", () =>
      Effect.gen(function* () {
        const base = yield* serve({ token })
        const inspector = yield* Inspector.Inspector
        const id = yield* failedTask("first life")

        const none = yield* http(`${base}api/tasks/${id}/retry`, { method: "POST" })
        assert.strictEqual(none.status, 401)
        assert.strictEqual(none.body.error, "Unauthorized")
        assert.include(none.body.message, "Authorization: Bearer")
        const wrong = yield* http(`${base}api/tasks/${id}/retry`, bearer(`${token}x`))
        assert.strictEqual(wrong.status, 403)
        assert.strictEqual(wrong.body.message, "wrong token")
        assert.strictEqual((yield* inspector.task(id))?.record.state, "failed")

        const retry = yield* http(`${base}api/tasks/${id}/retry`, bearer(token))
        assert.strictEqual(retry.status, 200, JSON.stringify(retry.body))
        assert.strictEqual(retry.body.id, id)
        assert.strictEqual(retry.body.detail.record.state, "queued")
        assert.strictEqual((yield* inspector.task(id))?.record.state, "queued")

        // retrying it again: it is queued, not failed (409, with the state found)
        const again = yield* http(`${base}api/tasks/${id}/retry`, bearer(token))
        assert.strictEqual(again.status, 409)
        assert.strictEqual(again.body.error, "TaskStateConflict")
        assert.strictEqual(again.body.state, "queued")
        assert.isAbove(again.body.message.length, 0)

        const cancel = yield* http(`${base}api/tasks/${id}/cancel`, bearer(token))
        assert.strictEqual(cancel.status, 200, JSON.stringify(cancel.body))
        assert.strictEqual((yield* inspector.task(id))?.record.state, "cancelled")

        const missing = yield* http(`${base}api/tasks/no-such-task/retry`, bearer(token))
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(missing.body.error, "TaskNotFound")
        assert.include(missing.body.message, "no-such-task")
      })
    )
  })

  it("Redis failing is 503 with the reason", async () => {
    const server = await startRedisServer()
    try {
      const program = Effect.gen(function* () {
        const base = yield* serve(undefined)
        assert.strictEqual((yield* http(`${base}api/counts`)).status, 200)
        yield* Effect.promise(() => server.stop())
        const down = yield* http(`${base}api/counts`)
        assert.strictEqual(down.status, 503)
        assert.strictEqual(down.body.error, "RedisError")
        assert.match(down.body.message, /^Redis failed: .+/)
      }).pipe(
        Effect.scoped,
        Effect.provide(
          queueLayer("dash-down").pipe(
            Layer.provideMerge(RedisIoredis.layer(server.url, { commandTimeout: "1 second", maxRetriesPerRequest: 0 }))
          )
        )
      )
      await Effect.runPromise(program)
    } finally {
      await server.stop()
    }
  })
})

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

const heimdall = (args: ReadonlyArray<string>) =>
  Effect.promise(
    () =>
      new Promise<Run>((resolve) => {
        execFile(
          process.execPath,
          [bin, ...args],
          { env: { ...process.env, REDIS_URL: redisUrl }, timeout: 30_000 },
          (error, stdout, stderr) =>
            resolve({
              code: error ? (typeof error.code === "number" ? error.code : -1) : 0,
              signal: null,
              stdout,
              stderr
            })
        )
      })
  )

describeRedis("heimdall dashboard and top (the binary)", () => {
  layer(queueLayer("dash-bin").pipe(Layer.provideMerge(redisLayer())), {
    excludeTestServices: true,
    timeout: "60 seconds"
  })((it) => {
    it.effect("bad options: a port out of range, a short token, a token without actions (exit code 1, named)", () =>
      Effect.gen(function* () {
        const port = yield* heimdall([...flags("dash-bin"), "dashboard", "--port", "70000"])
        assert.strictEqual(port.code, 1)
        assert.include(port.stderr, "invalid --port 70000: must be 0 to 65535")
        const short = yield* heimdall([...flags("dash-bin"), "dashboard", "--allow-actions", "--token", "abc"])
        assert.strictEqual(short.code, 1)
        assert.include(short.stderr, "invalid --token of 3 characters: use at least 16")
        const alone = yield* heimdall([...flags("dash-bin"), "dashboard", "--token", token])
        assert.strictEqual(alone.code, 1)
        assert.include(alone.stderr, "invalid --token: it is only used with --allow-actions")
        const iterations = yield* heimdall([...flags("dash-bin"), "top", "--iterations", "0"])
        assert.strictEqual(iterations.code, 1)
        assert.include(iterations.stderr, "invalid --iterations 0: must be at least 1")
      })
    )

    it.effect("dashboard: prints its URL with a generated token, serves the API, ends on SIGTERM", () =>
      Effect.gen(function* () {
        yield* Task.enqueue(Report, { n: 5 })
        const child = spawn(
          process.execPath,
          [bin, ...flags("dash-bin"), "dashboard", "--port", "0", "--allow-actions"],
          {
            env: { ...process.env, REDIS_URL: redisUrl },
            stdio: ["ignore", "pipe", "pipe"]
          }
        )
        let stdout = ""
        let stderr = ""
        child.stdout.on("data", (chunk) => {
          stdout += chunk
        })
        child.stderr.on("data", (chunk) => {
          stderr += chunk
        })
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
          child.on("exit", (code, signal) => resolve({ code, signal }))
        )
        const line = yield* Effect.promise(async () => {
          const deadline = Date.now() + 15_000
          while (!/Ctrl-C/.test(stdout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
          return stdout
        })
        const match = /on (http:\/\/127\.0\.0\.1:\d+\/)#token=([A-Za-z0-9_-]{22})$/m.exec(line)
        assert.isNotNull(match, `${line}\n${stderr}`)
        const [, base, printed] = match!
        assert.include(line, `with the token ${printed}`)
        const counts = yield* http(`${base}api/counts`)
        assert.strictEqual(counts.body.total.queued, 1)
        const wrong = yield* http(`${base}api/tasks/x/retry`, bearer("not-the-token-at-all"))
        assert.strictEqual(wrong.status, 403)
        const right = yield* http(`${base}api/tasks/x/retry`, bearer(printed!))
        assert.strictEqual(right.status, 404)
        child.kill("SIGTERM")
        const exit = yield* Effect.promise(() => exited)
        assert.strictEqual(exit.code, 130, stderr)
        assert.strictEqual(stderr, "")
      })
    )

    it.effect("top: two refreshes a second apart, counts per name, throughput, workers (text and JSON)", () =>
      Effect.gen(function* () {
        const own = queueLayer("dash-top")
        yield* Effect.provide(
          Effect.all([Task.enqueue(Report, { n: 1 }), Task.enqueue(Report, { n: 2 }, { delay: "1 hour" })]),
          own
        )
        const text = yield* heimdall([...flags("dash-top"), "top", "--iterations", "2"])
        assert.strictEqual(text.code, 0, text.stderr)
        const frames = text.stdout.split(/^(?=queue )/m).map((f) => f.trimEnd())
        assert.strictEqual(frames.length, 2, text.stdout)
        for (const f of frames) {
          assert.match(f, /^queue dash-top {2}\d\d:\d\d:\d\dZ {2}workers 0 \(0\/0 busy\)\noldest waiting \d.*$/m)
          assert.match(f, /^TASK\s+QUEUED\s+SCHED\s+RUNNING\s+DONE\/S\s+FAIL\/S\s+FAILED\s+DEAD$/m)
          assert.match(f, /^no live workers$/m)
          for (const l of f.split("\n")) assert.isAtMost(l.length, 80, l)
        }
        // the first frame has no rate yet, the second one has (nothing finished: 0.0 per second)
        assert.match(frames[0]!, /^dash-report\s+1\s+1\s+0\s+-\s+-\s+0\s+0$/m)
        assert.match(frames[1]!, /^dash-report\s+1\s+1\s+0\s+0\.0\s+0\.0\s+0\s+0$/m)

        const json = yield* heimdall([...flags("dash-top"), "top", "--iterations", "2", "--json"])
        assert.strictEqual(json.code, 0, json.stderr)
        const lines = json.stdout
          .trimEnd()
          .split("\n")
          .map((l) => JSON.parse(l))
        assert.strictEqual(lines.length, 2)
        assert.strictEqual(lines[0].queue, "dash-top")
        assert.strictEqual(lines[0].counts.byName["dash-report"].queued, 1)
        assert.strictEqual(lines[0].counts.byName["dash-report"].scheduled, 1)
        assert.isUndefined(lines[0].rates)
        assert.deepStrictEqual(lines[1].rates.total, { succeeded: 0, failed: 0 })
        const gap = lines[1].at - lines[0].at
        assert.isTrue(gap >= 900 && gap < 5000, `refreshed ${gap} ms apart`)
        assert.deepStrictEqual(lines[1].workers, [])

        // without --iterations it runs until a signal, and ends on it without a trace
        const live = spawn(process.execPath, [bin, ...flags("dash-top"), "top", "--json"], {
          env: { ...process.env, REDIS_URL: redisUrl },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let out = ""
        let err = ""
        live.stdout.on("data", (chunk) => {
          out += chunk
        })
        live.stderr.on("data", (chunk) => {
          err += chunk
        })
        const ended = new Promise<number | null>((resolve) => live.on("exit", (code) => resolve(code)))
        yield* Effect.promise(async () => {
          const deadline = Date.now() + 15_000
          while (out.split("\n").length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
        })
        live.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => ended), 130)
        assert.strictEqual(err, "")
        const printed = out.trimEnd().split("\n")
        assert.isAtLeast(printed.length, 2)
        for (const line of printed) assert.strictEqual(JSON.parse(line).queue, "dash-top")
      })
    )
  })
})
