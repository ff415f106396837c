/**
 * The task examples (examples/tasks-*.ts) run on memory and on Redis, print
 * what the README says, and exit by themselves.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { hasRedis, redisUrl } from "./support/redis.ts"

const expected: Record<string, ReadonlyArray<RegExp>> = {
  "tasks-basics.ts": [
    /^joined: report for customer 1$/m,
    /^status: succeeded$/m,
    /^failed: ReportFailed: no data for customer 0 \(attempt 3\)$/m,
    /^delayed status: scheduled$/m,
    /^delayed: report for customer 2 after at least 300 ms: true$/m
  ]
}

const run = (file: string, env: Record<string, string | undefined>) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(`../examples/${file}`, import.meta.url))], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (d) => (output += d))
    child.stderr.on("data", (d) => (output += d))
    const killer = setTimeout(() => child.kill("SIGKILL"), 15_000)
    child.on("exit", (code) => {
      clearTimeout(killer)
      resolve({ code, output })
    })
  })

for (const backend of ["memory", "redis"] as const) {
  describe.skipIf(backend === "redis" && !hasRedis)(`task examples on ${backend}`, () => {
    for (const [file, patterns] of Object.entries(expected)) {
      it(`${file} runs, prints what the README says and exits by itself`, { timeout: 20_000 }, async () => {
        const { code, output } = await run(file, { REDIS_URL: backend === "redis" ? redisUrl : undefined })
        assert.strictEqual(code, 0, output)
        for (const pattern of patterns) assert.match(output, pattern)
      })
    }
  })
}
