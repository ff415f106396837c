/**
 * The backend every example runs on: Redis when `REDIS_URL` is set, else the
 * in-memory backend. The same program runs unchanged on either.
 */
import { Config, Effect, Layer, Option } from "effect"
import { Heimdall, RedisIoredis } from "effect-heimdall"

export const HeimdallLive = Layer.unwrap(
  Effect.map(Config.option(Config.String("REDIS_URL")), (url) =>
    Option.isSome(url) ? Heimdall.layerRedis().pipe(Layer.provide(RedisIoredis.layer(url.value))) : Heimdall.layerMemory
  )
)
