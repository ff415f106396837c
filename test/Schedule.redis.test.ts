import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Logger, References, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Heimdall from "../src/Heimdall.ts"
import * as Inspector from "../src/Inspector.ts"
import * as Task from "../src/Task.ts"
import { ScheduleUnderTest, scheduleSuite } from "./ScheduleSuite.ts"
import { conformance } from "./support/backends.ts"
import { describeRedis, keyPrefix, redisLayer } from "./support/redis.ts"

const prefix = keyPrefix(import.meta.url)

const redis = Layer.effect(
  ScheduleUnderTest,
  Effect.gen(function* () {
    const context = yield* Effect.context<Redis.Redis>()
    return {
      layer: (queue: string, options?: Heimdall.Options) =>
        Heimdall.layerRedis({ ...options, queue, queuePrefix: `${prefix}q`, lockPrefix: `${prefix}lock:` }).pipe(
          Layer.provide(Layer.succeedContext(context))
        )
    }
  })
).pipe(Layer.provideMerge(redisLayer()))

conformance("Schedules", [{ name: "redis", layer: redis, redis: true }], scheduleSuite)

const Slow = Task.make("slow-tick", { payload: Schema.Struct({ n: Schema.Number }) })

/**
 * A scheduler stopped while its tick's step is in flight: the step ran on Redis (the tick's task exists), and the
 * stop waits for its reply, so the scheduler's log reports the tick it created. The reply of each `scheduleFire`
 * call is held back 300 ms in the client (a slow network), and the scheduler is interrupted in that window.
 */
describeRedis("A scheduler stopped with a tick in flight", () => {
  layer(redisLayer(), { excludeTestServices: true, timeout: "20 seconds" })((it) => {
    it.effect("reports the tick it created: the stop waits for the step's reply", () =>
      Effect.gen(function* () {
        const real = yield* Redis.Redis
        const schedule = `slow-${Date.now() % 100000}`
        const replied = yield* Deferred.make<string>()
        // a scheduleFire call names the tick's task (`<schedule>@<instant>`) in its arguments; no other call does
        const slowReplies = Layer.succeed(Redis.Redis, {
          ...real,
          send: <A>(command: string, ...args: ReadonlyArray<string>) =>
            Effect.tap(real.send<A>(command, ...args), () => {
              const id = args.find((a) => a.startsWith(`${schedule}@`))
              return id === undefined ? Effect.void : Effect.andThen(Deferred.succeed(replied, id), Effect.sleep(300))
            })
        })
        const queue = Heimdall.layerRedis({ queue: schedule, queuePrefix: `${prefix}q`, lockPrefix: `${prefix}lock:` })
        const logged: Array<string> = []
        const capture = Logger.make(({ message }) => {
          logged.push(Array.isArray(message) ? message.join(" ") : String(message))
        })
        const scheduler = yield* Layer.launch(
          Task.layerSchedules([Task.schedule(Slow, { every: 100, payload: { n: 1 }, name: schedule, catchUp: "all" })])
        ).pipe(
          Effect.provide(queue),
          Effect.provide(slowReplies),
          Effect.provide(Logger.layer([capture])),
          Effect.provide(Layer.succeed(References.MinimumLogLevel, "Debug")),
          Effect.forkChild
        )
        // the first tick's step has run on Redis and its reply is on its way: stop the scheduler now
        const id = yield* Deferred.await(replied)
        yield* Fiber.interrupt(scheduler)
        const detail = yield* Effect.flatMap(Inspector.Inspector, (i) => i.task(id)).pipe(Effect.provide(queue))
        assert.isDefined(detail, "the tick's task was created on Redis")
        assert.include(logged, `schedule ${schedule}: tick ${id} Created`)
      })
    )
  })
})
