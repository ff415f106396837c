// Enqueue-to-start latency with an idle worker, next to a Redis PING after the same idle gap.
//
//   node bench/queue-latency.ts            (Node 24; or: npx tsx / through npm's pinned node)
//   REDIS_URL=redis://host:6379 node bench/queue-latency.ts
//
// Without REDIS_URL it starts a private redis-server (like the tests). The producer and the
// worker use separate Redis clients, as two processes would. Each round: the worker has been
// idle (blocked) for GAP ms, then one task is enqueued; latency = handler start - enqueue call.
// Also measures how late a delayed task (delay 100 ms) starts after its due time.
import { performance } from "node:perf_hooks"
import { Deferred, Effect, Layer, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import { RedisIoredis } from "../src/index.ts"
import * as Task from "../src/Task.ts"
import * as TaskQueue from "../src/TaskQueue.ts"
import * as Worker from "../src/Worker.ts"
import { startRedisServer } from "../test/support/redisServer.ts"

const rounds = Number(process.env.ROUNDS ?? 30)
const gap = Number(process.env.GAP ?? 200)

const server = process.env.REDIS_URL ? undefined : await startRedisServer()
const url = process.env.REDIS_URL ?? server!.url
const queue = { prefix: `bench:${process.pid}`, queue: "latency", retention: "1 minute" } as const

const Ping = Task.make("bench-ping", { payload: Schema.Number })
const started = new Map<number, Deferred.Deferred<number>>()
const PingLive = Task.implement(Ping, (n) =>
  Effect.sync(() => {
    const d = started.get(n)
    if (d) Deferred.doneUnsafe(d, Effect.succeed(performance.now()))
  })
)

const stats = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(2)
  return `median ${q(0.5)} ms  p90 ${q(0.9)} ms  max ${s[s.length - 1]!.toFixed(2)} ms  (n=${s.length})`
}

const WorkerLive = Worker.layer({ tasks: [PingLive], concurrency: 4 }).pipe(
  Layer.provide(TaskQueue.layerRedis(queue)),
  Layer.provide(RedisIoredis.layer(url))
)
const ProducerLive = TaskQueue.layerRedis(queue).pipe(Layer.provideMerge(RedisIoredis.layer(url)))

const program = Effect.gen(function* () {
  yield* Layer.build(WorkerLive)
  const redis = yield* Redis.Redis
  yield* Effect.sleep(300) // worker idle, blocked on its reserved connection
  const latencies: Array<number> = []
  const pings: Array<number> = []
  const late: Array<number> = []
  for (let n = 0; n < rounds; n++) {
    yield* Effect.sleep(gap)
    const d = Deferred.makeUnsafe<number>()
    started.set(n, d)
    const t0 = performance.now()
    yield* Task.enqueue(Ping, n)
    latencies.push((yield* Deferred.await(d)) - t0)

    yield* Effect.sleep(gap)
    const p0 = performance.now()
    yield* redis.send("PING")
    pings.push(performance.now() - p0)
  }
  for (let n = rounds; n < rounds + Math.min(rounds, 10); n++) {
    yield* Effect.sleep(gap)
    const d = Deferred.makeUnsafe<number>()
    started.set(n, d)
    const t0 = performance.now()
    yield* Task.enqueue(Ping, n, { delay: 100 })
    late.push((yield* Deferred.await(d)) - (t0 + 100))
  }
  console.log(`redis ${url}, idle gap ${gap} ms before each measurement`)
  console.log(`enqueue -> start (idle worker): ${stats(latencies)}`)
  console.log(`Redis PING round trip:          ${stats(pings)}`)
  console.log(`delayed 100 ms, start - due:    ${stats(late)}`)
})

await Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(ProducerLive)))
await server?.stop()
