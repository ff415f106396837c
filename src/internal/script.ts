/**
 * Runs `Redis.script` descriptors through any `Redis` service's `send`: by
 * `EVALSHA` with the script's SHA-1 computed here once; when Redis answers
 * `NOSCRIPT` (first use, after `SCRIPT FLUSH`, a failover or a restart), by
 * `EVAL` with the script's text, which runs it on the node that answered (the
 * master of its keys) and leaves it in that node's cache for the next
 * `EVALSHA`. (A `SCRIPT LOAD` then `EVALSHA` could miss: on a cluster, right
 * after a failover, the client's view of the masters can still lack the
 * promoted replica that the `EVALSHA` is redirected to.)
 *
 * The same contract as `Redis.eval`, without its per-call cache lookup: one
 * `send` per call on the hot path, which matters when a call is one lock or
 * rate-limit step.
 */
import { createHash } from "node:crypto"
import { Effect } from "effect"
import * as Redis from "effect/persistence/Redis"
import { ReplicationTimeout } from "../Errors.ts"
import type { Durability } from "./config.ts"

const isNoScript = (error: Redis.RedisError) => String(error.cause).includes("NOSCRIPT")

/** A script's runner, and `load`: the script's `SCRIPT LOAD`, to run it ahead of the first call. */
export interface Runner<Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }> {
  (...params: Config["params"]): Effect.Effect<Config["result"], Redis.RedisError>
  readonly load: Effect.Effect<unknown, Redis.RedisError>
}

/**
 * `EVALSHA`'s arguments for `script` with `params` (`EVAL`'s, with the script's text as `head`): the SHA-1, the key
 * count, then every key and argument as text.
 */
const evalArgs = <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
  head: string,
  script: Redis.Script<Config>,
  params: Config["params"]
): Array<string> => {
  const values = script.params(...params)
  const args = new Array<string>(values.length + 2)
  args[0] = head
  args[1] = String(script.numberOfKeys(...params))
  for (let i = 0; i < values.length; i++) args[i + 2] = String(values[i])
  return args
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
        const run = redis.send<Config["result"]>("EVALSHA", ...evalArgs(sha, script, params))
        return Effect.catchIf(run, isNoScript, () =>
          redis.send<Config["result"]>("EVAL", ...evalArgs(script.lua, script, params))
        )
      },
      { load }
    )
  }

/**
 * Sends a command and, pipelined right behind it on the same connection (so in the same round trip, to the same
 * node), `WAIT replicas timeoutMillis`; answers the command's reply and WAIT's count of replicas that confirmed.
 * `RedisIoredis`' layers attach one to their `Redis` service (`withSendThenWait`); on a cluster it goes to the
 * master of the command's first key.
 */
export type SendThenWait = <A>(
  command: string,
  args: ReadonlyArray<string>,
  replicas: number,
  timeoutMillis: number
) => Effect.Effect<readonly [A, number], Redis.RedisError>

const sendThenWaitKey: unique symbol = Symbol.for("effect-heimdall/Redis/sendThenWait") as never

/** `redis` with its `SendThenWait` attached (the service object is a plain record: the extra key travels with it). */
export const withSendThenWait = <R extends Redis.Redis["Service"]>(redis: R, sendThenWait: SendThenWait): R =>
  Object.assign(redis, { [sendThenWaitKey]: sendThenWait })

/**
 * The `SendThenWait` of a `Redis` service: its own (RedisIoredis), or, for any other `Redis` layer, the command
 * and the WAIT through its `send`, the WAIT sent without waiting for the command's reply. That covers the command
 * only when the layer writes its commands on one connection in the order they are sent (a client with one
 * connection does); on a cluster, a keyless WAIT may go to another node: use `RedisIoredis.layerCluster`.
 */
export const sendThenWaitOf = (redis: Redis.Redis["Service"]): SendThenWait =>
  (redis as unknown as { [sendThenWaitKey]?: SendThenWait })[sendThenWaitKey] ??
  (<A>(command: string, args: ReadonlyArray<string>, replicas: number, timeoutMillis: number) =>
    Effect.all([redis.send<A>(command, ...args), redis.send<number>("WAIT", String(replicas), String(timeoutMillis))], {
      concurrency: 2
    }) as Effect.Effect<readonly [A, number], Redis.RedisError>)

/** The `RedisError` of a write that too few replicas confirmed: its cause the typed `ReplicationTimeout`. */
export const replicationTimeout = (acknowledged: number, durability: Durability): Redis.RedisError => {
  const cause = new ReplicationTimeout({
    acknowledged,
    required: durability.replicas,
    timeoutMillis: durability.timeoutMillis
  })
  const error = new Redis.RedisError({ cause })
  Object.defineProperty(error, "message", { value: cause.message, writable: true, configurable: true })
  return error
}

/**
 * `evaluator`, each call followed by `WAIT durability.replicas durability.timeoutMillis` in the same round trip
 * (`SendThenWait`): a call that fewer replicas confirmed in time fails with `replicationTimeout`. Without
 * `durability`, `evaluator` itself.
 */
export const durableEvaluator = (redis: Redis.Redis["Service"], durability: Durability | undefined) => {
  const plain = evaluator(redis)
  if (durability === undefined) return plain
  const sendThenWait = sendThenWaitOf(redis)
  const replicas = durability.replicas
  const timeout = durability.timeoutMillis
  return <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
    script: Redis.Script<Config>
  ): Runner<Config> => {
    const { load } = plain(script)
    const sha = createHash("sha1").update(script.lua).digest("hex")
    return Object.assign(
      (...params: Config["params"]) => {
        const run = (command: "EVALSHA" | "EVAL", head: string) =>
          Effect.flatMap(
            sendThenWait<Config["result"]>(command, evalArgs(head, script, params), replicas, timeout),
            ([reply, acked]) =>
              Number(acked) >= replicas
                ? Effect.succeed(reply)
                : Effect.fail(replicationTimeout(Number(acked), durability))
          )
        return Effect.catchIf(run("EVALSHA", sha), isNoScript, () => run("EVAL", script.lua))
      },
      { load }
    )
  }
}

/**
 * Loads every script of `runners` (in one burst of `SCRIPT LOAD`s), so that no first call pays the `NOSCRIPT`
 * round trips: a first call that did could be overtaken by a later call of the same script (measured: two
 * rate-limit takes on a fresh server were admitted in the reverse of their order).
 */
export const preload = (runners: Record<string, { readonly load: Effect.Effect<unknown, Redis.RedisError> }>) =>
  Effect.forEach(Object.values(runners), (runner) => runner.load, { concurrency: "unbounded", discard: true })

/** A script's parameters: its keys as one tuple, then its ARGV parameters (`Contracts` of a `lua.generated.ts`). */
export interface Params {
  readonly keys: ReadonlyArray<string>
  readonly args: ReadonlyArray<unknown>
}

/**
 * A script as scripts/gen-lua.mjs generates it from its file (`Lua.contracts.<name>`): the Lua sent, its key count
 * ("N": any, a `-N` script), its ARGV parameters' names and each object parameter's fields in ARGV order; `P`, its
 * parameters' types from its header, is carried by the type only.
 */
export interface Contract<P extends Params> {
  readonly lua: string
  readonly keys: number extends P["keys"]["length"] ? "N" : P["keys"]["length"]
  readonly args: ReadonlyArray<string>
  readonly fields?: Readonly<Record<string, ReadonlyArray<string>>>
  /** Never set: the parameters' types, for `define`. */
  readonly params?: P
}

/** A string or number as sent; a boolean as "1" or "0". */
const scalar = (value: unknown) => (typeof value === "boolean" ? (value ? "1" : "0") : value)

/**
 * The typed `Redis.script` descriptor of a generated contract: called with the keys as one tuple, then the
 * parameters in the header's order, named and typed by the header (`Lua.Contracts`). A boolean is sent as "1" or
 * "0"; an object parameter as its fields in the header's order; a list as its length, then each entry's values.
 *
 * @example
 * const renew = define(Lua.contracts.renew).withReturnType<0 | 1>()
 * // run.renew([task, running], id, token, leaseMillis)
 */
export const define = <P extends Params>(contract: Contract<P>) => {
  // the fields of each object parameter, by position
  const objects = contract.args.map((name) => contract.fields?.[name])
  const keyCount = contract.keys
  return Redis.script(
    (keys: P["keys"], ...args: P["args"]) => {
      const values: Array<unknown> = [...keys]
      for (let i = 0; i < args.length; i++) {
        const arg = args[i]
        const fields = objects[i]
        if (Array.isArray(arg)) {
          values.push(arg.length)
          for (const entry of arg) values.push(...entry)
        } else if (fields) for (const field of fields) values.push(scalar((arg as Record<string, unknown>)[field]))
        else values.push(scalar(arg))
      }
      return values
    },
    {
      numberOfKeys: typeof keyCount === "number" ? keyCount : (keys: P["keys"], ..._: P["args"]) => keys.length,
      lua: contract.lua
    }
  )
}
