/**
 * Every file in examples/ runs, on the memory backend and on Redis, and
 * prints what the README says it prints.
 */
import { spawn } from "node:child_process"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { hasRedis, redisUrl } from "./support/redis.ts"

const expected: Record<string, ReadonlyArray<RegExp>> = {
  "locks.ts": [
    /^worker-2 was refused: LockTaken, held by worker-1, expires in (29s|30s)/m,
    /^worker-2 got the lock after the release; fence increased: true$/m,
    /^worker-1 releasing again: false$/m,
    /^withLock: report generated; lock free again: true$/m
  ],
  "rate-limits.ts": [
    /^third call in a second: RateLimited \(limit 2 per 1s, remaining 0\)$/m,
    /^reserved slots, rounded to 100 ms: 0, 0, 500, 500, 1000$/m,
    /^multi-limit: ok, ok, ok, denied by customer-a, ok, ok, denied by everyone$/m,
    /^dynamic: 1:ok 1:limited 2:ok 2:ok$/m,
    /^three waited calls at 1 per 200 ms took at least 400 ms: true$/m
  ],
  "concurrency.ts": [/^rendered 6 pages, at most 2 at once$/m, /^second holder refused: ConcurrencyLimited \(1\/1\)$/m],
  "only-after.ts": [/^onlyAfter: true, false, false, true$/m],
  "demo.ts": [
    /^10 clicks -> 1 task, id [\w-]{16}$/m,
    /^result: report for customer 42: 12 pages$/m,
    /^after it finished, a new click starts a new task: true$/m,
    /^second export: AlreadyQueued \{ likelyCulprit: [\w-]{8}, expiresIn: about (59|60) s \}$/m,
    /^t=0\.5s enqueue -> [\w-]{8}: same task, the interval holds: true$/m,
    /^t=2\.\ds enqueue -> [\w-]{8}: CRM synced \(a new run\)$/m,
    /^most starts in any 1 s window: 2 \(limit 2\); retries spent: 0$/m,
    /^done$/m
  ],
  "unique-tasks.ts": [
    /^10 clicks, 1 task$/m,
    /^another customer, another task: true$/m,
    /^result: report 42$/m,
    /^after it finished: true$/m
  ],
  "unique-expiry.ts": [
    /^while it runs: running, a duplicate gets the same id: true$/m,
    /^after the timeout, a new task is accepted: true$/m
  ],
  "custom-keys.ts": [
    /^constant key: customers 1 and 2 share one task: true$/m,
    /^key by region: eu shares one task: true, us has its own: true$/m,
    /^the default key: report:[0-9a-f]{32}$/m
  ],
  "existing-task.ts": [
    /^same task id both times: true$/m,
    /^strict: STARTED, then ALREADY_RUNNING \(culprit is the first: true\)$/m,
    /^expires in about 3600 s$/m,
    /^once it has finished: STARTED$/m
  ],
  "replace-task.ts": [
    /^Created, then Replaced \(same task: true\)$/m,
    /^saved: Hel$/m,
    /^while running: Replaced \(a new task behind it: true\)$/m,
    /^then: Replaced \(the same task behind: true\)$/m,
    /^after it: Hello!$/m,
    /^every save, in order: Hel, Hell, Hello!$/m
  ],
  "one-behind.ts": [
    /^while it runs: Created, Existing, Existing, Existing$/m,
    /^the three after the first wait in it: true$/m,
    /^then: edit 2$/m,
    /^runs: edit 1, edit 2$/m
  ],
  "debounce.ts": [
    /^first: Created, last: Debounced, same task: true$/m,
    /^start pushed to about 200 ms after the last keystroke: true$/m,
    /^ran once with: hello$/m,
    /^runs: 1$/m
  ],
  "debounce-leading.ts": [
    /^leading: Created, Existing, Existing, Existing, Existing$/m,
    /^both: Created, Debounced, Debounced, Debounced, Debounced$/m,
    /^notified for: deploy 1$/m,
    /^synced versions: 1, 5$/m,
    /^next burst: Created, notified for: deploy 1, deploy 6$/m
  ],
  "unique-hold.ts": [
    /^waiting: 2 requests, 1 task: true$/m,
    /^while it runs \(running\): Created, a new task: true$/m,
    /^the next request joins the new one until it starts: true$/m,
    /^runs: 2$/m
  ],
  "unique-interval.ts": [
    /^first run: synced$/m,
    /^right after it finished, still the same task: true$/m,
    /^after the interval, a new run: true: synced$/m
  ],
  "rate-limited-tasks.ts": [
    /^6 downloads at 2 per second started at: 0\.0, 0\.0, 1\.\d, 1\.\d, 2\.\d, 2\.\d s$/m,
    /^never 3 starts within 1 s: true$/m,
    /^per customer \(1, 1, 2, 2\): succeeded, scheduled, succeeded, succeeded$/m
  ],
  "testing.ts": [
    /^after 59 minutes: same task: true$/m,
    /^after 1 hour: new task: true$/m,
    /^a day later the rate window is open: true$/m
  ],
  "schedules.ts": [
    /^ticks run: at least 4: true, each once: true$/m,
    /^200 ms apart: true$/m,
    /^schedules: beat \(every 200 ms\), nightly \(0 3 \* \* \*\)$/m,
    /^nightly runs next at 03:00:00 in Berlin$/m,
    /^beat's last task is its latest tick: true$/m,
    /^removed: true, true$/m
  ],
  "task-concurrency.ts": [
    /^small started before any big task ended: true$/m,
    /^big: 10 pages, at most 2 at once, each in its turn: true$/m
  ],
  "tasks-basics.ts": [
    /^joined: report for customer 1$/m,
    /^status: succeeded$/m,
    /^failed: ReportFailed: no data for customer 0 \(attempt 3\)$/m,
    /^delayed status: scheduled$/m,
    /^delayed: report for customer 2 after at least 300 ms: true$/m
  ]
}

const runExample = (file: string, env: Record<string, string | undefined>) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(`../examples/${file}`, import.meta.url))], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (d) => (output += d))
    child.stderr.on("data", (d) => (output += d))
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.on("exit", (code) => {
      clearTimeout(killer)
      resolve({ code, output })
    })
  })

for (const backend of ["memory", "redis"] as const) {
  describe.skipIf(backend === "redis" && !hasRedis)(`examples on ${backend}`, () => {
    for (const [file, patterns] of Object.entries(expected)) {
      it(`${file} runs, prints what the README says and exits by itself`, { timeout: 40_000 }, async () => {
        const { code, output } = await runExample(file, { REDIS_URL: backend === "redis" ? redisUrl : undefined })
        assert.strictEqual(code, 0, output)
        for (const pattern of patterns) assert.match(output, pattern)
      })
    }
  })
}

/** A stand-in OTLP/HTTP collector: keeps the JSON bodies POSTed to it. */
const collector = () =>
  new Promise<{ readonly url: string; readonly bodies: Array<any>; readonly close: () => void }>((resolve) => {
    const bodies: Array<any> = []
    const server = createServer((req, res) => {
      let body = ""
      req.on("data", (d) => (body += d))
      req.on("end", () => {
        bodies.push({ path: req.url, json: JSON.parse(body) })
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({ url: `http://127.0.0.1:${port}/v1/metrics`, bodies, close: () => server.close() })
    })
  })

interface OtlpMetric {
  readonly name: string
  readonly sum?: { readonly dataPoints: ReadonlyArray<{ readonly asDouble?: number; readonly attributes: unknown }> }
  readonly histogram?: { readonly dataPoints: ReadonlyArray<{ readonly count: number; readonly sum: number }> }
}

for (const backend of ["memory", "redis"] as const) {
  describe.skipIf(backend === "redis" && !hasRedis)(`metrics-otlp.ts on ${backend}`, () => {
    it("exports the heimdall metrics to an OTLP/HTTP collector", { timeout: 40_000 }, async () => {
      const server = await collector()
      try {
        const { code, output } = await runExample("metrics-otlp.ts", {
          REDIS_URL: backend === "redis" ? redisUrl : undefined,
          OTLP_METRICS_URL: server.url
        })
        assert.strictEqual(code, 0, output)
        assert.match(output, /^emails sent: 3, run durations recorded: 3; takes: ok, ok, denied$/m)
        assert.match(output, /^exported the heimdall metrics$/m)
        assert.isAbove(server.bodies.length, 0)
        assert.strictEqual(server.bodies[0].path, "/v1/metrics")
        // the last export (at shutdown) holds every value: cumulative
        const last = server.bodies[server.bodies.length - 1].json
        const metrics = new Map<string, OtlpMetric>()
        for (const resource of last.resourceMetrics) {
          for (const scope of resource.scopeMetrics) for (const m of scope.metrics) metrics.set(m.name, m)
        }
        const counter = (name: string) => metrics.get(name)?.sum?.dataPoints[0]?.asDouble
        assert.strictEqual(counter("heimdall_tasks_enqueued"), 3)
        assert.strictEqual(counter("heimdall_tasks_succeeded"), 3)
        assert.strictEqual(counter("heimdall_rate_limit_admissions"), 2)
        assert.strictEqual(counter("heimdall_rate_limit_denials"), 1)
        assert.strictEqual(counter("heimdall_lock_acquisitions"), 1)
        assert.deepStrictEqual(metrics.get("heimdall_tasks_succeeded")?.sum?.dataPoints[0]?.attributes, [
          { key: "task", value: { stringValue: "send-email" } }
        ])
        const runs = metrics.get("heimdall_tasks_run_duration_ms")?.histogram?.dataPoints[0]
        assert.strictEqual(runs?.count, 3)
        assert.isAtLeast(runs?.sum ?? 0, 55) // 3 handlers of 20 ms
        assert.strictEqual(metrics.get("heimdall_tasks_enqueue_to_start_ms")?.histogram?.dataPoints[0]?.count, 3)
        assert.strictEqual(metrics.get("heimdall_lock_wait_ms")?.histogram?.dataPoints[0]?.count, 1)
      } finally {
        server.close()
      }
    })
  })
}
