/**
 * The validation policy of `Task`, `Worker` and `TaskQueue`, part of the queue conformance suite (`queueSuite`
 * runs it on each backend): every option that can never work fails with `InvalidArgument` naming the option and
 * the value, where it is given, and nothing is written. One test per kind of bad value.
 */
import type { Vitest } from "@effect/vitest"
import { assert } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Schema, type Scope } from "effect"
import * as Redis from "effect/persistence/Redis"
import type { InvalidArgument } from "../src/Errors.ts"
import * as Heimdall from "../src/Heimdall.ts"
import * as Task from "../src/Task.ts"
import * as TaskQueue from "../src/TaskQueue.ts"
import * as Worker from "../src/Worker.ts"
import { QueueUnderTest, withQueue } from "./QueueSuite.ts"
import type { BackendContext } from "./support/backends.ts"
import { assertInvalid, thrown } from "./support/invalid.ts"
import { scanKeys } from "./support/redis.ts"

const Payload = Schema.Struct({ n: Schema.Number })

/** No record for any of `ids`, nothing to claim, and (Redis) no key under the queue's hash tag or `extraKeys`. */
const assertNothingWritten = (
  q: QueueUnderTest["Service"],
  ids: ReadonlyArray<string>,
  extraKeys: ReadonlyArray<string> = []
) =>
  Effect.gen(function* () {
    const queue = yield* TaskQueue.TaskQueue
    const redis = q.redis
    if (redis !== undefined) {
      const keys = yield* Effect.forEach([`*{${queue.queue}}`, ...extraKeys], (pattern) =>
        scanKeys(pattern).pipe(Effect.provideService(Redis.Redis, redis))
      )
      assert.deepStrictEqual(keys.flat(), [])
    }
    for (const id of ids) assert.isUndefined(yield* queue.get(id))
    const claimed = yield* queue.claim({ token: "validation-probe", leaseMillis: 1000, max: 10 })
    assert.strictEqual(claimed._tag, "Idle")
  })

/** `withQueue`, with the backend under test at hand. */
const withQ = <A, E>(
  body: (q: QueueUnderTest["Service"]) => Effect.Effect<A, E, TaskQueue.TaskQueue | Scope.Scope>
): Effect.Effect<A, E | InvalidArgument, QueueUnderTest> => Effect.flatMap(QueueUnderTest, (q) => withQueue(body(q)))

export const validationSuite = (it: Vitest.MethodsNonLive<QueueUnderTest>, backend: BackendContext) => {
  it.effect("validation: rate limits that are not positive integers fail where given; computed ones at enqueue", () =>
    withQ((q) =>
      Effect.gen(function* () {
        for (const [times, shown] of [
          [0, "0"],
          [-1, "-1"],
          [1.5, "1.5"],
          [Number.NaN, "NaN"]
        ] as const) {
          const made = thrown(() => Task.make("limited", { payload: Payload, rateLimit: { times, per: "1 second" } }))
          assertInvalid(made, "rateLimit.times", shown)
          const piped = thrown(() =>
            Task.make("limited", { payload: Payload }).pipe(Task.rateLimit({ times, per: "1 second" }))
          )
          assertInvalid(piped, "rateLimit.times", shown)
        }
        // computed from the payload: checked by enqueue, before anything is written
        const PerCustomer = Task.make("per-customer", {
          payload: Payload,
          rateLimit: ({ n }) => ({ times: n, per: "1 second", key: `c:${n}` })
        })
        for (const [n, shown] of [
          [0, "0"],
          [-1, "-1"],
          [1.5, "1.5"]
        ] as const) {
          const error = yield* Effect.flip(Task.enqueue(PerCustomer, { n }, { id: `limit-${n}` }))
          assertInvalid(error, "rateLimit.times", shown)
        }
        yield* assertNothingWritten(q, ["limit-0", "limit--1", "limit-1.5"])
        // a valid one still goes through (scheduled: the suite leaves no ready task behind)
        assert.strictEqual(
          yield* Task.status(yield* Task.enqueue(PerCustomer, { n: 2 }, { delay: "1 hour" })),
          "scheduled"
        )
      })
    )
  )

  it.effect('validation: malformed durations ("5 potatoes", NaN) fail where given, with the value', () =>
    withQ((q) =>
      Effect.gen(function* () {
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, timeout: "5 potatoes" as Duration.Input })),
          "timeout",
          '"5 potatoes"'
        )
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, timeout: Number.NaN })),
          "timeout",
          "NaN"
        )
        assertInvalid(
          thrown(() =>
            Task.make("t", { payload: Payload, rateLimit: { times: 1, per: "5 potatoes" as Duration.Input } })
          ),
          "rateLimit.per",
          '"5 potatoes"'
        )
        assertInvalid(
          thrown(() =>
            Task.make("t", { payload: Payload, rateLimit: { times: 1, per: 1000, jitter: "lots" as Duration.Input } })
          ),
          "rateLimit.jitter",
          '"lots"'
        )
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, unique: { timeout: "5 potatoes" as Duration.Input } })),
          "unique.timeout",
          '"5 potatoes"'
        )
        const Computed = Task.make("computed", {
          payload: Payload,
          rateLimit: () => ({ times: 1, per: "5 potatoes" as Duration.Input })
        })
        assertInvalid(
          yield* Effect.flip(Task.enqueue(Computed, { n: 1 }, { id: "computed-per" })),
          "rateLimit.per",
          '"5 potatoes"'
        )
        const Plain = Task.make("plain", { payload: Payload })
        assertInvalid(
          yield* Effect.flip(Task.enqueue(Plain, { n: 1 }, { id: "bad-delay", delay: "soon" as Duration.Input })),
          "delay",
          '"soon"'
        )
        assertInvalid(
          yield* Effect.flip(Task.enqueue(Plain, { n: 1 }, { id: "nan-delay", delay: Number.NaN })),
          "delay",
          "NaN"
        )
        yield* assertNothingWritten(q, ["computed-per", "bad-delay", "nan-delay"])
      })
    )
  )

  it.effect('validation: non-positive durations (timeout 0, per "0 seconds", margin -1) fail where given', () =>
    withQ((q) =>
      Effect.gen(function* () {
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, timeout: 0 })),
          "timeout",
          "0"
        )
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, timeout: Duration.millis(-5) })),
          "timeout",
          "-5 millis"
        )
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, rateLimit: { times: 1, per: "0 seconds" } })),
          "rateLimit.per",
          '"0 seconds"'
        )
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, rateLimit: { times: 1, per: 1000, margin: -1 } })),
          "rateLimit.margin",
          "-1"
        )
        const ZeroPer = Task.make("zero-per", { payload: Payload, rateLimit: () => ({ times: 2, per: "0 seconds" }) })
        assertInvalid(
          yield* Effect.flip(Task.enqueue(ZeroPer, { n: 1 }, { id: "zero-per" })),
          "rateLimit.per",
          '"0 seconds"'
        )
        yield* assertNothingWritten(q, ["zero-per"])
      })
    )
  )

  it.effect("validation: infinite durations where a finite one is needed fail where given", () =>
    withQ((q) =>
      Effect.gen(function* () {
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, timeout: Number.POSITIVE_INFINITY })),
          "timeout",
          "Infinity"
        )
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, rateLimit: { times: 1, per: Duration.infinity } })),
          "rateLimit.per",
          "Infinity"
        )
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, unique: { timeout: Duration.infinity } })),
          "unique.timeout",
          "Infinity"
        )
        const Plain = Task.make("plain", { payload: Payload })
        assertInvalid(
          yield* Effect.flip(Task.enqueue(Plain, { n: 1 }, { id: "forever", delay: Duration.infinity })),
          "delay",
          "Infinity"
        )
        yield* assertNothingWritten(q, ["forever"])
      })
    )
  )

  it.effect("validation: a negative delay fails enqueue and creates nothing", () =>
    withQ((q) =>
      Effect.gen(function* () {
        const Plain = Task.make("plain", { payload: Payload })
        for (const [delay, shown] of [
          [-1, "-1"],
          ["-5 seconds", '"-5 seconds"'],
          [Duration.millis(-250), "-250 millis"]
        ] as const) {
          assertInvalid(
            yield* Effect.flip(Task.enqueue(Plain, { n: 1 }, { id: `delay-${shown}`, delay })),
            "delay",
            shown
          )
        }
        yield* assertNothingWritten(q, ["delay--1", 'delay-"-5 seconds"', "delay--250 millis"])
      })
    )
  )

  it.effect("validation: unique timeouts <= 0 fail at Task.make and Task.unique, and in the layer's options", () =>
    Effect.gen(function* () {
      for (const [timeout, shown] of [
        [0, "0"],
        ["-5 seconds", '"-5 seconds"'],
        [Duration.seconds(-5), "-5000 millis"]
      ] as const) {
        assertInvalid(
          thrown(() => Task.make("u", { payload: Payload, unique: { timeout } })),
          "unique.timeout",
          shown
        )
        assertInvalid(
          thrown(() => Task.make("u", { payload: Payload }).pipe(Task.unique({ timeout }))),
          "unique.timeout",
          shown
        )
      }
      const q = yield* QueueUnderTest
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(q.layer("bad-unique-timeout", { uniqueTimeout: 0 }))))
      const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
      assert.strictEqual(error?._tag, "Some", "uniqueTimeout 0 was accepted")
      if (error?._tag === "Some") assertInvalid(error.value, "uniqueTimeout", "0")
    })
  )

  it.effect("validation: empty names, keys and ids fail where given; a key function is checked at enqueue", () =>
    withQ((q) =>
      Effect.gen(function* () {
        assertInvalid(
          thrown(() => Task.make("", { payload: Payload })),
          "name",
          '""'
        )
        assertInvalid(
          thrown(() => Task.make("two\nlines", { payload: Payload })),
          "name",
          '"two\\nlines"'
        )
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, unique: { key: "" } })),
          "unique.key",
          '""'
        )
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, rateLimit: { times: 1, per: 1000, key: "" } })),
          "rateLimit.key",
          '""'
        )
        assertInvalid(
          thrown(() => Task.make("t", { payload: Payload, unique: { prefix: "my{prefix}:" } })),
          "unique.prefix",
          '"my{prefix}:"'
        )
        const Plain = Task.make("plain", { payload: Payload })
        assertInvalid(yield* Effect.flip(Task.enqueue(Plain, { n: 1 }, { id: "" })), "id", '""')
        assertInvalid(yield* Effect.flip(Task.enqueue(Plain, { n: 1 }, { id: 42 as unknown as string })), "id", "42")
        const EmptyKey = Task.make("empty-key", { payload: Payload, unique: { key: () => "" } })
        assertInvalid(yield* Effect.flip(Task.enqueue(EmptyKey, { n: 1 }, { id: "empty-key" })), "unique.key", '""')
        const Throwing = Task.make("throwing-key", {
          payload: Payload,
          unique: {
            key: () => {
              throw new Error("no key for you")
            }
          }
        })
        const thrownAtEnqueue = yield* Effect.flip(Task.enqueue(Throwing, { n: 1 }, { id: "throwing-key" }))
        assertInvalid(thrownAtEnqueue, "unique.key", "a function")
        assert.include((thrownAtEnqueue as InvalidArgument).message, "no key for you")
        const EmptyRateKey = Task.make("empty-rate-key", {
          payload: Payload,
          rateLimit: { times: 1, per: 1000, key: () => "" }
        })
        assertInvalid(
          yield* Effect.flip(Task.enqueue(EmptyRateKey, { n: 1 }, { id: "empty-rate-key" })),
          "rateLimit.key",
          '""'
        )
        yield* assertNothingWritten(q, ["empty-key", "throwing-key", "empty-rate-key"], ["h-lock:*throwing-key*"])
      })
    )
  )

  it.effect("validation: Worker.layer fails for concurrency 0, -1, 1.5, NaN and other impossible options", () =>
    withQueue(
      Effect.gen(function* () {
        const Work = Task.make("work", { payload: Payload })
        const WorkLive = Task.implement(Work, () => Effect.void)
        const cases: ReadonlyArray<readonly [Partial<Worker.Options<any>>, string, string]> = [
          [{ concurrency: 0 }, "concurrency", "0"],
          [{ concurrency: -1 }, "concurrency", "-1"],
          [{ concurrency: 1.5 }, "concurrency", "1.5"],
          [{ concurrency: Number.NaN }, "concurrency", "NaN"],
          [{ lease: 0 }, "lease", "0"],
          [{ lease: "-1 seconds" }, "lease", '"-1 seconds"'],
          [{ maxIdleWait: Number.NaN }, "maxIdleWait", "NaN"],
          [{ gracePeriod: -1 }, "gracePeriod", "-1"],
          [{ maxRedeliveries: -1 }, "maxRedeliveries", "-1"],
          [{ maxRedeliveries: 1.5 }, "maxRedeliveries", "1.5"],
          [{ deadLetterUnknownAfter: 0 }, "deadLetterUnknownAfter", "0"],
          [{ deadLetterUnknownAfter: "soon" as Duration.Input }, "deadLetterUnknownAfter", '"soon"'],
          [{ batchCompletions: "yes" as unknown as boolean }, "batchCompletions", '"yes"'],
          [{ batchCompletions: 1 as unknown as boolean }, "batchCompletions", "1"],
          [{ tasks: [WorkLive, Task.implement(Work, () => Effect.void)] }, "tasks", '"work"'],
          [{ tasks: [] }, "tasks", "[]"]
        ]
        for (const [options, option, shown] of cases) {
          const exit = yield* Effect.exit(
            Layer.build(
              Worker.layer({ tasks: [WorkLive], concurrency: 2, ...options } as Worker.Options<
                ReadonlyArray<Task.Implementation<any, never>>
              >)
            )
          )
          assert.isTrue(Exit.isFailure(exit), `${option} ${shown} was accepted`)
          if (Exit.isFailure(exit)) {
            const error = Exit.findErrorOption(exit)
            assert.strictEqual(error._tag, "Some", `${option} ${shown}: not a typed failure`)
            if (error._tag === "Some") assertInvalid(error.value, option, shown)
          }
        }
        // no worker started: a task enqueued now stays queued, until a valid worker runs it
        const handle = yield* Task.enqueue(Work, { n: 1 })
        yield* backend.advance(200)
        assert.strictEqual(yield* Task.status(handle), "queued")
        yield* Layer.build(Worker.layer({ tasks: [WorkLive], concurrency: 2 }))
        yield* Task.join(handle)
        assert.strictEqual(yield* Task.status(handle), "succeeded")
      })
    )
  )

  it.effect(
    "validation: queue layer options (empty or braced queue name, braced prefix, retention 0, maxEnqueueBatch 0, durability.replicas 0) fail the layer",
    () =>
      Effect.gen(function* () {
        const q = yield* QueueUnderTest
        const cases: ReadonlyArray<readonly [string, Heimdall.Options, string, string]> = [
          ["", {}, "queue", '""'],
          ["a{b}", {}, "queue", '"a{b}"'],
          ["ok-name", { queuePrefix: "p{x}" }, "queuePrefix", '"p{x}"'],
          ["ok-name", { lockPrefix: "{locks}:" }, "lockPrefix", '"{locks}:"'],
          ["ok-name", { retention: 0 }, "retention", "0"],
          ["ok-name", { retention: "5 potatoes" as Duration.Input }, "retention", '"5 potatoes"'],
          ["ok-name", { uniqueTimeout: -1 }, "uniqueTimeout", "-1"],
          ["ok-name", { maxEnqueueBatch: 0 }, "maxEnqueueBatch", "0"],
          ["ok-name", { maxEnqueueBatch: 1001 }, "maxEnqueueBatch", "1001"],
          ["ok-name", { maxEnqueueBatch: 2.5 }, "maxEnqueueBatch", "2.5"],
          ["ok-name", { maxEnqueueBatch: "10" as unknown as number }, "maxEnqueueBatch", '"10"'],
          ["ok-name", { durability: { replicas: 0, timeout: "1 second" } }, "durability.replicas", "0"],
          ["ok-name", { durability: { replicas: 1.5, timeout: "1 second" } }, "durability.replicas", "1.5"],
          ["ok-name", { durability: { replicas: 1, timeout: 0 } }, "durability.timeout", "0"],
          [
            "ok-name",
            { durability: { replicas: 1, timeout: "soon" as Duration.Input } },
            "durability.timeout",
            '"soon"'
          ],
          ["ok-name", { durability: true as unknown as Heimdall.Options["durability"] }, "durability", "true"]
        ]
        for (const [queue, options, option, shown] of cases) {
          // the backend's own constructor, with every option as given
          const layer =
            q.redis === undefined
              ? Heimdall.layerMemoryWith({ ...options, queue })
              : Heimdall.layerRedis({ ...options, queue }).pipe(Layer.provide(Layer.succeed(Redis.Redis, q.redis)))
          const exit = yield* Effect.exit(Effect.scoped(Layer.build(layer)))
          const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
          assert.strictEqual(error?._tag, "Some", `${option} ${shown} was accepted`)
          if (error?._tag === "Some") assertInvalid(error.value, option, shown)
        }
      })
  )

  it.effect(
    "validation: a rate limit that passes at enqueue but not on the worker dead-letters the task with the reason",
    () =>
      withQueue(
        Effect.gen(function* () {
          let calls = 0
          // differs on the worker (a config that changed between producer and worker)
          const Drifting = Task.make("drifting", {
            payload: Payload,
            rateLimit: () => ({ times: ++calls === 1 ? 2 : 0, per: "1 second" })
          })
          let ran = false
          yield* Layer.build(
            Worker.layer({ concurrency: 1, tasks: [Task.implement(Drifting, () => Effect.sync(() => (ran = true)))] })
          )
          const handle = yield* Task.enqueue(Drifting, { n: 1 })
          const error = yield* Effect.flip(Task.join(handle))
          assert.instanceOf(error, Task.TaskDeadLettered)
          const dead = error as Task.TaskDeadLettered
          assert.include(dead.reason, "rateLimit.times")
          assert.include(dead.message, handle.id)
          assert.include(dead.message, "drifting")
          assert.isFalse(ran)
          assert.strictEqual(yield* Task.status(handle), "dead")
        })
      )
  )

  it.effect("a handle of another task: status and join fail with TaskNameMismatch, before and after it ran", () =>
    withQueue(
      Effect.gen(function* () {
        const Invoice = Task.make("invoice", { payload: Payload, success: Schema.Number })
        const Report = Task.make("report", { payload: Payload, success: Schema.String })
        const invoice = yield* Task.enqueue(Invoice, { n: 1 })
        const wrong = Task.handle(Report, invoice.id)
        const check = (error: unknown) => {
          assert.instanceOf(error, Task.TaskNameMismatch)
          const e = error as Task.TaskNameMismatch
          assert.strictEqual(e._tag, "TaskNameMismatch")
          assert.deepStrictEqual([e.taskId, e.expected, e.actual], [invoice.id, "report", "invoice"])
          for (const part of [invoice.id, "report", "invoice"]) assert.include(e.message, part)
        }
        // queued, no worker: join fails at once instead of waiting for a task it cannot decode
        check(yield* Effect.flip(Task.status(wrong)))
        check(yield* Effect.flip(Task.join(wrong)))
        yield* Layer.build(
          Worker.layer({ concurrency: 1, tasks: [Task.implement(Invoice, ({ n }) => Effect.succeed(n))] })
        )
        assert.strictEqual(yield* Task.join(invoice), 1)
        check(yield* Effect.flip(Task.join(wrong)))
        check(yield* Effect.flip(Task.status(wrong)))
      })
    )
  )
}
