/**
 * Rate limits: exact sliding windows, typed denials, reserved slots for
 * waiters, weighted calls, several limits at once, and limits computed per key.
 *
 *   node examples/rate-limits.ts                      # in memory
 *   REDIS_URL=redis://127.0.0.1:6379 node examples/rate-limits.ts
 */
import { Duration, Effect } from "effect"
import { Heimdall } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

const run = `${Date.now()}` // fresh keys per run
const ms = (d: Duration.Duration) => Math.round(Duration.toMillis(d))

const program = Effect.gen(function* () {
  // 1. take: admit now or deny with retryAfter.
  const api = `partner-api:${run}`
  const perSecond = { times: 2, per: "1 second" } as const
  yield* Heimdall.take(api, perSecond)
  yield* Heimdall.take(api, perSecond)
  const third = yield* Heimdall.take(api, perSecond).pipe(
    Effect.as("admitted"),
    Effect.catchTag("RateLimited", (e) =>
      Effect.succeed(
        `RateLimited (limit ${e.limit.times} per ${Duration.format(e.limit.per)}, remaining ${e.remaining})`
      )
    )
  )
  console.log(`third call in a second: ${third}`)

  // 2. reserve: N waiters get N distinct slots instead of retrying together.
  const queue = `exports:${run}`
  const delays: Array<number> = []
  for (let i = 0; i < 5; i++) delays.push(ms((yield* Heimdall.reserve(queue, { times: 2, per: "500 millis" })).delay))
  console.log(`reserved slots, rounded to 100 ms: ${delays.map((d) => Math.round(d / 100) * 100).join(", ")}`)

  // 3. several limits at once, all or nothing: 3 per second for a customer, 5 per second for everyone.
  const limits = [
    { times: 3, per: "1 second" },
    { times: 5, per: "1 second", key: `everyone:${run}` }
  ] as const
  const admitted = yield* Effect.forEach(["a", "a", "a", "a", "b", "b", "b"], (customer) =>
    Heimdall.take(`customer-${customer}:${run}`, limits).pipe(
      Effect.as("ok"),
      Effect.catchTag("RateLimited", (e) => Effect.succeed(`denied by ${e.key.split(":")[0]}`))
    )
  )
  console.log(`multi-limit: ${admitted.join(", ")}`)

  // 4. dynamic limits: customer 1 gets 1 per 30 s, the others 2 per 30 s.
  const plan = (key: string) => ({ times: key.startsWith("report-1:") ? 1 : 2, per: "30 seconds" }) as const
  const one = yield* Effect.forEach([1, 1, 2, 2], (c) =>
    Heimdall.take(`report-${c}:${run}`, plan).pipe(
      Effect.as(`${c}:ok`),
      Effect.catchTag("RateLimited", () => Effect.succeed(`${c}:limited`))
    )
  )
  console.log(`dynamic: ${one.join(" ")}`)

  // 5. withRateLimit waits for its slot (or fails fast with onLimit: "fail").
  const start = Date.now()
  yield* Effect.forEach([1, 2, 3], () =>
    Effect.void.pipe(Heimdall.withRateLimit(`wait:${run}`, { limits: { times: 1, per: "200 millis" } }))
  )
  console.log(`three waited calls at 1 per 200 ms took at least 400 ms: ${Date.now() - start >= 390}`)
})

Effect.runPromise(program.pipe(Effect.provide(HeimdallLive)))
