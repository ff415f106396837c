/**
 * Runs `Redis.script` descriptors through any `Redis` service's `send`: by
 * `EVALSHA` with the script's SHA-1 computed here once, loading the script
 * only when Redis answers `NOSCRIPT` (first use, after `SCRIPT FLUSH`, a
 * failover or a restart), then running it again.
 *
 * The same contract as `Redis.eval`, without its per-call cache lookup: one
 * `send` per call on the hot path, which matters when a call is one lock or
 * rate-limit step.
 */
import { createHash } from "node:crypto"
import { Effect } from "effect"
import type * as Redis from "effect/persistence/Redis"

const isNoScript = (error: Redis.RedisError) => String(error.cause).includes("NOSCRIPT")

/** A script's runner, and `load`: the script's `SCRIPT LOAD`, to run it ahead of the first call. */
export interface Runner<Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }> {
  (...params: Config["params"]): Effect.Effect<Config["result"], Redis.RedisError>
  readonly load: Effect.Effect<unknown, Redis.RedisError>
}

/** `evaluator(redis)(script)` is `redis.eval(script)`, with the SHA-1 computed locally. */
export const evaluator =
  (redis: Redis.Redis["Service"]) =>
  <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
    script: Redis.Script<Config>
  ): Runner<Config> => {
    const sha = createHash("sha1").update(script.lua).digest("hex")
    const load = redis.send<string>("SCRIPT", "LOAD", script.lua)
    return Object.assign(
      (...params: Config["params"]) => {
        const values = script.params(...params)
        const args = new Array<string>(values.length + 2)
        args[0] = sha
        args[1] = String(script.numberOfKeys(...params))
        for (let i = 0; i < values.length; i++) args[i + 2] = String(values[i])
        const run = redis.send<Config["result"]>("EVALSHA", ...args)
        return Effect.catchIf(run, isNoScript, () => Effect.andThen(load, run))
      },
      { load }
    )
  }

/**
 * Loads every script of `runners` (in one burst of `SCRIPT LOAD`s), so that no first call pays the `NOSCRIPT`
 * round trips: a first call that did could be overtaken by a later call of the same script (measured: two
 * rate-limit takes on a fresh server were admitted in the reverse of their order).
 */
export const preload = (runners: Record<string, { readonly load: Effect.Effect<unknown, Redis.RedisError> }>) =>
  Effect.forEach(Object.values(runners), (runner) => runner.load, { concurrency: "unbounded", discard: true })
