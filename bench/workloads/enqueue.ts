/**
 * 1. Enqueue throughput: plain and unique, 1 and 50 in flight, alternating
 * effect-heimdall and BullMQ in every round. The queue is emptied (FLUSHDB)
 * before each sample, so every sample starts from the same state.
 */

import { type Context, order, pairedRatio, type Row } from "../lib/context.ts"
import { loopEffect, loopPromise } from "../lib/measure.ts"
import { summarize } from "../lib/stats.ts"
import * as BullPeer from "../peers/bullmq.ts"
import * as HeimdallPeer from "../peers/heimdall.ts"

export const run = async (ctx: Context): Promise<Array<Row>> => {
  const { rounds, ms } = ctx.settings
  const producer = HeimdallPeer.makeProducer(ctx.url, "enqueue")
  const queue = BullPeer.makeQueue(ctx.port, "enqueue")
  await queue.waitUntilReady()
  let next = 1_000_000 // distinct payloads (and deduplication ids) across every sample
  const uniqueSupported = HeimdallPeer.NoopUnique !== undefined
  const variants = [
    {
      kind: "plain",
      peer: "effect-heimdall",
      run: (inFlight: number) => loopEffect(producer, () => HeimdallPeer.enqueue(next++), inFlight, ms)
    },
    {
      kind: "plain",
      peer: "BullMQ",
      run: (inFlight: number) => loopPromise(() => BullPeer.add(queue, next++), inFlight, ms)
    },
    ...(uniqueSupported
      ? [
          {
            kind: "unique",
            peer: "effect-heimdall",
            run: (inFlight: number) => loopEffect(producer, () => HeimdallPeer.enqueueUnique(next++), inFlight, ms)
          }
        ]
      : []),
    {
      kind: "unique",
      peer: "BullMQ",
      run: (inFlight: number) => loopPromise(() => BullPeer.addUnique(queue, next++), inFlight, ms)
    }
  ]
  try {
    // warm-up: scripts loaded, JIT settled
    for (const v of variants) {
      await v.run(50)
      await ctx.admin.flushdb()
    }
    const rows: Array<Row> = []
    for (const inFlight of [1, 50]) {
      const samples = variants.map(() => [] as Array<number>)
      for (let round = 0; round < rounds; round++) {
        for (const i of order(
          variants.map((_, i) => i),
          round
        )) {
          await ctx.admin.flushdb()
          samples[i]!.push(await variants[i]!.run(inFlight))
        }
      }
      for (const kind of ["plain", "unique"]) {
        const h = variants.findIndex((v) => v.kind === kind && v.peer === "effect-heimdall")
        const b = variants.findIndex((v) => v.kind === kind && v.peer === "BullMQ")
        const label = `${kind === "plain" ? "enqueue" : "unique enqueue"}, ${inFlight === 1 ? "sequential" : `${inFlight} in flight`}`
        rows.push({
          section: "1. enqueue",
          case: label,
          peer: "effect-heimdall",
          unit: "tasks/s",
          higherIsBetter: true,
          value: h === -1 ? undefined : summarize(samples[h]!),
          ratio: h === -1 ? undefined : { against: "BullMQ", value: pairedRatio(samples[h]!, samples[b]!) },
          note: h === -1 ? "pending issue 5 (Task.make `unique` not in src/Task.ts yet)" : undefined
        })
        rows.push({
          section: "1. enqueue",
          case: label,
          peer: "BullMQ",
          unit: "tasks/s",
          higherIsBetter: true,
          value: summarize(samples[b]!),
          note: kind === "unique" ? "deduplication: { id }" : undefined
        })
        ctx.log(
          `  ${label}: heimdall ${h === -1 ? "pending" : Math.round(summarize(samples[h]!).median)}, bullmq ${Math.round(summarize(samples[b]!).median)} tasks/s`
        )
      }
    }
    return rows
  } finally {
    await queue.close()
    await producer.dispose()
    await ctx.admin.flushdb()
  }
}
