/**
 * Diagnostic (`--only primitives-raw`, not in the default run): the Heimdall
 * primitives next to the raw Redis commands they are built on (issue 3,
 * "Performance"), in rounds that alternate the variants (A B C, then C B A):
 *
 * - lock: raw `SET NX PX` + `DEL` (through the `Redis.send` of RedisIoredis,
 *   and through ioredis directly) vs `Heimdall.acquireLock` + `releaseLock`;
 * - rate: raw `INCR` (both paths) vs `Heimdall.take`;
 * - slot: raw `SET NX PX` + `DEL` vs `Heimdall.acquireSlot` + `releaseSlot`;
 *
 * each with 1 and 50 operations in flight, `rounds` x `primitivesRawMs` per
 * variant. It prints the median ops/s with the range over the rounds, the
 * ratio to the raw `Redis.send` baseline (the median of the per-round
 * ratios) and the CPU per operation of this process and of the server, then
 * checks "one round trip per operation": commands the client sent per
 * operation (counted on the ioredis connection) and `INFO commandstats`
 * deltas. `BENCH_JSON=out.json` also writes every sample as JSON.
 */
import { writeFileSync } from "node:fs"
import { Effect, Layer, ManagedRuntime } from "effect"
import * as Redis from "effect/persistence/Redis"
import { Redis as IORedis } from "ioredis"
import * as Heimdall from "../../src/Heimdall.ts"
import * as RedisIoredis from "../../src/RedisIoredis.ts"
import type { Context, Row } from "../lib/context.ts"
import { order } from "../lib/context.ts"
import { loopEffect, loopPromise } from "../lib/measure.ts"
import { commandStats, delta, redisCpuSeconds } from "../lib/redis.ts"
import { median, table } from "../lib/stats.ts"

const inFlightMany = 50

export const run = async (ctx: Context): Promise<Array<Row>> => {
  const { rounds } = ctx.settings
  const { primitivesRawMs: ms } = ctx.diagnostics
  await ctx.admin.flushdb()
  ctx.log(`  ${rounds} rounds x ${ms} ms per variant, 1 and ${inFlightMany} in flight\n`)
  const layer = Heimdall.layerRedis({
    lockPrefix: "bench:lock:",
    ratePrefix: "bench:rate:",
    concurrencyPrefix: "bench:sem:"
  }).pipe(Layer.provideMerge(RedisIoredis.layer(ctx.url)))
  const runtime = ManagedRuntime.make(layer)
  const direct = new IORedis(ctx.url)
  const stats = ctx.admin
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
    // one effect per loop, built once and repeated
    const effectVariant = <E>(name: string, op: (worker: number) => Effect.Effect<unknown, E, Heimdall.Heimdall>) => ({
      name,
      run: (inFlight: number, ms: number) => {
        const ops = Array.from({ length: inFlight }, (_, worker) => op(worker))
        return loopEffect(runtime, (worker) => ops[worker]!, inFlight, ms)
      }
    })
    const promiseVariant = (name: string, op: (worker: number) => Promise<unknown>): Variant => ({
      name,
      run: (inFlight, ms) => loopPromise(op, inFlight, ms)
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
          for (const i of order(
            group.variants.map((_, i) => i),
            round
          )) {
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
    ctx.log(
      table(
        ["operation", "in flight", "variant", "median ops/s", "min–max", "x raw", "node µs/op", "redis µs/op"],
        rows,
        "lll"
      )
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
      return [name, fmt(sent), fmt(delta(before, after))]
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
    ctx.log(`\nper operation, averaged over ${perOp} sequential operations:`)
    ctx.log(
      table(["operation", "sent by the client", "INFO commandstats (scripts' inner calls included)"], checks, "lll")
    )
    if (process.env.BENCH_JSON) {
      writeFileSync(process.env.BENCH_JSON, JSON.stringify({ notes: ctx.notes, rounds, ms, results, checks }, null, 2))
    }
    return []
  } finally {
    await runtime.dispose()
    direct.disconnect()
    await ctx.admin.flushdb()
  }
}
