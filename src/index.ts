/**
 * effect-heimdall: globally unique and globally rate-limited background tasks
 * for Effect, on Redis.
 *
 * @since 0.1.0
 */

/**
 * The `Redis` service of `effect/persistence/Redis` from an ioredis client.
 *
 * @since 0.1.0
 */
export * as RedisIoredis from "./RedisIoredis.ts"
