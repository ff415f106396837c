/**
 * rate-limiter-flexible as a peer of `Heimdall.take`, and the raw commands
 * both are compared with, on a plain ioredis client.
 */
import type { Redis as IORedis } from "ioredis"
import { RateLimiterRedis } from "rate-limiter-flexible"

export const makeFlexible = (client: IORedis) => {
  const limiter = new RateLimiterRedis({
    storeClient: client,
    points: 1_000_000_000,
    duration: 1,
    keyPrefix: "bench-rlf"
  })
  return () => limiter.consume("consume")
}

export const rawSetDel = async (client: IORedis, w: number) => {
  await client.set(`bench-raw:${w}`, "1", "PX", 30000, "NX")
  await client.del(`bench-raw:${w}`)
}

export const rawIncr = (client: IORedis) => client.incr("bench-raw:counter")
