/**
 * The only place in TypeScript where queue keys are built (other keys: `internal/layout.ts`). Scripts are given every
 * key they touch, and build none: a task's record is a field of `tasks`, a unique task's lock a field of `locks`
 * (`test/keySlots.test.ts` runs every script under a check that fails a call touching a key outside its `KEYS`).
 *
 * Every key of one queue shares the Redis Cluster hash tag `{<queue>}`, so
 * every script touching a queue runs on one slot:
 *
 * | key                              | type   | holds                                        | lifetime                     |
 * | -------------------------------- | ------ | -------------------------------------------- | ---------------------------- |
 * | `<prefix>:{<queue>}:tasks`       | hash   | task id -> its record (see below), packed    | a record: kept until it is   |
 * |                                  |        | with cmsgpack (includes.lua, recLoad)        | terminal, then `retention`   |
 * | `<prefix>:{<queue>}:expiry`      | zset   | terminal tasks' ids, score: when the record  | exists while a record waits  |
 * |                                  |        | expires (ms); swept by scripts (recExpire)   | to be swept                  |
 * | `<prefix>:{<queue>}:locks`       | hash   | unique task locks: lock name ("<lock prefix> | the latest lock's expiry + at|
 * |                                  |        | {<queue>}:<unique key>") -> "<fence>:<expires| most 1 min; a task's end     |
 * |                                  |        | at>:<holder>"; "": the last fence issued     | deletes its lock; expired    |
 * |                                  |        | (src/internal/lua/uniqueLock.lua)            | kept locks swept (see there) |
 * | `<prefix>:{<queue>}:ready`       | list   | ids ready to run (LPUSH in, RPOP out: FIFO)  | exists while non-empty       |
 * | `<prefix>:{<queue>}:scheduled`   | zset   | ids waiting for their run time (score: ms)   | exists while non-empty       |
 * | `<prefix>:{<queue>}:running`     | zset   | ids claimed by a worker (score: lease end)   | exists while non-empty       |
 * | `<prefix>:{<queue>}:wake`        | list   | wake-up tokens for blocked idle workers      | capped, TTL `wakeTtl`        |
 * | `<prefix>:{<queue>}:idle`        | zset   | idle workers, "<w>|<token>|<lease>|<lapse>|  | TTL: the latest lapse        |
 * |                                  |        | <inbox slot>|<names>" (hand-off: includes.lua)|                              |
 * | `<prefix>:{<queue>}:inbox:<s>`   | list   | tasks handed to the idle worker registered   | hand-off lease + 60 s        |
 * |                                  |        | with slot `<s>` (0-15, `handOffInboxes`; JSON)|                              |
 * | `<prefix>:{<queue>}:parkline`    | zset   | waiting tasks that a worker without their    | exists while a task is       |
 * |                                  |        | name met, parked for one that runs it (score | parked                       |
 * |                                  |        | 0, "<name length>:<name>\0<seq>\0<id>", a   |                              |
 * |                                  |        | name's line is a lex range, oldest first;    |                              |
 * |                                  |        | "\0seq:<n>": the counter; routing: claim)    |                              |
 * | `<prefix>:{<queue>}:names`       | hash   | task name -> when a worker running it last   | TTL 7 days, renewed by beats |
 * |                                  |        | beat (ms)                                    |                              |
 * | `<prefix>:{<queue>}:events`      | pubsub | channel: the id of each task reaching an end | (a channel, not a key)       |
 * | `<prefix>:{<queue>}:cancels`     | pubsub | channel: the id of each running task an      | (a channel, not a key)       |
 * |                                  |        | operator cancelled (its worker interrupts it)|                              |
 * | `<prefix>:{<queue>}:counts`      | hash   | the Inspector's counts, counters that only   | no TTL: the queue's          |
 * |                                  |        | increase: `<state>:<task name>` created in a | bookkeeping (at most one     |
 * |                                  |        | state, `<from>><to>:<task name>` moves; a    | field per state and move     |
 * |                                  |        | read derives each state's count (newBook)    | per task name)               |
 * | `<prefix>:{<queue>}:index:<s>`   | zset   | the bounded index of `failed`, `dead`,       | TTL `retention`, renewed by  |
 * |                                  |        | `skipped`, `cancelled` tasks (score: finish  | each entry; trimmed to       |
 * |                                  |        | time, ms), newest `indexSize` within the     | `indexSize` and `retention`  |
 * |                                  |        | retention                                    |                              |
 * | `<prefix>:{<queue>}:workers`     | zset   | live workers' ids, score: when their         | TTL: the latest registration |
 * |                                  |        | registration lapses (ms)                     |                              |
 * | `<prefix>:{<queue>}:workerinfo`  | hash   | worker id -> its registration (JSON: host,   | TTL: the latest registration;|
 * |                                  |        | pid, startedAt, concurrency, names, running, | a field goes on stop or when |
 * |                                  |        | beat)                                        | the beat sweeps lapsed ones  |
 * | `<prefix>:{<queue>}:schedules`   | hash   | schedule name -> its record (JSON): task,    | no TTL: the schedules'       |
 * |                                  |        | cron/timeZone or everyMillis, overlap,       | progress; a field is deleted |
 * |                                  |        | catchUp; `last` tick handled, `fired` tick   | by `Admin.removeSchedule`    |
 * |                                  |        | enqueued and its `taskId`, `pending` tick    |                              |
 * |                                  |        | (scheduleSync-1.lua, scheduleFire-28.lua)     |                              |
 * | `<prefix>:{<queue>}:edge:<lock>` | hash   | a debounced key's burst window (`edge`       | PEXPIRE: the window's end    |
 * |                                  |        | "leading"/"both"): end `u`, latest run `f`,  | (the latest request + wait)  |
 * |                                  |        | `i`, trailing run `t` (debounceEdge)         |                              |
 * | `<prefix>:{<queue>}:cc`          | hash   | per-key concurrency: group -> its admitted   | exists while a group has     |
 * |                                  |        | tasks (queued, scheduled, running); field    | admitted or held-back tasks  |
 * |                                  |        | `\0seq`: the held-back tasks' order counter  | (fields deleted at 0)        |
 * | `<prefix>:{<queue>}:ccwait`      | zset   | held-back tasks, `<group>\0<seq>\0<id>`      | exists while non-empty       |
 * |                                  |        | (score 0: a group's line is a lex range,     |                              |
 * |                                  |        | oldest first; ccAdmitOrHold in includes.lua) |                              |
 *
 * A task record is kept small: it is one packed value in `tasks` (a table of field -> string or number), and waiting tasks are
 * most of a queue's memory. So the fields every waiting task carries have one- or
 * two-letter names, nothing derivable is stored (not the id: it is the field's name; no attempts field until the first
 * claim: 0; no runAt when it equals the enqueue time; not the queue's hash tag in a unique task's lock key), and the
 * lock release channel is the backend's, passed to the scripts. The fields (`parseRecord` in redis.ts reads them
 * into a `TaskRecord`):
 *
 * | field          | holds                                                   | present                          |
 * | -------------- | ------------------------------------------------------- | -------------------------------- |
 * | `n`            | task name                                               | always                           |
 * | `p`            | payload (JSON)                                          | always                           |
 * | `s`            | state: `q` queued, `s` scheduled, `h` held back by its  | always                           |
 * |                | concurrency group (read as queued), `r:<lease token>`   |                                  |
 * |                | running (the token of the running attempt: it goes with |                                  |
 * |                | the state; the lease end is the `running` zset's score);|                                  |
 * |                | the terminal states by name (`succeeded`, `failed`, ...)|                                  |
 * | `e`            | enqueued at (ms, Redis clock)                           | always                           |
 * | `r`            | run at (ms), when not `e`                               | delayed, retried or rescheduled  |
 * | `tr`           | trace context (see `encodeTrace` in redis.ts)           | enqueued in a span               |
 * | `lp`, `l`      | unique task's lock: its prefix and unique key (the lock | unique tasks                     |
 * |                | key is `<lp>{<queue>}:<l>`: the queue's part is not     |                                  |
 * |                | stored, which keeps it under 64 bytes more often)       |                                  |
 * | `lt`           | unique task's lock ttl (ms), to take it again on claim  | unique tasks                     |
 * | `lk`           | `1`: the lock outlives the task (until its ttl); `s`:   | unique tasks with `hold`         |
 * |                | the lock is freed as a worker starts it (see admit)     | `untilExpiry` or `untilStart`    |
 * | `nx`           | the id of the task waiting behind this running one      | `onDuplicate: "replace"`, a      |
 * |                | (it gets the lock when this one ends; see promoteNext)  | duplicate came while it ran      |
 * | `nr`           | a task waiting behind a running one: its own earliest   | a delayed or debounced duplicate |
 * |                | start (ms); it starts when the other ends, not before   | behind a running task            |
 * | `cg`, `cl`     | the task's concurrency group and its limit              | `concurrency` tasks              |
 * | `cs`           | its place in the group's line (15 digits, see `ccwait`) | while held back                  |
 * | `ps`           | its place in the parked line (15 digits, see `parkline`)| parked once for a worker that    |
 * |                |                                                         | runs its name                    |
 * | `a`            | attempts started                                        | after the first claim            |
 * | `startedAt`    | the last claim's time (ms)                              | after the first claim            |
 * | `w`            | the id of the worker that claimed it last               | claimed by a worker              |
 * | `booked`       | `1`: a rate-limit slot is booked for the next start     | rescheduled with a booking       |
 * | `ft`           | when each failed attempt failed: ms after `e`, comma-   | after a failed attempt           |
 * |                | separated (the worker steps the retry schedule on them) |                                  |
 * | `redeliveries`, `reschedules`, `lastError` | counters; the last retried error | when they happen          |
 * | `result`, `error`, `reason`, `finishedAt`  | the outcome                      | terminal                  |
 * | `x`            | when the record expires (ms): it reads as missing after | terminal                         |
 */
import type { Config } from "../config.ts"
import { randomId } from "../id.ts"
import { keySlot, textSlot } from "../slot.ts"

// Partitions (`partitions: N`, see partitions.ts): each partition is this layout under its own hash tag.
const slots = 16384
const tagCache = new Map<string, ReadonlyArray<string>>()

/**
 * The hash tags of a queue's `n` partitions: `queue` for partition 0, and for partition i the first
 * `<queue>~<i>.<j>` whose slot is partition 0's plus i × 16,384 / n (the closest one, if no j below 2^17 hits it).
 */
export const partitionTags = (queue: string, n: number): ReadonlyArray<string> => {
  const cacheKey = `${n}:${queue}`
  const cached = tagCache.get(cacheKey)
  if (cached !== undefined) return cached
  const base = keySlot(queue)
  const tags = [queue]
  for (let i = 1; i < n; i++) {
    const target = (base + Math.round((i * slots) / n)) % slots
    let best = ""
    let bestDistance = slots
    for (let j = 0; j < 1 << 17 && bestDistance > 0; j++) {
      const tag = `${queue}~${i}.${j}`
      const d = Math.abs(keySlot(tag) - target)
      const distance = Math.min(d, slots - d)
      if (distance < bestDistance) {
        best = tag
        bestDistance = distance
      }
    }
    tags.push(best)
  }
  tagCache.set(cacheKey, tags)
  return tags
}

/** The partition of a task id or a unique key (CRC16 of the text, mod `n`). */
export const partitionOf = (text: string, n: number): number => (n <= 1 ? 0 : textSlot(text) % n)

/**
 * A new task id: random, and for a unique task of a partitioned queue drawn until it falls in its key's partition
 * (about `partitions` draws), so that its id alone finds it.
 */
export const taskId = (config: Pick<Config, "partitions">, uniqueKey: string | undefined): string => {
  const n = config.partitions
  if (n <= 1 || uniqueKey === undefined) return randomId()
  const home = partitionOf(uniqueKey, n)
  while (true) {
    const id = randomId()
    if (partitionOf(id, n) === home) return id
  }
}

/**
 * How many idle workers of a queue (of a partition) can be handed a task directly: each takes one of this many inboxes
 * as it registers (claim-30.lua), and the scripts that hand tasks over get every inbox in `KEYS`, so that none builds
 * a key. An idle worker that finds none free registers without one: it is woken through the wake list instead.
 */
export const handOffInboxes = 16

/** The keys of a queue's hand-off inboxes, in slot order (as the scripts' headers type them). */
export type HandOffInboxes = readonly [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string
]

/**
 * The keys every script that moves a queue's tasks is given first (`KEYS[1..10]`, in includes.lua's `queueOf` order).
 */
export type QueueCore = readonly [
  tasks: string,
  expiry: string,
  ready: string,
  scheduled: string,
  running: string,
  wake: string,
  counts: string,
  cc: string,
  ccwait: string,
  locks: string
]

/** Key builders for one queue. */
export interface QueueKeys {
  readonly queue: string
  /** Task id -> its record (packed; see includes.lua, recLoad). */
  readonly tasks: string
  /** Finished tasks' ids, scored by when their records expire (see includes.lua, recExpire). */
  readonly expiry: string
  /** Unique task locks: lock name -> its state (src/internal/lua/uniqueLock.lua). */
  readonly locks: string
  /** The keys every script that moves tasks takes first (`KEYS[1..10]`). */
  readonly core: QueueCore
  readonly ready: string
  readonly scheduled: string
  readonly running: string
  readonly wake: string
  /** Idle workers' registrations for hand-offs. */
  readonly idle: string
  /** The hand-off inbox `slot` (0 to `handOffInboxes` - 1), held by one idle worker at a time. */
  readonly inbox: (slot: number) => string
  /** Every hand-off inbox, in slot order: the scripts that hand tasks to idle workers get them all in `KEYS`. */
  readonly inboxes: HandOffInboxes
  readonly events: string
  /** The channel of cancelled running tasks' ids (Admin.cancel; workers listen). */
  readonly cancels: string
  /** The parked line: tasks parked for a worker that runs their name (see includes.lua, parkRange). */
  readonly parked: string
  /** Task name -> when a worker running it last beat. */
  readonly names: string
  /** The Inspector's counts hash. */
  readonly counts: string
  /** The bounded index of finished tasks in `state` (failed, dead, skipped, cancelled). */
  readonly index: (state: "failed" | "dead" | "skipped" | "cancelled") => string
  /** The worker registry. */
  readonly workers: string
  /** Worker id -> its registration (JSON), beside the registry. */
  readonly workerInfo: string
  /** Schedule name -> its record (definition and progress, JSON). */
  readonly schedules: string
  /** Per-key concurrency: group -> its admitted tasks (and the held-back tasks' order counter). */
  readonly cc: string
  /** Per-key concurrency: the held-back tasks, by group (lex range), oldest first. */
  readonly ccwait: string
  /** A leading-edge debounce's burst window for the unique task whose lock is named `lockName`. */
  readonly edge: (lockName: string) => string
}

export const makeKeys = (prefix: string, queue: string): QueueKeys => {
  const base = `${prefix}:{${queue}}:`
  const core: QueueCore = [
    `${base}tasks`,
    `${base}expiry`,
    `${base}ready`,
    `${base}scheduled`,
    `${base}running`,
    `${base}wake`,
    `${base}counts`,
    `${base}cc`,
    `${base}ccwait`,
    `${base}locks`
  ]
  return {
    queue,
    tasks: core[0],
    expiry: core[1],
    locks: core[9],
    core,
    ready: `${base}ready`,
    scheduled: `${base}scheduled`,
    running: `${base}running`,
    wake: `${base}wake`,
    idle: `${base}idle`,
    inbox: (slot) => `${base}inbox:${slot}`,
    inboxes: Array.from({ length: handOffInboxes }, (_, slot) => `${base}inbox:${slot}`) as unknown as HandOffInboxes,
    events: `${base}events`,
    cancels: `${base}cancels`,
    parked: `${base}parkline`,
    names: `${base}names`,
    counts: `${base}counts`,
    index: (state) => `${base}index:${state}`,
    workers: `${base}workers`,
    workerInfo: `${base}workerinfo`,
    schedules: `${base}schedules`,
    cc: `${base}cc`,
    ccwait: `${base}ccwait`,
    edge: (lockName) => `${base}edge:${lockName}`
  }
}
