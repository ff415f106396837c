/**
 * Diagnostic (`--only timeline`, not in the default run): where
 * enqueue-to-start latency goes, step by step, for effect-heimdall and BullMQ
 * side by side.
 *
 * The same setup as the latency workload (section 3): a producer and an idle
 * worker (concurrency 10) for each library, rounds alternating between the
 * two, `latencyGapMs` of idle before each enqueue, `latencyRounds` rounds.
 * While it runs, socket writes and reads of every Redis connection in the
 * process are timestamped (by wrapping `net.Socket`, restored at the end), so
 * both libraries are measured at the same points:
 *
 *   enqueue sent   the producer's first write after the call
 *   worker woken   the first reply on another connection (the worker's blocking pop returns)
 *   claim sent     the worker's next write (effect-heimdall: claim script; BullMQ: moveToActive)
 *   claim reply    the first reply on that connection (the task's payload is in it)
 *   handler start  the task's handler runs
 *
 * A task handed over by its enqueue (effect-heimdall's idle workers: the
 * blocking pop returns the task, claimed already) starts with no claim: its
 * claim steps show as "–".
 *
 * It prints the median of each step's duration (ms) and of the total.
 * Wrapping the sockets adds a little to every step, equally for both; use
 * `--only latency` for the figures.
 */
import net from "node:net"
import type { Context, Row } from "../lib/context.ts"
import { percentile, sleep } from "../lib/stats.ts"
import * as BullPeer from "../peers/bullmq.ts"
import * as HeimdallPeer from "../peers/heimdall.ts"

interface Event {
  readonly at: number
  readonly socket: number
  readonly kind: "write" | "read" | "handler"
}
let events: Array<Event> | undefined
const socketIds = new WeakMap<object, number>()
let nextSocket = 0
const record = (socket: object, kind: Event["kind"]) => {
  if (events === undefined) return
  let id = socketIds.get(socket)
  if (id === undefined) {
    id = nextSocket++
    socketIds.set(socket, id)
  }
  events.push({ at: performance.now(), socket: id, kind })
}

/** Wraps `net.Socket`'s write, writev and emit("data") to record events; returns the undo. */
const instrumentSockets = (): (() => void) => {
  const proto = net.Socket.prototype as net.Socket & { _writev?: (...args: Array<unknown>) => unknown }
  const { write, emit } = proto
  const writev = proto._writev
  proto.write = function (this: net.Socket, ...args: Array<unknown>) {
    record(this, "write")
    return (write as (...a: Array<unknown>) => boolean).apply(this, args)
  } as typeof proto.write
  if (writev !== undefined) {
    proto._writev = function (this: net.Socket, ...args: Array<unknown>) {
      record(this, "write")
      return writev.apply(this, args)
    }
  }
  proto.emit = function (this: net.Socket, event: string | symbol, ...args: Array<unknown>) {
    if (event === "data") record(this, "read")
    return (emit as (...a: Array<unknown>) => boolean).call(this, event, ...args)
  } as typeof proto.emit
  return () => {
    proto.write = write
    proto.emit = emit
    if (writev !== undefined) proto._writev = writev
  }
}

const steps = ["enqueue sent", "worker woken", "claim sent", "claim reply", "handler start"] as const

/**
 * The step times (ms after the call) of one round, or undefined when its events do not fit the pattern. A round
 * whose handler starts before any claim is a hand-off: its claim steps are NaN.
 */
const stepsOf = (t0: number, log: ReadonlyArray<Event>): Array<number> | undefined => {
  const sent = log.find((e) => e.kind === "write")
  if (sent === undefined) return undefined
  const woken = log.find((e) => e.kind === "read" && e.socket !== sent.socket && e.at > sent.at)
  const handler = log.find((e) => e.kind === "handler")
  if (woken === undefined || handler === undefined) return undefined
  const claim = log.find((e) => e.kind === "write" && e.socket !== sent.socket && e.at > woken.at)
  if (claim === undefined || claim.at > handler.at) {
    return [sent.at - t0, woken.at - t0, Number.NaN, Number.NaN, handler.at - t0]
  }
  const reply = log.find((e) => e.kind === "read" && e.socket === claim.socket && e.at > claim.at)
  if (reply === undefined) return undefined
  return [sent.at - t0, woken.at - t0, claim.at - t0, reply.at - t0, handler.at - t0]
}

/** The duration of step `s` of a round: from the last step before it that took place. */
const stepDuration = (round: ReadonlyArray<number>, s: number): number => {
  if (s === 0) return round[0]!
  let before = s - 1
  while (before > 0 && Number.isNaN(round[before]!)) before--
  return round[s]! - round[before]!
}

export const run = async (ctx: Context): Promise<Array<Row>> => {
  const { latencyRounds: rounds, latencyGapMs: gap } = ctx.settings
  await ctx.admin.flushdb()
  const restore = instrumentSockets()
  const producer = HeimdallPeer.makeProducer(ctx.url, "timeline")
  const queue = BullPeer.makeQueue(ctx.port, "timeline")
  const waiting = new Map<number, () => void>()
  const started = (n: number) => {
    if (events !== undefined) events.push({ at: performance.now(), socket: -1, kind: "handler" })
    waiting.get(n)?.()
  }
  let heimdallWorker: HeimdallPeer.RunningWorker | undefined
  let bullWorker: BullPeer.RunningWorker | undefined
  try {
    await queue.waitUntilReady()
    heimdallWorker = await HeimdallPeer.startWorker(ctx.url, "timeline", 10, started)
    bullWorker = await BullPeer.startWorker(ctx.port, "timeline", 10, started)
    let next = 0
    const peers = [
      { name: "effect-heimdall", enqueue: (n: number) => producer.runPromise(HeimdallPeer.enqueue(n)) },
      { name: "BullMQ", enqueue: (n: number) => BullPeer.add(queue, n) }
    ]
    const results = peers.map(() => ({ rounds: [] as Array<Array<number>>, unmatched: 0 }))
    for (let round = -5; round < rounds; round++) {
      for (let k = 0; k < peers.length; k++) {
        const i = (round + 5 + k) % peers.length
        await sleep(gap)
        const n = next++
        const start = new Promise<void>((resolve) => waiting.set(n, resolve))
        events = []
        const t0 = performance.now()
        await peers[i]!.enqueue(n)
        await start
        await sleep(5) // the worker's follow-up (the next claim) is not part of the step pattern
        const log = events
        events = undefined
        waiting.delete(n)
        if (round < 0) continue // warm-up
        const times = stepsOf(t0, log)
        if (times === undefined) results[i]!.unmatched++
        else results[i]!.rounds.push(times)
      }
    }
    ctx.log(`  enqueue-to-start, step by step: median ms of ${rounds} rounds, ${gap} ms idle before each\n`)
    const width = 16
    const label = 22
    ctx.log(`  ${["step".padEnd(label), ...peers.map((p) => p.name.padStart(width))].join("")}`)
    for (let s = 0; s < steps.length; s++) {
      const cells = results.map(({ rounds }) => {
        const durations = rounds.map((r) => stepDuration(r, s)).filter((d) => !Number.isNaN(d))
        return (durations.length === 0 ? "–" : percentile(durations, 0.5).toFixed(3)).padStart(width)
      })
      ctx.log(`  ${[`${s === 0 ? "call → " : "→ "}${steps[s]}`.padEnd(label), ...cells].join("")}`)
    }
    const totals = results.map(({ rounds }) =>
      percentile(
        rounds.map((r) => r[steps.length - 1]!),
        0.5
      )
        .toFixed(3)
        .padStart(width)
    )
    ctx.log(`  ${["total (p50)".padEnd(label), ...totals].join("")}`)
    const handedOff = results.map((r, i) => `${peers[i]!.name} ${r.rounds.filter((x) => Number.isNaN(x[2]!)).length}`)
    ctx.log(`\n  rounds handed over by the enqueue (no claim): ${handedOff.join(", ")}`)
    ctx.log(
      `  rounds that did not fit the step pattern: ${results.map((r, i) => `${peers[i]!.name} ${r.unmatched}`).join(", ")}`
    )
    return []
  } finally {
    events = undefined
    await heimdallWorker?.stop()
    await bullWorker?.stop()
    await queue.close()
    await producer.dispose()
    restore()
    await ctx.admin.flushdb()
  }
}
