/**
 * Vitest global setup: one private `redis-server` for the whole run, or the
 * server at `REDIS_URL` when that is set. Its URL reaches the tests through
 * `inject("redisUrl")` (empty when there is none, and the Redis suites skip).
 */
import type { TestProject } from "vitest/node"
import { findRedisCli, type RedisCluster, startRedisCluster } from "./redisCluster.ts"
import { findRedisServer, type RedisServer, startRedisServer } from "./redisServer.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of the Redis server for the tests; "" when there is none. */
    redisUrl: string
    /** The tests' Redis Cluster: its nodes' `host:port`, comma-separated; "" when there is none. */
    redisClusterNodes: string
  }
}

const banner = (lines: ReadonlyArray<string>) => {
  const width = Math.max(...lines.map((l) => l.length)) + 4
  const bar = "!".repeat(width)
  return [bar, ...lines.map((l) => `! ${l.padEnd(width - 4)} !`), bar].join("\n")
}

/**
 * The cluster suites' Redis Cluster: `REDIS_CLUSTER_NODES` when set, else a private 3-master, 3-replica cluster
 * when redis-server and redis-cli are here; none (its suites skip) otherwise, an error with HEIMDALL_REQUIRE_REDIS=1.
 */
const setupCluster = async (project: TestProject): Promise<(() => Promise<void>) | undefined> => {
  const external = process.env.REDIS_CLUSTER_NODES
  if (external) {
    console.log(`[effect-heimdall] Redis Cluster suites run against REDIS_CLUSTER_NODES=${external}`)
    project.provide("redisClusterNodes", external)
    return undefined
  }
  const binary = findRedisServer()
  if (!binary || !findRedisCli(binary)) {
    const message = "No redis-server/redis-cli for a local Redis Cluster: the Redis Cluster suites are SKIPPED."
    if (process.env.HEIMDALL_REQUIRE_REDIS === "1") throw new Error(message)
    console.warn(`\n${banner([message])}\n`)
    project.provide("redisClusterNodes", "")
    return undefined
  }
  const cluster: RedisCluster = await startRedisCluster(binary)
  console.log(`[effect-heimdall] private Redis Cluster on ${cluster.nodes.join(", ")}`)
  project.provide("redisClusterNodes", cluster.nodes.join(","))
  return cluster.stop
}

export default async function setup(project: TestProject) {
  const stopCluster = await setupCluster(project)
  const external = process.env.REDIS_URL
  if (external) {
    console.log(`[effect-heimdall] Redis suites run against REDIS_URL=${external}`)
    project.provide("redisUrl", external)
    return stopCluster
  }
  const binary = findRedisServer()
  if (!binary) {
    const message = [
      "No redis-server binary and no REDIS_URL: the Redis suites are SKIPPED.",
      "Fix: apt-get install -y redis-server, or set REDIS_URL=redis://host:port.",
      "Set HEIMDALL_REQUIRE_REDIS=1 to make this an error (CI does)."
    ]
    if (process.env.HEIMDALL_REQUIRE_REDIS === "1") throw new Error(message.join(" "))
    console.warn(`\n${banner(message)}\n`)
    project.provide("redisUrl", "")
    return stopCluster
  }
  const server: RedisServer = await startRedisServer(binary)
  console.log(`[effect-heimdall] private redis-server on ${server.url} (${binary})`)
  project.provide("redisUrl", server.url)
  return async () => {
    await Promise.all([server.stop(), stopCluster?.()])
  }
}
