#!/usr/bin/env node
/**
 * `heimdall`: the operator's command line over a queue's Redis (the package's `bin`).
 *
 *   heimdall status                              the queue at a glance: counts by state, per task name; oldest waiting
 *   heimdall tasks list --state S [--name N]     tasks in a state, newest first, a page at a time (--limit, --cursor)
 *   heimdall tasks show <id>                     a task's record, lease, unique lock, rate-limit booking
 *   heimdall workers                             live workers: host, pid, concurrency, running, last heartbeat
 *   heimdall schedules                           schedules: cron or period, next tick, latest tick enqueued, its task
 *   heimdall locks [--prefix P]                  held locks (unique tasks' locks among them): holder, time left, fence
 *   heimdall top [--iterations N]                a live view, refreshed every second: counts, throughput, workers
 *   heimdall dashboard [--port 8080] [--host 127.0.0.1] [--allow-actions] [--token T]
 *                                                a web page and a JSON API over the queue (see dashboard.ts)
 *
 * Actions (each one atomic step on Redis, see `Admin`):
 *
 *   heimdall tasks retry <id>                    a failed or dead task queued again now (same id, attempts reset)
 *   heimdall tasks retry --all --state S [--name N]   every failed (or dead) task of the index, of one name if given
 *   heimdall tasks cancel <id>                   a queued, scheduled or running task ends cancelled (its worker, in
 *                                                any process, interrupts the handler)
 *   heimdall tasks purge --state S [--name N]    deletes the failed, dead, skipped or cancelled tasks of the index
 *   heimdall locks release <key>                 frees a lock whoever holds it (its fence is kept)
 *   heimdall schedules remove <name>             deletes a schedule's record (definition and progress)
 *   heimdall limits reset <key>                  forgets every admission and booking of a rate-limit key
 *   heimdall limits [--prefix P]                 rate limits (admitted, booked, next free slot) and concurrency limits
 *                                                (holders and their leases); a limit itself shows as "?" (keys hold
 *                                                only usage: the command runs in a process that never called them)
 *
 * Global flags (before or after the command): `--url` (default: `REDIS_URL`, else redis://127.0.0.1:6379), or
 * `--cluster host:port,host:port,...` for a Redis Cluster, `--queue` (default `default`), `--queue-prefix`, `--lock-prefix`, `--rate-prefix`, `--concurrency-prefix` (the
 * layer options of the application, when it changed them). `--json` prints one JSON document instead of a table.
 *
 * Exit codes: 0 done; 1 bad usage (an unknown command or flag, a bad value); 2 not found (no task with that id);
 * 3 Redis unreachable or failing (the message says which URL and why); 4 refused (the task's state does not allow
 * the action, or a retried unique task's key is held by another task).
 *
 * Built on `effect/cli` with `@effect/platform-node` (an optional peer dependency of the package: install it to
 * use the command).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Config, Console, Context, Effect, Layer, Option, Runtime } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { HttpServer } from "effect/http"
import type * as Redis from "effect/persistence/Redis"
import * as Admin from "../Admin.ts"
import type { AlreadyQueued, InvalidArgument, TaskNotFound, TaskStateConflict } from "../Errors.ts"
import * as Heimdall from "../Heimdall.ts"
import * as Inspector from "../Inspector.ts"
import * as RedisIoredis from "../RedisIoredis.ts"
import * as Dashboard from "./dashboard.ts"
import { countRows, limitRows, lockRows, scheduleRows, taskDetail, taskRows, workerRows } from "./render.ts"
import * as Top from "./top.ts"

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
    cluster: optionalString(
      "cluster",
      "a Redis Cluster's nodes, host:port,host:port,... (instead of --url; RedisIoredis.layerCluster)"
    ),
    queue: Flag.String("queue").pipe(Flag.withDescription("the queue's name"), Flag.withDefault("default")),
    queuePrefix: optionalString("queue-prefix", "prefix of the queue's keys (layer option queuePrefix)"),
    lockPrefix: optionalString("lock-prefix", "prefix of lock keys (layer option lockPrefix)"),
    ratePrefix: optionalString("rate-prefix", "prefix of rate-limit keys (layer option ratePrefix)"),
    concurrencyPrefix: optionalString("concurrency-prefix", "prefix of concurrency-limit keys"),
    json: Flag.Boolean("json").pipe(Flag.withDescription("print JSON instead of a table"), Flag.withDefault(false))
  }),
  Command.withDescription("Inspect and act on effect-heimdall's queues, tasks, locks and limits on Redis")
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
  const timeouts = { connectTimeout: "3 seconds", commandTimeout: "5 seconds" } as const
  const redis: Layer.Layer<Redis.Redis, Redis.RedisError> = Option.match(flags.cluster, {
    onNone: () => RedisIoredis.layer(flags.url, timeouts),
    onSome: (nodes) =>
      RedisIoredis.layerCluster(
        nodes
          .split(",")
          .map((node) => node.trim())
          .filter((node) => node !== ""),
        timeouts
      )
  })
  return {
    json: flags.json,
    queue: flags.queue,
    layer: Heimdall.layerRedis(options).pipe(Layer.provide(redis))
  }
})

/** A failure of the backend as the command's failure: Redis is exit code 3, an invalid argument exit code 1. */
const cliFailure = (error: InvalidArgument | Redis.RedisError | CliFailure): CliFailure =>
  error instanceof CliFailure ? error : new CliFailure(error.message, error._tag === "RedisError" ? 3 : 1)

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
      Effect.mapError(cliFailure)
    )
    yield* Console.log(json ? JSON.stringify(result, null, 2) : table(result, queue))
  })

/** An action's failure as the exit code it means: 1 invalid, 2 not found, 3 Redis, 4 refused by the task's state. */
const exitCodes: Record<string, number> = {
  InvalidArgument: 1,
  TaskNotFound: 2,
  RedisError: 3,
  TaskStateConflict: 4,
  AlreadyQueued: 4
}

/**
 * Acts with the `Admin` of the backend that the global flags name, and prints what it did: JSON with `--json`, else
 * `line(result)`.
 */
const act = <A>(
  use: (
    admin: Admin.Admin["Service"]
  ) => Effect.Effect<
    A,
    InvalidArgument | TaskNotFound | TaskStateConflict | AlreadyQueued | Redis.RedisError | CliFailure
  >,
  line: (result: A) => string
) =>
  Effect.gen(function* () {
    const { json, layer } = yield* backend
    const result = yield* Effect.provide(Effect.flatMap(Admin.Admin, use), layer).pipe(
      Effect.mapError((error) =>
        error instanceof CliFailure ? error : new CliFailure(error.message, exitCodes[error._tag] ?? 1)
      )
    )
    yield* Console.log(json ? JSON.stringify(result, null, 2) : line(result))
  })

const taskId = Argument.String("id").pipe(Argument.withDescription("the task's id"))
const nameFlag = Flag.String("name").pipe(Flag.withDescription("only tasks of this name"), Flag.optional)

const retry = Command.make(
  "retry",
  {
    id: taskId.pipe(Argument.optional),
    all: Flag.Boolean("all").pipe(
      Flag.withDescription("every task of --state in the index (of --name only, if given)"),
      Flag.withDefault(false)
    ),
    state: Flag.Literals("state", ["failed", "dead"] as const).pipe(
      Flag.withDescription("with --all: the state to retry"),
      Flag.optional
    ),
    name: nameFlag
  },
  ({ id, all, state, name }) =>
    act(
      (admin) => {
        if (all) {
          if (Option.isSome(id)) return Effect.fail(new CliFailure("give a task id or --all, not both", 1))
          if (Option.isNone(state)) return Effect.fail(new CliFailure("--all needs --state failed or --state dead", 1))
          return Effect.map(admin.retryAll({ state: state.value, name: Option.getOrUndefined(name) }), (retried) => ({
            retried
          }))
        }
        if (Option.isNone(id)) return Effect.fail(new CliFailure("give a task id, or --all --state S", 1))
        return Effect.as(admin.retry(id.value), { id: id.value, retried: 1 })
      },
      (r) => ("id" in r ? `task ${r.id} queued again` : `${r.retried} tasks queued again`)
    )
).pipe(Command.withDescription("Queue a failed or dead task again now (or every one of a state, with --all)"))

const cancel = Command.make("cancel", { id: taskId }, ({ id }) =>
  act(
    (admin) => Effect.map(admin.cancel(id), ({ previous }) => ({ id, previous })),
    (r) => `task ${r.id} cancelled (it was ${r.previous})`
  )
).pipe(Command.withDescription("Cancel a queued, scheduled or running task (its worker interrupts the handler)"))

const purge = Command.make(
  "purge",
  {
    state: Flag.Literals("state", ["failed", "dead", "skipped", "cancelled"] as const).pipe(
      Flag.withDescription("the finished state to purge")
    ),
    name: nameFlag
  },
  ({ state, name }) =>
    act(
      (admin) => Effect.map(admin.purge({ state, name: Option.getOrUndefined(name) }), (purged) => ({ purged })),
      (r) => `${r.purged} tasks deleted`
    )
).pipe(Command.withDescription("Delete the finished tasks of a state (of one name, if given) and their index entries"))

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

const states = ["queued", "scheduled", "running", "failed", "dead", "skipped", "cancelled"] as const

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
  Command.withSubcommands([list, show, retry, cancel, purge])
)

const release = Command.make(
  "release",
  { key: Argument.String("key").pipe(Argument.withDescription("the lock's key, as `heimdall locks` lists it")) },
  ({ key }) =>
    act(
      (admin) => Effect.map(admin.releaseLock(key), (released) => ({ key, released })),
      (r) => (r.released ? `lock ${r.key} released` : `lock ${r.key} was not held`)
    )
).pipe(Command.withDescription("Free a lock whoever holds it (its fence is kept: the next holder's is larger)"))

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
).pipe(Command.withDescription("Held locks: holder, time left, fence"), Command.withSubcommands([release]))

const scheduleRemove = Command.make(
  "remove",
  {
    name: Argument.String("name").pipe(
      Argument.withDescription("the schedule's name, as `heimdall schedules` lists it")
    )
  },
  ({ name }) =>
    act(
      (admin) => Effect.map(admin.removeSchedule(name), (removed) => ({ name, removed })),
      (r) => (r.removed ? `schedule ${r.name} removed` : `no schedule ${r.name}`)
    )
).pipe(Command.withDescription("Delete a schedule's record (definition and progress); stop its schedulers first"))

const schedules = Command.make("schedules", {}, () =>
  read(
    (inspector) => inspector.schedules,
    (list) => scheduleRows(list)
  )
).pipe(
  Command.withDescription("Schedules: cron or period, next tick, the latest tick enqueued and its task"),
  Command.withSubcommands([scheduleRemove])
)

const top = Command.make(
  "top",
  {
    iterations: Flag.Int("iterations").pipe(
      Flag.withDescription("stop after this many refreshes (default: until Ctrl-C)"),
      Flag.optional
    )
  },
  ({ iterations }) =>
    Effect.gen(function* () {
      const times = Option.getOrUndefined(iterations)
      if (times !== undefined && times < 1)
        return yield* Effect.fail(new CliFailure(`invalid --iterations ${times}: must be at least 1`, 1))
      const { json, queue, layer } = yield* backend
      // on a terminal each frame replaces the last; piped, frames follow each other, a blank line apart
      const clear = !json && process.stdout.isTTY === true ? "\u001b[H\u001b[2J" : ""
      yield* Effect.gen(function* () {
        const inspector = yield* Inspector.Inspector
        let previous: Top.Frame | undefined
        for (let i = 0; times === undefined || i < times; i++) {
          if (i > 0) yield* Effect.sleep("1 second")
          const [counts, live] = yield* Effect.all([inspector.counts, inspector.workers], { concurrency: 2 })
          previous = Top.frame(queue, counts, live, previous)
          yield* Console.log(json ? JSON.stringify(previous) : `${clear}${Top.render(previous)}${clear ? "" : "\n"}`)
        }
      }).pipe(Effect.provide(layer), Effect.mapError(cliFailure))
    })
).pipe(Command.withDescription("A live view of the queue, refreshed every second (Ctrl-C quits)"))

const dashboard = Command.make(
  "dashboard",
  {
    port: Flag.Int("port").pipe(
      Flag.withDescription("the port to listen on (0: any free one)"),
      Flag.withDefault(8080)
    ),
    host: Flag.String("host").pipe(
      Flag.withDescription("the address to listen on (default loopback only)"),
      Flag.withDefault("127.0.0.1")
    ),
    allowActions: Flag.Boolean("allow-actions").pipe(
      Flag.withDescription("enable retry and cancel (they require the token)"),
      Flag.withDefault(false)
    ),
    token: Flag.String("token").pipe(
      Flag.withDescription("the actions' token (at least 16 characters; default: a random one, printed)"),
      Flag.optional
    )
  },
  ({ port, host, allowActions, token }) =>
    Effect.gen(function* () {
      if (port < 0 || port > 65535)
        return yield* Effect.fail(new CliFailure(`invalid --port ${port}: must be 0 to 65535`, 1))
      if (host === "")
        return yield* Effect.fail(new CliFailure(`invalid --host "": must be an address to listen on`, 1))
      if (Option.isSome(token) && !allowActions)
        return yield* Effect.fail(new CliFailure("invalid --token: it is only used with --allow-actions", 1))
      if (Option.isSome(token) && token.value.length < 16)
        return yield* Effect.fail(
          new CliFailure(`invalid --token of ${token.value.length} characters: use at least 16`, 1)
        )
      const { queue, layer } = yield* backend
      const secret = allowActions ? Option.getOrElse(token, Dashboard.generateToken) : undefined
      yield* Effect.gen(function* () {
        const context = yield* Layer.build(
          Dashboard.layer({
            port,
            host,
            actions: secret === undefined ? undefined : { token: secret, admin: yield* Admin.Admin }
          })
        )
        const address = Context.get(context, HttpServer.HttpServer).address
        yield* Console.log(`heimdall dashboard: queue "${queue}" on ${Dashboard.url(address, secret)}`)
        if (secret !== undefined)
          yield* Console.log(
            Option.isSome(token)
              ? "actions are on (retry, cancel): the page asks for the token, or takes it from the URL above"
              : `actions are on (retry, cancel) with the token ${secret}`
          )
        yield* Console.log("Ctrl-C stops it")
        return yield* Effect.never
      }).pipe(
        Effect.scoped,
        Effect.provide(layer),
        Effect.mapError((error) =>
          error._tag === "ServeError"
            ? new CliFailure(`cannot listen on ${host}:${port}: ${String(error.cause)}`, 1)
            : cliFailure(error)
        )
      )
    })
).pipe(Command.withDescription("A web page and a JSON API over the queue; actions with --allow-actions"))

/** `limits reset KEY`: forgets a rate-limit key (the `limits` group holds the actions on rate limits). */
const limitsReset = Command.make(
  "reset",
  { key: Argument.String("key").pipe(Argument.withDescription("the rate limit's key (without the rate prefix)")) },
  ({ key }) =>
    act(
      (admin) => Effect.map(admin.resetRateLimit(key), (reset) => ({ key, reset })),
      (r) => (r.reset ? `rate limit ${r.key} reset` : `rate limit ${r.key} had no admissions`)
    )
).pipe(Command.withDescription("Forget every admission and booking of a rate-limit key"))

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
).pipe(
  Command.withDescription("Rate limits and concurrency limits in use: admissions, bookings, holders"),
  Command.withSubcommands([limitsReset])
)

const cli = root.pipe(
  Command.withSubcommands([status, tasks, workers, locks, limits, schedules, top, dashboard]),
  Command.run({ version })
)

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
