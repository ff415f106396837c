/**
 * 3. Enqueue-to-start latency with an idle worker: the worker has been idle
 * (blocked on Redis) for the gap, then one task is enqueued; latency = the
 * handler's start - the enqueue call, in the same process. Next to it, the
 * floor: a PING on a connection idle for the same gap.
 */
import { Redis as IORedis } from "ioredis"
import type { Context, Row } from "../lib/context.ts"
import { percentile, sleep, summarize } from "../lib/stats.ts"
import * as BullPeer from "../peers/bullmq.ts"
import * as HeimdallPeer from "../peers/heimdall.ts"

export const run = async (ctx: Context): Promise<Array<Row>> => {
  const { latencyRounds: rounds, latencyGapMs: gap } = ctx.settings
  await ctx.admin.flushdb()
  const producer = HeimdallPeer.makeProducer(ctx.url, "latency")
  const queue = BullPeer.makeQueue(ctx.port, "latency")
  await queue.waitUntilReady()
  const ping = new IORedis(ctx.url)
  const waiting = new Map<number, (t: number) => void>()
  const started = (n: number) => waiting.get(n)?.(performance.now())
  const heimdallWorker = await HeimdallPeer.startWorker(ctx.url, "latency", 10, started)
  const bullWorker = await BullPeer.startWorker(ctx.port, "latency", 10, started)
  let next = 0
  const startOf = (n: number) =>
    new Promise<number>((resolve) => {
      waiting.set(n, resolve)
    })
  const variants = [
    {
      peer: "effect-heimdall",
      once: async () => {
        const n = next++
        const start = startOf(n)
        const t0 = performance.now()
        await producer.runPromise(HeimdallPeer.enqueue(n))
        return (await start) - t0
      }
    },
    {
      peer: "BullMQ",
      once: async () => {
        const n = next++
        const start = startOf(n)
        const t0 = performance.now()
        await BullPeer.add(queue, n)
        return (await start) - t0
      }
    },
    {
      peer: "raw Redis",
      once: async () => {
        const t0 = performance.now()
        await ping.ping()
        return performance.now() - t0
      }
    }
  ]
  try {
    // warm-up
    for (const v of variants) for (let i = 0; i < 5; i++) await v.once()
    await sleep(300)
    const samples = variants.map(() => [] as Array<number>)
    for (let round = 0; round < rounds; round++) {
      // rotate the order so no variant always follows the same one
      for (let k = 0; k < variants.length; k++) {
        const i = (round + k) % variants.length
        await sleep(gap)
        samples[i]!.push(await variants[i]!.once())
      }
    }
    const rows: Array<Row> = []
    for (const [p, name] of [
      [0.5, "p50"],
      [0.99, "p99"]
    ] as const) {
      const value = (i: number) => {
        const x = percentile(samples[i]!, p)
        return summarize([x])
      }
      const h = percentile(samples[0]!, p)
      const b = percentile(samples[1]!, p)
      rows.push(
        {
          section: "3. latency",
          case: `enqueue → start, idle worker, ${name}`,
          peer: "effect-heimdall",
          unit: "ms",
          higherIsBetter: false,
          value: value(0),
          ratio: { against: "BullMQ", value: h / b }
        },
        {
          section: "3. latency",
          case: `enqueue → start, idle worker, ${name}`,
          peer: "BullMQ",
          unit: "ms",
          higherIsBetter: false,
          value: value(1)
        },
        {
          section: "3. latency",
          case: `enqueue → start, idle worker, ${name}`,
          peer: "raw Redis",
          unit: "ms",
          higherIsBetter: false,
          value: value(2),
          note: "PING after the same idle gap (the floor)"
        }
      )
      ctx.log(
        `  ${name}: heimdall ${h.toFixed(2)} ms, bullmq ${b.toFixed(2)} ms, PING ${percentile(samples[2]!, p).toFixed(2)} ms`
      )
    }
    return rows.map((r) => ({ ...r, note: r.note ?? `${rounds} samples, ${gap} ms idle gap before each` }))
  } finally {
    await heimdallWorker.stop()
    await bullWorker.stop()
    ping.disconnect()
    await queue.close()
    await producer.dispose()
    await ctx.admin.flushdb()
  }
}
