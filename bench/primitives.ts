/**
 * Benchmark of the Heimdall primitives on Redis (issue 3, "Performance").
 *
 *   node bench/primitives.ts [--rounds 5] [--ms 700] [--in-flight 50]
 *
 * Starts a private redis-server, then measures ops/s, in rounds that
 * alternate the variants (A B C, then C B A, ...), of:
 *
 * - lock: raw `SET NX PX` + `DEL` (through the `Redis.send` of RedisIoredis,
 *   and through ioredis directly) vs `Heimdall.acquireLock` + `releaseLock`;
 * - rate: raw `INCR` (both paths) vs `Heimdall.take`;
 * - slot: raw `SET NX PX` + `DEL` vs `Heimdall.acquireSlot` + `releaseSlot`;
 *
 * each with 1 and with `--in-flight` operations in flight. It prints the
 * median ops/s with the range over the rounds and the ratio to the raw
 * `Redis.send` baseline (the median of the per-round ratios), then checks
 * "one round trip per operation": commands the client sent per operation
 * (counted on the ioredis connection) and `INFO commandstats` deltas.
 * It stops its server and exits by itself.
 */
import { parseArgs } from "node:util"
import { Effect, Layer, ManagedRuntime } from "effect"
import * as Redis from "effect/persistence/Redis"
import { Redis as IORedis } from "ioredis"
import { Heimdall, RedisIoredis } from "../src/index.ts"
import { measureEffect, measurePromise, median, table } from "./support/measure.ts"
import { commandStats, machineNotes, redisCpuSeconds, startBenchRedis, statsDelta } from "./support/redis.ts"

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    ms: { type: "string", default: "700" },
    "in-flight": { type: "string", default: "50" }
  }
})
const rounds = Number(args.rounds)
const ms = Number(args.ms)
const inFlightMany = Number(args["in-flight"])

const server = await startBenchRedis()
const notes = machineNotes(server.binary)
console.log(`redis-server ${server.url}: ${notes.redis}`)
console.log(`nproc ${notes.nproc}, ${notes.cpu}, node ${notes.node}, load average ${notes.loadavg}`)
console.log(`${rounds} rounds x ${ms} ms per variant, 1 and ${inFlightMany} in flight\n`)

const layer = Heimdall.layerRedis({
  lockPrefix: "bench:lock:",
  ratePrefix: "bench:rate:",
  concurrencyPrefix: "bench:sem:"
}).pipe(Layer.provideMerge(RedisIoredis.layer(server.url)))
const runtime = ManagedRuntime.make(layer)
const direct = new IORedis(server.url)
const stats = new IORedis(server.url)

try {
  const redis = await runtime.runPromise(Redis.Redis)
  const shared = await runtime.runPromise(RedisIoredis.Client)

  // Commands sent on the layer's shared connection, by name.
  const sent: Record<string, number> = {}
  const sendCommand = shared.sendCommand.bind(shared)
  shared.sendCommand = ((command: { name: string }, stream?: unknown) => {
    sent[command.name] = (sent[command.name] ?? 0) + 1
    return sendCommand(command as never, stream as never)
  }) as typeof shared.sendCommand

  const lockOptions = { ttl: "30 seconds" } as const
  const rateLimit = { times: 1_000_000_000, per: "1 second" } as const
  const slotOptions = { limit: 1000, lease: "30 seconds" } as const
  const rawSetDel = (key: string) =>
    Effect.andThen(redis.send("SET", key, "1", "NX", "PX", "30000"), redis.send("DEL", key))

  interface Variant {
    readonly name: string
    readonly run: (inFlight: number, ms: number) => Promise<number>
  }
  const effectVariant = <E>(name: string, op: (worker: number) => Effect.Effect<unknown, E, Heimdall.Heimdall>) => ({
    name,
    run: (inFlight: number, ms: number) => measureEffect(runtime, op, inFlight, ms)
  })
  const promiseVariant = (name: string, op: (worker: number) => Promise<unknown>): Variant => ({
    name,
    run: (inFlight, ms) => measurePromise(op, inFlight, ms)
  })

  // The first variant of each group is the baseline of its ratios.
  const groups: ReadonlyArray<{ readonly name: string; readonly variants: ReadonlyArray<Variant> }> = [
    {
      name: "lock acquire+release",
      variants: [
        effectVariant("raw SET NX PX + DEL (Redis.send)", (w) => rawSetDel(`bench:raw:lock:${w}`)),
        promiseVariant("raw SET NX PX + DEL (ioredis)", async (w) => {
          await direct.set(`bench:raw:lock:${w}`, "1", "PX", 30000, "NX")
          await direct.del(`bench:raw:lock:${w}`)
        }),
        effectVariant("Heimdall acquireLock + releaseLock", (w) =>
          Effect.flatMap(Heimdall.acquireLock(`lock:${w}`, lockOptions), Heimdall.releaseLock)
        )
      ]
    },
    {
      name: "rate take",
      variants: [
        effectVariant("raw INCR (Redis.send)", () => redis.send("INCR", "bench:raw:counter")),
        promiseVariant("raw INCR (ioredis)", () => direct.incr("bench:raw:counter")),
        effectVariant("Heimdall.take", () => Heimdall.take("rate", rateLimit))
      ]
    },
    {
      name: "slot acquire+release",
      variants: [
        effectVariant("raw SET NX PX + DEL (Redis.send)", (w) => rawSetDel(`bench:raw:slot:${w}`)),
        effectVariant("Heimdall acquireSlot + releaseSlot", () =>
          Effect.flatMap(Heimdall.acquireSlot("slots", slotOptions), Heimdall.releaseSlot)
        )
      ]
    }
  ]

  // Warm-up: load the scripts, let the JIT settle.
  for (const group of groups) for (const variant of group.variants) await variant.run(inFlightMany, 200)

  const rows: Array<Array<string>> = []
  const results: Array<object> = []
  for (const group of groups) {
    for (const inFlight of [1, inFlightMany]) {
      const samples = group.variants.map(() => [] as Array<number>)
      // CPU microseconds per operation, of this Node process and of the Redis server
      const nodeCpu = group.variants.map(() => [] as Array<number>)
      const redisCpu = group.variants.map(() => [] as Array<number>)
      for (let round = 0; round < rounds; round++) {
        const order = group.variants.map((_, i) => i)
        if (round % 2 === 1) order.reverse()
        for (const i of order) {
          const redisBefore = await redisCpuSeconds(stats)
          const nodeBefore = process.cpuUsage()
          const opsPerSecond = await group.variants[i]!.run(inFlight, ms)
          const node = process.cpuUsage(nodeBefore)
          const redisUsed = (await redisCpuSeconds(stats)) - redisBefore
          const ops = (opsPerSecond * ms) / 1000
          samples[i]!.push(opsPerSecond)
          nodeCpu[i]!.push((node.user + node.system) / ops)
          redisCpu[i]!.push((redisUsed * 1e6) / ops)
        }
      }
      group.variants.forEach((variant, i) => {
        const own = samples[i]!
        const ratios = own.map((x, r) => x / samples[0]![r]!)
        const fmt = (n: number) => Math.round(n).toLocaleString("en-US")
        rows.push([
          group.name,
          String(inFlight),
          variant.name,
          fmt(median(own)),
          `${fmt(Math.min(...own))}–${fmt(Math.max(...own))}`,
          i === 0 ? "1.00" : median(ratios).toFixed(2),
          median(nodeCpu[i]!).toFixed(1),
          median(redisCpu[i]!).toFixed(1)
        ])
        results.push({ group: group.name, inFlight, variant: variant.name, opsPerSecond: own, ratio: median(ratios) })
      })
    }
  }
  console.log(
    table(["operation", "in flight", "variant", "median ops/s", "min–max", "x raw", "node µs/op", "redis µs/op"], rows)
  )

  // One round trip per operation: what the client sent, what Redis executed.
  const perOp = 1000
  const check = async (name: string, op: Effect.Effect<unknown, unknown, Heimdall.Heimdall>) => {
    for (const key of Object.keys(sent)) delete sent[key]
    const before = await commandStats(stats)
    await runtime.runPromise(Effect.repeat(op, { times: perOp - 1 }))
    const after = await commandStats(stats)
    const fmt = (counts: Record<string, number>) =>
      Object.entries(counts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([command, n]) => `${command} ${(n / perOp).toFixed(3)}`)
        .join(", ")
    return [name, fmt(sent), fmt(statsDelta(before, after))]
  }
  const checks = [
    await check(
      "acquireLock + releaseLock",
      Effect.flatMap(Heimdall.acquireLock("rt:lock", lockOptions), Heimdall.releaseLock)
    ),
    await check("acquireLock (held: LockTaken)", Effect.ignore(Heimdall.acquireLock("rt:held", lockOptions))),
    await check("take", Heimdall.take("rt:rate", rateLimit)),
    await check("take (denied)", Effect.ignore(Heimdall.take("rt:full", { times: 1, per: "1 minute" }))),
    await check("reserve", Heimdall.reserve("rt:reserve", rateLimit)),
    await check(
      "acquireSlot + releaseSlot",
      Effect.flatMap(Heimdall.acquireSlot("rt:slots", slotOptions), Heimdall.releaseSlot)
    ),
    await check("onlyAfter", Heimdall.onlyAfter("rt:after", "1 minute"))
  ]
  console.log(`\nper operation, averaged over ${perOp} sequential operations:`)
  console.log(table(["operation", "sent by the client", "INFO commandstats (scripts' inner calls included)"], checks))
  if (process.env.BENCH_JSON) {
    const { writeFileSync } = await import("node:fs")
    writeFileSync(process.env.BENCH_JSON, JSON.stringify({ notes, rounds, ms, results, checks }, null, 2))
  }
} finally {
  await runtime.dispose()
  direct.disconnect()
  stats.disconnect()
  await server.stop()
}
