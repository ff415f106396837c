import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Heimdall from "../src/Heimdall.ts"
import * as Inspector from "../src/Inspector.ts"
import * as Scheduling from "../src/internal/schedule.ts"
import * as Task from "../src/Task.ts"
import { ScheduleUnderTest, scheduleSuite, tickOf } from "./ScheduleSuite.ts"
import { conformance } from "./support/backends.ts"

const memory = Layer.succeed(ScheduleUnderTest, {
  layer: (queue, options) => Heimdall.layerMemoryWith({ ...options, queue })
})

conformance("Schedules", [{ name: "memory", layer: memory, redis: false }], scheduleSuite)

const Nightly = Task.make("nightly", { payload: Schema.Null })

describe("schedules in a time zone (memory, TestClock)", () => {
  it.effect("a cron in Europe/Berlin fires at 03:00 local time before and after the change to summer time", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.parse("2026-03-27T12:00:00Z"))
      const ids = yield* Effect.gen(function* () {
        yield* Layer.build(
          Task.layerSchedules([
            Task.schedule(Nightly, { cron: "0 3 * * *", timeZone: "Europe/Berlin", payload: null, overlap: "allow" })
          ])
        )
        for (let h = 0; h < 72; h++) yield* TestClock.adjust("1 hour")
        const page = yield* Effect.flatMap(Inspector.Inspector, (i) => i.tasks({ state: "queued", limit: 10 }))
        return page.tasks.map((t) => t.id).sort()
      }).pipe(Effect.scoped, Effect.provide(Heimdall.layerMemoryWith({ queue: "berlin" })))
      // 03:00 CET is 02:00Z; from March 29 on, 03:00 CEST is 01:00Z
      assert.deepStrictEqual(ids, [
        "nightly@2026-03-28T02:00:00.000Z",
        "nightly@2026-03-29T01:00:00.000Z",
        "nightly@2026-03-30T01:00:00.000Z"
      ])
      assert.strictEqual(tickOf(ids[0]!), Date.parse("2026-03-28T02:00:00Z"))
    })
  )

  it("the tick arithmetic: cron with seconds, every, the bound of a catch-up", () => {
    const cron = Scheduling.resolve("t", { cron: "*/10 * * * * *" })
    const every = Scheduling.resolve("t", { every: "1 minute" })
    if (cron instanceof Error || every instanceof Error) return assert.fail("valid options")
    const t0 = Date.parse("2026-01-01T00:00:00Z")
    assert.strictEqual(Scheduling.nextTick(cron.timing, t0), t0 + 10_000)
    assert.strictEqual(Scheduling.nextTick(every.timing, t0 + 1), t0 + 60_000)
    assert.deepStrictEqual(Scheduling.ticksIn(cron.timing, t0, t0 + 30_000, 10), [
      t0 + 10_000,
      t0 + 20_000,
      t0 + 30_000
    ])
    assert.deepStrictEqual(Scheduling.ticksIn(every.timing, t0 - 1, t0 + 120_000, 2), [t0 + 60_000, t0 + 120_000])
    // a day missed, catchUp "all": the latest 100 ticks only; "last": one; "none": only the on-time ones
    const day = 24 * 3600_000
    const all = Scheduling.plan(every.timing, "all", t0, t0 + day - 1, t0 + day)
    assert.strictEqual(all.length, Scheduling.maxCatchUp + 1)
    assert.strictEqual(all[all.length - 1], t0 + day)
    assert.deepStrictEqual(Scheduling.plan(every.timing, "last", t0, t0 + day - 1, t0 + day), [
      t0 + day - 60_000,
      t0 + day
    ])
    assert.deepStrictEqual(Scheduling.plan(every.timing, "none", t0, t0 + day - 1, t0 + day), [t0 + day])
  })
})
