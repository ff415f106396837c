/**
 * The conformance suite of `Heimdall`: every backend must pass every test.
 * Durations are short (hundreds of milliseconds) because the Redis backend
 * runs on real time; the memory backend runs the same script on TestClock.
 */
import { assert, type Vitest } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Option, Ref, Result, Schema } from "effect"
import { ConcurrencyLimited, Heimdall, InvalidArgument, LockLost, LockTaken, RateLimited } from "../src/index.ts"
import type { BackendContext } from "./support/backends.ts"
import { assertInvalid } from "./support/invalid.ts"

/** Milliseconds of a Duration. */
const ms = (d: Duration.Duration) => Duration.toMillis(d)

/** How far the Redis backend may drift from the exact figures (its clock runs while we work). */
const slack = (backend: BackendContext) => (backend.redis ? 60 : 0)

const near = (backend: BackendContext, actual: number, expected: number, what: string) =>
  assert.isTrue(
    Math.abs(actual - expected) <= slack(backend),
    `${what}: expected ${expected} ± ${slack(backend)}, got ${actual}`
  )

/**
 * `actual` is `expected` less up to `elapsed` ms (the real time the calls took since the one that `expected` counts
 * from: on Redis, its clock runs while they are sent), within the slack.
 */
const nearSince = (backend: BackendContext, actual: number, expected: number, elapsed: number, what: string) =>
  assert.isTrue(
    actual <= expected + slack(backend) && actual >= expected - elapsed - slack(backend),
    `${what}: expected ${expected} less at most ${elapsed} (± ${slack(backend)}), got ${actual}`
  )

let counter = 0
/** A fresh key per test, so tests of one block never share state. */
const fresh = (name: string) => `${name}-${++counter}-${Math.random().toString(36).slice(2, 8)}`

export const heimdallSuite = (it: Vitest.MethodsNonLive<Heimdall.Heimdall>, backend: BackendContext) => {
  const { advance } = backend

  // ---------------------------------------------------------------------------
  // locks
  // ---------------------------------------------------------------------------

  it.effect("locks: acquire is atomic with the holder report: LockTaken names the holder and expiresIn", () =>
    Effect.gen(function* () {
      const key = fresh("lock")
      const first = yield* Heimdall.acquireLock(key, { owner: "task-A", ttl: "1 second" })
      assert.strictEqual(first.owner, "task-A")
      assert.isTrue(first.fence > 0)
      const error = yield* Heimdall.acquireLock(key, { owner: "task-B", ttl: "1 second" }).pipe(Effect.flip)
      assert.instanceOf(error, LockTaken)
      assert.strictEqual(error._tag, "LockTaken")
      assert.strictEqual(error.key, key)
      assert.strictEqual(error.holder, "task-A")
      near(backend, ms(error.expiresIn), 1000, "expiresIn")
      assert.isTrue(ms(error.expiresIn) <= 1000)
    })
  )

  it.effect("locks: the same owner re-acquiring extends its lock and keeps the fence", () =>
    Effect.gen(function* () {
      const key = fresh("lock")
      const first = yield* Heimdall.acquireLock(key, { owner: "A", ttl: 300 })
      yield* advance(200)
      const again = yield* Heimdall.acquireLock(key, { owner: "A", ttl: 300 })
      assert.strictEqual(again.fence, first.fence)
      yield* advance(200) // 400 ms after the first acquire: alive only thanks to the extension
      const info = yield* Heimdall.inspectLock(key)
      assert.isTrue(Option.isSome(info))
      assert.strictEqual(Option.getOrThrow(info).holder, "A")
    })
  )

  it.effect("locks: release acts only for the owner", () =>
    Effect.gen(function* () {
      const key = fresh("lock")
      const lock = yield* Heimdall.acquireLock(key, { owner: "A", ttl: "5 seconds" })
      assert.isFalse(yield* Heimdall.releaseLock({ key, owner: "B" }))
      assert.strictEqual(Option.getOrThrow(yield* Heimdall.inspectLock(key)).holder, "A")
      assert.isTrue(yield* Heimdall.releaseLock(lock))
      assert.isFalse(yield* Heimdall.releaseLock(lock), "a second release finds nothing")
      assert.isTrue(Option.isNone(yield* Heimdall.inspectLock(key)))
      const next = yield* Heimdall.acquireLock(key, { owner: "B", ttl: "5 seconds" })
      assert.strictEqual(next.owner, "B")
    })
  )

  it.effect("locks: a late finisher never frees a lock that expired and was taken by someone else", () =>
    Effect.gen(function* () {
      const key = fresh("lock")
      const late = yield* Heimdall.acquireLock(key, { owner: "A", ttl: 200 })
      yield* advance(260)
      const taken = yield* Heimdall.acquireLock(key, { owner: "B", ttl: "5 seconds" })
      assert.isTrue(taken.fence > late.fence)
      assert.isFalse(yield* Heimdall.releaseLock(late))
      assert.isFalse(yield* Heimdall.extendLock(late))
      assert.strictEqual(Option.getOrThrow(yield* Heimdall.inspectLock(key)).holder, "B")
    })
  )

  it.effect("locks: extend keeps a lock past its ttl, for its owner only", () =>
    Effect.gen(function* () {
      const key = fresh("lock")
      const lock = yield* Heimdall.acquireLock(key, { owner: "A", ttl: 300 })
      yield* advance(200)
      assert.isTrue(yield* Heimdall.extendLock(lock))
      assert.isFalse(yield* Heimdall.extendLock({ key, owner: "B", ttl: Duration.seconds(1) }))
      yield* advance(200)
      assert.strictEqual(Option.getOrThrow(yield* Heimdall.inspectLock(key)).holder, "A")
      yield* advance(200)
      assert.isTrue(Option.isNone(yield* Heimdall.inspectLock(key)), "expired 300 ms after the extension")
    })
  )

  it.effect("locks: fencing tokens strictly increase across releases and expiries", () =>
    Effect.gen(function* () {
      const key = fresh("lock")
      const fences: Array<number> = []
      for (let i = 0; i < 6; i++) {
        const lock = yield* Heimdall.acquireLock(key, { owner: `owner-${i}`, ttl: 100 })
        fences.push(lock.fence)
        if (i % 2 === 0) yield* Heimdall.releaseLock(lock)
        else yield* advance(150) // let it expire instead
      }
      for (let i = 1; i < fences.length; i++) assert.isTrue(fences[i]! > fences[i - 1]!, `fences ${fences}`)
    })
  )

  it.effect("locks: a waiter is woken by the release, long before the holder's ttl", () =>
    Effect.gen(function* () {
      const key = fresh("lock")
      const holder = yield* Heimdall.acquireLock(key, { owner: "A", ttl: "10 seconds" })
      const start = yield* Clock.currentTimeMillis
      const waiter = yield* Effect.forkChild(
        Heimdall.acquireLock(key, { owner: "B", ttl: "10 seconds", wait: "5 seconds" }).pipe(
          Effect.zip(Clock.currentTimeMillis)
        )
      )
      yield* advance(100)
      assert.isTrue(yield* Heimdall.releaseLock(holder))
      if (!backend.redis) yield* advance(1) // let the woken fiber run under TestClock
      const [lock, at] = yield* Fiber.join(waiter)
      assert.strictEqual(lock.owner, "B")
      assert.isTrue(at - start < 1000, `woken after ${at - start} ms`)
      assert.isTrue(lock.fence > holder.fence)
    })
  )

  it.effect("locks: a waiter takes the lock when the holder's ttl runs out", () =>
    Effect.gen(function* () {
      const key = fresh("lock")
      yield* Heimdall.acquireLock(key, { owner: "A", ttl: 300 })
      const waiter = yield* Effect.forkChild(Heimdall.acquireLock(key, { owner: "B", wait: "2 seconds" }))
      yield* advance(400)
      const lock = yield* Fiber.join(waiter)
      assert.strictEqual(lock.owner, "B")
    })
  )

  it.effect("locks: a wait that runs out fails with LockTaken", () =>
    Effect.gen(function* () {
      const key = fresh("lock")
      yield* Heimdall.acquireLock(key, { owner: "A", ttl: "10 seconds" })
      const waiter = yield* Effect.forkChild(Effect.flip(Heimdall.acquireLock(key, { owner: "B", wait: 300 })))
      yield* advance(400)
      const error = yield* Fiber.join(waiter)
      assert.strictEqual(error._tag, "LockTaken")
      assert.strictEqual((error as LockTaken).holder, "A")
    })
  )

  it.effect("locks: inspect, list under a prefix, force-release", () =>
    Effect.gen(function* () {
      const group = fresh("ops")
      yield* Heimdall.acquireLock(`${group}:a`, { owner: "A", ttl: "5 seconds" })
      const b = yield* Heimdall.acquireLock(`${group}:b`, { owner: "B", ttl: "5 seconds" })
      yield* Heimdall.acquireLock(`other-${group}`, { owner: "C", ttl: "5 seconds" })
      const listed = yield* Heimdall.listLocks(`${group}:`)
      assert.deepStrictEqual(
        listed.map((l) => [l.key, l.holder]),
        [
          [`${group}:a`, "A"],
          [`${group}:b`, "B"]
        ]
      )
      assert.strictEqual(listed[1]!.fence, b.fence)
      assert.isTrue(ms(listed[0]!.expiresIn) > 4000)
      assert.isTrue(yield* Heimdall.forceReleaseLock(`${group}:a`))
      assert.isFalse(yield* Heimdall.forceReleaseLock(`${group}:a`))
      assert.deepStrictEqual(
        (yield* Heimdall.listLocks(`${group}:`)).map((l) => l.key),
        [`${group}:b`]
      )
    })
  )

  it.effect("withLock: runs the effect holding the lock and releases it on success, failure and interruption", () =>
    Effect.gen(function* () {
      const key = fresh("with")
      const seen = yield* Effect.gen(function* () {
        return Option.getOrThrow(yield* Heimdall.inspectLock(key)).holder
      }).pipe(Heimdall.withLock(key, { owner: "job-1", ttl: "5 seconds" }))
      assert.strictEqual(seen, "job-1")
      assert.isTrue(Option.isNone(yield* Heimdall.inspectLock(key)), "released after success")

      const failed = yield* Effect.fail("boom" as const).pipe(Heimdall.withLock(key, { ttl: "5 seconds" }), Effect.flip)
      assert.strictEqual(failed, "boom")
      assert.isTrue(Option.isNone(yield* Heimdall.inspectLock(key)), "released after failure")

      const fiber = yield* Effect.forkChild(Effect.never.pipe(Heimdall.withLock(key, { ttl: "5 seconds" })))
      yield* advance(50)
      assert.isTrue(Option.isSome(yield* Heimdall.inspectLock(key)))
      yield* Fiber.interrupt(fiber)
      assert.isTrue(Option.isNone(yield* Heimdall.inspectLock(key)), "released after interruption")
    })
  )

  it.effect("withLock: a taken lock fails with LockTaken and the effect does not run", () =>
    Effect.gen(function* () {
      const key = fresh("with")
      yield* Heimdall.acquireLock(key, { owner: "other", ttl: "5 seconds" })
      const ran = yield* Ref.make(false)
      const error = yield* Ref.set(ran, true).pipe(Heimdall.withLock(key), Effect.flip)
      assert.strictEqual(error._tag, "LockTaken")
      assert.strictEqual((error as LockTaken).holder, "other")
      assert.isFalse(yield* Ref.get(ran))
    })
  )

  it.effect("withLock: keep-alive holds the lock past its ttl while the effect runs", () =>
    Effect.gen(function* () {
      const key = fresh("with")
      const fiber = yield* Effect.forkChild(Effect.sleep(900).pipe(Heimdall.withLock(key, { owner: "long", ttl: 300 })))
      for (let i = 0; i < 6; i++) yield* advance(100)
      const holder = Option.getOrThrow(yield* Heimdall.inspectLock(key)).holder
      assert.strictEqual(holder, "long", "600 ms in, twice the ttl, still held")
      yield* advance(400)
      yield* Fiber.join(fiber)
      assert.isTrue(Option.isNone(yield* Heimdall.inspectLock(key)))
    })
  )

  it.effect("withLock: a lost lock interrupts the effect with LockLost", () =>
    Effect.gen(function* () {
      const key = fresh("with")
      const finished = yield* Ref.make(false)
      const fiber = yield* Effect.forkChild(
        Effect.sleep("5 seconds").pipe(
          Effect.andThen(Ref.set(finished, true)),
          Heimdall.withLock(key, { owner: "victim", ttl: 300 }),
          Effect.flip
        )
      )
      yield* advance(50)
      yield* Heimdall.forceReleaseLock(key)
      yield* Heimdall.acquireLock(key, { owner: "usurper", ttl: "5 seconds" })
      yield* advance(150)
      const error = yield* Fiber.join(fiber)
      assert.instanceOf(error, LockLost)
      assert.strictEqual((error as LockLost).owner, "victim")
      assert.isFalse(yield* Ref.get(finished))
      assert.strictEqual(Option.getOrThrow(yield* Heimdall.inspectLock(key)).holder, "usurper")
    })
  )

  it.effect("withLock: a lock that lapsed while its effect ran fails with LockLost, not the effect's result", () =>
    Effect.gen(function* () {
      // keep-alive off: nothing extends the lock, as when the event loop is blocked past the ttl
      const key = fresh("with")
      const finished = yield* Ref.make(false)
      const succeeded = yield* Effect.forkChild(
        Effect.sleep(500).pipe(
          Effect.andThen(Ref.set(finished, true)),
          Effect.as("the effect's own result"),
          Heimdall.withLock(key, { owner: "sleeper", ttl: 200, keepAlive: false }),
          Effect.result
        )
      )
      yield* advance(300)
      yield* Heimdall.acquireLock(key, { owner: "usurper", ttl: "5 seconds" })
      yield* advance(300)
      const result = yield* Fiber.join(succeeded)
      assert.isTrue(yield* Ref.get(finished), "the effect ran to its end")
      assert.isTrue(Result.isFailure(result), "a success under a lost lock is not returned")
      const error = Result.getFailure(result).pipe(Option.getOrThrow)
      assert.instanceOf(error, LockLost)
      assert.strictEqual((error as LockLost).key, key)
      assert.strictEqual((error as LockLost).owner, "sleeper")
      assert.include((error as LockLost).message, key)
      assert.strictEqual(Option.getOrThrow(yield* Heimdall.inspectLock(key)).holder, "usurper", "still the usurper's")

      // a typed failure under a lock that lapsed (nobody took it) is LockLost too
      const other = fresh("with")
      const failed = yield* Effect.forkChild(
        Effect.sleep(500).pipe(
          Effect.andThen(Effect.fail("boom" as const)),
          Heimdall.withLock(other, { owner: "sleeper", ttl: 200, keepAlive: false }),
          Effect.flip
        )
      )
      yield* advance(600)
      const lost = yield* Fiber.join(failed)
      assert.strictEqual((lost as LockLost)._tag, "LockLost")
      assert.isTrue(Option.isNone(yield* Heimdall.inspectLock(other)))

      // held the whole time: the effect's own result
      const kept = yield* Effect.forkChild(
        Effect.sleep(100).pipe(Effect.as(42), Heimdall.withLock(fresh("with"), { ttl: 400, keepAlive: false }))
      )
      yield* advance(150)
      assert.strictEqual(yield* Fiber.join(kept), 42)
    })
  )

  // ---------------------------------------------------------------------------
  // rate limits
  // ---------------------------------------------------------------------------

  it.effect("rate: take admits `times` calls, then RateLimited says when, which limit and what remains", () =>
    Effect.gen(function* () {
      const key = fresh("rate")
      const limit: Heimdall.Limit = { times: 3, per: "1 second" }
      const remaining: Array<number> = []
      for (let i = 0; i < 3; i++) remaining.push((yield* Heimdall.take(key, limit)).remaining)
      assert.deepStrictEqual(remaining, [2, 1, 0])
      yield* advance(200)
      const error = yield* Heimdall.take(key, limit).pipe(Effect.flip)
      assert.instanceOf(error, RateLimited)
      const denied = error as RateLimited
      assert.strictEqual(denied.key, key)
      assert.strictEqual(denied.limit.times, 3)
      assert.strictEqual(ms(denied.limit.per), 1000)
      assert.strictEqual(denied.remaining, 0)
      near(backend, ms(denied.retryAfter), 800, "retryAfter")
    })
  )

  it.effect("rate: concurrent takes on one limit are answered in order, as one after another (one call on Redis)", () =>
    Effect.gen(function* () {
      const key = fresh("rate")
      const limit: Heimdall.Limit = { times: 6, per: 1000 }
      yield* Heimdall.take(key, limit)
      yield* Heimdall.take(key, limit)
      yield* advance(300)
      // 2 units in the window, both 300 ms old; then, at once:
      const costs = [3, 2, 1, 1, 4, 1]
      const answers = yield* Effect.all(
        costs.map((cost) =>
          Heimdall.take(key, limit, { cost }).pipe(
            Effect.map((a) => ({ admitted: true, remaining: a.remaining, retryAfter: 0 })),
            Effect.catchTag("RateLimited", (e) =>
              Effect.succeed({ admitted: false, remaining: e.remaining, retryAfter: ms(e.retryAfter) })
            )
          )
        ),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        answers.map((a) => [a.admitted, a.remaining]),
        [
          [true, 1], // 2 + 3 <= 6
          [false, 1], // 5 + 2 > 6
          [true, 0], // 5 + 1 <= 6
          [false, 0],
          [false, 0],
          [false, 0]
        ]
      )
      // a unit of the first two (300 ms old) frees room for cost 2 and cost 1; cost 4 needs one booked just now
      near(backend, answers[1]!.retryAfter, 700, "retryAfter of cost 2")
      near(backend, answers[3]!.retryAfter, 700, "retryAfter of cost 1")
      near(backend, answers[4]!.retryAfter, 1000, "retryAfter of cost 4")
      near(backend, answers[5]!.retryAfter, 700, "retryAfter of the last cost 1")
    })
  )

  it.effect("rate: a sliding window, exact across window boundaries (no 2x burst)", () =>
    Effect.gen(function* () {
      const key = fresh("rate")
      const limit: Heimdall.Limit = { times: 2, per: 1000 }
      yield* advance(800)
      yield* Heimdall.take(key, limit)
      yield* Heimdall.take(key, limit)
      yield* advance(400) // a fixed one-second window would have reset here
      const denied = yield* Heimdall.take(key, limit).pipe(Effect.flip)
      assert.strictEqual(denied._tag, "RateLimited")
      near(backend, ms((denied as RateLimited).retryAfter), 600, "retryAfter")
      yield* advance(650)
      assert.strictEqual((yield* Heimdall.take(key, limit)).remaining, 1)
    })
  )

  it.effect("rate: reserve books distinct future slots for concurrent waiters", () =>
    Effect.gen(function* () {
      const key = fresh("rate")
      const limit: Heimdall.Limit = { times: 2, per: 500 }
      // on Redis its clock runs while the calls are sent: each delay is counted from the first call, less the
      // real time since then
      const started = Date.now()
      const since = () => (backend.redis ? Date.now() - started : 0)
      const expected = [0, 0, 500, 500, 1000, 1000]
      for (let i = 0; i < 6; i++) {
        const delay = ms((yield* Heimdall.reserve(key, limit)).delay)
        nearSince(backend, delay, expected[i]!, i < 2 ? 0 : since(), `delay ${i}`)
      }
      // a take now is behind the reservations
      const denied = yield* Heimdall.take(key, limit).pipe(Effect.flip)
      assert.strictEqual(denied._tag, "RateLimited")
      nearSince(
        backend,
        ms((denied as RateLimited).retryAfter),
        1500,
        since(),
        "take waits behind the reservations: the next free slot"
      )
    })
  )

  it.effect("rate: reserve with maxDelay refuses a far slot and books nothing", () =>
    Effect.gen(function* () {
      const key = fresh("rate")
      const limit: Heimdall.Limit = { times: 1, per: 1000 }
      yield* Heimdall.reserve(key, limit)
      const error = yield* Heimdall.reserve(key, limit, { maxDelay: 500 }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "RateLimited")
      near(backend, ms((error as RateLimited).retryAfter), 1000, "retryAfter")
      const next = yield* Heimdall.reserve(key, limit)
      near(backend, ms(next.delay), 1000, "the refused call booked nothing")
    })
  )

  it.effect("rate: jitter is booked, not added after the slot", () =>
    Effect.gen(function* () {
      const key = fresh("rate")
      const limit: Heimdall.Limit = { times: 1, per: 1000 }
      const first = yield* Heimdall.reserve(key, limit, { jitter: Effect.succeed(Duration.millis(300)) })
      near(backend, ms(first.delay), 300, "first slot after its jitter")
      const second = yield* Heimdall.reserve(key, limit, { jitter: Effect.succeed(Duration.millis(300)) })
      near(backend, ms(second.delay), 1300, "next slot a full period after the booked one")
    })
  )

  it.effect("rate: weighted calls take `cost` units", () =>
    Effect.gen(function* () {
      const key = fresh("rate")
      const limit: Heimdall.Limit = { times: 5, per: "1 second" }
      assert.strictEqual((yield* Heimdall.take(key, limit, { cost: 3 })).remaining, 2)
      const error = yield* Heimdall.take(key, limit, { cost: 3 }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "RateLimited")
      assert.strictEqual((error as RateLimited).remaining, 2)
      assert.strictEqual((yield* Heimdall.take(key, limit, { cost: 2 })).remaining, 0)
    })
  )

  it.effect("rate: several limits are all or nothing (a denial consumes nothing)", () =>
    Effect.gen(function* () {
      // one hash tag for both keys: on a Redis Cluster the limits of one call must share a slot
      const tenant = fresh("tenant")
      const key = `{${tenant}}:rate`
      const global = `{${tenant}}:global`
      const limits = [
        { times: 2, per: 1000 },
        { times: 3, per: 10_000, key: global }
      ]
      yield* Heimdall.take(key, limits)
      yield* Heimdall.take(key, limits)
      const burst = yield* Heimdall.take(key, limits).pipe(Effect.flip)
      assert.strictEqual(burst._tag, "RateLimited")
      assert.strictEqual((burst as RateLimited).key, key, "the per-second limit is the full one")
      // the global limit lost nothing to the denied call: one unit left
      assert.strictEqual((yield* Heimdall.take(global, { times: 3, per: 10_000 })).remaining, 0)
      yield* advance(1100)
      const hourly = yield* Heimdall.take(key, limits).pipe(Effect.flip)
      assert.strictEqual((hourly as RateLimited).key, global, "now the global limit is the full one")
      assert.strictEqual((yield* Heimdall.take(key, { times: 2, per: 1000 })).remaining, 1, "and nothing was taken")
    })
  )

  it.effect("rate: remaining counts each limit's own window, also for two periods on one key", () =>
    Effect.gen(function* () {
      const key = fresh("rate")
      const limits = [
        { times: 2, per: 1000 },
        { times: 5, per: 10_000 }
      ]
      assert.strictEqual((yield* Heimdall.take(key, limits)).remaining, 1)
      yield* advance(1100)
      // the first admission left the one-second window but not the ten-second one
      assert.strictEqual((yield* Heimdall.take(key, limits)).remaining, 1)
      assert.strictEqual((yield* Heimdall.take(key, { times: 5, per: 10_000 })).remaining, 2)
      assert.strictEqual((yield* Heimdall.take(key, limits).pipe(Effect.flip))._tag, "RateLimited")
    })
  )

  it.effect("rate: limits computed per key at call time (dynamic limits)", () =>
    Effect.gen(function* () {
      const vip = fresh("customer-1")
      const other = fresh("customer-2")
      const limits = (key: string): Heimdall.Limit => ({ times: key === vip ? 1 : 2, per: "30 seconds" })
      yield* Heimdall.take(vip, limits)
      assert.strictEqual((yield* Heimdall.take(vip, limits).pipe(Effect.flip))._tag, "RateLimited")
      yield* Heimdall.take(other, limits)
      yield* Heimdall.take(other, limits)
      assert.strictEqual((yield* Heimdall.take(other, limits).pipe(Effect.flip))._tag, "RateLimited")
      const looked = yield* Heimdall.take(fresh("plan"), () => Effect.succeed({ times: 5, per: 1000 }))
      assert.strictEqual(looked.remaining, 4, "an effectful lookup works too")
    })
  )

  it.effect("rate: withRateLimit fails fast or waits for its slot", () =>
    Effect.gen(function* () {
      const key = fresh("rate")
      const limits = { times: 1, per: 400 }
      const runs = yield* Ref.make<Array<number>>([])
      const record = Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(runs, (r) => [...r, now]))
      yield* record.pipe(Heimdall.withRateLimit(key, { limits, onLimit: "fail" }))
      const error = yield* record.pipe(Heimdall.withRateLimit(key, { limits, onLimit: "fail" }), Effect.flip)
      assert.strictEqual(error._tag, "RateLimited")
      const waiting = yield* Effect.forkChild(record.pipe(Heimdall.withRateLimit(key, { limits })))
      yield* advance(450)
      yield* Fiber.join(waiting)
      const [a, b] = yield* Ref.get(runs)
      assert.isDefined(b)
      assert.isTrue(b! - a! >= 400 - slack(backend), `second run ${b! - a!} ms after the first`)
    })
  )

  // ---------------------------------------------------------------------------
  // validation: one test per kind of bad value; each names the option and the value, and writes nothing
  // ---------------------------------------------------------------------------

  /** Runs each bad call, checks its InvalidArgument, then that its key is untouched (`untouched` per key). */
  const rejects = (
    cases: ReadonlyArray<
      readonly [effect: Effect.Effect<unknown, unknown, Heimdall.Heimdall>, option: string, value: string]
    >
  ) =>
    Effect.gen(function* () {
      for (const [effect, option, value] of cases) {
        const error = yield* Effect.flip(effect)
        assertInvalid(error, option, value)
      }
    })

  /** Nothing was written under `key`: no lock, a full rate limit, all slots free, only-after not yet taken. */
  const untouched = (key: string) =>
    Effect.gen(function* () {
      assert.isTrue(Option.isNone(yield* Heimdall.inspectLock(key)), `lock ${key}`)
      const admitted = yield* Heimdall.take(key, { times: 1, per: 60_000 })
      assert.strictEqual(admitted.remaining, 0, `rate ${key}`) // the first admission of a fresh key
      const slot = yield* Heimdall.acquireSlot(key, { limit: 1 })
      assert.strictEqual(slot.holders, 1, `slots ${key}`)
      assert.isTrue(yield* Heimdall.onlyAfter(key, 60_000), `onlyAfter ${key}`)
    })

  it.effect("validation: limits, costs and slot limits that are not positive integers (0, -1, 1.5, NaN)", () =>
    Effect.gen(function* () {
      const key = fresh("v-int")
      yield* rejects([
        [Heimdall.take(key, { times: 0, per: 1000 }), "times", "0"],
        [Heimdall.take(key, { times: -1, per: 1000 }), "times", "-1"],
        [Heimdall.reserve(key, { times: 1.5, per: 1000 }), "times", "1.5"],
        [Heimdall.take(key, { times: Number.NaN, per: 1000 }), "times", "NaN"],
        [Heimdall.take(key, { times: 2, per: 1000 }, { cost: 0 }), "cost", "0"],
        [Heimdall.take(key, { times: 2, per: 1000 }, { cost: 1.5 }), "cost", "1.5"],
        [Heimdall.take(key, { times: 2, per: 1000 }, { cost: 3 }), "cost", "3"],
        [Heimdall.acquireSlot(key, { limit: 0 }), "limit", "0"],
        [Heimdall.acquireSlot(key, { limit: 2.5 }), "limit", "2.5"],
        [Effect.succeed(1).pipe(Heimdall.withConcurrencyLimit(key, { limit: -1 })), "limit", "-1"],
        [Effect.succeed(1).pipe(Heimdall.withRateLimit(key, { limits: { times: 0, per: 1000 } })), "times", "0"]
      ])
      yield* untouched(key)
    })
  )

  it.effect('validation: malformed durations ("5 potatoes", NaN) in ttl, wait, lease, per, period, maxDelay', () =>
    Effect.gen(function* () {
      const key = fresh("v-malformed")
      const potatoes = "5 potatoes" as Duration.Input
      yield* rejects([
        [Heimdall.acquireLock(key, { ttl: potatoes }), "ttl", '"5 potatoes"'],
        [Heimdall.acquireLock(key, { ttl: Number.NaN }), "ttl", "NaN"],
        [Heimdall.acquireLock(key, { wait: potatoes }), "wait", '"5 potatoes"'],
        [Heimdall.acquireSlot(key, { limit: 1, lease: potatoes }), "lease", '"5 potatoes"'],
        [Heimdall.take(key, { times: 1, per: potatoes }), "per", '"5 potatoes"'],
        [Heimdall.take(key, { times: 1, per: Number.NaN }), "per", "NaN"],
        [Heimdall.reserve(key, { times: 1, per: 1000 }, { maxDelay: potatoes }), "maxDelay", '"5 potatoes"'],
        [Heimdall.reserve(key, { times: 1, per: 1000 }, { jitter: potatoes }), "jitter", '"5 potatoes"'],
        [Heimdall.onlyAfter(key, potatoes), "period", '"5 potatoes"']
      ])
      yield* untouched(key)
    })
  )

  it.effect('validation: non-positive durations (ttl 0, per "0 seconds", lease -1, period 0)', () =>
    Effect.gen(function* () {
      const key = fresh("v-nonpositive")
      yield* rejects([
        [Heimdall.acquireLock(key, { ttl: 0 }), "ttl", "0"],
        [Heimdall.acquireLock(key, { ttl: "-1 seconds" }), "ttl", '"-1 seconds"'],
        [Effect.void.pipe(Heimdall.withLock(key, { ttl: 0 })), "ttl", "0"],
        [Heimdall.take(key, { times: 1, per: "0 seconds" }), "per", '"0 seconds"'],
        [Heimdall.acquireSlot(key, { limit: 1, lease: -1 }), "lease", "-1"],
        [Heimdall.onlyAfter(key, 0), "period", "0"],
        [Heimdall.onlyAfter(key, -5), "period", "-5"]
      ])
      yield* untouched(key)
    })
  )

  it.effect("validation: infinite durations where a finite one is needed", () =>
    Effect.gen(function* () {
      const key = fresh("v-infinite")
      yield* rejects([
        [Heimdall.acquireLock(key, { ttl: Duration.infinity }), "ttl", "Infinity"],
        [Heimdall.acquireLock(key, { wait: Number.POSITIVE_INFINITY }), "wait", "Infinity"],
        [Heimdall.take(key, { times: 1, per: Duration.infinity }), "per", "Infinity"],
        [Heimdall.acquireSlot(key, { limit: 1, lease: Duration.infinity }), "lease", "Infinity"],
        [Heimdall.reserve(key, { times: 1, per: 1000 }, { maxDelay: Duration.infinity }), "maxDelay", "Infinity"]
      ])
      yield* untouched(key)
    })
  )

  it.effect("validation: negative waits, delays and jitter (also a computed jitter)", () =>
    Effect.gen(function* () {
      const key = fresh("v-negative")
      yield* rejects([
        [Heimdall.acquireLock(key, { wait: -1 }), "wait", "-1"],
        [Heimdall.acquireSlot(key, { limit: 1, wait: "-2 seconds" }), "wait", '"-2 seconds"'],
        [Heimdall.reserve(key, { times: 1, per: 1000 }, { maxDelay: -1 }), "maxDelay", "-1"],
        [Heimdall.reserve(key, { times: 1, per: 1000 }, { jitter: -1 }), "jitter", "-1"],
        [
          Heimdall.reserve(key, { times: 1, per: 1000 }, { jitter: Effect.succeed(Duration.millis(-20)) }),
          "jitter",
          "-20 millis"
        ]
      ])
      yield* untouched(key)
    })
  )

  it.effect("validation: empty keys in every primitive", () =>
    Effect.gen(function* () {
      const key = fresh("v-empty")
      yield* rejects([
        [Heimdall.acquireLock(""), "key", '""'],
        [Effect.void.pipe(Heimdall.withLock("")), "key", '""'],
        [Heimdall.inspectLock(""), "key", '""'],
        [Heimdall.forceReleaseLock(""), "key", '""'],
        [Heimdall.take("", { times: 1, per: 1000 }), "key", '""'],
        [Heimdall.reserve(key, { times: 1, per: 1000, key: "" }), "key", '""'],
        [Heimdall.take(key, []), "limits", "[]"],
        [Heimdall.acquireSlot("", { limit: 1 }), "key", '""'],
        [Heimdall.onlyAfter("", 1000), "key", '""']
      ])
      yield* untouched(key)
    })
  )

  it.effect("rate: withRateLimit spaces starts by `per` plus the margin (default per/100, at most 10 ms)", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make<Array<number>>([])
      const record = Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(runs, (r) => [...r, now]))
      // the second start, from the first's start and from the moment the first was asked for
      const twice = (key: string, margin: Duration.Input | undefined, wait: number) =>
        Effect.gen(function* () {
          yield* Ref.set(runs, [])
          const options = { limits: { times: 1, per: 500 }, ...(margin === undefined ? {} : { margin }) }
          const asked = yield* Clock.currentTimeMillis
          yield* record.pipe(Heimdall.withRateLimit(key, options))
          const second = yield* Effect.forkChild(record.pipe(Heimdall.withRateLimit(key, options)))
          yield* advance(wait)
          yield* Fiber.join(second)
          const [a, b] = yield* Ref.get(runs)
          return { apart: b! - a!, fromAsked: b! - asked }
        })
      const byDefault = yield* twice(fresh("rate"), undefined, 600)
      const wide = yield* twice(fresh("rate"), "300 millis", 900)
      const none = yield* twice(fresh("rate"), 0, 600)
      if (backend.redis) {
        // real time: the first admission comes after it was asked for, the second start after its admission, so the
        // second start is at least per + margin after the first was asked for (a slow first round trip on a loaded
        // machine shortens the gap between the starts themselves, not this one; 2 ms for the clocks' rounding)
        for (const [label, got, want] of [
          ["default margin", byDefault, 505],
          ["margin 300 ms", wide, 800],
          ["margin 0", none, 500]
        ] as const) {
          assert.isAtLeast(got.fromAsked, want - 2, `${label}: ${got.fromAsked} ms after the first was asked for`)
        }
      } else {
        assert.deepStrictEqual([byDefault.apart, wide.apart, none.apart], [505, 800, 500])
      }
      const bad = yield* Effect.flip(
        Effect.void.pipe(Heimdall.withRateLimit(fresh("rate"), { limits: { times: 1, per: 500 }, margin: -1 }))
      )
      assert.strictEqual(bad._tag, "InvalidArgument")
      assert.include(bad.message, "margin")
    })
  )

  it.effect("rate store: a booking checked again at its slot (mode booked) is admitted when the window has room", () =>
    Effect.gen(function* () {
      const { store, config } = yield* Heimdall.Heimdall
      const { ratePrefix } = config
      const key = ratePrefix + fresh("rate")
      const call = (id: string, mode: "reserve" | "booked", maxDelayMs?: number) =>
        store.rateTake({ limits: [{ key, times: 1, perMs: 400 }], cost: 1, mode, maxDelayMs, offsetMs: 0, id })
      assert.strictEqual((yield* call("a", "reserve")).delayMs, 0)
      const b = yield* call("b", "reserve")
      near(backend, b.delayMs, 400, "b's slot")
      yield* advance(100)
      // too early, and not willing to wait: denied, and b's booking is dropped (a denial holds nothing)
      const early = yield* call("b", "booked", 0)
      assert.isFalse(early.admitted)
      near(backend, early.delayMs, 300, "room in")
      const c = yield* call("c", "reserve")
      near(backend, c.delayMs, 300, "c takes the slot b gave up")
      yield* advance(300)
      // at its slot: admitted now; checked again right away (a late reply): still admitted, now
      const atSlot = yield* call("c", "booked")
      assert.isTrue(atSlot.admitted)
      assert.strictEqual(atSlot.delayMs, 0)
      const again = yield* call("c", "booked")
      assert.deepStrictEqual([again.admitted, again.delayMs], [true, 0])
      // one unit in the window, c's: a new caller waits a full period
      near(backend, (yield* call("d", "reserve")).delayMs, 400, "d after c")
    })
  )

  it.effect("rate: impossible limits fail with InvalidArgument before anything is sent", () =>
    Effect.gen(function* () {
      const bad = [
        Heimdall.take("k", { times: 0, per: 1000 }),
        Heimdall.take("k", { times: 1.5, per: 1000 }),
        Heimdall.take("k", { times: 2, per: 0 }),
        Heimdall.take("k", { times: 2, per: 1000 }, { cost: 3 }),
        Heimdall.take("", { times: 2, per: 1000 }),
        Heimdall.take("k", []),
        Heimdall.acquireLock("k", { ttl: 0 }),
        Heimdall.acquireSlot("k", { limit: 0 }),
        Heimdall.onlyAfter("k", -5)
      ]
      for (const effect of bad) {
        const error = yield* Effect.flip(effect as Effect.Effect<unknown, unknown, Heimdall.Heimdall>)
        assert.instanceOf(error, InvalidArgument)
      }
      const error = yield* Effect.flip(Heimdall.take("k", { times: 2, per: 1000 }, { cost: 3 }))
      assert.strictEqual((error as InvalidArgument).argument, "cost")
    })
  )

  // ---------------------------------------------------------------------------
  // concurrency limits
  // ---------------------------------------------------------------------------

  it.effect("slots: at most `limit` holders; a full key says how many and for how long", () =>
    Effect.gen(function* () {
      const key = fresh("slots")
      const a = yield* Heimdall.acquireSlot(key, { limit: 2, lease: "1 second" })
      const b = yield* Heimdall.acquireSlot(key, { limit: 2, lease: "1 second" })
      assert.deepStrictEqual([a.holders, b.holders], [1, 2])
      const error = yield* Heimdall.acquireSlot(key, { limit: 2, lease: "1 second" }).pipe(Effect.flip)
      assert.instanceOf(error, ConcurrencyLimited)
      const full = error as ConcurrencyLimited
      assert.deepStrictEqual([full.key, full.limit, full.holders], [key, 2, 2])
      near(backend, ms(full.retryAfter), 1000, "retryAfter")
      assert.isTrue(yield* Heimdall.releaseSlot(a))
      assert.isFalse(yield* Heimdall.releaseSlot(a))
      const c = yield* Heimdall.acquireSlot(key, { limit: 2 })
      assert.strictEqual(c.holders, 2)
    })
  )

  it.effect("slots: a holder acquiring again renews its own slot, counted once, even when all are taken", () =>
    Effect.gen(function* () {
      const key = fresh("slots")
      assert.strictEqual((yield* Heimdall.acquireSlot(key, { limit: 1, holder: "a" })).holders, 1)
      assert.strictEqual((yield* Heimdall.acquireSlot(key, { limit: 1, holder: "a" })).holders, 1, "full, but its own")
      assert.strictEqual((yield* Heimdall.acquireSlot(key, { limit: 2, holder: "a" })).holders, 1, "room, its own")
      assert.strictEqual((yield* Heimdall.acquireSlot(key, { limit: 2, holder: "b" })).holders, 2)
      const error = yield* Heimdall.acquireSlot(key, { limit: 2, holder: "c" }).pipe(Effect.flip)
      assert.strictEqual((error as ConcurrencyLimited).holders, 2)
    })
  )

  it.effect("slots: a dead holder's lease ends and frees its slot; its late release or renewal does nothing", () =>
    Effect.gen(function* () {
      const key = fresh("slots")
      const dead = yield* Heimdall.acquireSlot(key, { limit: 1, lease: 200 })
      yield* advance(260)
      const next = yield* Heimdall.acquireSlot(key, { limit: 1, lease: "5 seconds" })
      assert.strictEqual(next.holders, 1)
      assert.isFalse(yield* Heimdall.extendSlot(dead))
      assert.isFalse(yield* Heimdall.releaseSlot(dead))
      assert.strictEqual((yield* Heimdall.acquireSlot(key, { limit: 1 }).pipe(Effect.flip))._tag, "ConcurrencyLimited")
    })
  )

  it.effect("slots: a waiter is woken by a release", () =>
    Effect.gen(function* () {
      const key = fresh("slots")
      const held = yield* Heimdall.acquireSlot(key, { limit: 1, lease: "10 seconds" })
      const start = yield* Clock.currentTimeMillis
      const waiter = yield* Effect.forkChild(
        Heimdall.acquireSlot(key, { limit: 1, wait: "5 seconds" }).pipe(Effect.zip(Clock.currentTimeMillis))
      )
      yield* advance(100)
      yield* Heimdall.releaseSlot(held)
      if (!backend.redis) yield* advance(1)
      const [slot, at] = yield* Fiber.join(waiter)
      assert.strictEqual(slot.holders, 1)
      assert.isTrue(at - start < 1000, `woken after ${at - start} ms`)
    })
  )

  it.effect("withConcurrencyLimit: never more than `limit` effects at once", () =>
    Effect.gen(function* () {
      const key = fresh("slots")
      const running = yield* Ref.make(0)
      const most = yield* Ref.make(0)
      const job = Effect.gen(function* () {
        const now = yield* Ref.updateAndGet(running, (n) => n + 1)
        yield* Ref.update(most, (m) => Math.max(m, now))
        yield* Effect.sleep(100)
        yield* Ref.update(running, (n) => n - 1)
      }).pipe(Heimdall.withConcurrencyLimit(key, { limit: 2, wait: "10 seconds" }))
      const fiber = yield* Effect.forkChild(
        Effect.all(
          Array.from({ length: 6 }, () => job),
          { concurrency: "unbounded" }
        )
      )
      for (let i = 0; i < 8; i++) yield* advance(101)
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* Ref.get(most), 2)
      // all slots were given back
      assert.strictEqual((yield* Heimdall.acquireSlot(key, { limit: 1 })).holders, 1)
    })
  )

  it.effect("withConcurrencyLimit: a slot lost while its effect ran fails with LockLost, not the effect's result", () =>
    Effect.gen(function* () {
      const key = fresh("slots")
      // the slot is gone before the effect ends (as when its lease lapsed while renewals could not run): another
      // holder may have run beside it, so its result does not count
      const result = yield* Heimdall.releaseSlot({ key, holder: "runner" }).pipe(
        Effect.as("the effect's own result"),
        Heimdall.withConcurrencyLimit(key, { limit: 1, holder: "runner", lease: 300 }),
        Effect.result
      )
      assert.isTrue(Result.isFailure(result), "a success in a lost slot is not returned")
      const error = Result.getFailure(result).pipe(Option.getOrThrow)
      assert.instanceOf(error, LockLost)
      assert.strictEqual((error as LockLost).key, key)
      assert.strictEqual((error as LockLost).owner, "runner")
      // held the whole time: the effect's own result, and the slot is free again
      assert.strictEqual(yield* Effect.succeed(7).pipe(Heimdall.withConcurrencyLimit(key, { limit: 1 })), 7)
      assert.strictEqual((yield* Heimdall.acquireSlot(key, { limit: 1 })).holders, 1)
    })
  )

  // ---------------------------------------------------------------------------
  // only-after
  // ---------------------------------------------------------------------------

  it.effect("onlyAfter: true at most once per period per key", () =>
    Effect.gen(function* () {
      const key = fresh("after")
      assert.isTrue(yield* Heimdall.onlyAfter(key, 300))
      assert.isFalse(yield* Heimdall.onlyAfter(key, 300))
      assert.isTrue(yield* Heimdall.onlyAfter(fresh("after"), 300), "other keys are independent")
      yield* advance(200)
      assert.isFalse(yield* Heimdall.onlyAfter(key, 300))
      yield* advance(150)
      assert.isTrue(yield* Heimdall.onlyAfter(key, 300))
    })
  )

  // ---------------------------------------------------------------------------
  // errors
  // ---------------------------------------------------------------------------

  it.effect("errors: tagged, catchTag-able, and they survive JSON encoding and decoding", () =>
    Effect.gen(function* () {
      const errors = [
        new LockTaken({ key: "k", holder: "task-1", expiresIn: Duration.millis(1500) }),
        new LockLost({ key: "k", owner: "task-1" }),
        new RateLimited({
          key: "k",
          retryAfter: Duration.millis(250),
          limit: { times: 2, per: Duration.seconds(1) },
          remaining: 0
        }),
        new ConcurrencyLimited({ key: "k", limit: 3, holders: 3, retryAfter: Duration.millis(10) }),
        new InvalidArgument({ argument: "times", value: "0", reason: "must be a positive integer" })
      ] as const
      for (const error of errors) {
        const codec = Schema.fromJsonString(Schema.toCodecJson(error.constructor as any))
        const text = yield* Schema.encodeEffect(codec)(error)
        assert.isString(text)
        const back = (yield* Schema.decodeUnknownEffect(codec)(text)) as typeof error
        assert.instanceOf(back, error.constructor as new (...args: Array<any>) => unknown)
        assert.strictEqual(back._tag, error._tag)
        assert.strictEqual(back.message, error.message)
      }
      const caught = yield* Effect.fail(errors[0]).pipe(
        Effect.catchTag("LockTaken", (e) => Effect.succeed(`${e.holder} ${ms(e.expiresIn)}`))
      )
      assert.strictEqual(caught, "task-1 1500")
      const exit = yield* Effect.exit(Heimdall.take("k", { times: 0, per: 1 }))
      assert.isTrue(Exit.isFailure(exit))
    })
  )
}
