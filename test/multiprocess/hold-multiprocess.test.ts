/**
 * `hold: "untilStart"` across processes: 4 OS processes (test/fixtures/duplicate-worker.ts, POLICY "untilStart"),
 * each a worker and a sender, send duplicates of one unique key to one queue on one Redis, as fast as they can; then
 * this process sends one more, the last. The key is held only while a task waits, and freed inside the claim that
 * starts it:
 *
 * - every task an enqueue named ran exactly once, and nothing else ran (no request lost, no phantom task);
 * - at most one task of the key waits at any time: ordered by enqueue, each task was created at or after the start of
 *   the one before it (Redis TIME, ms), so waiting windows never overlap;
 * - every request is served by a run that starts after it (the handle an enqueue got was of a task that had not
 *   started: its start is after the sender's Redis TIME read just before the enqueue).
 *
 * And what sets it apart from the default `untilEnd`: a duplicate of a running task is a new task, so runs of the
 * key overlap (runs take 30 ms, duplicates come every few ms). The figures (requests folded into a waiting task,
 * overlapping runs, the longest wait) are printed for the closing note.
 */
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Redis from "effect/persistence/Redis"
import { afterAll, afterEach } from "vitest"
import { Heimdall, Task, TaskQueue } from "../../src/index.ts"
import { UntilStart } from "../fixtures/unique-tasks.ts"
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
const queue = "until-start"

describeRedis("hold untilStart across processes", () => {
  layer(redisLayer(), { excludeTestServices: true, timeout: "90 seconds" })((it) => {
    it.effect(
      "4 processes send duplicates of one key: one waiting task at a time, each request served by a later start, none lost",
      () =>
        Effect.gen(function* () {
          const redis = yield* Redis.Redis
          const nowUs = Effect.map(
            redis.send<[string, string]>("TIME"),
            ([s, us]) => Number(s) * 1_000_000 + Number(us)
          )
          const go = `${prefix}go`
          const children = Array.from({ length: PROCESSES }, (_, i) =>
            spawnFixture(script, {
              REDIS_URL: redisUrl,
              KEY_PREFIX: prefix,
              QUEUE: queue,
              POLICY: "untilStart",
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
          yield* waitAll("ready", 60_000) // 4 Node processes starting on a busy machine
          yield* redis.send("SET", go, "1", "PX", "60000")
          yield* waitAll("sentAll", 30_000)
          const beforeUs = yield* nowUs
          const last = yield* Task.enqueueOutcome(UntilStart, { sender: "final", seq: 0 })
          yield* Task.join(last.handle)
          yield* Effect.sleep("20 millis").pipe(
            Effect.repeat({ until: () => linesOf(children).some((l) => l.type === "done" && l.id === last.handle.id) }),
            Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.void })
          )

          const lines = linesOf(children)
          const sent = [
            ...lines.filter((l) => l.type === "sent"),
            { type: "sent", pid: process.pid, outcome: last._tag, id: last.handle.id, beforeUs }
          ]
          const starts = lines.filter((l) => l.type === "start").sort((a, b) => a.redisUs - b.redisUs)
          const dones = lines.filter((l) => l.type === "done")
          assert.strictEqual(sent.length, PROCESSES * SENDS + 1)
          // every task an enqueue named ran exactly once; nothing else ran
          const named = [...new Set(sent.map((l) => l.id as string))].sort()
          const ranIds = starts.map((r) => r.id as string)
          assert.deepStrictEqual([...new Set(ranIds)].sort(), named, "the tasks that ran are those named")
          assert.strictEqual(ranIds.length, named.length, "each once")
          const startOf = new Map(starts.map((s) => [s.id as string, s.redisUs as number]))
          // each request is served by a run that starts after it
          const late = sent.filter((l) => startOf.get(l.id)! < l.beforeUs)
          assert.deepStrictEqual(late, [], "a request got the handle of a task that had started before it")
          // one waiting task at a time: ordered by enqueue, each created at or after the previous one's start
          const tasks = yield* TaskQueue.TaskQueue
          const records = yield* Effect.forEach(named, (id) => tasks.get(id))
          const windows = records
            .map((r) => ({ id: r!.id, enqueuedAt: r!.enqueuedAt, startedAt: r!.startedAt! }))
            .sort((a, b) => a.enqueuedAt - b.enqueuedAt || a.startedAt - b.startedAt)
          const overlappingWaits = windows.filter((w, i) => i > 0 && w.enqueuedAt < windows[i - 1]!.startedAt)
          const ends = new Map(dones.map((d) => [d.id as string, d.redisUs as number]))
          const runs = starts.map((s) => ({ start: s.redisUs as number, end: ends.get(s.id)! }))
          const overlappingRuns = runs.filter((r, i) => i > 0 && r.start < runs[i - 1]!.end).length
          const outcomes: Record<string, number> = {}
          for (const l of sent) outcomes[l.outcome] = (outcomes[l.outcome] ?? 0) + 1
          const report = {
            processes: PROCESSES,
            enqueues: sent.length,
            outcomes,
            tasks: named.length,
            foldedIntoAWaitingTask: sent.length - named.length,
            overlappingRuns,
            overlappingWaits: overlappingWaits.length,
            longestWaitMs: Math.max(...windows.map((w) => w.startedAt - w.enqueuedAt))
          }
          console.log(`[hold-multiprocess] untilStart: ${JSON.stringify(report)}`)
          assert.deepStrictEqual(overlappingWaits, [], `never two tasks of the key waiting: ${JSON.stringify(report)}`)
          assert.strictEqual(outcomes.Created, named.length, "every task was created by one enqueue")
          assert.isAbove(overlappingRuns, 0, "a duplicate of a running task ran beside it")
        }).pipe(
          Effect.provide(
            Heimdall.layerRedis({
              queue,
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
