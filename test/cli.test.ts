/**
 * The `heimdall` command, run as a user runs it: the built binary (dist/cli/main.js, the package's `bin`) in its own
 * process, against the test Redis, on tasks and locks that the library wrote.
 */
import { execFile } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { Heimdall, Task } from "../src/index.ts"
import { describeRedis, keyPrefix, redisLayer, redisUrl } from "./support/redis.ts"

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

describeRedis("heimdall CLI", () => {
  layer(backend, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("tasks show: a task's record as JSON and as a table that fits 80 columns", () =>
      Effect.gen(function* () {
        const handle = yield* Task.enqueue(Report, { customerId: 7 })
        const json = yield* heimdall([...flags, "tasks", "show", handle.id, "--json"])
        assert.strictEqual(json.code, 0, json.stderr)
        const record = JSON.parse(json.stdout)
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
