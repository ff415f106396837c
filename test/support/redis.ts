/**
 * Redis for the tests: the URL of the run's server, a layer on it, a key
 * prefix private to each test file, and `describeRedis` for suites that need
 * the server (skipped, never silently passed, when there is none).
 */
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import { Effect, type Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import { describe, inject } from "vitest"
import { RedisIoredis } from "../../src/index.ts"

/** URL of the tests' Redis server, or "" when there is none. */
export const redisUrl: string = inject("redisUrl")

/** Whether the Redis suites can run. */
export const hasRedis = redisUrl !== ""

/** `describe` for suites that need Redis: reported as skipped when the run has no server. */
export const describeRedis = (name: string, body: () => void) => describe.skipIf(!hasRedis)(`${name} (redis)`, body)

/** The tests' Redis Cluster nodes (`host:port`), or none when there is no cluster. */
export const clusterNodes: ReadonlyArray<string> = inject("redisClusterNodes")
  .split(",")
  .filter((node) => node !== "")

/** Whether the Redis Cluster suites can run. */
export const hasCluster = clusterNodes.length > 0

/** `describe` for suites that need the Redis Cluster: reported as skipped when the run has none. */
export const describeCluster = (name: string, body: () => void) =>
  describe.skipIf(!hasCluster)(`${name} (redis cluster)`, body)

/** The Redis service on the tests' Redis Cluster (one cluster client per layer build). */
export const clusterLayer = (
  options?: RedisIoredis.ClusterOptions
): Layer.Layer<Redis.Redis | RedisIoredis.ClusterClient, Redis.RedisError> =>
  RedisIoredis.layerCluster(clusterNodes, options)

/** The Redis service on the tests' server (one client per layer build). */
export const redisLayer = (
  options?: RedisIoredis.Options
): Layer.Layer<Redis.Redis | RedisIoredis.Client, Redis.RedisError> => RedisIoredis.layer(redisUrl, options)

/**
 * A key prefix private to one test file and run (`t:<file>:<random>:`), so
 * test files sharing one server never see each other's keys.
 */
export const keyPrefix = (importMetaUrl: string): string =>
  `t:${path.basename(new URL(importMetaUrl).pathname).replace(/\.test\.ts$/, "")}:${randomUUID().slice(0, 8)}:`

/** Every key under a prefix (SCAN, not KEYS), for assertions on what the library left behind. */
export const scanKeys = Effect.fnUntraced(function* (prefix: string) {
  const redis = yield* Redis.Redis
  const keys: Array<string> = []
  let cursor = "0"
  do {
    const [next, batch] = yield* redis.send<[string, Array<string>]>(
      "SCAN",
      cursor,
      "MATCH",
      `${prefix}*`,
      "COUNT",
      "1000"
    )
    cursor = next
    keys.push(...batch)
  } while (cursor !== "0")
  return keys.sort()
})

/** Keys under a prefix that have no TTL: each one would live forever. */
export const keysWithoutTtl = Effect.fnUntraced(function* (prefix: string) {
  const redis = yield* Redis.Redis
  const keys = yield* scanKeys(prefix)
  const forever: Array<string> = []
  for (const key of keys) {
    if ((yield* redis.send<number>("PTTL", key)) === -1) forever.push(key)
  }
  return forever
})
