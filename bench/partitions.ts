/**
 * Partitions on a Redis Cluster (issue 14, item 4): a drain of `--count` no-op tasks (default 20,000) by one worker
 * (concurrency `--concurrency`, default 50), on a private single server and on a private local cluster (3 masters,
 * 3 replicas: the tests' helper), with `partitions: 1` and `partitions: 3`. Per run: drain throughput (worker start to
 * the last completion), and per master the Redis CPU time (`INFO cpu`, user + sys) and the commands it ran (`INFO
 * commandstats`, calls) during the drain.
 *
 *   node_modules/.bin/node bench/partitions.ts [--count 20000] [--concurrency 50] [--rounds 2]
 *
 * Needs redis-server and redis-cli (as the tests' cluster does). Prints a table; writes nothing.
 */
import { Effect, Exit, Layer, ManagedRuntime, Schema, Scope } from "effect"
import type * as Redis from "effect/persistence/Redis"
import { Redis as IORedis } from "ioredis"
import * as Heimdall from "../src/Heimdall.ts"
import * as RedisIoredis from "../src/RedisIoredis.ts"
import * as Task from "../src/Task.ts"
import * as TaskQueue from "../src/TaskQueue.ts"
import * as Worker from "../src/Worker.ts"
import { startRedisCluster } from "../test/support/redisCluster.ts"
import { findRedisServer, startRedisServer } from "../test/support/redisServer.ts"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const count = arg("count", 20_000)
const concurrency = arg("concurrency", 50)
const rounds = arg("rounds", 2)

const Noop = Task.make("bench-noop", { payload: Schema.Number })

const info = async (client: IORedis, section: string) => String(await client.info(section))
const field = (text: string, name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(text)?.[1] ?? 0)
const cpuSeconds = async (client: IORedis) => {
  const text = await info(client, "cpu")
  return field(text, "used_cpu_user") + field(text, "used_cpu_sys")
}
const calls = async (client: IORedis) => {
  let total = 0
  for (const m of (await info(client, "commandstats")).matchAll(/calls=(\d+)/g)) total += Number(m[1])
  return total
}

interface Run {
  readonly setup: string
  readonly partitions: number
  readonly tasksPerSecond: number
  /** Per master: [CPU seconds, commands] during the drain. */
  readonly masters: ReadonlyArray<readonly [cpu: number, commands: number]>
}

const drain = async (
  setup: string,
  redisLayer: Layer.Layer<Redis.Redis, unknown>,
  masters: ReadonlyArray<IORedis>,
  partitions: number,
  round: number
): Promise<Run> => {
  const queue = `drain-${partitions}-${round}-${Date.now() % 100000}`
  const backend = Heimdall.layerRedis({ queue, queuePrefix: "bench-p", partitions }).pipe(
    Layer.provideMerge(redisLayer)
  )
  const producer = ManagedRuntime.make(backend)
  for (let i = 0; i < count; i += 1000) {
    await producer.runPromise(
      Task.enqueueAll(
        Noop,
        Array.from({ length: Math.min(1000, count - i) }, (_, k) => i + k)
      )
    )
  }
  let ran = 0
  let allRan!: () => void
  const done = new Promise<void>((resolve) => {
    allRan = resolve
  })
  const before = await Promise.all(masters.map(async (m) => [await cpuSeconds(m), await calls(m)] as const))
  const t0 = performance.now()
  const scope = Scope.makeUnsafe()
  await Effect.runPromise(
    Layer.buildWithScope(
      Worker.layer({
        concurrency,
        tasks: [
          Task.implement(Noop, () =>
            Effect.sync(() => {
              if (++ran === count) allRan()
            })
          )
        ]
      }).pipe(
        Layer.provide(
          Heimdall.layerRedis({ queue, queuePrefix: "bench-p", partitions }).pipe(Layer.provide(redisLayer))
        )
      ) as Layer.Layer<never>,
      scope
    )
  )
  await done
  // the last completions are recorded one round trip after their handlers ran
  for (;;) {
    const counts = await producer.runPromise(Effect.flatMap(TaskQueue.TaskQueue, (q) => q.counts))
    if (counts.total.succeeded >= count) break
    await new Promise((r) => setTimeout(r, 5))
  }
  const elapsed = performance.now() - t0
  const after = await Promise.all(masters.map(async (m) => [await cpuSeconds(m), await calls(m)] as const))
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await producer.dispose()
  return {
    setup,
    partitions,
    tasksPerSecond: (count * 1000) / elapsed,
    masters: before.map(([cpu, n], i) => [after[i]![0] - cpu, after[i]![1] - n] as const)
  }
}

const main = async () => {
  const binary = findRedisServer()
  if (binary === undefined) throw new Error("needs redis-server")
  const single = await startRedisServer()
  const cluster = await startRedisCluster()
  const runs: Array<Run> = []
  try {
    const singleAdmin = new IORedis(single.url)
    const masterAdmins: Array<IORedis> = []
    const probe = new IORedis.Cluster(
      cluster.nodes.map((n) => ({ host: n.split(":")[0], port: Number(n.split(":")[1]) }))
    )
    await new Promise<void>((resolve) => probe.once("ready", () => resolve()))
    for (const node of probe.nodes("master")) masterAdmins.push(new IORedis(node.options.port!, node.options.host!))
    await probe.quit()
    for (let round = 0; round < rounds; round++) {
      runs.push(await drain("single server", RedisIoredis.layer(single.url), [singleAdmin], 1, round))
      runs.push(await drain("single server", RedisIoredis.layer(single.url), [singleAdmin], 3, round))
      runs.push(await drain("cluster", RedisIoredis.layerCluster(cluster.nodes), masterAdmins, 1, round))
      runs.push(await drain("cluster", RedisIoredis.layerCluster(cluster.nodes), masterAdmins, 3, round))
    }
    singleAdmin.disconnect()
    for (const m of masterAdmins) m.disconnect()
  } finally {
    await cluster.stop()
    await single.stop()
  }
  console.log(
    `\ndrain of ${count} no-op tasks, one worker (concurrency ${concurrency}), ${rounds} rounds; Node ${process.version}\n`
  )
  console.log("| setup | partitions | round | tasks/s | Redis CPU ms per master | commands per master |")
  console.log("| ----- | ---------: | ----: | ------: | ----------------------- | ------------------- |")
  runs.forEach((r, i) => {
    const round = Math.floor(i / 4) + 1
    const cpu = r.masters.map(([s]) => (s * 1000).toFixed(0)).join(" / ")
    const commands = r.masters.map(([, n]) => n).join(" / ")
    console.log(`| ${r.setup} | ${r.partitions} | ${round} | ${r.tasksPerSecond.toFixed(0)} | ${cpu} | ${commands} |`)
  })
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
