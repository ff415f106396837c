/**
 * `Inspector.decode`: a record's payload, result and errors decoded with the task definitions the caller passes, raw
 * JSON with the reason otherwise. Records come from real runs on the memory backend (TestClock), so the JSON is what
 * the task codecs wrote.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema, type Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Heimdall from "../src/Heimdall.ts"
import * as Inspector from "../src/Inspector.ts"
import * as Task from "../src/Task.ts"
import * as Worker from "../src/Worker.ts"

class NoData extends Schema.TaggedError<NoData>()("NoData", { customer: Schema.Number }) {}

const Report = Task.make("decode-report", {
  payload: Schema.Struct({ customer: Schema.Number, since: Schema.Date }),
  success: Schema.Struct({ pages: Schema.Number, at: Schema.Date }),
  error: NoData
})
const Other = Task.make("decode-other", { payload: Schema.String })

const since = new Date("2026-01-02T03:04:05.000Z")

/** Runs a worker for `Report` (customer 0 has no data), enqueues one task for `customer`, and returns its detail. */
const detailOf = (customer: number) =>
  Effect.gen(function* () {
    yield* Layer.build(
      Worker.layer({
        concurrency: 1,
        tasks: [
          Task.implement(Report, ({ customer, since }) =>
            customer === 0 ? Effect.fail(new NoData({ customer })) : Effect.succeed({ pages: customer, at: since })
          )
        ]
      })
    )
    const handle = yield* Task.enqueue(Report, { customer, since })
    const joined = yield* Effect.forkChild(Effect.exit(Task.join(handle)))
    for (let i = 0; i < 10; i++) yield* TestClock.adjust(10)
    yield* Fiber.join(joined)
    const detail = yield* Inspector.Inspector.use((i) => i.task(handle.id))
    assert.isDefined(detail)
    return detail!.record
  })

const run = <A, E>(body: Effect.Effect<A, E, Layer.Success<typeof Heimdall.layerMemory> | Scope.Scope>) =>
  body.pipe(Effect.scoped, Effect.provide(Heimdall.layerMemory))

describe("Inspector.decode", () => {
  it.effect("decodes payload and result with the record's definition (a Date comes back a Date)", () =>
    run(
      Effect.gen(function* () {
        const record = yield* detailOf(7)
        assert.strictEqual(record.state, "succeeded")
        const decoded = Inspector.decode(record, [Other, Report])
        assert.isTrue(decoded.known)
        assert.deepStrictEqual(decoded.payload, { decoded: true, value: { customer: 7, since } })
        assert.deepStrictEqual(decoded.result, { decoded: true, value: { pages: 7, at: since } })
        assert.strictEqual(decoded.error, undefined)
        const payload = decoded.payload
        assert.isTrue(payload.decoded && (payload.value as { since: unknown }).since instanceof Date)
      })
    )
  )

  it.effect("decodes a failed task's error to the task's typed error", () =>
    run(
      Effect.gen(function* () {
        const record = yield* detailOf(0)
        assert.strictEqual(record.state, "failed")
        const decoded = Inspector.decode(record, [Report])
        assert.isTrue(decoded.error?.decoded)
        const error = decoded.error?.decoded ? decoded.error.value : undefined
        assert.instanceOf(error, NoData)
        assert.strictEqual((error as NoData).customer, 0)
        assert.strictEqual(decoded.result, undefined)
      })
    )
  )

  it.effect("without the definition: raw JSON, and the reason names the task", () =>
    run(
      Effect.gen(function* () {
        const record = yield* detailOf(3)
        const decoded = Inspector.decode(record, [Other])
        assert.isFalse(decoded.known)
        assert.deepStrictEqual(decoded.payload, {
          decoded: false,
          json: record.payload,
          problem: 'no task definition named "decode-report" was given'
        })
        assert.deepStrictEqual(JSON.parse(record.payload), { customer: 3, since: since.toISOString() })
        assert.isFalse(decoded.result?.decoded)
      })
    )
  )

  it.effect("a value that no longer decodes (the schema changed) stays raw, with the decoder's message", () =>
    run(
      Effect.gen(function* () {
        const record = yield* detailOf(4)
        const Changed = Task.make("decode-report", { payload: Schema.Struct({ customer: Schema.String }) })
        const decoded = Inspector.decode(record, [Changed])
        assert.isTrue(decoded.known)
        assert.isFalse(decoded.payload.decoded)
        const problem = decoded.payload.decoded ? "" : decoded.payload.problem
        assert.match(problem, /^does not decode with task "decode-report": .*customer/s)
      })
    )
  )
})
