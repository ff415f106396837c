/**
 * Schedules across real OS processes: three scheduler processes (`test/fixtures/schedule-scheduler.ts`) run one
 * schedule (`every` 150 ms) on one queue of one Redis for at least 60 ticks; one of them is SIGKILLed in the middle
 * and started again. Every tick from the first to the last must be enqueued exactly once: one task record per tick,
 * one "Created" step per tick across all processes, the Inspector's count of created tasks equal to the records.
 * The figures (ticks, duplicates, missing) are printed for the closing note.
 */
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { afterAll, afterEach } from "vitest"
import { Heimdall, Inspector } from "../../src/index.ts"
import { type Child, killAll, spawnFixture } from "../support/processes.ts"
import { describeRedis, keyPrefix, redisLayer, redisUrl } from "../support/redis.ts"

const prefix = keyPrefix(import.meta.url)
const script = fileURLToPath(new URL("../fixtures/schedule-scheduler.ts", import.meta.url))
const EVERY = 150

afterEach(killAll)
afterAll(killAll)

const start = (queue: string): Child =>
  spawnFixture(script, { REDIS_URL: redisUrl, KEY_PREFIX: prefix, QUEUE: queue, EVERY_MS: String(EVERY) })
const ready = (c: Child) => Effect.promise(() => c.waitFor("ready line", (l) => l.includes('"type":"ready"'), 20_000))
const tickOf = (id: string) => Date.parse(id.slice(id.indexOf("@") + 1))

/** Every queued task of the queue, following the cursors. */
const allQueued = Effect.gen(function* () {
  const inspector = yield* Inspector.Inspector
  const ids: Array<{ id: string; enqueuedAt: number }> = []
  let cursor: string | undefined
  do {
    const page = yield* inspector.tasks({ state: "queued", name: "beat", limit: 500, cursor })
    ids.push(...page.tasks.map((t) => ({ id: t.id, enqueuedAt: t.enqueuedAt })))
    cursor = page.cursor
  } while (cursor !== undefined)
  return { ids, counts: (yield* inspector.counts).byName.beat }
})

describeRedis("Schedules across processes", () => {
  layer(redisLayer(), { excludeTestServices: true, timeout: "90 seconds" })((it) => {
    it.effect("3 schedulers, one SIGKILLed and restarted: each of 60+ ticks enqueued exactly once", () =>
      Effect.gen(function* () {
        const queue = `sched-${Date.now() % 100000}`
        const procs = [start(queue), start(queue), start(queue)]
        yield* Effect.forEach(procs, ready, { concurrency: "unbounded" })
        yield* Effect.sleep(EVERY * 20)
        const killed = yield* Effect.promise(() => procs[1]!.stop("SIGKILL"))
        assert.strictEqual(killed.signal, "SIGKILL")
        yield* Effect.sleep(EVERY * 10)
        const restarted = start(queue)
        yield* ready(restarted)
        yield* Effect.sleep(EVERY * 35)
        for (const p of [procs[0]!, procs[2]!, restarted]) yield* Effect.promise(() => p.stop("SIGTERM"))

        const { ids, counts } = yield* allQueued.pipe(
          Effect.provide(Heimdall.layerRedis({ queue, queuePrefix: `${prefix}q`, lockPrefix: `${prefix}lock:` }))
        )
        const records = new Map<number, number>()
        for (const { id } of ids) records.set(tickOf(id), (records.get(tickOf(id)) ?? 0) + 1)
        const created = new Map<number, number>()
        for (const p of [...procs, restarted]) {
          for (const line of p.json()) {
            if (line.type === "fired" && line.result === "Created") {
              created.set(tickOf(line.id), (created.get(tickOf(line.id)) ?? 0) + 1)
            }
          }
        }
        const ticks = [...records.keys()].sort((a, b) => a - b)
        const first = ticks[0]!
        const last = ticks[ticks.length - 1]!
        const expected = (last - first) / EVERY + 1
        let missing = 0
        for (let t = first; t <= last; t += EVERY) if (!records.has(t)) missing++
        const duplicates = [...created.values()].filter((n) => n > 1).length
        const byProcess = [...procs, restarted].map(
          (p) => p.json().filter((l) => l.type === "fired" && l.result === "Created").length
        )
        const lateness = ids.map(({ id, enqueuedAt }) => enqueuedAt - tickOf(id)).sort((a, b) => a - b)
        console.log(
          `schedules multiprocess: ${ticks.length} ticks (every ${EVERY} ms), ${duplicates} duplicates, ` +
            `${missing} missing; created per process (3 + the restarted one): ${byProcess.join(", ")}; ` +
            `enqueue after the tick: median ${lateness[lateness.length >> 1]} ms, max ${lateness[lateness.length - 1]} ms`
        )
        assert.isAtLeast(ticks.length, 60)
        assert.strictEqual(expected, ticks.length)
        assert.strictEqual(missing, 0)
        assert.strictEqual(duplicates, 0)
        assert.isTrue([...records.values()].every((n) => n === 1))
        // every record was created by exactly one process's Created step, and counted once by the Inspector
        assert.deepStrictEqual(
          [...created.keys()].sort((a, b) => a - b),
          ticks
        )
        assert.strictEqual(counts?.queued, ticks.length)
        // the restarted process took part (its schedulers raced the others for the ticks after its start)
        assert.isAbove(
          byProcess.reduce((a, b) => a + b, 0),
          0
        )
      })
    )
  })
})
