/**
 * 2. End to end: the queue holds `drainCount` no-op tasks; a worker with
 * concurrency 1, 10 or 50 starts and runs them all. Time from starting the
 * worker to the last completion recorded in Redis, as each worker reports it (BullMQ's `completed` events,
 * effect-heimdall's `Task.metrics.succeeded`); tasks/s. Also the Redis
 * server's CPU time per task (INFO cpu), which bounds any queue on one
 * Redis core.
 */

import { type Context, order, pairedRatio, type Row } from "../lib/context.ts"
import { redisCpuSeconds } from "../lib/redis.ts"
import { summarize } from "../lib/stats.ts"
import * as BullPeer from "../peers/bullmq.ts"
import * as HeimdallPeer from "../peers/heimdall.ts"

interface Sample {
  readonly tasksPerSecond: number
  readonly redisCpuMicrosPerTask: number
}

export const run = async (ctx: Context): Promise<Array<Row>> => {
  const { rounds, drainCount: count, drainConcurrency } = ctx.settings
  const producer = HeimdallPeer.makeProducer(ctx.url, "drain")
  const queue = BullPeer.makeQueue(ctx.port, "drain")
  await queue.waitUntilReady()

  const measure = async (fill: () => Promise<void>, drain: () => Promise<void>): Promise<Sample> => {
    await ctx.admin.flushdb()
    await fill()
    const cpu0 = await redisCpuSeconds(ctx.admin)
    const t0 = performance.now()
    await drain()
    const elapsed = performance.now() - t0
    const cpu = (await redisCpuSeconds(ctx.admin)) - cpu0
    return { tasksPerSecond: (count * 1000) / elapsed, redisCpuMicrosPerTask: (cpu * 1e6) / count }
  }

  const heimdall = (concurrency: number) =>
    measure(
      () => HeimdallPeer.prefill(producer, count),
      async () => {
        // the end: the last start, then the worker's count of completions (as BullMQ's harness counts its
        // worker's "completed" events), polled every millisecond only after the last start
        const before = HeimdallPeer.succeededSoFar()
        let started = 0
        let allStarted!: () => void
        const starting = new Promise<void>((resolve) => {
          allStarted = resolve
        })
        const worker = await HeimdallPeer.startWorker(ctx.url, "drain", concurrency, () => {
          if (++started === count) allStarted()
        })
        await starting
        while (HeimdallPeer.succeededSoFar() - before < count) await new Promise((resolve) => setTimeout(resolve, 1))
        await worker.stop()
      }
    )
  const bull = (concurrency: number) =>
    measure(
      () => BullPeer.prefill(queue, count),
      () => BullPeer.drain(ctx.port, "drain", concurrency, count)
    )
  const peers = [
    { peer: "effect-heimdall", run: heimdall },
    { peer: "BullMQ", run: bull }
  ]

  try {
    const rows: Array<Row> = []
    for (const concurrency of drainConcurrency) {
      const samples = peers.map(() => [] as Array<Sample>)
      for (let round = 0; round < rounds; round++) {
        for (const i of order([0, 1], round)) samples[i]!.push(await peers[i]!.run(concurrency))
      }
      const tps = samples.map((s) => s.map((x) => x.tasksPerSecond))
      const cpu = samples.map((s) => s.map((x) => x.redisCpuMicrosPerTask))
      const label = `drain ${count.toLocaleString("en-US")} tasks, concurrency ${concurrency}`
      rows.push(
        {
          section: "2. end to end",
          case: label,
          peer: "effect-heimdall",
          unit: "tasks/s",
          higherIsBetter: true,
          value: summarize(tps[0]!),
          ratio: { against: "BullMQ", value: pairedRatio(tps[0]!, tps[1]!) }
        },
        {
          section: "2. end to end",
          case: label,
          peer: "BullMQ",
          unit: "tasks/s",
          higherIsBetter: true,
          value: summarize(tps[1]!)
        },
        {
          section: "2. end to end",
          case: `Redis CPU per task, concurrency ${concurrency}`,
          peer: "effect-heimdall",
          unit: "µs",
          higherIsBetter: false,
          value: summarize(cpu[0]!),
          ratio: { against: "BullMQ", value: pairedRatio(cpu[0]!, cpu[1]!) }
        },
        {
          section: "2. end to end",
          case: `Redis CPU per task, concurrency ${concurrency}`,
          peer: "BullMQ",
          unit: "µs",
          higherIsBetter: false,
          value: summarize(cpu[1]!)
        }
      )
      ctx.log(
        `  ${label}: heimdall ${Math.round(summarize(tps[0]!).median)}, bullmq ${Math.round(summarize(tps[1]!).median)} tasks/s`
      )
    }
    return rows
  } finally {
    await queue.close()
    await producer.dispose()
    await ctx.admin.flushdb()
  }
}
