#!/usr/bin/env node
/**
 * `heimdall`: the operator's command line over a queue's Redis (the package's `bin`).
 *
 *   heimdall status                              the queue at a glance: counts by state, per task name; oldest waiting
 *   heimdall tasks list --state S [--name N]     tasks in a state, newest first, a page at a time (--limit, --cursor)
 *   heimdall tasks show <id>                     a task's record, lease, unique lock, rate-limit booking
 *   heimdall workers                             live workers: host, pid, concurrency, running, last heartbeat
 *   heimdall locks [--prefix P]                  held locks (unique tasks' locks among them): holder, time left, fence
 *   heimdall limits [--prefix P]                 rate limits (admitted, booked, next free slot) and concurrency limits
 *                                                (holders and their leases); a limit itself shows as "?" (keys hold
 *                                                only usage: the command runs in a process that never called them)
 *
 * Global flags (before or after the command): `--url` (default: `REDIS_URL`, else redis://127.0.0.1:6379),
 * `--queue` (default `default`), `--queue-prefix`, `--lock-prefix`, `--rate-prefix`, `--concurrency-prefix` (the
 * layer options of the application, when it changed them). `--json` prints one JSON document instead of a table.
 *
 * Exit codes: 0 done; 1 bad usage (an unknown command or flag, a bad value); 2 not found (no task with that id);
 * 3 Redis unreachable or failing (the message says which URL and why).
 *
 * Built on `effect/cli` with `@effect/platform-node` (an optional peer dependency of the package: install it to
 * use the command).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Config, Console, Effect, Layer, Option, Runtime } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type * as Redis from "effect/persistence/Redis"
import type { InvalidArgument } from "../Errors.ts"
import * as Heimdall from "../Heimdall.ts"
import * as Inspector from "../Inspector.ts"
import * as RedisIoredis from "../RedisIoredis.ts"
import { countRows, limitRows, lockRows, taskDetail, taskRows, workerRows } from "./render.ts"

/** Why a command failed, with the exit code it means (read by the runtime's teardown). */
class CliFailure extends Error {
  override readonly [Runtime.errorExitCode]: number
  constructor(
    message: string,
    readonly code: number
  ) {
    super(message)
    this.name = "CliFailure"
    this[Runtime.errorExitCode] = code
  }
}

const version = "0.1.0"

const optionalString = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

const root = Command.make("heimdall").pipe(
  Command.withSharedFlags({
    url: Flag.String("url").pipe(
      Flag.withDescription("Redis URL (default: REDIS_URL, else redis://127.0.0.1:6379)"),
      Flag.withFallbackConfig(Config.String("REDIS_URL")),
      Flag.withDefault("redis://127.0.0.1:6379")
    ),
    queue: Flag.String("queue").pipe(Flag.withDescription("the queue's name"), Flag.withDefault("default")),
    queuePrefix: optionalString("queue-prefix", "prefix of the queue's keys (layer option queuePrefix)"),
    lockPrefix: optionalString("lock-prefix", "prefix of lock keys (layer option lockPrefix)"),
    ratePrefix: optionalString("rate-prefix", "prefix of rate-limit keys (layer option ratePrefix)"),
    concurrencyPrefix: optionalString("concurrency-prefix", "prefix of concurrency-limit keys"),
    json: Flag.Boolean("json").pipe(Flag.withDescription("print JSON instead of a table"), Flag.withDefault(false))
  }),
  Command.withDescription("Inspect effect-heimdall's queues, tasks and locks on Redis")
)

/** The backend for the global flags: the same layer the application uses, on its own short-lived connection. */
const backend = Effect.gen(function* () {
  const flags = yield* root
  const options: Heimdall.Options = {
    queue: flags.queue,
    queuePrefix: Option.getOrUndefined(flags.queuePrefix),
    lockPrefix: Option.getOrUndefined(flags.lockPrefix),
    ratePrefix: Option.getOrUndefined(flags.ratePrefix),
    concurrencyPrefix: Option.getOrUndefined(flags.concurrencyPrefix)
  }
  return {
    json: flags.json,
    queue: flags.queue,
    layer: Heimdall.layerRedis(options).pipe(
      Layer.provide(RedisIoredis.layer(flags.url, { connectTimeout: "3 seconds", commandTimeout: "5 seconds" }))
    )
  }
})

/**
 * Reads with the `Inspector` of the backend that the global flags name, and prints the result: JSON with `--json`,
 * else `table(result, queue)`. A Redis failure is exit code 3, an invalid argument exit code 1.
 */
const read = <A>(
  use: (inspector: Inspector.Inspector["Service"]) => Effect.Effect<A, InvalidArgument | Redis.RedisError | CliFailure>,
  table: (result: A, queue: string) => string
) =>
  Effect.gen(function* () {
    const { json, queue, layer } = yield* backend
    const result = yield* Effect.provide(Effect.flatMap(Inspector.Inspector, use), layer).pipe(
      Effect.mapError((error) =>
        error instanceof CliFailure ? error : new CliFailure(error.message, error._tag === "RedisError" ? 3 : 1)
      )
    )
    yield* Console.log(json ? JSON.stringify(result, null, 2) : table(result, queue))
  })

const show = Command.make(
  "show",
  { id: Argument.String("id").pipe(Argument.withDescription("the task's id")) },
  ({ id }) =>
    read(
      (inspector) =>
        Effect.flatMap(inspector.task(id), (detail) =>
          detail === undefined
            ? Effect.fail(new CliFailure(`no task ${id} in queue "${inspector.queue}"`, 2))
            : Effect.succeed(detail)
        ),
      taskDetail
    )
).pipe(Command.withDescription("Show one task: its record, lease, unique lock and rate-limit booking"))

const states = ["queued", "scheduled", "running", "failed", "dead", "skipped"] as const

const list = Command.make(
  "list",
  {
    state: Flag.Literals("state", states).pipe(Flag.withDescription("the state to list")),
    name: Flag.String("name").pipe(Flag.withDescription("only tasks of this name"), Flag.optional),
    limit: Flag.Int("limit").pipe(Flag.withDescription("tasks per page (at most 500)"), Flag.withDefault(50)),
    cursor: Flag.String("cursor").pipe(
      Flag.withDescription("the next page's cursor, as a page printed it"),
      Flag.optional
    )
  },
  ({ state, name, limit, cursor }) =>
    read(
      (inspector) =>
        inspector.tasks({ state, name: Option.getOrUndefined(name), limit, cursor: Option.getOrUndefined(cursor) }),
      taskRows
    )
).pipe(Command.withDescription("Tasks in one state, newest first, a page at a time"))

const status = Command.make("status", {}, () =>
  read(
    (inspector) => inspector.counts,
    (counts, queue) => countRows(queue, counts)
  )
).pipe(Command.withDescription("The queue at a glance: tasks by state, per task name"))

const workers = Command.make("workers", {}, () =>
  read(
    (inspector) => inspector.workers,
    (live) => workerRows(live, Date.now())
  )
).pipe(Command.withDescription("Live workers of the queue"))

const tasks = Command.make("tasks").pipe(
  Command.withDescription("Tasks of the queue"),
  Command.withSubcommands([list, show])
)

const locks = Command.make(
  "locks",
  {
    prefix: Flag.String("prefix").pipe(
      Flag.withDescription("only locks whose key starts with this (after the lock prefix)"),
      Flag.withDefault("")
    )
  },
  ({ prefix }) =>
    read(
      (inspector) => inspector.locks(prefix),
      (held) => lockRows(held)
    )
).pipe(Command.withDescription("Held locks: holder, time left, fence"))

/** `heimdall limits`: the listing (its own command, so that subcommands can join it). */
const limitsList = ({ prefix }: { readonly prefix: string }) =>
  read(
    (inspector) => inspector.limits(prefix),
    (limits) => limitRows(limits, Date.now())
  )

const limits = Command.make(
  "limits",
  {
    prefix: Flag.String("prefix").pipe(
      Flag.withDescription("only limits whose key starts with this (after the rate or concurrency prefix)"),
      Flag.withDefault("")
    )
  },
  limitsList
).pipe(Command.withDescription("Rate limits and concurrency limits in use: admissions, bookings, holders"))

const cli = root.pipe(Command.withSubcommands([status, tasks, workers, locks, limits]), Command.run({ version }))

// effect/cli prints usage errors itself (exit code 1); a command's failure is one line on stderr and its exit code;
// anything else (a defect) is printed whole.
cli.pipe(
  Effect.catchCause((cause) => {
    const failure = Cause.squash(cause)
    if (failure instanceof CliFailure)
      return Effect.andThen(Console.error(`heimdall: ${failure.message}`), Effect.fail(failure))
    if (Cause.hasDies(cause)) return Effect.andThen(Console.error(Cause.pretty(cause)), Effect.failCause(cause))
    return Effect.failCause(cause)
  }),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
