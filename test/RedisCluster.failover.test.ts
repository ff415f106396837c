/**
 * `RedisIoredis.layerCluster` through a manual failover (`CLUSTER FAILOVER` on a replica) of a private local
 * cluster: the promoted master has no scripts loaded (the script cache is not replicated), answers `NOSCRIPT`
 * once, and the layer loads the script there and runs it; a reserved connection blocked on the old master fails
 * with a `RedisError` at once (never a hang), and the next reservation blocks on the new master. What a failover
 * loses (writes not yet replicated) is measured elsewhere (issue 14, durability).
 */
import { createHash } from "node:crypto"
import { assert, describe, layer } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import { Heimdall, RedisIoredis } from "../src/index.ts"
import * as Lua from "../src/internal/redis/lua.generated.ts"
import { keySlot } from "../src/internal/slot.ts"
import { hasCluster, keyPrefix } from "./support/redis.ts"
import { cli, findRedisCli, type RedisCluster, startRedisCluster } from "./support/redisCluster.ts"

const prefix = keyPrefix(import.meta.url)

/** The private cluster's nodes. */
class Nodes extends Context.Service<Nodes, ReadonlyArray<string>>()("test/RedisCluster.failover/Nodes") {}

/** The SHA-1 of the lock script `acquireLock` runs. */
const lockSha = createHash("sha1").update(Lua.contracts.lockAcquire.lua).digest("hex")

/** The `host:port` of the master serving `slot`, as a node of the cluster reports it. */
const masterOf = async (redisCli: string, port: number, slot: number): Promise<string> => {
  const lines = (await cli(redisCli, port, "CLUSTER", "NODES")).trim().split("\n")
  for (const line of lines) {
    const [, address, flags, , , , , state, ...ranges] = line.split(" ")
    if (!flags!.includes("master") || flags!.includes("fail") || state !== "connected") continue
    for (const range of ranges) {
      const [from, to = from] = range.split("-").map(Number)
      if (slot >= from! && slot <= to!) return address!.split("@")[0]!
    }
  }
  return ""
}

/** A replica of `master` (`host:port`), from CLUSTER NODES. */
const replicaOf = async (redisCli: string, port: number, master: string): Promise<string> => {
  const lines = (await cli(redisCli, port, "CLUSTER", "NODES")).trim().split("\n")
  const masterId = lines.find((l) => l.split(" ")[1]!.startsWith(`${master}@`))!.split(" ")[0]
  const replica = lines.find((l) => l.split(" ")[3] === masterId && l.split(" ")[2]!.includes("slave"))!
  return replica.split(" ")[1]!.split("@")[0]!
}

const portOf = (node: string) => Number(node.split(":")[1])

describe.skipIf(!hasCluster)("Redis Cluster failover (a private cluster)", () => {
  const cluster = Effect.acquireRelease(
    Effect.promise(() => startRedisCluster()),
    (c) => Effect.promise(() => c.stop())
  )
  const live = Layer.unwrap(
    Effect.map(cluster, (c: RedisCluster) =>
      Layer.mergeAll(
        Layer.succeed(Nodes, c.nodes),
        Heimdall.layerRedis({ lockPrefix: `${prefix}lock:` }).pipe(
          Layer.provideMerge(RedisIoredis.layerCluster(c.nodes, { commandTimeout: "3 seconds" }))
        )
      )
    )
  )
  layer(live, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect(
      "after CLUSTER FAILOVER: scripts run on the promoted master (NOSCRIPT handled), a blocked reserved connection fails at once and the next one blocks on the new master",
      () =>
        Effect.gen(function* () {
          const redisCli = findRedisCli()!
          const nodes = yield* Nodes
          const redis = yield* Redis.Redis
          const key = "{failover}" // its wake list below shares its hash tag, so its slot
          const full = `${prefix}lock:${key}`
          const slot = keySlot(full)
          const seed = portOf(nodes[0]!)
          const before = yield* Effect.promise(() => masterOf(redisCli, seed, slot))
          const first = yield* Heimdall.acquireLock(key, { owner: "A", ttl: "30 seconds" })
          // a reserved connection blocked on the key's master
          const connection = yield* redis.reserve
          const id = String(yield* connection.send("CLIENT", "ID"))
          const blocked = yield* Effect.forkChild(Effect.exit(connection.send("BLPOP", `${full}:wake`, "20")))
          yield* Effect.sleep("200 millis")
          // promote the master's replica (it has the data; its script cache is empty)
          const replica = yield* Effect.promise(() => replicaOf(redisCli, seed, before))
          assert.deepStrictEqual(
            yield* Effect.promise(() => cli(redisCli, portOf(replica), "SCRIPT", "EXISTS", lockSha)),
            "0\n",
            "the replica has no script loaded"
          )
          yield* Effect.promise(() => cli(redisCli, portOf(replica), "CLUSTER", "FAILOVER"))
          const start = Date.now()
          while ((yield* Effect.promise(() => masterOf(redisCli, seed, slot))) !== replica) {
            assert.isBelow(Date.now() - start, 15_000, "the failover did not happen")
            yield* Effect.sleep("100 millis")
          }
          // the blocked BLPOP ended with an error, long before its 20 s
          const exit = yield* Fiber.join(blocked)
          assert.isTrue(Exit.isFailure(exit), "the blocked command failed")
          if (Exit.isFailure(exit)) {
            const error = exit.cause.reasons.find((r) => r._tag === "Fail")
            assert.strictEqual((error as { error: Redis.RedisError } | undefined)?.error._tag, "RedisError")
          }
          assert.isBelow(Date.now() - start, 15_000)
          // the lock is still held (it was replicated), released and taken again by scripts on the new master
          assert.isTrue(yield* Heimdall.releaseLock(first))
          const second = yield* Heimdall.acquireLock(key, { owner: "B", ttl: "30 seconds" })
          assert.isAbove(second.fence, first.fence)
          assert.isTrue(yield* Heimdall.releaseLock(second))
          // a new reservation blocks on the new master and is unblocked there
          const next = yield* redis.reserve
          const nextId = String(yield* next.send("CLIENT", "ID"))
          assert.notStrictEqual(nextId, id)
          const waitStart = Date.now()
          const timer = setTimeout(() => Effect.runFork(redis.send("CLIENT", "UNBLOCK", nextId)), 200)
          assert.isNull(yield* next.send("BLPOP", `${full}:wake`, "10"))
          clearTimeout(timer)
          assert.isBelow(Date.now() - waitStart, 2000)
        }).pipe(Effect.scoped),
      60_000
    )
  })
})
