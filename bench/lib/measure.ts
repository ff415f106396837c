/**
 * Throughput loops: `inFlight` concurrent loops repeat one operation for a
 * fixed time; the result is completed operations per second.
 */
import { Effect, type ManagedRuntime } from "effect"

export const loopPromise = async (
  op: (worker: number, i: number) => Promise<unknown>,
  inFlight: number,
  ms: number
): Promise<number> => {
  const start = performance.now()
  const deadline = start + ms
  let next = 0
  const counts = await Promise.all(
    Array.from({ length: inFlight }, async (_, worker) => {
      let n = 0
      while (performance.now() < deadline) {
        await op(worker, next++)
        n++
      }
      return n
    })
  )
  return (counts.reduce((a, b) => a + b, 0) * 1000) / (performance.now() - start)
}

/** The same loops as fibers inside one Effect run, so the Effect side pays no `runPromise` per operation. */
export const loopEffect = <R, ER, E>(
  runtime: ManagedRuntime.ManagedRuntime<R, ER>,
  op: (worker: number, i: number) => Effect.Effect<unknown, E, R>,
  inFlight: number,
  ms: number
): Promise<number> =>
  runtime.runPromise(
    Effect.gen(function* () {
      const start = performance.now()
      const deadline = start + ms
      let next = 0
      const counts = yield* Effect.forEach(
        Array.from({ length: inFlight }, (_, worker) => worker),
        (worker) =>
          Effect.gen(function* () {
            let n = 0
            while (performance.now() < deadline) {
              yield* op(worker, next++)
              n++
            }
            return n
          }),
        { concurrency: "unbounded" }
      )
      return (counts.reduce((a, b) => a + b, 0) * 1000) / (performance.now() - start)
    })
  )

/** Runs `count` operations, `inFlight` at a time (for pre-filling queues, not timed). */
export const runCount = async (op: (i: number) => Promise<unknown>, count: number, inFlight: number): Promise<void> => {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(inFlight, count) }, async () => {
      while (next < count) await op(next++)
    })
  )
}
