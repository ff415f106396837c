/**
 * The `Inspector` service (public as `Inspector.ts`): the typed, read-only view of one queue over its backend's
 * read methods (`TaskQueue.Service`: `counts`, `list`, `detail`, `workers`) and the store's lock list. Built by the
 * backend layers (`internal/heimdall/layers.ts`) on the same queue and store as `Task` and `Worker` use.
 */
import { Context, Effect } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { InvalidArgument } from "../Errors.ts"
import type { HeimdallStore } from "../HeimdallStore.ts"
import * as Layout from "./layout.ts"
import * as LimitList from "./limits.ts"
import * as Inspect from "./queue/inspect.ts"
import type {
  ListState,
  QueueCounts,
  Service as QueueService,
  ScheduleRecord,
  TaskDetail,
  TaskSummary,
  WorkerInfo
} from "./queue/model.ts"
import * as Scheduling from "./schedule.ts"
import * as validate from "./validate.ts"

/**
 * What `tasks` is asked for: a state, optionally a task name, a page size (`limit`, 1 to 500, default 50) and the
 * `cursor` of the page before (from `TaskPage.cursor`).
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const firstDead: Inspector.TasksQuery = { state: "dead", name: "send-mail", limit: 20 }
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export interface TasksQuery {
  readonly state: ListState
  readonly name?: string | undefined
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/**
 * A page of `tasks`: newest first, and the cursor of the next page (`undefined`: this was the last one).
 *
 * The cursor is the last task read (for the sorted states its score and id; for `queued` its list and id), never an
 * offset, so paging stays correct while tasks move. A task that stays in the state with the same score (run time,
 * lease end, finish time) is listed exactly once, whatever is enqueued, claimed or finished between pages; tasks
 * that enter the state meanwhile are listed if they sort after the cursor. `queued` is the ready list, then each
 * name's parked list (by name), each from the newest enqueued: a claim takes the oldest, so a cursor whose task was
 * claimed meanwhile ends its list (every older task was claimed too), and a task enqueued meanwhile sorts before the
 * cursor (not listed). Not covered: a `running` task whose lease is renewed between pages moves to a later score
 * (it can be missed or listed twice), and a queued task that a claim parked for another worker after it was listed
 * can be listed again in its name's parked list.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Inspector } from "effect-heimdall"
 *
 * // every failed task, page by page
 * const allFailed = Effect.gen(function* () {
 *   const inspector = yield* Inspector.Inspector
 *   const ids: Array<string> = []
 *   let cursor: string | undefined
 *   do {
 *     const page = yield* inspector.tasks({ state: "failed", cursor })
 *     ids.push(...page.tasks.map((t) => t.id))
 *     cursor = page.cursor
 *   } while (cursor !== undefined)
 *   return ids
 * })
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export interface TaskPage {
  readonly tasks: ReadonlyArray<TaskSummary>
  readonly cursor: string | undefined
}

/**
 * A held lock, as `locks` lists it: its key without the lock prefix (a unique task's lock is `{<queue>}:<unique
 * key>`), its holder, its fence, and how long until it expires.
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const line = (l: Inspector.LockEntry) => `${l.key} held by ${l.holder} for ${l.expiresInMillis} ms more`
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export interface LockEntry {
  readonly key: string
  readonly holder: string
  readonly fence: number
  readonly expiresInMillis: number
}

/**
 * A schedule, as `schedules` lists it: its definition (see `Task.schedule`), its progress, and its next tick.
 * `lastTick` and `lastTaskId`: the latest tick enqueued and its task (`undefined` before the first);
 * `handledUpTo`: the latest tick handled (enqueued, or passed over by its `overlap`); `pendingTick`: a tick held back
 * behind a running run (`overlap: "bufferOne"`); `nextTick`: the first tick after the backend's clock `now` (all
 * epoch milliseconds).
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const line = (s: Inspector.ScheduleInfo) =>
 *   `${s.name} (${s.cron ?? `every ${s.everyMillis} ms`}): next ${new Date(s.nextTick ?? 0).toISOString()}, last ${s.lastTaskId}`
 * ```
 *
 * @category models
 * @since 0.3.0
 */
export interface ScheduleInfo {
  readonly name: string
  readonly task: string
  readonly cron: string | undefined
  readonly timeZone: string | undefined
  readonly everyMillis: number | undefined
  readonly overlap: ScheduleRecord["overlap"]
  readonly catchUp: ScheduleRecord["catchUp"]
  readonly nextTick: number | undefined
  readonly lastTick: number | undefined
  readonly lastTaskId: string | undefined
  readonly handledUpTo: number | undefined
  readonly pendingTick: number | undefined
  readonly now: number
}

/**
 * The read-only view of a queue, for operators, a CLI or a dashboard. `Heimdall.layerMemory`, `layerMemoryWith`,
 * `layerRedis` and `layerRedisConfig` provide it, on the queue they configure. What each read costs on Redis: one
 * round trip (one read-only script) each, except `locks`, which scans the keyspace (a `SCAN` per 1,000 keys) and the
 * queue's unique task locks (an `HSCAN` of its `:locks` hash per 1,000 locks).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall, Inspector } from "effect-heimdall"
 *
 * const report = Effect.gen(function* () {
 *   const inspector = yield* Inspector.Inspector
 *   const { total, oldestWaitingMillis } = yield* inspector.counts
 *   const dead = yield* inspector.tasks({ state: "dead", limit: 10 })
 *   const workers = yield* inspector.workers
 *   return { total, oldestWaitingMillis, dead: dead.tasks.map((t) => t.error), workers: workers.length }
 * }).pipe(Effect.provide(Heimdall.layerMemory))
 * ```
 *
 * @category services
 * @since 0.2.0
 */
export class Inspector extends Context.Service<
  Inspector,
  {
    /** The queue's name. */
    readonly queue: string
    /**
     * Counts by state, for the queue and per task name, and the oldest waiting task's age (see `QueueCounts`):
     * exact, kept by every state change in the same atomic step.
     */
    readonly counts: Effect.Effect<QueueCounts, Redis.RedisError>
    /**
     * One page of the tasks in a state, newest first (see `TaskPage` for what the cursor guarantees). `failed`,
     * `dead`, `skipped` and `cancelled` come from the bounded index (the newest `indexSize` of each, within the
     * retention).
     * Fails with `InvalidArgument` for a state, limit, name or cursor that is not one.
     */
    readonly tasks: (query: TasksQuery) => Effect.Effect<TaskPage, InvalidArgument | Redis.RedisError>
    /** A task's detail (record, worker, lease, unique lock, booking), or `undefined` when there is none. */
    readonly task: (id: string) => Effect.Effect<TaskDetail | undefined, Redis.RedisError>
    /** The live workers of the queue, oldest first (see `WorkerInfo`). */
    readonly workers: Effect.Effect<ReadonlyArray<WorkerInfo>, Redis.RedisError>
    /** Held locks whose key (without the lock prefix) starts with `prefix` (default: all), sorted by key. */
    readonly locks: (prefix?: string) => Effect.Effect<ReadonlyArray<LockEntry>, Redis.RedisError>
    /**
     * Rate limits and concurrency limits in use whose key (without its prefix) starts with `prefix` (default: all),
     * sorted by key, with their usage (see `Limits`). On Redis, per kind (rate, concurrency): a keyspace scan (a
     * `SCAN` round trip per 1,000 keys of the database) and, for each scan page that found keys, one read-only script
     * that reads them all: at most two round trips per page.
     */
    readonly limits: (prefix?: string) => Effect.Effect<LimitList.Limits, Redis.RedisError>
    /**
     * The schedules of the queue (see `Task.schedule`) by name, with their progress and next tick (see
     * `ScheduleInfo`): every schedule a scheduler ran since it was last removed. One round trip on Redis.
     */
    readonly schedules: Effect.Effect<ReadonlyArray<ScheduleInfo>, Redis.RedisError>
  }
>()("effect-heimdall/Inspector") {}

/**
 * The largest page `tasks` returns (a larger `limit` is an `InvalidArgument`).
 *
 * **Example**
 *
 * ```ts
 * import { Inspector } from "effect-heimdall"
 *
 * const biggest = Inspector.Inspector.use((i) => i.tasks({ state: "queued", limit: Inspector.maxLimit }))
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export const maxLimit = 500

/**
 * The page size of `tasks` when `limit` is not given.
 *
 * **Example**
 *
 * ```ts
 * import { Inspector } from "effect-heimdall"
 *
 * const pages = (total: number) => Math.ceil(total / Inspector.defaultLimit)
 * ```
 *
 * @category models
 * @since 0.2.0
 */
export const defaultLimit = 50

/** The `Inspector` over a backend's queue and store (see layers.ts). */
export const make = (
  queue: QueueService,
  store: HeimdallStore["Service"],
  lockPrefix: string,
  limitPrefixes: { readonly ratePrefix: string; readonly concurrencyPrefix: string }
): Inspector["Service"] =>
  Inspector.of({
    queue: queue.queue,
    counts: queue.counts,
    tasks: (query) =>
      Effect.suspend((): Effect.Effect<TaskPage, InvalidArgument | Redis.RedisError> => {
        const state = query?.state
        if (!(Inspect.listStates as ReadonlyArray<unknown>).includes(state)) {
          return Effect.fail(
            validate.invalid("state", state, `must be one of ${Inspect.listStates.map((s) => `"${s}"`).join(", ")}`)
          )
        }
        const limit = query.limit ?? defaultLimit
        if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 1 || limit > maxLimit) {
          return Effect.fail(validate.invalid("limit", limit, `must be an integer from 1 to ${maxLimit}`))
        }
        if (query.name !== undefined && (typeof query.name !== "string" || query.name === "")) {
          return Effect.fail(validate.invalid("name", query.name, "must be a non-empty task name"))
        }
        let after: ReturnType<typeof Inspect.decodeCursor>
        if (query.cursor !== undefined) {
          after = typeof query.cursor === "string" ? Inspect.decodeCursor(state, query.cursor) : undefined
          if (after === undefined) {
            return Effect.fail(
              validate.invalid("cursor", query.cursor, `must be a cursor of a page of "${state}" tasks`)
            )
          }
        }
        return Effect.map(queue.list({ state, name: query.name, limit, after }), (page) => ({
          tasks: page.tasks,
          cursor: page.next === undefined ? undefined : Inspect.encodeCursor(state, page.next)
        }))
      }),
    task: queue.detail,
    workers: queue.workers,
    locks: (prefix = "") =>
      Effect.map(store.lockList(Layout.lockKey(lockPrefix, prefix)), (locks) =>
        locks.map((s) => ({
          key: s.key.slice(lockPrefix.length),
          holder: s.holder,
          fence: s.fence,
          expiresInMillis: Math.max(0, s.expiresInMs)
        }))
      ),
    limits: (prefix = "") => LimitList.list(store, limitPrefixes.ratePrefix, limitPrefixes.concurrencyPrefix, prefix),
    schedules: Effect.map(queue.schedules, ({ now, records }) =>
      records.map((r): ScheduleInfo => {
        const timing = Scheduling.timingOf(r)
        return {
          name: r.name,
          task: r.task,
          cron: r.cron,
          timeZone: r.timeZone,
          everyMillis: r.everyMillis,
          overlap: r.overlap,
          catchUp: r.catchUp,
          nextTick: timing === undefined ? undefined : Scheduling.nextTick(timing, now),
          lastTick: r.fired,
          lastTaskId: r.taskId,
          handledUpTo: r.last,
          pendingTick: r.pending,
          now
        }
      })
    )
  })
