/**
 * Duplicate policies across processes: 4 OS processes (test/fixtures/duplicate-worker.ts), each a worker and a
 * sender, send duplicates of one unique key to one queue on one Redis, as fast as they can; then this process sends
 * one more, the last. For each policy: runs of the key never overlap (on Redis TIME), every task an enqueue named
 * ran exactly once and nothing else ran, and the last request is served by a run that starts after it.
 *
 * - `replace`: each payload that ran was sent, and the last payload sent is the last that ran.
 * - `debounce` (wait 50 ms, maxWait 200 ms): as `replace`, and the last run starts no earlier than the start time
 *   the last request was told.
 * - `oneBehind`: the payloads that ran are exactly those of the enqueues that created a task (a waiting task keeps
 *   its payload), and the last request ran (it found the key free or a task running: created) or was folded into
 *   the task waiting behind the running one (which then ran last).
 * - `debounce` with `edge: "leading"` (wait 50 ms, maxWait 200 ms): the runs are exactly the enqueues answered
 *   `Created` (the first of a burst, or 200 ms after the burst's latest run), each once, each with its payload or
 *   that of a later request answered `Replaced` with its id; the requests answered `Existing` ran nothing; the last
 *   request, sent after a quiet 100 ms, is a new burst: its payload runs, last.
 * - `edge: "both"`: as `"leading"`, plus the trailing runs: the runs are exactly the enqueues answered `Created` or
 *   `Debounced` that created a task; the last payload runs last.
 *
 * The figures are printed for the closing note.
 */
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Redis from "effect/persistence/Redis"
import { afterAll, afterEach } from "vitest"
import { Heimdall, Task } from "../../src/index.ts"
import { Debounced, DebouncedBoth, DebouncedLeading, OneBehind, Replacing } from "../fixtures/unique-tasks.ts"
import { type Child, killAll, spawnFixture } from "../support/processes.ts"
import { describeRedis, keyPrefix, redisLayer, redisUrl } from "../support/redis.ts"

const prefix = keyPrefix(import.meta.url)
const script = fileURLToPath(new URL("../fixtures/duplicate-worker.ts", import.meta.url))

afterEach(killAll)
afterAll(killAll)

type Line = { readonly type: string; readonly pid: number } & Record<string, any>
type Run = Line & { readonly end: number }
const linesOf = (children: ReadonlyArray<Child>): Array<Line> => children.flatMap((c) => c.json() as Array<Line>)

const PROCESSES = 4
const SENDS = 40
const HOLD_MS = 30

const backend = (queue: string) =>
  Heimdall.layerRedis({ queue, queuePrefix: `${prefix}q`, lockPrefix: `${prefix}lock:`, ratePrefix: `${prefix}rate:` })

/** Runs the senders for `policy`, then the last request; returns what every process printed and the figures. */
const tasks = {
  replace: Replacing,
  oneBehind: OneBehind,
  debounce: Debounced,
  leading: DebouncedLeading,
  both: DebouncedBoth
} as const

const race = (policy: keyof typeof tasks) =>
  Effect.gen(function* () {
    const go = `${prefix}go:${policy}`
    const children = Array.from({ length: PROCESSES }, (_, i) =>
      spawnFixture(script, {
        REDIS_URL: redisUrl,
        KEY_PREFIX: prefix,
        QUEUE: policy,
        POLICY: policy,
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
      Effect.promise(() => Promise.all(children.map((c) => c.waitFor(type, (l) => l.includes(`"type":"${type}"`), ms))))
    yield* waitAll("ready", 20_000)
    yield* (yield* Redis.Redis).send("SET", go, "1", "PX", "60000")
    yield* waitAll("sentAll", 30_000)
    // a leading edge's last request comes after a quiet `debounce` (50 ms): a new burst
    if (policy === "leading" || policy === "both") yield* Effect.sleep("100 millis")
    const last = yield* Task.enqueueOutcome(tasks[policy] as typeof Replacing, { sender: "final", seq: 0 })
    yield* Task.join(last.handle)
    yield* Effect.sleep("20 millis").pipe(
      Effect.repeat({ until: () => linesOf(children).some((l) => l.type === "done" && l.id === last.handle.id) }),
      Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.void })
    )

    const lines = linesOf(children)
    const sent = [
      ...lines.filter((l) => l.type === "sent"),
      {
        type: "sent",
        pid: process.pid,
        sender: "final",
        seq: 0,
        outcome: last._tag,
        id: last.handle.id,
        created: last._tag === "Created" || ((last._tag === "Replaced" || last._tag === "Debounced") && last.created),
        startsAt: last._tag === "Debounced" ? last.startsAt : null
      }
    ]
    const dones = lines.filter((l) => l.type === "done")
    const runs: Array<Run> = lines
      .filter((l) => l.type === "start")
      .sort((a, b) => a.redisUs - b.redisUs)
      .map((s) => ({ ...s, end: dones.find((d) => d.id === s.id)?.redisUs as number }))
    assert.strictEqual(sent.length, PROCESSES * SENDS + 1)
    assert.isTrue(
      runs.every((r) => r.end !== undefined),
      "every run ended"
    )
    // every task an enqueue named ran exactly once; nothing else ran
    const named = [...new Set(sent.map((l) => l.id as string))].sort()
    const ranIds = runs.map((r) => r.id as string)
    assert.deepStrictEqual([...new Set(ranIds)].sort(), named, "the tasks that ran are those named")
    assert.strictEqual(ranIds.length, named.length, "each once")
    const outcomes: Record<string, number> = {}
    for (const l of sent) {
      const k = l.created && l.outcome !== "Created" ? `${l.outcome}(created)` : (l.outcome as string)
      outcomes[k] = (outcomes[k] ?? 0) + 1
    }
    const overlaps = runs.filter((r, i) => i > 0 && r.redisUs < runs[i - 1]!.end).length
    const report = {
      policy,
      processes: PROCESSES,
      enqueues: sent.length,
      outcomes,
      runs: runs.length,
      runsPerProcess: Object.fromEntries(
        children.map((c) => [c.child.pid, runs.filter((r) => r.pid === c.child.pid).length])
      ),
      overlappingRuns: overlaps,
      firstToLastMs: Math.round((runs.at(-1)!.end - runs[0]!.redisUs) / 1000),
      maxGapBetweenRunsMs: Math.max(0, ...runs.slice(1).map((r, i) => Math.round((r.redisUs - runs[i]!.end) / 1000)))
    }
    console.log(`[duplicate-multiprocess] ${policy}: ${JSON.stringify(report)}`)
    assert.strictEqual(overlaps, 0, `never two runs at once: ${JSON.stringify(report)}`)
    assert.isBelow(runs.length, sent.length / 4, "duplicates were folded into fewer runs")
    // the task behind starts when the running one ends (or at its own debounced start), not at the key's expiry (30 s)
    assert.isBelow(report.maxGapBetweenRunsMs, 5000, JSON.stringify(report))
    return { sent, runs, last }
  }).pipe(Effect.provide(backend(policy)))

const payloadOf = (l: Line) => `${l.sender}:${l.seq}`

/**
 * The checks of a leading edge: the runs are exactly the requests that `started` one (each once), each run's payload
 * is that of a request that named it (never of one answered `Existing`), the last ran last.
 */
const leadingRuns = (
  sent: ReadonlyArray<Line>,
  runs: ReadonlyArray<Run>,
  started: (l: Line) => boolean,
  allowed: ReadonlyArray<string>
) => {
  assert.isTrue(
    sent.every((l) => allowed.includes(l.outcome)),
    `outcomes: ${[...new Set(sent.map((l) => l.outcome))]}`
  )
  const starters = sent.filter(started)
  assert.deepStrictEqual(
    runs.map((r) => r.id as string).sort(),
    starters.map((l) => l.id as string).sort(),
    "one run per request that started one"
  )
  for (const run of runs) {
    const payloads = sent.filter((l) => l.id === run.id && l.outcome !== "Existing").map(payloadOf)
    assert.include(payloads, payloadOf(run), `run ${run.id} ran a payload given to it`)
  }
  const existing = new Set(sent.filter((l) => l.outcome === "Existing").map(payloadOf))
  assert.isTrue(
    runs.every((r) => !existing.has(payloadOf(r))),
    "no payload answered Existing ran"
  )
  assert.strictEqual(payloadOf(runs.at(-1)!), "final:0", "the last request, a new burst, ran last")
}

describeRedis("Duplicate policies across processes", () => {
  layer(redisLayer(), { excludeTestServices: true, timeout: "90 seconds" })((it) => {
    it.effect(
      "replace: 4 processes send duplicates of one key: never two runs at once, none lost, the last payload runs last",
      () =>
        Effect.gen(function* () {
          const { sent, runs } = yield* race("replace")
          const sentPayloads = new Set(sent.map(payloadOf))
          assert.isTrue(
            runs.every((r) => sentPayloads.has(payloadOf(r))),
            "every payload that ran was sent"
          )
          assert.strictEqual(payloadOf(runs.at(-1)!), "final:0", "the last payload sent ran last")
        }),
      90_000
    )

    it.effect(
      "debounce: 4 processes send duplicates of one key: never two runs at once, none lost, the last payload runs last",
      () =>
        Effect.gen(function* () {
          const { sent, runs, last } = yield* race("debounce")
          const sentPayloads = new Set(sent.map(payloadOf))
          assert.isTrue(
            runs.every((r) => sentPayloads.has(payloadOf(r))),
            "every payload that ran was sent"
          )
          assert.strictEqual(payloadOf(runs.at(-1)!), "final:0", "the last payload sent ran last")
          assert.strictEqual(last._tag === "Created" ? "Debounced" : last._tag, "Debounced")
          const startsAt = last._tag === "Debounced" ? last.startsAt : 0
          assert.isAtLeast(runs.at(-1)!.redisUs / 1000, startsAt - 1, "not before the start it was told")
        }),
      90_000
    )

    it.effect(
      "debounce leading: 4 processes send duplicates of one key: a burst's first request runs, once; the rest run nothing",
      () =>
        Effect.gen(function* () {
          const { sent, runs, last } = yield* race("leading")
          leadingRuns(sent, runs, (l) => l.outcome === "Created", ["Created", "Existing", "Replaced"])
          assert.include(["Created", "Replaced"], last._tag)
          assert.isAbove(
            sent.filter((l) => l.outcome === "Existing").length,
            sent.length / 2,
            "most requests of a burst start nothing"
          )
        }),
      90_000
    )

    it.effect(
      "debounce both: 4 processes send duplicates of one key: a burst's first and trailing runs, each once",
      () =>
        Effect.gen(function* () {
          const { sent, runs } = yield* race("both")
          leadingRuns(sent, runs, (l) => l.outcome === "Created" || (l.outcome === "Debounced" && l.created), [
            "Created",
            "Debounced",
            "Replaced"
          ])
          // a trailing run starts no earlier than the start its latest request was told
          for (const run of runs) {
            const told = sent
              .filter((l) => l.id === run.id && l.outcome === "Debounced")
              .map((l) => l.startsAt as number)
            if (told.length > 0) assert.isAtLeast(run.redisUs / 1000, Math.min(...told) - 1)
          }
        }),
      90_000
    )

    it.effect(
      "oneBehind: 4 processes send duplicates of one key: one runs, one waits, the creators' payloads ran",
      () =>
        Effect.gen(function* () {
          const { sent, runs, last } = yield* race("oneBehind")
          const created = sent.filter((l) => l.outcome === "Created").map(payloadOf)
          assert.deepStrictEqual(runs.map(payloadOf).sort(), [...created].sort(), "the creators' payloads, each once")
          assert.strictEqual(runs.at(-1)!.id, last.handle.id, "the last request is served by the last run")
        }),
      90_000
    )
  })
})
