/**
 * Runs one conformance suite against several backend layers: every backend
 * must agree on every behaviour the suite checks.
 *
 * Memory backends run on `TestClock` (time moves only when the suite calls
 * `advance`); Redis backends run on the real clock, since Redis keeps its own
 * time (`TIME`), and `advance` sleeps for real. Suites therefore use short
 * durations and express every wait through `backend.advance`.
 */
import { layer, type Vitest } from "@effect/vitest"
import { Duration, Effect, type Layer } from "effect"
import { TestClock } from "effect/testing"
import { describe } from "vitest"
import { hasCluster, hasRedis } from "./redis.ts"

export interface Backend<A, E = unknown> {
  /** Shown in the test names: `<suite> [<name>]`. */
  readonly name: string
  readonly layer: Layer.Layer<A, E>
  /** The backend needs the Redis server: its block is skipped (and reported so) without one. */
  readonly redis: boolean
  /** The backend needs the tests' Redis Cluster: its block is skipped (and reported so) without one. */
  readonly cluster?: boolean | undefined
}

export interface BackendContext {
  readonly name: string
  readonly redis: boolean
  /** The backend runs on a Redis Cluster. */
  readonly cluster: boolean
  /** Lets `duration` pass for this backend: `TestClock.adjust` in memory, a real sleep on Redis. */
  readonly advance: (duration: Duration.Input) => Effect.Effect<void>
}

/** `memory` and `redis` backend descriptors, for the common case of one of each. */
export const backends = <A, EM, ER>(memory: Layer.Layer<A, EM>, redis: Layer.Layer<A, ER>) =>
  [
    { name: "memory", layer: memory, redis: false },
    { name: "redis", layer: redis, redis: true }
  ] as const satisfies ReadonlyArray<Backend<A, EM | ER>>

/** Runs `suite` once per backend, each in its own `layer` block (the layer is built once per block). */
export const conformance = <A, E>(
  name: string,
  list: ReadonlyArray<Backend<A, E>>,
  suite: (it: Vitest.MethodsNonLive<A>, backend: BackendContext) => void,
  options?: { readonly timeout?: Duration.Input }
): void => {
  for (const backend of list) {
    const context: BackendContext = {
      name: backend.name,
      redis: backend.redis,
      cluster: backend.cluster === true,
      advance: backend.redis ? (d) => Effect.sleep(d) : (d) => TestClock.adjust(Duration.fromInputUnsafe(d))
    }
    const block = () =>
      layer(backend.layer, {
        timeout: options?.timeout ?? "30 seconds",
        excludeTestServices: backend.redis
      })(`${name} [${backend.name}]`, (it) => suite(it, context))
    if (backend.cluster) describe.skipIf(!hasCluster)(`${name} [${backend.name}] needs a Redis Cluster`, block)
    else if (backend.redis) describe.skipIf(!hasRedis)(`${name} [${backend.name}] needs Redis`, block)
    else block()
  }
}
