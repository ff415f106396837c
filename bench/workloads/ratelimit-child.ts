/**
 * One worker process of the rate-limit accuracy workload (forked by
 * ratelimit.ts): reports the wall-clock start of every task over IPC, and
 * stops on the message "stop".
 *
 *   node bench/workloads/ratelimit-child.ts <heimdall|heimdall-handler|bullmq> <url> <queue> <concurrency> <limit per second> [jitter]
 *
 * heimdall: the task's own `rateLimit` (issue 5), with the default jitter or the given one;
 * heimdall-handler: `Heimdall.withRateLimit` inside the handler.
 */
import { Layer } from "effect"
import * as Heimdall from "../../src/Heimdall.ts"
import * as RedisIoredis from "../../src/RedisIoredis.ts"
import { wallNow } from "../lib/stats.ts"
import * as BullPeer from "../peers/bullmq.ts"
import * as HeimdallPeer from "../peers/heimdall.ts"

const [peer, url, queue, concurrencyArg, limitArg, jitterArg] = process.argv.slice(2)
const concurrency = Number(concurrencyArg)
const limit = Number(limitArg)
const send = (message: object) => process.send?.(message)
const onStart = (n: number) => send({ start: wallNow(), n })

const rated = HeimdallPeer.makeRateLimited(limit, "1 second", jitterArg === "default" ? undefined : jitterArg)
if (peer === "heimdall" && rated === undefined) throw new Error("task-level rateLimit is not in src/Task.ts")
const worker =
  peer === "heimdall"
    ? await HeimdallPeer.startWorker(url!, queue!, concurrency, onStart, undefined, undefined, rated)
    : peer === "heimdall-handler"
      ? await HeimdallPeer.startWorker(
          url!,
          queue!,
          concurrency,
          onStart,
          (body) =>
            body.pipe(Heimdall.withRateLimit("bench-rate-accuracy", { limits: { times: limit, per: "1 second" } })),
          Heimdall.layerRedis({ ratePrefix: "bench-rate:" }).pipe(Layer.provide(RedisIoredis.layer(url!)))
        )
      : await BullPeer.startWorker(Number(new URL(url!).port), queue!, concurrency, onStart, undefined, {
          max: limit,
          duration: 1000
        })

process.on("message", async (message) => {
  if (message === "stop") {
    await worker.stop()
    process.disconnect()
    process.exit(0)
  }
})
send({ ready: true })
