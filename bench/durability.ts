/**
 * What `durability: { replicas: 1, timeout }` costs on a Redis Cluster (issue 14, item 5): a private local cluster
 * (3 masters, 3 replicas, loopback; test/support/redisCluster.ts), and on it, with and without durability, in
 * alternating rounds:
 *
 * - one `Task.enqueue` at a time, and one `Heimdall.take` at a time: p50 and p95 latency, and the commands the
 *   master ran per call (`INFO commandstats`: EVALSHA and WAIT; both leave the client in one write, one round trip);
 * - 50 enqueues (and takes) in flight on the one shared connection: calls per second (a WAIT holds the connection's
 *   later replies until the replica answers, so this is where durability costs most).
 *
 * Usage: `node bench/durability.ts [--rounds 3] [--count 2000]` (Node 24; needs redis-server and redis-cli).
 */
import { Effect, Layer, Schema } from "effect"
import { Redis as IORedis } from "ioredis"
import * as Heimdall from "../src/Heimdall.ts"
import { RedisIoredis } from "../src/index.ts"
import { keySlot } from "../src/internal/slot.ts"
import * as Task from "../src/Task.ts"
import { startRedisCluster } from "../test/support/redisCluster.ts"
import { fmt, median, percentile, table } from "./lib/stats.ts"

const args = process.argv.slice(2)
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const rounds = flag("rounds", 3)
const count = flag("count", 2000)
const inFlight = 50

const Note = Task.make("bench-durable", { payload: Schema.Number })

const cluster = await startRedisCluster()
try {
  const queue = "bench-durable"
  // the master of the queue's slot, for its commandstats
  const seed = new IORedis({ host: "127.0.0.1", port: Number(cluster.nodes[0]!.split(":")[1]) })
  const slot = keySlot(`{${queue}}`)
  const slots = (await seed.call("CLUSTER", "SLOTS")) as Array<[number, number, [string, number]]>
  const [host, port] = slots.find(([from, to]) => slot >= from && slot <= to)![2]
  seed.disconnect()
  const master = new IORedis({ host, port })
  // the replica's link is up (a cluster just created may still be syncing it)
  while (!/slave0:.*state=online/.test(String(await master.call("INFO", "replication")))) {
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const commandsOn = async () => {
    const stats = String(await master.call("INFO", "commandstats"))
    const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
    return { evalsha: calls("evalsha"), wait: calls("wait") }
  }

  type Mode = "off" | "on"
  const live = (mode: Mode) =>
    Heimdall.layerRedis({
      queue,
      queuePrefix: `bench-${mode}`,
      ratePrefix: `bench-${mode}-rate:`,
      ...(mode === "on" ? { durability: { replicas: 1, timeout: "1 second" } } : {})
    }).pipe(Layer.provideMerge(RedisIoredis.layerCluster(cluster.nodes, { commandTimeout: "5 seconds" })))

  const results: Record<string, Record<Mode, { lat: Array<number>; perSec: Array<number>; cmds: Array<string> }>> = {
    enqueue: { off: { lat: [], perSec: [], cmds: [] }, on: { lat: [], perSec: [], cmds: [] } },
    take: { off: { lat: [], perSec: [], cmds: [] }, on: { lat: [], perSec: [], cmds: [] } }
  }
  const ops = {
    enqueue: (i: number) => Effect.asVoid(Task.enqueue(Note, i)),
    // on the queue's hash tag, so it runs on the same master; a limit it never reaches
    take: (_: number) => Effect.asVoid(Heimdall.take(`{${queue}}:rate`, { times: 1_000_000_000, per: "1 second" }))
  }
  for (let round = 0; round < rounds; round++) {
    const modes: Array<Mode> = round % 2 === 0 ? ["off", "on"] : ["on", "off"]
    for (const mode of modes) {
      await Effect.runPromise(
        Effect.provide(
          Effect.gen(function* () {
            for (const [name, op] of Object.entries(ops) as Array<
              [keyof typeof ops, (i: number) => Effect.Effect<void, unknown, any>]
            >) {
              for (let i = 0; i < 200; i++) yield* op(i) // warm up (scripts loaded, connections open)
              const before = yield* Effect.promise(commandsOn)
              const lat: Array<number> = []
              for (let i = 0; i < count; i++) {
                const start = performance.now()
                yield* op(i)
                lat.push(performance.now() - start)
              }
              const after = yield* Effect.promise(commandsOn)
              const r = results[name]![mode]
              r.lat.push(...lat)
              r.cmds.push(
                `${fmt((after.evalsha - before.evalsha) / count, 2)} EVALSHA + ${fmt((after.wait - before.wait) / count, 2)} WAIT`
              )
              const start = performance.now()
              yield* Effect.forEach(
                Array.from({ length: count * 2 }, (_, i) => i),
                op,
                { concurrency: inFlight, discard: true }
              )
              r.perSec.push((count * 2) / ((performance.now() - start) / 1000))
            }
          }) as Effect.Effect<void, unknown, never>,
          live(mode)
        )
      )
    }
  }
  master.disconnect()
  const rows: Array<Array<string>> = []
  for (const name of ["enqueue", "take"] as const) {
    for (const mode of ["off", "on"] as const) {
      const r = results[name]![mode]
      rows.push([
        name,
        mode === "on" ? "replicas 1" : "off",
        fmt(median(r.lat), 3),
        fmt(percentile(r.lat, 0.95), 3),
        r.cmds[0]!,
        fmt(median(r.perSec))
      ])
    }
  }
  console.log(
    table(
      [
        "operation",
        "durability",
        "p50 ms (1 at a time)",
        "p95 ms",
        "commands per call (master)",
        `calls/s (${inFlight} in flight)`
      ],
      rows
    )
  )
  console.log(`${rounds} rounds x ${count} sequential calls (and ${count * 2} at ${inFlight} in flight) per mode`)
} finally {
  await cluster.stop()
}
