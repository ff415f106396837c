/**
 * `durability: { replicas, timeout }` (Heimdall.Options): enqueues, lock acquisitions and rate-limit admissions
 * send `WAIT` right behind their script, on the same connection, to the master that ran it. On one server (no
 * replicas) every such write fails with a `RedisError` whose cause is `ReplicationTimeout`, and the write is on the
 * server; on the local cluster (one replica per master) `replicas: 1` is confirmed and `replicas: 2` is not. The
 * WAITs are counted on the queue's master (`INFO commandstats`): one per call, one per batch.
 */
import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Option, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import { Heimdall, RedisIoredis, ReplicationTimeout, Task } from "../src/index.ts"
import { keySlot } from "../src/internal/slot.ts"
import { clusterLayer, clusterNodes, describeCluster, describeRedis, keyPrefix, redisLayer } from "./support/redis.ts"

const prefix = keyPrefix(import.meta.url)

const Note = Task.make("durable-note", { payload: Schema.String })

/** The typed failure of an exit, or a test failure. */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
  assert.isDefined(error, "expected a typed failure")
  return (error as { error: E }).error
}

/** Asserts a `RedisError` caused by `ReplicationTimeout` with these figures, its message the cause's. */
const assertTimeout = (error: unknown, acknowledged: number, required: number, timeoutMillis: number) => {
  assert.strictEqual((error as { _tag?: string })._tag, "RedisError")
  const cause = (error as Redis.RedisError).cause
  assert.instanceOf(cause, ReplicationTimeout)
  assert.deepInclude(cause as ReplicationTimeout, { acknowledged, required, timeoutMillis })
  assert.strictEqual((error as Redis.RedisError).message, (cause as ReplicationTimeout).message)
  assert.include((error as Redis.RedisError).message, `${acknowledged} of ${required} replicas`)
}

/**
 * Records what is written to `stream` and when a reply arrives ("data"), until `stop()`: the order shows whether
 * the WAIT left before the script's reply came back.
 */
const recordWrites = (stream: NodeJS.WritableStream & NodeJS.EventEmitter) => {
  const events: Array<string> = []
  const write = stream.write
  stream.write = function (this: unknown, chunk: unknown, ...rest: Array<unknown>) {
    events.push(`write ${String(chunk).toUpperCase()}`)
    return (write as (...args: Array<unknown>) => boolean).call(this, chunk, ...rest)
  } as typeof stream.write
  const onData = () => events.push("data")
  stream.on("data", onData)
  return {
    events,
    stop: () => {
      stream.write = write
      stream.off("data", onData)
    }
  }
}

/** Asserts the durable script's EVALSHA and its WAIT were written before any reply arrived (one round trip). */
const assertPipelined = (events: ReadonlyArray<string>) => {
  const script = events.findIndex((e) => e.includes("EVALSHA"))
  const wait = events.findIndex((e) => e.includes("WAIT"))
  assert.isAtLeast(script, 0, "the script was written")
  assert.isAtLeast(wait, script, "the WAIT was written with or after the script")
  assert.notInclude(events.slice(script, wait + 1), "data", "no reply arrived between the script and its WAIT")
}

const backend = (queue: string, replicas: number, timeout: number) =>
  Heimdall.layerRedis({
    queue,
    queuePrefix: `${prefix}q`,
    lockPrefix: `${prefix}lock:`,
    ratePrefix: `${prefix}rate:`,
    durability: { replicas, timeout }
  })

describeRedis("durability on one server (no replicas)", () => {
  layer(redisLayer(), { excludeTestServices: true })((it) => {
    it.effect(
      "enqueue, enqueueAll, lock and take each wait `timeout` and fail with ReplicationTimeout { acknowledged: 0 }; the write is on the server",
      () =>
        Effect.gen(function* () {
          const id = `one-${randomUUID()}`
          const start = Date.now()
          assertTimeout(failureOf(yield* Effect.exit(Task.enqueue(Note, "a", { id }))), 0, 1, 150)
          assert.isAtLeast(Date.now() - start, 140, "WAIT waited its timeout")
          // the task was created: the write happened on the master
          assert.strictEqual(yield* Task.status(Task.handle(Note, id)), "queued")
          assertTimeout(failureOf(yield* Effect.exit(Task.enqueueAll(Note, ["b", "c"]))), 0, 1, 150)
          const lock = failureOf(yield* Effect.exit(Heimdall.acquireLock("k", { owner: "me", ttl: "5 seconds" })))
          assertTimeout(lock, 0, 1, 150)
          const held = yield* Heimdall.inspectLock("k")
          assert.strictEqual(Option.getOrUndefined(held)?.holder, "me", "the lock is held on the master")
          assertTimeout(failureOf(yield* Effect.exit(Heimdall.take("r", { times: 5, per: "1 minute" }))), 0, 1, 150)
        }).pipe(Effect.provide(backend("one", 1, 150))),
      20_000
    )

    it.effect("the WAIT leaves right behind the script, before its reply (one round trip)", () =>
      Effect.gen(function* () {
        const client = yield* RedisIoredis.Client
        const recorder = recordWrites(client.stream as never)
        yield* Effect.exit(Task.enqueue(Note, "p"))
        recorder.stop()
        assertPipelined(recorder.events)
      }).pipe(Effect.provide(backend("one-rt", 1, 50)))
    )
  })
})

/** How many WAITs the node at `host:port` has run (`INFO commandstats`). */
const waitsOn = (node: string) =>
  Effect.promise(async () => {
    const { Redis: IORedis } = await import("ioredis")
    const [host, port] = node.split(":")
    const connection = new IORedis({ host: host!, port: Number(port), lazyConnect: true })
    await connection.connect()
    const stats = String(await connection.call("INFO", "commandstats"))
    connection.disconnect()
    return Number(/cmdstat_wait:calls=(\d+)/.exec(stats)?.[1] ?? 0)
  })

describeCluster("durability on the cluster (one replica per master)", () => {
  layer(clusterLayer(), { excludeTestServices: true })((it) => {
    it.effect(
      "replicas 1: enqueue, unique enqueue, enqueueAll (one WAIT per batch), lock and take are confirmed, each WAIT on the master of its keys",
      () =>
        Effect.gen(function* () {
          const queue = `c-${randomUUID().slice(0, 6)}`
          const redis = yield* Redis.Redis
          // the master of the queue's slot (every queue key carries the queue's hash tag)
          const slot = keySlot(`${prefix}q:{${queue}}:ready`)
          const slots = yield* redis.send<Array<[number, number, [string, number]]>>("CLUSTER", "SLOTS")
          const owner = slots.find(([from, to]) => slot >= from && slot <= to)![2]
          const master = `${owner[0]}:${owner[1]}`
          assert.include(clusterNodes.join(","), master)
          const before = yield* waitsOn(master)
          yield* Effect.provide(
            Effect.gen(function* () {
              yield* Task.enqueue(Note, "a")
              yield* Task.enqueueAll(
                Note,
                Array.from({ length: 20 }, (_, i) => `b${i}`)
              )
              // a unique task's lock lives in the queue's slot
              const Unique = Task.make("durable-unique", {
                payload: Schema.String,
                unique: { key: (s: string) => s, timeout: "1 minute" }
              })
              yield* Task.enqueue(Unique, "u")
              // 1 + 1 (one call for the batch of 20) + 1
              assert.strictEqual((yield* waitsOn(master)) - before, 3)
              const lock = yield* Heimdall.acquireLock(`{${queue}}:lock`, { ttl: "5 seconds" })
              assert.isAbove(lock.fence, 0)
              assert.strictEqual((yield* waitsOn(master)) - before, 4, "the lock's WAIT ran on its key's master")
              yield* Heimdall.take(`{${queue}}:rate`, { times: 5, per: "1 minute" })
              assert.strictEqual((yield* waitsOn(master)) - before, 5)
            }),
            backend(queue, 1, 1000)
          )
        }),
      20_000
    )

    it.effect("the script and its WAIT go to the queue's master in one write (one round trip)", () =>
      Effect.gen(function* () {
        const cluster = yield* RedisIoredis.ClusterClient
        const recorders = cluster.nodes("master").map((node) => recordWrites(node.stream as never))
        yield* Task.enqueue(Note, "p")
        for (const r of recorders) r.stop()
        const writers = recorders.filter((r) => r.events.some((e) => e.includes("EVALSHA")))
        assert.strictEqual(writers.length, 1, "one master ran the script")
        assertPipelined(writers[0]!.events)
        const both = writers[0]!.events.find((e) => e.includes("EVALSHA"))!
        assert.include(both, "WAIT", "one write carried both")
      }).pipe(Effect.provide(backend(`c3-${randomUUID().slice(0, 6)}`, 1, 1000)))
    )

    it.effect("replicas 2 (there is one): ReplicationTimeout { acknowledged: 1, required: 2 }", () =>
      Effect.gen(function* () {
        const id = `two-${randomUUID()}`
        assertTimeout(failureOf(yield* Effect.exit(Task.enqueue(Note, "a", { id }))), 1, 2, 100)
        assert.strictEqual(yield* Task.status(Task.handle(Note, id)), "queued")
        assertTimeout(failureOf(yield* Effect.exit(Heimdall.acquireLock("k2", { ttl: "5 seconds" }))), 1, 2, 100)
      }).pipe(Effect.provide(backend(`c2-${randomUUID().slice(0, 6)}`, 2, 100)))
    )
  })
})
