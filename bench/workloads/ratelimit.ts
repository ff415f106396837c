/**
 * 4. Rate-limit accuracy: limit 10 per second, 2 worker processes x
 * concurrency 10, 300 tasks queued at once. From the start times of all tasks
 * (wall clock, one machine): the most starts in any sliding 1 s window (one
 * window starting at each start), how many of those windows exceed the
 * limit, and the achieved rate N / (last start - first start + 1 s) against
 * the allowed one.
 */
import { type ChildProcess, fork } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Context, Row } from "../lib/context.ts"
import { summarize } from "../lib/stats.ts"
import * as BullPeer from "../peers/bullmq.ts"
import * as HeimdallPeer from "../peers/heimdall.ts"

const child = join(dirname(fileURLToPath(import.meta.url)), "ratelimit-child.ts")

export interface Accuracy {
  readonly tasks: number
  readonly maxInWindow: number
  readonly violatingWindows: number
  readonly achievedPerSecond: number
  readonly achievedOverAllowed: number
  readonly spanMs: number
  /** The shortest time covered by `limit + 1` consecutive starts (under `per`: a violation, by `per` - this). */
  readonly tightestMs: number
  /** Violating windows if a window is `per` - 5 ms long: separates limiter errors from timer jitter. */
  readonly violatingWithin5ms: number
}

export const analyze = (starts: ReadonlyArray<number>, limit: number, perMs: number): Accuracy => {
  const s = [...starts].sort((a, b) => a - b)
  let maxInWindow = 0
  let violatingWindows = 0
  let j = 0
  for (let i = 0; i < s.length; i++) {
    if (j < i) j = i
    while (j < s.length && s[j]! < s[i]! + perMs) j++
    const count = j - i
    maxInWindow = Math.max(maxInWindow, count)
    if (count > limit) violatingWindows++
  }
  let tightestMs = Number.POSITIVE_INFINITY
  for (let i = 0; i + limit < s.length; i++) tightestMs = Math.min(tightestMs, s[i + limit]! - s[i]!)
  let violatingWithin5ms = 0
  for (let i = 0, k = 0; i < s.length; i++) {
    if (k < i) k = i
    while (k < s.length && s[k]! < s[i]! + perMs - 5) k++
    if (k - i > limit) violatingWithin5ms++
  }
  const spanMs = s.length > 0 ? s[s.length - 1]! - s[0]! : 0
  const achievedPerSecond = (s.length * 1000) / (spanMs + perMs)
  return {
    tasks: s.length,
    maxInWindow,
    violatingWindows,
    achievedPerSecond,
    achievedOverAllowed: achievedPerSecond / ((limit * 1000) / perMs),
    spanMs,
    tightestMs,
    violatingWithin5ms
  }
}

const runPeer = async (ctx: Context, peer: string, jitter: string): Promise<Accuracy> => {
  const { rateTasks: tasks, rateLimit: limit, rateProcesses, rateConcurrency } = ctx.settings
  await ctx.admin.flushdb()
  const queue = `ratelimit-${peer}-${jitter.replace(/\W/g, "")}`
  const starts: Array<number> = []
  let resolveAll!: () => void
  const all = new Promise<void>((resolve) => {
    resolveAll = resolve
  })
  const children: Array<ChildProcess> = []
  const ready = Array.from({ length: rateProcesses }, () => {
    const p = fork(child, [peer, ctx.url, queue, String(rateConcurrency), String(limit), jitter], {
      execPath: process.execPath,
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    children.push(p)
    return new Promise<void>((resolve, reject) => {
      p.on("message", (message: { ready?: boolean; start?: number }) => {
        if (message.ready) resolve()
        if (message.start !== undefined) {
          starts.push(message.start)
          if (starts.length === tasks) resolveAll()
        }
      })
      p.on("exit", (code) => reject(new Error(`rate-limit worker exited with ${code}`)))
    })
  })
  try {
    await Promise.all(ready)
    if (peer !== "bullmq") {
      const producer = HeimdallPeer.makeProducer(ctx.url, queue)
      await HeimdallPeer.prefill(producer, tasks)
      await producer.dispose()
    } else {
      const q = BullPeer.makeQueue(ctx.port, queue)
      await BullPeer.prefill(q, tasks)
      await q.close()
    }
    const timeout = setTimeout(() => resolveAll(), ((tasks / limit) * 3 + 20) * 1000)
    await all
    clearTimeout(timeout)
  } finally {
    await Promise.all(
      children.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null) return resolve()
            const kill = setTimeout(() => p.kill("SIGKILL"), 15_000)
            p.on("exit", () => {
              clearTimeout(kill)
              resolve()
            })
            p.send("stop")
          })
      )
    )
  }
  return analyze(starts, limit, 1000)
}

export const run = async (ctx: Context): Promise<Array<Row>> => {
  const { rateTasks: tasks, rateLimit: limit, rateProcesses, rateConcurrency } = ctx.settings
  const setup = `${limit}/s, ${rateProcesses} processes x concurrency ${rateConcurrency}, ${tasks} tasks`
  const rows: Array<Row> = []
  const rated = HeimdallPeer.makeRateLimited(limit, "1 second") !== undefined
  const variants = [
    ...(rated
      ? [
          {
            child: "heimdall",
            jitter: "default",
            peer: "effect-heimdall",
            how: "task option rateLimit { times, per } (default jitter: up to per/50)"
          },
          {
            child: "heimdall",
            jitter: "0 millis",
            peer: "effect-heimdall, jitter 0",
            how: "task option rateLimit { times, per, jitter: 0 }"
          }
        ]
      : [
          {
            child: "heimdall-handler",
            jitter: "default",
            peer: "effect-heimdall",
            how: "Heimdall.withRateLimit in the handler (task-level rateLimit pending issue 5)"
          }
        ]),
    { child: "bullmq", jitter: "default", peer: "BullMQ", how: "Worker limiter { max, duration }" }
  ]
  for (const { child: childPeer, jitter, peer, how } of variants) {
    const r = await runPeer(ctx, childPeer, jitter)
    ctx.log(
      `  ${peer}: max ${r.maxInWindow} in a 1 s window, ${r.violatingWindows} violating windows (${r.violatingWithin5ms} with a 995 ms window; tightest ${limit + 1} starts in ${r.tightestMs.toFixed(1)} ms), ${r.achievedPerSecond.toFixed(2)}/s (${(r.achievedOverAllowed * 100).toFixed(1)}% of allowed), ${r.tasks} starts`
    )
    const base = { section: "4. rate-limit accuracy", peer, note: `${setup}; ${how}` }
    rows.push(
      {
        ...base,
        case: "max starts in any 1 s window",
        unit: "starts",
        higherIsBetter: false,
        value: summarize([r.maxInWindow])
      },
      {
        ...base,
        case: "violating 1 s windows",
        unit: "windows",
        higherIsBetter: false,
        value: summarize([r.violatingWindows])
      },
      {
        ...base,
        case: `shortest span of ${limit + 1} consecutive starts`,
        unit: "ms",
        higherIsBetter: true,
        value: summarize([r.tightestMs])
      },
      {
        ...base,
        case: "violating windows of 995 ms (5 ms timer tolerance)",
        unit: "windows",
        higherIsBetter: false,
        value: summarize([r.violatingWithin5ms])
      },
      {
        ...base,
        case: "achieved / allowed rate",
        unit: "%",
        higherIsBetter: true,
        value: summarize([r.achievedOverAllowed * 100])
      },
      { ...base, case: "tasks started", unit: "tasks", higherIsBetter: true, value: summarize([r.tasks]) }
    )
  }
  return rows
}
