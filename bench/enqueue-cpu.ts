/**
 * CPU per enqueued task, 50 in flight: effect-heimdall's enqueue and unique enqueue (default key) against BullMQ's add
 * and deduplicated add, in one process against one private Redis, alternating the four each round. Per variant:
 * tasks/s, this process' CPU per task (`process.cpuUsage`: the producer), the server's CPU per task (`INFO cpu`) and
 * script calls per task (medians over the rounds). CPU per task holds up on a loaded machine where tasks/s does not.
 * Usage: `node bench/enqueue-cpu.ts` (env: `TREE=<checkout>` whose `bench/peers/heimdall.ts` to load, default this
 * one; `N` tasks per sample, default 20000; `ROUNDS`, default 4; `ONLY=hPlain,hUnique,bPlain,bUnique`).
 */
import { Redis as IORedis } from "ioredis"
import { info, redisCpuSeconds, startServer } from "./lib/redis.ts"
import * as Bull from "./peers/bullmq.ts"

const tree = process.env.TREE ?? new URL("..", import.meta.url).pathname
const H = await import(`${tree}/bench/peers/heimdall.ts`)
const server = await startServer()
const admin = new IORedis(server.url)
const port = Number(new URL(server.url).port)
const producer = H.makeProducer(server.url, "c")
const queue = Bull.makeQueue(port, "c")
await queue.waitUntilReady()
const N = Number(process.env.N ?? 20000)
let next = 1_000_000
const pool = async (f: (n: number) => Promise<unknown>, n: number) => {
  let i = 0
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (i < n) {
        i++
        await f(next++)
      }
    })
  )
}
const variants: Record<string, () => Promise<unknown>> = {
  hPlain: () => producer.runPromise(H.prefillWith(() => H.enqueue(next++), N)),
  hUnique: () => producer.runPromise(H.prefillWith(() => H.enqueueUnique(next++), N)),
  bPlain: () => pool((n) => Bull.add(queue, n), N),
  bUnique: () => pool((n) => Bull.addUnique(queue, n), N)
}
const only = process.env.ONLY?.split(",")
const names = Object.keys(variants).filter((n) => !only || only.includes(n))
for (const n of names) {
  await variants[n]!()
  await admin.flushdb()
}
const res: Record<string, number[][]> = {}
const rounds = Number(process.env.ROUNDS ?? 4)
for (let r = 0; r < rounds; r++) {
  for (const n of r % 2 ? [...names].reverse() : names) {
    await admin.flushdb()
    await admin.config("RESETSTAT")
    const r0 = await redisCpuSeconds(admin)
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    await variants[n]!()
    const el = performance.now() - t0
    const c = process.cpuUsage(c0)
    const r1 = await redisCpuSeconds(admin)
    const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await info(admin, "commandstats"))
    res[n] ??= []
    res[n].push([(N * 1000) / el, (c.user + c.system) / N, ((r1 - r0) * 1e6) / N, m ? Number(m[1]) / N : 0])
  }
}
const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
console.log(`medians of ${rounds} rounds, ${N} tasks, 50 in flight: tasks/s, node us/task, redis us/task, evalsha/task`)
for (const n of names)
  console.log(
    n.padEnd(8),
    [0, 1, 2, 3]
      .map((i) =>
        med(res[n]!.map((x) => x[i]!))
          .toFixed(i === 0 ? 0 : i === 3 ? 2 : 1)
          .padStart(8)
      )
      .join("")
  )
await producer.dispose()
await queue.close()
await admin.quit()
await server.stop()
process.exit(0)
