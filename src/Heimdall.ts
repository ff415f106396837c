/**
 * Distributed guarantees around any Effect: locks, rate limits, concurrency
 * limits and only-after, on Redis or in memory.
 *
 * Provide one backend layer, then use the functions of this module anywhere:
 *
 * - `Heimdall.layerRedis(options?)`: shared by every process on one Redis
 *   (needs the `Redis` service, e.g. from `RedisIoredis.layer`).
 * - `Heimdall.layerMemory`: the same semantics inside one process, on
 *   Effect's `Clock` (so `TestClock` drives expiry in tests).
 *
 * Both layers also carry the task queue (`TaskQueue`) that `Task` and
 * `Worker` use.
 *
 * Every operation is one atomic step (one Lua script or command in Redis, on
 * Redis' own clock), every denial says why and for how long, and every key
 * written expires or is deleted.
 *
 * Each call is counted in `Heimdall.metrics` (Effect `Metric`s named
 * `heimdall_*`: admissions, denials, waits).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Heimdall, RedisIoredis } from "effect-heimdall"
 *
 * const callPartnerApi = Effect.log("calling the partner API")
 *
 * const program = callPartnerApi.pipe(
 *   Heimdall.withRateLimit("partner-api", { limits: { times: 2, per: "1 minute" }, onLimit: "wait" }),
 *   Heimdall.withLock("partner-api:session", { ttl: "30 seconds" })
 * )
 *
 * program.pipe(
 *   Effect.provide(Heimdall.layerRedis().pipe(Layer.provide(RedisIoredis.layerConfig()))),
 *   Effect.runPromise
 * )
 * ```
 *
 * @since 0.1.0
 */

export * from "./internal/heimdall/concurrency.ts"
export * from "./internal/heimdall/layers.ts"
export * from "./internal/heimdall/lock.ts"
export * from "./internal/heimdall/metrics.ts"
export * from "./internal/heimdall/onlyAfter.ts"
export * from "./internal/heimdall/rateLimit.ts"
export { type Config, Heimdall, type Options } from "./internal/heimdall/service.ts"
