/**
 * `RedisIoredis.layerCluster` on the tests' local Redis Cluster (3 masters, 3 replicas): what differs from one
 * server (scripts on every master, SCAN across masters, a blocked reserved connection unblocked on its node, limits
 * of one call in one slot), and the typed errors of its options. The conformance suites run on the cluster too
 * (their `[redis cluster]` blocks).
 */
import { randomUUID } from "node:crypto"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Fiber, Layer, Queue } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Inspector from "../src/Inspector.ts"
import { Heimdall, HeimdallStore, InvalidArgument, RedisIoredis } from "../src/index.ts"
import { keySlot } from "../src/internal/slot.ts"
import { assertInvalid } from "./support/invalid.ts"
import { clusterLayer, clusterNodes, describeCluster, keyPrefix } from "./support/redis.ts"
import { freePort } from "./support/redisServer.ts"

const prefix = keyPrefix(import.meta.url)

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
  assert.isDefined(error, "expected a typed failure, not a defect or interruption")
  return (error as { error: E }).error
}

const buildExit = <A, E>(live: Layer.Layer<A, E>) => Effect.exit(Effect.scoped(Layer.build(live)))

/** `count` keys under `prefix`, each with its own hash tag, so they spread over slots and masters. */
const spread = (tagPrefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}{${tagPrefix}${i}}`)

describe("RedisIoredis.layerCluster: options", () => {
  it.effect("invalid nodes and timeouts fail with a RedisError whose cause is an InvalidArgument naming them", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<
        [Layer.Layer<Redis.Redis | RedisIoredis.ClusterClient, Redis.RedisError>, string, string]
      > = [
        [RedisIoredis.layerCluster([]), "nodes", "[]"],
        [RedisIoredis.layerCluster(["http://a:1"]), "nodes", '"http://a:1"'],
        [RedisIoredis.layerCluster([{ host: "a", port: 70000 }]), "nodes", '{"host":"a","port":70000}'],
        [RedisIoredis.layerCluster(["127.0.0.1:7000"], { commandTimeout: -1 }), "commandTimeout", "-1"],
        [RedisIoredis.layerCluster(["127.0.0.1:7000"], { connectTimeout: "soon" as never }), "connectTimeout", '"soon"']
      ]
      for (const [live, option, value] of cases) {
        const error = failureOf(yield* buildExit(live))
        assert.strictEqual(error._tag, "RedisError")
        assertInvalid(error.cause, option, value)
        assert.strictEqual(error.message, (error.cause as InvalidArgument).message)
      }
    })
  )

  it.live("a cluster no node of which answers fails within connectTimeout, naming the nodes", () =>
    Effect.gen(function* () {
      const [a, b] = [yield* Effect.promise(freePort), yield* Effect.promise(freePort)]
      const start = Date.now()
      const error = failureOf(
        yield* buildExit(RedisIoredis.layerCluster([`127.0.0.1:${a}`, `127.0.0.1:${b}`], { connectTimeout: 500 }))
      )
      assert.isBelow(Date.now() - start, 3000)
      assert.strictEqual(error._tag, "RedisError")
      assert.include(error.message, `could not connect to the Redis Cluster at 127.0.0.1:${a}, 127.0.0.1:${b}`)
    })
  )

  it.effect("layerClusterConfig reads REDIS_CLUSTER_NODES", () =>
    Effect.gen(function* () {
      const error = failureOf(
        yield* buildExit(RedisIoredis.layerClusterConfig()).pipe(
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ REDIS_CLUSTER_NODES: " , " })))
        )
      )
      assert.strictEqual(error._tag, "RedisError")
      assertInvalid((error as Redis.RedisError).cause, "nodes", "[]")
    })
  )
})

describeCluster("RedisIoredis.layerCluster", () => {
  layer(clusterLayer(), { excludeTestServices: true, timeout: "30 seconds" })("on the local cluster", (it) => {
    it.effect("the library's slot of a key is the cluster's (CLUSTER KEYSLOT)", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        for (const key of ["foo", "{user1000}.following", "a{}b", "x{y}z", "t:é:{ü}", "{", "}{x}", `${prefix}k`]) {
          assert.strictEqual(keySlot(key), Number(yield* redis.send<number>("CLUSTER", "KEYSLOT", key)), key)
        }
      })
    )

    it.effect("SCAN walks every master: keys on all three are found, each once, with a cursor of its own", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        const cluster = yield* RedisIoredis.ClusterClient
        const keys = spread("scan", 60)
        yield* Effect.forEach(keys, (key) => redis.send("SET", key, "1", "PX", "60000"), { discard: true })
        const owners = new Set(keys.map((key) => cluster.slots[keySlot(key)]![0]))
        assert.strictEqual(owners.size, 3, "the keys live on three masters")
        const found: Array<string> = []
        const cursors: Array<string> = []
        let cursor = "0"
        do {
          const [next, batch] = yield* redis.send<[string, Array<string>]>(
            "SCAN",
            cursor,
            "MATCH",
            `${prefix}{scan*`,
            "COUNT",
            "10"
          )
          cursors.push(next)
          cursor = next
          found.push(...batch)
        } while (cursor !== "0")
        assert.deepStrictEqual([...new Set(found)].sort(), [...keys].sort())
        assert.isTrue(
          cursors.slice(0, -1).every((c) => /^\d+:\d+$/.test(c)),
          cursors.join(" ")
        )
        const bad = failureOf(yield* Effect.exit(redis.send("SCAN", "17", "COUNT", "10")))
        assertInvalid(bad.cause, "SCAN cursor", '"17"')
      })
    )

    it.effect("SCRIPT LOAD loads on every master, and a script runs on any of them (after SCRIPT FLUSH too)", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        const cluster = yield* RedisIoredis.ClusterClient
        const incr = Redis.script((key: string) => [key], {
          numberOfKeys: 1,
          lua: `return redis.call("INCR", KEYS[1]) -- ${randomUUID()}`
        }).withReturnType<number>()
        const sha = yield* redis.send<string>("SCRIPT", "LOAD", incr.lua)
        for (const node of cluster.nodes("master")) {
          assert.deepStrictEqual(yield* Effect.promise(() => node.call("SCRIPT", "EXISTS", sha)), [1])
        }
        assert.deepStrictEqual(yield* redis.send("SCRIPT", "EXISTS", sha), [1])
        const keys = spread("script", 12)
        for (const key of keys) assert.strictEqual(yield* redis.eval(incr)(key), 1)
        yield* redis.send("SCRIPT", "FLUSH")
        assert.deepStrictEqual(yield* redis.send("SCRIPT", "EXISTS", sha), [0])
        for (const key of keys) assert.strictEqual(yield* redis.eval(incr)(key), 2)
        yield* Effect.forEach(keys, (key) => redis.send("DEL", key), { discard: true })
      })
    )

    it.effect(
      "a reserved connection blocks on the master of its keys; CLIENT UNBLOCK of its CLIENT ID ends the wait",
      () =>
        Effect.gen(function* () {
          const redis = yield* Redis.Redis
          const cluster = yield* RedisIoredis.ClusterClient
          // keys on two different masters, waited on one after the other by one reserved connection
          const keys = spread("blocked", 30)
          const first = keys[0]!
          const owner = cluster.slots[keySlot(first)]![0]
          const second = keys.find((key) => cluster.slots[keySlot(key)]![0] !== owner)!
          const connection = yield* redis.reserve
          const id = String(yield* connection.send("CLIENT", "ID"))
          for (const key of [first, second]) {
            const start = Date.now()
            const unblock = setTimeout(() => Effect.runFork(redis.send("CLIENT", "UNBLOCK", id)), 200)
            const reply = yield* connection.send("BLPOP", key, "5")
            clearTimeout(unblock)
            const waited = Date.now() - start
            assert.isNull(reply)
            assert.isAtLeast(waited, 190, key)
            assert.isBelow(waited, 1500, `${key}: unblocked on its node, not at BLPOP's 5 s timeout`)
          }
          // a push on the key's master wakes it as on one server
          const pushed = setTimeout(() => Effect.runFork(redis.send("RPUSH", second, "x")), 100)
          assert.deepStrictEqual(yield* connection.send("BLPOP", second, "5"), [second, "x"])
          clearTimeout(pushed)
        }).pipe(Effect.scoped)
    )

    it.effect(
      "an UNBLOCK that arrives while the connection to the key's master is still opening is not lost",
      () =>
        Effect.gen(function* () {
          const redis = yield* Redis.Redis
          const connection = yield* redis.reserve
          const id = String(yield* connection.send("CLIENT", "ID"))
          const start = Date.now()
          // the BLPOP's first key opens the connection to its master (a connect and a CLIENT ID): the UNBLOCK, sent
          // at once, finds nothing blocked yet, and is sent again once the BLPOP is written
          const waiting = yield* Effect.forkChild(connection.send("BLPOP", `${prefix}{race}:wake`, "5"))
          yield* Effect.yieldNow // the BLPOP's fiber starts: its connection is opening
          assert.strictEqual(yield* redis.send<number>("CLIENT", "UNBLOCK", id), 1)
          assert.isNull(yield* Fiber.join(waiting))
          assert.isBelow(Date.now() - start, 1500, "unblocked, not at BLPOP's 5 s timeout")
        }).pipe(Effect.scoped, Effect.provide(clusterLayer())) // a layer of its own: a new, unpinned connection
    )

    it.effect("a subscription receives what a script publishes, whichever master runs it", () =>
      Effect.gen(function* () {
        const redis = yield* Redis.Redis
        const channel = `${prefix}channel`
        const messages = yield* redis.subscribe(channel)
        const publish = Redis.script((key: string, message: string) => [key, channel, message], {
          numberOfKeys: 1,
          lua: `redis.call("SET", KEYS[1], "1", "PX", 1000) return redis.call("PUBLISH", ARGV[1], ARGV[2])`
        })
        const keys = spread("publish", 9)
        for (const key of keys) yield* redis.eval(publish)(key, key)
        const got: Array<string> = []
        for (let i = 0; i < keys.length; i++) {
          got.push((yield* Queue.take(messages)).message)
        }
        // every message arrives; messages published on different masters may arrive in another order
        assert.deepStrictEqual(got.sort(), [...keys].sort())
      }).pipe(Effect.scoped)
    )
  })
})

describeCluster("Rate limits on a Redis Cluster", () => {
  const live = Heimdall.layerRedis({
    queue: "limits",
    queuePrefix: `${prefix}q`,
    ratePrefix: `${prefix}rate:`,
    concurrencyPrefix: `${prefix}sem:`,
    lockPrefix: `${prefix}lock:`
  }).pipe(Layer.provideMerge(clusterLayer()))
  layer(live, { excludeTestServices: true, timeout: "30 seconds" })((it) => {
    it.effect("limits of one call on keys in different slots fail with InvalidArgument (never CROSSSLOT)", () =>
      Effect.gen(function* () {
        const limits: ReadonlyArray<Heimdall.Limit> = [
          { times: 2, per: "10 seconds" },
          { times: 5, per: "10 seconds", key: "all-customers" }
        ]
        assert.notStrictEqual(keySlot(`${prefix}rate:customer-7`), keySlot(`${prefix}rate:all-customers`))
        for (const call of [
          Heimdall.take("customer-7", limits),
          Heimdall.reserve("customer-7", limits),
          Effect.void.pipe(Heimdall.withRateLimit("customer-7", { limits, onLimit: "fail" }))
        ]) {
          const error = yield* Effect.flip(call)
          assertInvalid(error, "limits", '["customer-7","all-customers"]')
          assert.include((error as InvalidArgument).reason, "hash tag")
        }
        // the store refuses it too, before Redis could answer CROSSSLOT
        const store = yield* HeimdallStore.HeimdallStore
        const direct = yield* Effect.flip(
          store.rateTake({
            limits: [
              { key: `${prefix}rate:customer-7`, times: 2, perMs: 1000 },
              { key: `${prefix}rate:all-customers`, times: 5, perMs: 1000 }
            ],
            cost: 1,
            mode: "reserve",
            maxDelayMs: undefined,
            offsetMs: 0
          })
        )
        assert.strictEqual(direct._tag, "RedisError")
        assert.instanceOf(direct.cause, InvalidArgument)
        assert.notInclude(direct.message, "CROSSSLOT")
        // nothing was taken: one hash tag puts both keys in one slot, and the same limits work
        const shared: ReadonlyArray<Heimdall.Limit> = [
          { times: 2, per: "10 seconds" },
          { times: 2, per: "10 seconds", key: "{acme}:all" }
        ]
        assert.strictEqual((yield* Heimdall.take("{acme}:customer-7", shared)).remaining, 1)
        assert.strictEqual((yield* Heimdall.take("{acme}:customer-8", shared)).remaining, 0)
        const full = yield* Effect.flip(Heimdall.take("{acme}:customer-9", shared))
        assert.strictEqual(full._tag, "RateLimited")
        assert.strictEqual((full as { key: string }).key, "{acme}:all")
      })
    )

    it.effect("Inspector.limits lists limits of every slot and master (each scan page read slot by slot)", () =>
      Effect.gen(function* () {
        const rateKeys = Array.from({ length: 80 }, (_, i) => `spread-${String(i).padStart(2, "0")}`)
        const slotKeys = Array.from({ length: 40 }, (_, i) => `pool-${String(i).padStart(2, "0")}`)
        assert.isAbove(new Set(rateKeys.map((k) => keySlot(`${prefix}rate:${k}`))).size, 70)
        yield* Effect.forEach(rateKeys, (key) => Heimdall.take(key, { times: 3, per: "1 minute" }), {
          concurrency: 16,
          discard: true
        })
        yield* Effect.forEach(
          slotKeys,
          (key) => Heimdall.acquireSlot(key, { limit: 2, lease: "1 minute", holder: "h" }),
          { concurrency: 16, discard: true }
        )
        const limits = yield* (yield* Inspector.Inspector).limits()
        assert.deepStrictEqual(
          limits.rate.filter((r) => r.key.startsWith("spread-")).map((r) => [r.key, r.admitted]),
          rateKeys.map((key) => [key, 1])
        )
        assert.deepStrictEqual(
          limits.concurrency.filter((c) => c.key.startsWith("pool-")).map((c) => [c.key, c.holders.length]),
          slotKeys.map((key) => [key, 1])
        )
      })
    )
  })
})

// the nodes the suites use, for the report of a run
describeCluster("the local cluster", () => {
  it("has six nodes", () => {
    assert.strictEqual(clusterNodes.length, 6)
  })
})
