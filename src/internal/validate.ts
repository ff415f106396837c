/**
 * The validation policy, in one place: every option that can never work is an `InvalidArgument` naming the option,
 * the value as given and what is expected, raised where the option is given (a constructor, a layer, a call), the
 * same on every backend. Each check returns the accepted value or the error, so that synchronous constructors can
 * throw it and effects can fail with it.
 */

import { Duration, Effect, Layer } from "effect"
import { InvalidArgument } from "../Errors.ts"
import { toMillis } from "./duration.ts"

/** A value as the user wrote it, for a message: strings quoted (so `""` shows), durations and numbers as text. */
export const render = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value)
    case "bigint":
      return `${value}n`
    case "function":
      return "a function"
    case "symbol":
    case "number":
    case "boolean":
    case "undefined":
      return String(value)
  }
  if (value === null) return "null"
  if (Duration.isDuration(value)) return String(value)
  try {
    const text = JSON.stringify(value)
    return text === undefined ? String(value) : text.length > 200 ? `${text.slice(0, 197)}...` : text
  } catch {
    return String(value)
  }
}

/** The error for `option`, given `value`, with what is wrong with it. */
export const invalid = (option: string, value: unknown, reason: string): InvalidArgument =>
  new InvalidArgument({ argument: option, value: render(value), reason })

/** Throws the error of a check (for the synchronous constructors), or returns its value. */
export const orThrow = <A>(checked: A | InvalidArgument): A => {
  if (checked instanceof InvalidArgument) throw checked
  return checked
}

/**
 * A duration as milliseconds, rounded up to a whole millisecond: a parseable duration (not `NaN`, not
 * "5 potatoes"), finite, and at least `min` ms (`min` 1: positive; 0: not negative).
 */
export const durationMillis = (option: string, input: unknown, min: 0 | 1): number | InvalidArgument => {
  const raw = typeof input === "number" && Number.isNaN(input) ? undefined : toMillis(input as Duration.Input)
  if (raw === undefined || Number.isNaN(raw)) {
    return invalid(option, input, 'not a duration (a number of milliseconds, "5 seconds", a Duration, ...)')
  }
  if (!Number.isFinite(raw)) return invalid(option, input, "must be a finite duration")
  const ms = Math.ceil(raw)
  if (ms < min) return invalid(option, input, min === 1 ? "must be a positive duration" : "must not be negative")
  return ms
}

/** `durationMillis`, or `undefined` when the option is absent. */
export const optionalDurationMillis = (
  option: string,
  input: unknown,
  min: 0 | 1
): number | undefined | InvalidArgument => (input === undefined ? undefined : durationMillis(option, input, min))

/** An integer of at least `min` (1: a positive integer; 0: a non-negative one). */
export const integer = (option: string, value: unknown, min: 0 | 1): number | InvalidArgument =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= min
    ? value
    : invalid(option, value, min === 1 ? "must be a positive integer" : "must be a non-negative integer")

/** A string that is not empty. */
export const nonEmpty = (option: string, value: unknown): string | InvalidArgument =>
  typeof value === "string" && value.length > 0 ? value : invalid(option, value, "must be a non-empty string")

/**
 * A task name: a non-empty string without line breaks (workers pass the names they run to the queue's scripts as
 * one line-separated list, see claim-30.lua).
 */
export const taskName = (option: string, value: unknown): string | InvalidArgument => {
  const name = nonEmpty(option, value)
  return typeof name === "string" && /[\r\n]/.test(name) ? invalid(option, value, "must not contain line breaks") : name
}

/**
 * A key prefix (or a queue name) that keeps Redis Cluster's hash tag intact: a string without `{` or `}` (the
 * queue's hash tag `{<queue>}` follows it), empty allowed unless `nonEmptyToo`.
 */
export const hashTagSafe = (option: string, value: unknown, nonEmptyToo: boolean): string | InvalidArgument => {
  if (typeof value !== "string" || (nonEmptyToo && value.length === 0)) {
    return invalid(option, value, nonEmptyToo ? "must be a non-empty string" : "must be a string")
  }
  return /[{}]/.test(value) ? invalid(option, value, "must not contain { or } (it would break the hash tag)") : value
}

/** The first error of several checks, if any. */
export const firstError = (...checked: ReadonlyArray<unknown>): InvalidArgument | undefined =>
  checked.find((c): c is InvalidArgument => c instanceof InvalidArgument)

/**
 * A rate limit for one payload, as a `Task.RateLimitFunction` returns it (and as static `Task.RateLimitOptions` are
 * read once their key is computed): at most `times` starts per `per`, on `key` (default: the task's name), started
 * within `jitter` after the slot, `margin` later than the window strictly needs.
 */
export interface RateLimitSpec {
  readonly times: number
  readonly per: Duration.Input
  readonly key?: string | undefined
  readonly jitter?: Duration.Input | undefined
  readonly margin?: Duration.Input | undefined
}

/** A task's rate limit, checked and with its defaults: what the worker takes a slot with. */
export interface ResolvedRateLimit {
  readonly key: string
  readonly times: number
  readonly perMs: number
  readonly jitterMs: number
  readonly marginMs: number
}

/**
 * The one check of a task's rate limit, shared by `Task.make` (static limits), `Task.enqueue` (limits computed
 * from the payload) and the worker (which dead-letters a task whose limit fails it there): `times` a positive
 * integer, `per` a positive finite duration, `jitter` and `margin` finite and not negative, `key` a non-empty
 * string (the task's name by default). Defaults: jitter up to a fiftieth of `per` (at most 1 s), margin a
 * hundredth of `per` (at most 10 ms). Option names are prefixed with `rateLimit.`.
 */
export const rateLimit = (spec: unknown, taskName: string): ResolvedRateLimit | InvalidArgument => {
  if (spec === null || typeof spec !== "object") {
    return invalid("rateLimit", spec, "must be an object { times, per } (or a function returning one)")
  }
  const s = spec as RateLimitSpec
  const times = integer("rateLimit.times", s.times, 1)
  if (times instanceof InvalidArgument) return times
  const perMs = durationMillis("rateLimit.per", s.per, 1)
  if (perMs instanceof InvalidArgument) return perMs
  const jitter = optionalDurationMillis("rateLimit.jitter", s.jitter, 0)
  if (jitter instanceof InvalidArgument) return jitter
  const margin = optionalDurationMillis("rateLimit.margin", s.margin, 0)
  if (margin instanceof InvalidArgument) return margin
  const key = s.key === undefined ? taskName : nonEmpty("rateLimit.key", s.key)
  if (key instanceof InvalidArgument) return key
  return {
    key,
    times,
    perMs,
    jitterMs: jitter ?? Math.min(1000, Math.floor(perMs / 50)),
    marginMs: margin ?? Math.min(10, Math.floor(perMs / 100))
  }
}

/** Calls a user function with the payload; an exception it throws becomes an `InvalidArgument` for `option`. */
export const computed = <P, A>(option: string, f: (payload: P) => A, payload: P): A | InvalidArgument => {
  try {
    return f(payload)
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    return invalid(option, f, `its function threw for this payload: ${message}`)
  }
}

/**
 * A task's rate limit computed for one payload (`Task.RateLimitFunction`), with the checks of a static one: the
 * limit the worker takes a slot with, or why it cannot be used (the function threw, or its result breaks a rule).
 * `Task.enqueue` checks it before anything is written; the worker checks it again before each start (its code or
 * config may differ from the producer's).
 */
export const computedRateLimit = <P>(
  f: (payload: P) => RateLimitSpec,
  payload: P,
  name: string
): ResolvedRateLimit | InvalidArgument => {
  const spec = computed("rateLimit", f, payload)
  return spec instanceof InvalidArgument ? spec : rateLimit(spec, name)
}

/**
 * A layer that fails with `error` when there is one (an option of its constructor can never work), else the layer
 * `make` builds. The options are checked when the constructor is called; nothing is built or connected when one
 * is invalid.
 */
export const layerOrFail = <A, E, R>(
  error: InvalidArgument | undefined,
  make: () => Layer.Layer<A, E, R>
): Layer.Layer<A, E | InvalidArgument, R> =>
  error === undefined ? make() : (Layer.unwrap(Effect.fail(error)) as unknown as Layer.Layer<A, InvalidArgument, R>)

/**
 * The first option of `Heimdall.Options` that can never work: the queue name (non-empty, no `{` or `}`: it is the
 * hash tag), the queue prefix and lock prefix (no `{` or `}`: the queue's hash tag follows them), the rate and
 * concurrency prefixes (strings), `retention` and `uniqueTimeout` (positive finite durations), `indexSize` (a
 * non-negative integer), `waitingScan` (a positive integer), `maxEnqueueBatch` (an integer from 1 to 1,000),
 * `partitions` (an integer from 1 to 64).
 */
export const heimdallOptions = (options: Record<string, unknown> | undefined): InvalidArgument | undefined =>
  options === undefined
    ? undefined
    : firstError(
        options.queue === undefined ? undefined : hashTagSafe("queue", options.queue, true),
        options.queuePrefix === undefined ? undefined : hashTagSafe("queuePrefix", options.queuePrefix, false),
        options.lockPrefix === undefined ? undefined : hashTagSafe("lockPrefix", options.lockPrefix, false),
        options.ratePrefix === undefined ? undefined : string("ratePrefix", options.ratePrefix),
        options.concurrencyPrefix === undefined ? undefined : string("concurrencyPrefix", options.concurrencyPrefix),
        optionalDurationMillis("retention", options.retention, 1),
        optionalDurationMillis("uniqueTimeout", options.uniqueTimeout, 1),
        options.indexSize === undefined ? undefined : integer("indexSize", options.indexSize, 0),
        options.waitingScan === undefined ? undefined : integer("waitingScan", options.waitingScan, 1),
        options.maxEnqueueBatch === undefined ? undefined : batchSize("maxEnqueueBatch", options.maxEnqueueBatch),
        options.durability === undefined ? undefined : durability(options.durability),
        options.partitions === undefined ? undefined : partitionCount("partitions", options.partitions)
      )

/** `durability`: an object with `replicas` (an integer from 1) and `timeout` (a positive duration). */
const durability = (value: unknown): InvalidArgument | undefined => {
  if (value === null || typeof value !== "object") {
    return invalid("durability", value, "must be { replicas, timeout } (replicas: an integer from 1)")
  }
  const { replicas, timeout } = value as { replicas?: unknown; timeout?: unknown }
  return firstError(
    typeof replicas === "number" && Number.isSafeInteger(replicas) && replicas >= 1
      ? undefined
      : invalid("durability.replicas", replicas, "must be an integer from 1 (how many replicas confirm each write)"),
    durationMillis("durability.timeout", timeout, 1)
  )
}

/** A queue's partitions: an integer from 1 (one hash tag) to 64 (a worker blocks on one connection per partition). */
const partitionCount = (option: string, value: unknown): number | InvalidArgument =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 1 && value <= 64
    ? value
    : invalid(option, value, "must be an integer from 1 (one hash tag) to 64")

/** The most tasks one enqueue call carries: an integer from 1 (no batching) to 1,000 (one call stays short). */
const batchSize = (option: string, value: unknown): number | InvalidArgument =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 1 && value <= 1000
    ? value
    : invalid(option, value, "must be an integer from 1 (no batching) to 1000")

const string = (option: string, value: unknown): string | InvalidArgument =>
  typeof value === "string" ? value : invalid(option, value, "must be a string")

/**
 * The first option of `Worker.layer` that can never work: `tasks` (a list of implementations, at least one, each
 * task name at most once), `concurrency` (a positive integer: not 0, -1, 1.5 or NaN), `lease` and `maxIdleWait`
 * (positive finite durations), `gracePeriod` (a finite duration, not negative), `maxRedeliveries` (a non-negative
 * integer).
 */
export const workerOptions = (options: {
  readonly tasks: unknown
  readonly concurrency: unknown
  readonly lease?: unknown
  readonly gracePeriod?: unknown
  readonly maxIdleWait?: unknown
  readonly maxRedeliveries?: unknown
  readonly deadLetterUnknownAfter?: unknown
  readonly batchCompletions?: unknown
}): InvalidArgument | undefined => {
  const tasks = options.tasks
  if (!Array.isArray(tasks) || tasks.length === 0) {
    return invalid("tasks", tasks, "must list at least one task implementation (Task.implement)")
  }
  const seen = new Set<string>()
  for (const impl of tasks) {
    const name = impl?.task?.name
    if (typeof name !== "string" || typeof impl.handler !== "function") {
      return invalid("tasks", impl, "each entry must be a task implementation (Task.implement)")
    }
    if (seen.has(name)) {
      return invalid("tasks", name, "the task is implemented twice; a worker runs one implementation per task name")
    }
    seen.add(name)
  }
  return firstError(
    integer("concurrency", options.concurrency, 1),
    optionalDurationMillis("lease", options.lease, 1),
    optionalDurationMillis("gracePeriod", options.gracePeriod, 0),
    optionalDurationMillis("maxIdleWait", options.maxIdleWait, 1),
    options.maxRedeliveries === undefined ? undefined : integer("maxRedeliveries", options.maxRedeliveries, 0),
    optionalDurationMillis("deadLetterUnknownAfter", options.deadLetterUnknownAfter, 1),
    options.batchCompletions === undefined || typeof options.batchCompletions === "boolean"
      ? undefined
      : invalid("batchCompletions", options.batchCompletions, "must be true or false")
  )
}
