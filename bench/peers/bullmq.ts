/**
 * BullMQ as a benchmark peer, with its defaults (completed jobs are kept, as
 * effect-heimdall keeps finished tasks for its retention).
 */
import { Queue, type RateLimiterOptions, Worker } from "bullmq"

export const connectionOf = (port: number) => ({ host: "127.0.0.1", port })

export const makeQueue = (port: number, name: string) => new Queue(name, { connection: connectionOf(port) })

export const add = (queue: Queue, n: number) => queue.add("noop", { n })
export const addUnique = (queue: Queue, n: number) => queue.add("noop", { n }, { deduplication: { id: `u${n}` } })

/** `addBulk` of one job per number; resolves with how many jobs were added. */
export const addBulk = async (queue: Queue, ns: ReadonlyArray<number>) =>
  (await queue.addBulk(ns.map((n) => ({ name: "noop", data: { n } })))).length

/** Fills the queue with `count` jobs, 50 in flight (not timed). */
export const prefill = async (queue: Queue, count: number, offset = 0) => {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(50, count) }, async () => {
      while (next < count) await add(queue, offset + next++)
    })
  )
}

export interface RunningWorker {
  readonly stop: () => Promise<void>
}

/** A worker; `onStart` runs at the start of each job, `onCompleted` after BullMQ recorded its completion. */
export const startWorker = async (
  port: number,
  name: string,
  concurrency: number,
  onStart: (n: number) => void,
  onCompleted?: () => void,
  limiter?: RateLimiterOptions
): Promise<RunningWorker> => {
  const worker = new Worker(
    name,
    async (job) => {
      onStart((job.data as { n: number }).n)
    },
    { connection: connectionOf(port), concurrency, ...(limiter ? { limiter } : {}) }
  )
  if (onCompleted) worker.on("completed", onCompleted)
  worker.on("error", (error) => console.error(`bullmq worker error: ${error.message}`))
  await worker.waitUntilReady()
  return { stop: () => worker.close() }
}

/** Starts a worker on `name` and resolves once it has completed `count` jobs (BullMQ's `completed` event), stopped. */
export const drain = async (port: number, name: string, concurrency: number, count: number): Promise<void> => {
  let completed = 0
  let resolve!: () => void
  const done = new Promise<void>((r) => {
    resolve = r
  })
  const worker = await startWorker(
    port,
    name,
    concurrency,
    () => {},
    () => {
      if (++completed === count) resolve()
    }
  )
  await done
  await worker.stop()
}
