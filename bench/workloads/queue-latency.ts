/**
 * Diagnostic (`--only queue-latency`, not in the default run): enqueue-to-start
 * latency of effect-heimdall alone, with an idle worker (concurrency 4), next
 * to a Redis `PING` after the same idle gap, and how late a delayed task
 * (delay 100 ms) starts after its due time.
 *
 * Each round: the worker has been idle (blocked) for `queueLatencyGapMs`, then
 * one task is enqueued; latency = handler start - enqueue call. Then, after
 * the same gap, one `PING` on the producer's connection. Then up to 10
 * delayed tasks, one per gap. The producer and the worker use separate Redis
 * clients, as two processes would. Section 3 (`--only latency`) is the
 * comparison with BullMQ; this is the same measurement with a longer gap,
 * plus the delayed start.
 */
import { Effect } from "effect"
import type { Context, Row } from "../lib/context.ts"
import { percentile } from "../lib/stats.ts"
import * as HeimdallPeer from "../peers/heimdall.ts"

const stats = (xs: ReadonlyArray<number>) =>
  `median ${percentile(xs, 0.5).toFixed(2)} ms  p90 ${percentile(xs, 0.9).toFixed(2)} ms  max ${Math.max(...xs).toFixed(2)} ms  (n=${xs.length})`

export const run = async (ctx: Context): Promise<Array<Row>> => {
  const { queueLatencyRounds: rounds, queueLatencyGapMs: gap } = ctx.diagnostics
  await ctx.admin.flushdb()
  const producer = HeimdallPeer.makeProducer(ctx.url, "queue-latency")
  const waiting = new Map<number, (t: number) => void>()
  const worker = await HeimdallPeer.startWorker(ctx.url, "queue-latency", 4, (n) => waiting.get(n)?.(performance.now()))
  const startOf = (n: number) => {
    const start = new Promise<number>((resolve) => waiting.set(n, resolve))
    return Effect.promise(() => start)
  }
  try {
    await producer.runPromise(
      Effect.gen(function* () {
        yield* Effect.sleep(300) // worker idle, blocked on its reserved connection
        const latencies: Array<number> = []
        const pings: Array<number> = []
        const late: Array<number> = []
        for (let n = 0; n < rounds; n++) {
          yield* Effect.sleep(gap)
          const start = startOf(n)
          const t0 = performance.now()
          yield* HeimdallPeer.enqueue(n)
          latencies.push((yield* start) - t0)

          yield* Effect.sleep(gap)
          const p0 = performance.now()
          yield* HeimdallPeer.rawSend("PING")
          pings.push(performance.now() - p0)
        }
        for (let n = rounds; n < rounds + Math.min(rounds, 10); n++) {
          yield* Effect.sleep(gap)
          const start = startOf(n)
          const t0 = performance.now()
          yield* HeimdallPeer.enqueueDelayed(n, 100)
          late.push((yield* start) - (t0 + 100))
        }
        ctx.log(`  idle gap ${gap} ms before each measurement`)
        ctx.log(`  enqueue -> start (idle worker): ${stats(latencies)}`)
        ctx.log(`  Redis PING round trip:          ${stats(pings)}`)
        ctx.log(`  delayed 100 ms, start - due:    ${stats(late)}`)
      })
    )
    return []
  } finally {
    await worker.stop()
    await producer.dispose()
    await ctx.admin.flushdb()
  }
}
