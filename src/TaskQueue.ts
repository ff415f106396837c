/**
 * **For backend authors.** The storage behind `Task` and `Worker`: a reliable
 * queue of task records, and its models (`TaskState`, `TaskRecord`, ...).
 *
 * Users never call it: `Task.enqueue`, `Task.join`, `Task.status` and
 * `Worker.layer` do, and the backend layers `Heimdall.layerMemory` (in the
 * process, on Effect's `Clock`: drive it with `TestClock` in tests) and
 * `Heimdall.layerRedis` (shared by every process) provide it. A user sees the
 * `TaskQueue` service only as a requirement in those functions' types. A
 * custom backend provides it with `Layer.succeed(TaskQueue.TaskQueue, ...)`
 * and must pass the conformance suite (`test/QueueSuite.ts`).
 *
 * **The contract every backend honours** (checked by one conformance suite on both):
 *
 * - Every operation below is atomic. On Redis each is one Lua script whose keys
 *   share the hash tag `{<queue>}` and whose time comes from Redis `TIME`.
 * - `enqueue` is the only operation that creates a record. An id that exists
 *   already is left untouched (`created: false`).
 * - `claim` first moves due `scheduled` tasks to `queued`, and requeues
 *   `running` tasks whose lease lapsed (their attempt stays spent; past
 *   `maxRedeliveries` they are dead-lettered instead), then hands
 *   out the oldest `queued` task with a fresh lease (`attempts + 1`) — up to
 *   `max` of them, oldest first, in the same atomic step — or says how long
 *   until something becomes due. Each task of one claim has its own lease
 *   token: the first gets the `token` passed in, the n-th `<token>:<n>`.
 * - `completeAndClaim` is `complete` then `claim`, atomically, in one step.
 *   `completeAndClaimMany` is the same for several completions of one claimer:
 *   each completed if its lease holds (an outcome per completion), then one
 *   claim of up to `max` tasks per completion, dealt to them in order.
 * - `renew`, `complete`, `fail`, `reschedule`, `release` and `deadLetter` act
 *   only for the holder of the lease (its `token`) and return `false`
 *   otherwise, changing nothing.
 * - `reschedule` and `release` give the claim's attempt back; `fail` with a
 *   retry delay keeps it spent.
 * - Terminal records (`succeeded`, `failed`, `dead`, `skipped`, `cancelled`) expire after `retention`;
 *   `get` then answers `undefined`.
 * - Every state change that can make work available (enqueue, retry,
 *   reschedule, release) wakes one blocked `waiter`.
 * - A claim with `names` is handed only tasks of those names. A waiting task of
 *   another name that it meets is left for a claimer that runs it: on Redis
 *   handed to an idle worker that runs it, else parked (on memory parked, and a
 *   waiting worker that runs it woken); tasks parked for a name come first in
 *   the claims of workers that run it. Its name is reported in `passed`.
 * - `fail` records the failure's time (`failures`), for retry schedules.
 * - On Redis, an enqueue of a task to run now may instead hand it directly to
 *   an idle worker that runs its name (registered by its `Waiter.claim`; the
 *   longest idle first): the task is claimed for that worker in the enqueue's
 *   own step (state `running`, `attempts` 1, a first lease of at most 2 s) and
 *   returned by its `Waiter.wait`, one round trip sooner than a wake-up and a
 *   claim. The same step wakes one other idle worker, whose claim then waits
 *   only until that short lease ends: a task handed to a worker that died
 *   while idle is taken over about 2 s later.
 * - The `Inspector`'s bookkeeping is part of every state change's atomic
 *   step: each move of a task between states moves it in the counts (per
 *   task name: `queued`, `scheduled`, `running` now, and the totals of the
 *   terminal states), a task that ends `failed`, `dead`, `skipped` or `cancelled` enters
 *   that state's bounded index (the newest `indexSize` within `retention`),
 *   and a claim with `worker` stores that id in the record. `beat` with a
 *   registration keeps the worker registry (lapsed registrations dropped),
 *   `leave` removes one. `counts`, `list`, `detail` and `workers` only read;
 *   `test/InspectorSuite.ts` is their conformance suite.
 * - Schedules: `syncSchedule` writes a schedule's definition into its record
 *   and returns the clock with the record; `fireSchedule` is one atomic step
 *   per tick (passed over at or before the record's `last`, or when the
 *   tick's task exists; the overlap rule on the previous run's state; the
 *   task created and `last`, `fired`, `taskId` moved); `schedules` reads every
 *   record, `removeSchedule` deletes one. `test/ScheduleSuite.ts` is their
 *   conformance suite.
 *
 * @since 0.1.0
 */
import { Context } from "effect"
import type { Service } from "./internal/queue/model.ts"

export * from "./internal/queue/model.ts"

/**
 * The queue service. `Heimdall.layerMemory` and `Heimdall.layerRedis` provide it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall, TaskQueue } from "effect-heimdall"
 *
 * const program = Effect.gen(function* () {
 *   const queue = yield* TaskQueue.TaskQueue
 *   return yield* queue.get("some-id")
 * }).pipe(Effect.provide(Heimdall.layerMemory))
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class TaskQueue extends Context.Service<TaskQueue, Service>()("effect-heimdall/TaskQueue") {}
