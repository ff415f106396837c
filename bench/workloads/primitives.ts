/**
 * 5. Primitive throughput, sequential and 50 in flight, alternating in every
 * round: lock acquire+release next to raw `SET NX PX` + `DEL`; rate-limit take
 * next to rate-limiter-flexible `consume`, Effect's RateLimiter `consume`
 * (Redis store) and raw `INCR`. Limits are 10^9 per second, so every call is
 * admitted; each lock loop has its own key, the rate limiters share one key.
 */
import { Effect } from "effect"
import { Redis as IORedis } from "ioredis"
import { type Context, order, pairedRatio, type Row } from "../lib/context.ts"
import { loopEffect, loopPromise } from "../lib/measure.ts"
import { startMonitor } from "../lib/redis.ts"
import { summarize } from "../lib/stats.ts"
import * as HeimdallPeer from "../peers/heimdall.ts"
import * as Flex from "../peers/ratelimiters.ts"

export const run = async (ctx: Context): Promise<Array<Row>> => {
  const { rounds, ms } = ctx.settings
  await ctx.admin.flushdb()
  const producer = HeimdallPeer.makeProducer(ctx.url, "primitives")
  const client = new IORedis(ctx.url)
  const consume = Flex.makeFlexible(client)
  type Variant = { peer: string; run: (inFlight: number) => Promise<number> }
  const groups: ReadonlyArray<{ name: string; against: string; variants: ReadonlyArray<Variant> }> = [
    {
      name: "lock acquire+release",
      against: "raw Redis",
      variants: [
        { peer: "effect-heimdall", run: (k) => loopEffect(producer, (w) => HeimdallPeer.lockPair(w), k, ms) },
        { peer: "raw Redis", run: (k) => loopPromise((w) => Flex.rawSetDel(client, w), k, ms) }
      ]
    },
    {
      name: "rate-limit take",
      against: "rate-limiter-flexible",
      variants: [
        { peer: "effect-heimdall", run: (k) => loopEffect(producer, () => HeimdallPeer.take, k, ms) },
        { peer: "rate-limiter-flexible", run: (k) => loopPromise(consume, k, ms) },
        {
          peer: "Effect RateLimiter",
          run: (k) => loopEffect(producer, () => HeimdallPeer.effectRateLimiterConsume, k, ms)
        },
        { peer: "raw Redis", run: (k) => loopPromise(() => Flex.rawIncr(client), k, ms) }
      ]
    }
  ]
  const notes: Record<string, string> = {
    "lock acquire+release/effect-heimdall": "acquireLock + releaseLock (2 EVALSHA)",
    "lock acquire+release/raw Redis": "SET NX PX + DEL (ioredis)",
    "rate-limit take/effect-heimdall": "Heimdall.take (sliding window; concurrent takes on one key share an EVALSHA)",
    "rate-limit take/rate-limiter-flexible": "RateLimiterRedis.consume (ioredis)",
    "rate-limit take/Effect RateLimiter": "consume, fixed-window, layerStoreRedis",
    "rate-limit take/raw Redis": "INCR (ioredis)"
  }
  try {
    for (const g of groups) for (const v of g.variants) await v.run(50) // warm-up
    const rows: Array<Row> = []
    for (const g of groups) {
      for (const inFlight of [1, 50]) {
        const samples = g.variants.map(() => [] as Array<number>)
        for (let round = 0; round < rounds; round++) {
          for (const i of order(
            g.variants.map((_, i) => i),
            round
          ))
            samples[i]!.push(await g.variants[i]!.run(inFlight))
        }
        const against = g.variants.findIndex((v) => v.peer === g.against)
        const label = `${g.name}, ${inFlight === 1 ? "sequential" : `${inFlight} in flight`}`
        g.variants.forEach((v, i) => {
          rows.push({
            section: "5. primitives",
            case: label,
            peer: v.peer,
            unit: "ops/s",
            higherIsBetter: true,
            value: summarize(samples[i]!),
            ratio:
              v.peer === "effect-heimdall"
                ? { against: g.against, value: pairedRatio(samples[i]!, samples[against]!) }
                : undefined,
            note: notes[`${g.name}/${v.peer}`]
          })
        })
        ctx.log(
          `  ${label}: ${g.variants.map((v, i) => `${v.peer} ${Math.round(summarize(samples[i]!).median)}`).join(", ")} ops/s`
        )
      }
    }
    // one round trip per operation: what the server received from clients, per operation (MONITOR)
    const per = 500
    const checks: ReadonlyArray<readonly [string, (i: number) => Effect.Effect<void, unknown, any>, string]> = [
      ["lock acquire+release", (i) => Effect.asVoid(HeimdallPeer.lockPair(i)), "pair"],
      ["rate-limit take", () => Effect.asVoid(HeimdallPeer.take), "call"]
    ]
    for (const [name, op, unit] of checks) {
      const monitor = await startMonitor(ctx.url)
      await producer.runPromise(HeimdallPeer.prefillWith(op, per))
      await monitor.stop()
      const trips = Object.values(monitor.client).reduce((a, b) => a + b, 0) / per
      const breakdown = Object.entries(monitor.client)
        .map(([k, v]) => `${k} ${(v / per).toFixed(2)}`)
        .join(", ")
      rows.push({
        section: "5. primitives",
        case: `${name}: round trips per ${unit}`,
        peer: "effect-heimdall",
        unit: "commands",
        higherIsBetter: false,
        value: summarize([trips]),
        note: `${breakdown} (MONITOR, ${per} operations)`
      })
      ctx.log(`  ${name}: ${trips.toFixed(2)} round trips per ${unit} (${breakdown})`)
    }
    return rows
  } finally {
    client.disconnect()
    await producer.dispose()
    await ctx.admin.flushdb()
  }
}
