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
import * as Redis from "effect/persistence/Redis"

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

/** A parameter as a script receives it: a boolean is "1" or "0"; `Wide` (an object) is its encoder's values. */
type Arg<Wide> = string | number | boolean | Wide

/** `N` placeholders. */
type Tuple<N extends number, T extends Array<0> = []> = T["length"] extends N ? T : Tuple<N, [...T, 0]>

/** One placeholder per ARGV that `Args` fills (a `Wide` parameter fills `N`), to count them at compile time. */
type Slots<Args extends ReadonlyArray<unknown>, Wide, N extends number> = Args extends readonly [
  infer Head,
  ...infer Rest
]
  ? [...([Head] extends [Wide] ? Tuple<N> : [0]), ...Slots<Rest, Wide, N>]
  : []

/**
 * Typed `Redis.script` descriptors from generated contracts (`Lua.contracts.<name>` of a `lua.generated.ts`: the
 * script, its key count from its file name, its ARGV count from its header). `definer(encode)` returns `define`;
 * `define<Keys, Args>(contract)` is called with the keys as one tuple, then the parameters in the header's order;
 * the compiler checks `Keys` and `Args` against the contract's counts, so each parameter is named once. A boolean
 * is sent as "1" or "0"; an object parameter (`Wide`) as the `N` values `encode` gives.
 *
 * @example
 * const define = definer<never, 0>(() => [])
 * const renew = define<readonly [task: string], [token: string, leaseMillis: number]>(Lua.contracts.renew)
 *   .withReturnType<0 | 1>()
 */
export const definer =
  <Wide extends object, N extends number>(encode: (wide: Wide) => ReadonlyArray<string | number>) =>
  <Keys extends ReadonlyArray<string>, Args extends ReadonlyArray<Arg<Wide>>>(contract: {
    readonly lua: string
    readonly keys: Keys["length"]
    readonly argv: Slots<Args, Wide, N>["length"]
  }) =>
    Redis.script(
      (keys: Keys, ...args: Args) => {
        const values: Array<string | number> = [...keys]
        for (const arg of args) {
          if (typeof arg === "boolean") values.push(arg ? "1" : "0")
          else if (typeof arg === "object") values.push(...encode(arg))
          else values.push(arg)
        }
        return values
      },
      { numberOfKeys: contract.keys, lua: contract.lua }
    )

/** `define` for scripts whose parameters are strings, numbers and booleans (see `definer`). */
export const define = definer<never, 0>(() => [])
