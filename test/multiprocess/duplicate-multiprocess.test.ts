/**
 * Duplicate policies across processes: 4 OS processes (test/fixtures/duplicate-worker.ts), each a worker and a
 * sender, send duplicates of one unique key to one queue on one Redis, as fast as they can.
 *
 * `onDuplicate: "replace"`: runs of the key never overlap (on Redis TIME), every task an enqueue named ran exactly
 * once, each payload that ran was sent, and the last payload sent (by this process, after the senders finished)
 * is the last that ran. The figures are printed for the closing note.
 */
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Redis from "effect/persistence/Redis"
import { afterAll, afterEach } from "vitest"
import { Heimdall, Task } from "../../src/index.ts"
import { Replacing } from "../fixtures/unique-tasks.ts"
import { type Child, killAll, spawnFixture } from "../support/processes.ts"
import { describeRedis, keyPrefix, redisLayer, redisUrl } from "../support/redis.ts"

const prefix = keyPrefix(import.meta.url)
const script = fileURLToPath(new URL("../fixtures/duplicate-worker.ts", import.meta.url))

afterEach(killAll)
afterAll(killAll)

type Line = { readonly type: string; readonly pid: number } & Record<string, any>
const linesOf = (children: ReadonlyArray<Child>): Array<Line> => children.flatMap((c) => c.json() as Array<Line>)

const PROCESSES = 4
const SENDS = 40
const HOLD_MS = 30

describeRedis("Duplicate policies across processes", () => {
  layer(redisLayer(), { excludeTestServices: true, timeout: "90 seconds" })((it) => {
    it.effect(
      "replace: 4 processes send duplicates of one key: never two runs at once, none lost, the last payload runs last",
      () =>
        Effect.gen(function* () {
          const queue = "replace"
          const go = `${prefix}go:${queue}`
          const children = Array.from({ length: PROCESSES }, (_, i) =>
            spawnFixture(script, {
              REDIS_URL: redisUrl,
              KEY_PREFIX: prefix,
              QUEUE: queue,
              SENDER: `p${i}`,
              SENDS: String(SENDS),
              GO: go,
              HOLD_MS: String(HOLD_MS)
            })
          )
          yield* Effect.addFinalizer(() =>
            Effect.promise(() => Promise.all(children.map((c) => c.stop("SIGTERM")))).pipe(Effect.ignore)
          )
          const waitAll = (type: string, ms: number) =>
            Effect.promise(() =>
              Promise.all(children.map((c) => c.waitFor(type, (l) => l.includes(`"type":"${type}"`), ms)))
            )
          yield* waitAll("ready", 20_000)
          const redis = yield* Redis.Redis
          yield* redis.send("SET", go, "1", "PX", "60000")
          yield* waitAll("sentAll", 30_000)
          // the last payload: sent after every other one
          const last = yield* Task.enqueueOutcome(Replacing, { sender: "final", seq: 0 })
          yield* Task.join(last.handle)
          yield* Effect.sleep("20 millis").pipe(
            Effect.repeat({
              until: () => linesOf(children).some((l) => l.type === "done" && l.sender === "final")
            }),
            Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.void })
          )

          const lines = linesOf(children)
          const sent = lines.filter((l) => l.type === "sent")
          const starts = lines.filter((l) => l.type === "start").sort((a, b) => a.redisUs - b.redisUs)
          const dones = lines.filter((l) => l.type === "done")
          assert.strictEqual(sent.length, PROCESSES * SENDS)
          // never two at once: each run ends before the next starts (one clock: Redis TIME)
          const runs: Array<Line & { readonly end: number }> = starts.map((s) => ({
            ...s,
            end: dones.find((d) => d.id === s.id)?.redisUs as number
          }))
          assert.isTrue(
            runs.every((r) => r.end !== undefined),
            "every run ended"
          )
          const overlaps = runs.filter((r, i) => i > 0 && r.redisUs < runs[i - 1]!.end).length
          // every task an enqueue named ran exactly once; nothing else ran
          const named = new Set([...sent.map((l) => l.id as string), last.handle.id])
          const ranIds = runs.map((r) => r.id as string)
          assert.deepStrictEqual([...new Set(ranIds)].sort(), [...named].sort(), "the tasks that ran are those named")
          assert.strictEqual(ranIds.length, named.size, "each once")
          // each payload that ran was sent; the final one ran last
          const sentPayloads = new Set(sent.map((l) => `${l.sender}:${l.seq}`))
          const ranPayloads = runs.map((r) => `${r.sender}:${r.seq}`)
          assert.isTrue(
            ranPayloads.slice(0, -1).every((p) => sentPayloads.has(p)),
            "every payload that ran was sent"
          )
          assert.strictEqual(ranPayloads.at(-1), "final:0", "the last payload sent ran last")
          const outcomes: Record<string, number> = {}
          for (const l of sent) {
            const k = l.outcome === "Replaced" && l.created ? "Replaced(created)" : (l.outcome as string)
            outcomes[k] = (outcomes[k] ?? 0) + 1
          }
          const report = {
            processes: PROCESSES,
            enqueues: sent.length + 1,
            outcomes,
            runs: runs.length,
            runsPerProcess: Object.fromEntries(
              children.map((c) => [c.child.pid, runs.filter((r) => r.pid === c.child.pid).length])
            ),
            overlappingRuns: overlaps,
            firstToLastMs: Math.round((runs.at(-1)!.end - runs[0]!.redisUs) / 1000),
            gapsBetweenRunsMs: {
              max: Math.max(...runs.slice(1).map((r, i) => Math.round((r.redisUs - runs[i]!.end) / 100) / 10))
            }
          }
          console.log(`[duplicate-multiprocess] replace: ${JSON.stringify(report)}`)
          assert.strictEqual(overlaps, 0, JSON.stringify(report))
          assert.isBelow(runs.length, sent.length, "duplicates were folded into fewer runs")
        }).pipe(
          Effect.provide(
            Heimdall.layerRedis({
              queue: "replace",
              queuePrefix: `${prefix}q`,
              lockPrefix: `${prefix}lock:`,
              ratePrefix: `${prefix}rate:`
            })
          )
        ),
      90_000
    )
  })
})
