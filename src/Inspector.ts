/**
 * The read side of a queue, for operators: counts by state, tasks by state with cursor paging, a task's detail,
 * live workers and held locks. Read-only; every backend layer (`Heimdall.layerMemory`, `layerMemoryWith`,
 * `layerRedis`, `layerRedisConfig`) provides it for the queue it configures. On Redis each read is one round trip
 * (one read-only script), except `locks` (a keyspace scan) and `limits` (a keyspace scan per kind, with one
 * read-only script per scan page that found keys).
 *
 * What it reads:
 *
 * - **counts** (`QueueCounts`): per task name and for the queue, `queued`, `scheduled` and `running` now, and how
 *   many tasks reached `succeeded`, `failed`, `dead`, `skipped` and `cancelled` since the queue's bookkeeping began
 *   (totals; a dashboard derives throughput from two readings), and the oldest waiting task's age, for the queue and
 *   per task name (`WaitingAge`: found within a bounded scan, `waitingScan`). Every state change keeps the counts in
 *   its own atomic step.
 * - **tasks by state**, newest first: `queued`, `scheduled`, `running`, and the bounded index of `failed`, `dead`,
 *   `skipped` and `cancelled` tasks (the newest `indexSize`, default 10,000, of each within the `retention`: an
 *   operator finds a dead letter after the fact, without its id). See `TaskPage` for what the cursor guarantees.
 * - **a task's detail** (`TaskDetail`): its record (payload, result or error as raw JSON, attempts, timestamps, the
 *   worker that claimed it), its lease end, its unique lock and holder, whether a rate-limit slot is booked.
 * - **decoded values** (`decode`): a record's payload, result and errors decoded with the task definitions the
 *   caller passes; raw JSON, with the reason, for a task it does not know or a value that no longer decodes.
 * - **workers** (`WorkerInfo`): the registry that `Worker.layer` keeps with its heartbeat; a worker that stops
 *   leaves it at once, one that died lapses three beats after its last (15 s by default).
 *
 * - **schedules** (`ScheduleInfo`): each schedule's definition, the latest tick enqueued and its task, the next tick.
 * - **limits** (`Limits`): rate limits (admissions in the window, booked slots, next free slot when the limit is
 *   known to this process) and concurrency limits (holders and their leases).
 * - **gauges** (`layerGauges`, opt-in): `heimdall_queue_tasks` and `heimdall_queue_oldest_waiting_ms` (per queue, and per
 *   queue and task name), set from `counts` on a schedule.
 *
 * @since 0.2.0
 */
export { type DecodedRecord, type DecodedValue, decode } from "./internal/decode.ts"
export { type GaugeOptions, gauges, layerGauges } from "./internal/gauges.ts"
export {
  defaultLimit,
  Inspector,
  type LockEntry,
  maxLimit,
  type ScheduleInfo,
  type TaskPage,
  type TasksQuery
} from "./internal/inspector.ts"
export type { ConcurrencyLimitEntry, Limits, RateLimitEntry } from "./internal/limits.ts"
export type {
  ListState,
  QueueCounts,
  StateCounts,
  TaskDetail,
  TaskSummary,
  WaitingAge,
  WorkerInfo
} from "./internal/queue/model.ts"
