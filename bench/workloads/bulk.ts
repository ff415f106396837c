/**
 * 8. Many tasks in one call, and one enqueue at a time. `Task.enqueueAll` of
 * `bulkTasks` tasks against BullMQ's `addBulk` of as many jobs (the queue
 * emptied before each sample, the two alternating over the rounds): tasks/s
 * of the whole call. Then lone enqueues: `loneEnqueues` enqueues one after the
 * other (nothing else in flight, so no batch forms), effect-heimdall and
 * BullMQ alternating one by one, each timed on its own: p50 and p95.
 */
import { Effect } from "effect"
import { type Context, order, pairedRatio, type Row } from "../lib/context.ts"
import { percentile, summarize } from "../lib/stats.ts"
import * as BullPeer from "../peers/bullmq.ts"
import * as HeimdallPeer from "../peers/heimdall.ts"

export const run = async (ctx: Context): Promise<Array<Row>> => {
  const { rounds, bulkTasks: n, loneEnqueues: lone } = ctx.settings
  const producer = HeimdallPeer.makeProducer(ctx.url, "bulk")
  const queue = BullPeer.makeQueue(ctx.port, "bulk")
  await queue.waitUntilReady()
  let next = 0 // distinct payloads across every sample
  const payloads = () => Array.from({ length: n }, () => next++)
  const variants = [
    {
      peer: "effect-heimdall",
      once: async () => {
        const batch = payloads()
        const t0 = performance.now()
        const created = await producer.runPromise(HeimdallPeer.enqueueAll(batch))
        const seconds = (performance.now() - t0) / 1000
        if (created !== n) throw new Error(`enqueueAll created ${created} of ${n} tasks`)
        return n / seconds
      }
    },
    {
      peer: "BullMQ",
      once: async () => {
        const batch = payloads()
        const t0 = performance.now()
        const jobs = await BullPeer.addBulk(queue, batch)
        const seconds = (performance.now() - t0) / 1000
        if (jobs !== n) throw new Error(`addBulk added ${jobs} of ${n} jobs`)
        return n / seconds
      }
    }
  ]
  try {
    // warm-up: scripts loaded, JIT settled
    for (const v of variants) await v.once()
    const samples = variants.map(() => [] as Array<number>)
    for (let round = 0; round < rounds; round++) {
      for (const i of order([0, 1], round)) {
        await ctx.admin.flushdb()
        samples[i]!.push(await variants[i]!.once())
      }
    }
    const section = "8. enqueueAll and lone enqueue"
    const bulkCase = `${n.toLocaleString("en-US")} tasks in one call`
    const rows: Array<Row> = [
      {
        section,
        case: bulkCase,
        peer: "effect-heimdall",
        unit: "tasks/s",
        higherIsBetter: true,
        value: summarize(samples[0]!),
        ratio: { against: "BullMQ", value: pairedRatio(samples[0]!, samples[1]!) },
        note: "Task.enqueueAll"
      },
      {
        section,
        case: bulkCase,
        peer: "BullMQ",
        unit: "tasks/s",
        higherIsBetter: true,
        value: summarize(samples[1]!),
        note: "Queue.addBulk"
      }
    ]
    ctx.log(
      `  ${bulkCase}: heimdall ${Math.round(summarize(samples[0]!).median)}, bullmq ${Math.round(summarize(samples[1]!).median)} tasks/s`
    )

    // lone enqueues: effect-heimdall timed inside one Effect run (no runPromise per enqueue), BullMQ by its promise
    await ctx.admin.flushdb()
    const heimdallOnce = Effect.gen(function* () {
      const t0 = performance.now()
      yield* HeimdallPeer.enqueue(next++)
      return performance.now() - t0
    })
    const bullOnce = async () => {
      const t0 = performance.now()
      await BullPeer.add(queue, next++)
      return performance.now() - t0
    }
    const heimdallMs: Array<number> = []
    const bullMs: Array<number> = []
    await producer.runPromise(
      Effect.gen(function* () {
        for (let i = 0; i < 50; i++) {
          // warm-up
          yield* heimdallOnce
          yield* Effect.promise(bullOnce)
        }
        for (let i = 0; i < lone; i++) {
          // alternate which goes first, so neither always follows the other
          if (i % 2 === 0) {
            heimdallMs.push(yield* heimdallOnce)
            bullMs.push(yield* Effect.promise(bullOnce))
          } else {
            bullMs.push(yield* Effect.promise(bullOnce))
            heimdallMs.push(yield* heimdallOnce)
          }
        }
      })
    )
    for (const [p, name] of [
      [0.5, "p50"],
      [0.95, "p95"]
    ] as const) {
      const h = percentile(heimdallMs, p)
      const b = percentile(bullMs, p)
      const loneCase = `lone enqueue latency, ${name}`
      rows.push(
        {
          section,
          case: loneCase,
          peer: "effect-heimdall",
          unit: "ms",
          higherIsBetter: false,
          value: summarize([h]),
          ratio: { against: "BullMQ", value: h / b },
          note: `${lone.toLocaleString("en-US")} enqueues, one at a time`
        },
        {
          section,
          case: loneCase,
          peer: "BullMQ",
          unit: "ms",
          higherIsBetter: false,
          value: summarize([b]),
          note: `${lone.toLocaleString("en-US")} adds, one at a time`
        }
      )
      ctx.log(`  ${loneCase}: heimdall ${h.toFixed(3)} ms, bullmq ${b.toFixed(3)} ms`)
    }
    return rows
  } finally {
    await queue.close()
    await producer.dispose()
    await ctx.admin.flushdb()
  }
}
