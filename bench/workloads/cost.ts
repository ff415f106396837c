/**
 * 6. Cost per task. Commands: enqueue `costTasks` tasks (50 in flight), then
 * drain them with a worker of concurrency 10, and count what Redis received
 * (MONITOR: round trips sent by clients, apart from the commands scripts ran
 * inside) and executed (`INFO commandstats`, scripts' inner calls included),
 * per task. Memory: `INFO memory` used_memory before and after enqueueing
 * `memoryTasks` tasks that wait (no worker), per task; unique tasks with the
 * default key (the task name and a 32-hex hash of the payload) and with the
 * key `u<n>`, the id BullMQ's deduplication gets here.
 */

import type { Context, Row } from "../lib/context.ts"
import { commandStats, delta, startMonitor, usedMemory } from "../lib/redis.ts"
import { sleep, summarize } from "../lib/stats.ts"
import * as BullPeer from "../peers/bullmq.ts"
import * as HeimdallPeer from "../peers/heimdall.ts"

export interface CommandCost {
  readonly roundTrips: number
  readonly executed: number
  readonly roundTripsByCommand: Record<string, number>
  readonly executedByCommand: Record<string, number>
}

const perTask = (counts: Record<string, number>, n: number) =>
  Object.fromEntries(
    Object.entries(counts)
      .sort(([, a], [, b]) => b - a)
      .map(([k, v]) => [k, Math.round((v / n) * 1000) / 1000])
  )
const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0)

export const run = async (ctx: Context): Promise<Array<Row>> => {
  const { costTasks: n, memoryTasks: m } = ctx.settings

  const commands = async (fill: () => Promise<void>, drain: () => Promise<void>): Promise<CommandCost> => {
    await ctx.admin.flushdb()
    const monitor = await startMonitor(ctx.url)
    const before = await commandStats(ctx.admin)
    await fill()
    await drain()
    await sleep(100)
    const after = await commandStats(ctx.admin)
    await monitor.stop()
    const executed = delta(before, after)
    return {
      roundTrips: total(monitor.client) / n,
      executed: total(executed) / n,
      roundTripsByCommand: perTask(monitor.client, n),
      executedByCommand: perTask(executed, n)
    }
  }

  const memory = async (fill: () => Promise<void>): Promise<number> => {
    await ctx.admin.flushdb()
    await sleep(50)
    const m0 = await usedMemory(ctx.admin)
    await fill()
    const m1 = await usedMemory(ctx.admin)
    return (m1 - m0) / m
  }

  const producer = HeimdallPeer.makeProducer(ctx.url, "cost")
  const queue = BullPeer.makeQueue(ctx.port, "cost")
  await queue.waitUntilReady()
  try {
    // warm-up: scripts loaded
    await HeimdallPeer.prefill(producer, 10)
    await BullPeer.prefill(queue, 10)

    const heimdall = await commands(
      () => HeimdallPeer.prefill(producer, n),
      async () => {
        const finished = await HeimdallPeer.awaitFinished(ctx.url, "cost", n)
        const worker = await HeimdallPeer.startWorker(ctx.url, "cost", 10, () => {})
        await finished.done
        await worker.stop()
      }
    )
    const bull = await commands(
      () => BullPeer.prefill(queue, n),
      () => BullPeer.drain(ctx.port, "cost", 10, n)
    )
    const memHeimdall = await memory(() => HeimdallPeer.prefill(producer, m))
    const memBull = await memory(() => BullPeer.prefill(queue, m))
    let next = 0
    const memHeimdallUnique =
      HeimdallPeer.NoopUnique === undefined
        ? undefined
        : await memory(() =>
            producer.runPromise(
              // effect-heimdall unique tasks, distinct payloads
              HeimdallPeer.prefillWith((i) => HeimdallPeer.enqueueUnique(i), m)
            )
          )
    const memHeimdallUniqueKeyed = await memory(() =>
      producer.runPromise(HeimdallPeer.prefillWith((i) => HeimdallPeer.enqueueUniqueKeyed(i), m))
    )
    const memBullUnique = await memory(async () => {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (next < m) await BullPeer.addUnique(queue, next++)
        })
      )
    })

    const section = "6. cost"
    const fmtBreakdown = (c: Record<string, number>) =>
      Object.entries(c)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")
    ctx.log(
      `  round trips per task: heimdall ${heimdall.roundTrips.toFixed(2)} (${fmtBreakdown(heimdall.roundTripsByCommand)})`
    )
    ctx.log(
      `                        bullmq   ${bull.roundTrips.toFixed(2)} (${fmtBreakdown(bull.roundTripsByCommand)})`
    )
    ctx.log(`  executed per task:    heimdall ${heimdall.executed.toFixed(2)}, bullmq ${bull.executed.toFixed(2)}`)
    ctx.log(`  bytes per waiting task: heimdall ${memHeimdall.toFixed(0)}, bullmq ${memBull.toFixed(0)}`)
    ctx.log(
      `  bytes per waiting unique task: heimdall ${memHeimdallUnique?.toFixed(0)} (key u<n>: ${memHeimdallUniqueKeyed.toFixed(0)}), bullmq ${memBullUnique.toFixed(0)}`
    )
    const rows: Array<Row> = [
      {
        section,
        case: "round trips per task (enqueue + run)",
        peer: "effect-heimdall",
        unit: "commands",
        higherIsBetter: false,
        value: summarize([heimdall.roundTrips]),
        ratio: { against: "BullMQ", value: heimdall.roundTrips / bull.roundTrips },
        note: fmtBreakdown(heimdall.roundTripsByCommand)
      },
      {
        section,
        case: "round trips per task (enqueue + run)",
        peer: "BullMQ",
        unit: "commands",
        higherIsBetter: false,
        value: summarize([bull.roundTrips]),
        note: fmtBreakdown(bull.roundTripsByCommand)
      },
      {
        section,
        case: "commands executed per task (scripts' inner calls included)",
        peer: "effect-heimdall",
        unit: "commands",
        higherIsBetter: false,
        value: summarize([heimdall.executed]),
        ratio: { against: "BullMQ", value: heimdall.executed / bull.executed },
        note: fmtBreakdown(heimdall.executedByCommand)
      },
      {
        section,
        case: "commands executed per task (scripts' inner calls included)",
        peer: "BullMQ",
        unit: "commands",
        higherIsBetter: false,
        value: summarize([bull.executed]),
        note: fmtBreakdown(bull.executedByCommand)
      },
      {
        section,
        case: "memory per waiting task",
        peer: "effect-heimdall",
        unit: "bytes",
        higherIsBetter: false,
        value: summarize([memHeimdall]),
        ratio: { against: "BullMQ", value: memHeimdall / memBull },
        note: `${m.toLocaleString("en-US")} tasks, payload {"n":<int>}`
      },
      {
        section,
        case: "memory per waiting task",
        peer: "BullMQ",
        unit: "bytes",
        higherIsBetter: false,
        value: summarize([memBull]),
        note: `${m.toLocaleString("en-US")} jobs, data {"n":<int>}`
      },
      {
        section,
        case: "memory per waiting unique task",
        peer: "effect-heimdall",
        unit: "bytes",
        higherIsBetter: false,
        value: memHeimdallUnique === undefined ? undefined : summarize([memHeimdallUnique]),
        ratio:
          memHeimdallUnique === undefined ? undefined : { against: "BullMQ", value: memHeimdallUnique / memBullUnique },
        note: memHeimdallUnique === undefined ? "pending issue 5" : "default key: task name and payload hash"
      },
      {
        section,
        case: "memory per waiting unique task",
        peer: "effect-heimdall (key u<n>)",
        unit: "bytes",
        higherIsBetter: false,
        value: summarize([memHeimdallUniqueKeyed]),
        ratio: { against: "BullMQ", value: memHeimdallUniqueKeyed / memBullUnique },
        note: 'unique: { key: ({ n }) => "u" + n }, the id BullMQ gets'
      },
      {
        section,
        case: "memory per waiting unique task",
        peer: "BullMQ",
        unit: "bytes",
        higherIsBetter: false,
        value: summarize([memBullUnique]),
        note: "deduplication: { id }"
      }
    ]
    return rows
  } finally {
    await queue.close()
    await producer.dispose()
    await ctx.admin.flushdb()
  }
}
