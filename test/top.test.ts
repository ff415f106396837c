/** `heimdall top`'s frames: throughput from two readings of the totals, and a table that fits 80 columns. */
import { assert, describe, it } from "@effect/vitest"
import * as Top from "../src/cli/top.ts"
import type { QueueCounts, StateCounts, WorkerInfo } from "../src/Inspector.ts"

const zero: { -readonly [K in keyof StateCounts]: number } = {
  queued: 0,
  scheduled: 0,
  running: 0,
  succeeded: 0,
  failed: 0,
  dead: 0,
  skipped: 0,
  cancelled: 0
}

const states = Object.keys(zero) as ReadonlyArray<keyof StateCounts>

const reading = (now: number, byName: Record<string, Partial<StateCounts>>): QueueCounts => {
  const names: Record<string, StateCounts> = {}
  for (const [name, c] of Object.entries(byName)) names[name] = { ...zero, ...c }
  const total = { ...zero }
  for (const c of Object.values(names)) for (const s of states) total[s] += c[s]
  return { now, total, byName: names, oldestWaiting: undefined, oldestWaitingMillis: undefined, oldestByName: {} }
}

const worker: WorkerInfo = {
  id: "w-0123456789abcdef",
  host: "a-rather-long-host-name.example.internal",
  pid: 4242,
  startedAt: 0,
  queue: "q",
  concurrency: 16,
  names: ["send-email", "render-invoice", "sync-crm"],
  running: ["t1", "t2", "t3"],
  lastBeatAt: 1_000,
  expiresAt: 16_000
}

describe("heimdall top frames", () => {
  it("rates are per second between two readings, on the backend's clock; the first frame has none", () => {
    const first = Top.frame("q", reading(1_000, { mail: { succeeded: 100, failed: 4, dead: 1 } }), [], undefined)
    assert.isUndefined(first.rates)
    const second = Top.frame(
      "q",
      reading(3_000, { mail: { succeeded: 110, failed: 6, dead: 2 }, report: { succeeded: 3 } }),
      [],
      first
    )
    assert.deepStrictEqual(second.rates?.byName.mail, { succeeded: 5, failed: 1.5 })
    // a name first seen in this reading counts from zero
    assert.deepStrictEqual(second.rates?.byName.report, { succeeded: 1.5, failed: 0 })
    assert.deepStrictEqual(second.rates?.total, { succeeded: 6.5, failed: 1.5 })
    assert.match(Top.render(second), /^mail\s+0\s+0\s+0\s+5\.0\s+1\.5\s+6\s+2$/m)
  })

  it("a frame fits 80 columns whatever the names, counts and workers", () => {
    const name = "x".repeat(60)
    const huge = {
      queued: 123_456_789,
      scheduled: 9_999_999,
      running: 12_345,
      succeeded: 10 ** 12,
      failed: 77_777_777,
      dead: 5
    }
    const before = Top.frame("a-queue-with-a-long-name", reading(0, { [name]: {} }), [worker], undefined)
    const after = Top.frame(
      "a-queue-with-a-long-name",
      { ...reading(1_000, { [name]: huge }), oldestWaitingMillis: 7_200_000 },
      [worker],
      before
    )
    const text = Top.render(after)
    for (const line of text.split("\n")) assert.isAtMost(line.length, 80, line)
    // 10^12 succeeded in a second; 77,777,782 failed or dead
    assert.match(text, /^x{18}…\s+123M\s+9999999\s+12345\s+1\.0T\s+77\.8M\s+77\.8M\s+5$/m)
    assert.include(text, "workers 1 (3/16 busy)")
  })
})
