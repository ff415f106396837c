/**
 * The queue's Lua scripts as typed `Redis.script` descriptors, one per state
 * change. Each script lives in `lua/<name>-<keys>.lua` (the suffix is its key
 * count) and opens with its contract (KEYS and ARGV, named and typed; output);
 * `lua/includes.lua` holds the helpers they share; scripts/gen-lua.mjs ships
 * with each script the helpers it calls, into `lua.generated.ts`, with each
 * script's parameters from its header (`Lua.Contracts`, `Lua.contracts`). A
 * descriptor here adds only its reply's type.
 */
import { define } from "../script.ts"
import * as Lua from "./lua.generated.ts"

/** Every script file with its key count, as named on disk. */
export const scriptFiles = [
  "enqueue-27.lua",
  "enqueueUnique-28.lua",
  "enqueueBatch-27.lua",
  "claim-30.lua",
  "renew-2.lua",
  "complete-10.lua",
  "completeClaim-30.lua",
  "completeClaimMany-30.lua",
  "fail-11.lua",
  "reschedule-10.lua",
  "release-10.lua",
  "deadLetter-11.lua",
  "retire-12.lua",
  "beat-15.lua",
  "leave-2.lua",
  "counts-6.lua",
  "pageSorted-2.lua",
  "pageQueued-4.lua",
  "inspect-3.lua",
  "task-1.lua",
  "workers-2.lua",
  "retry-12.lua",
  "retryAll-11.lua",
  "purge-3.lua",
  "cancel-12.lua",
  "scheduleSync-1.lua",
  "scheduleFire-28.lua",
  "schedules-1.lua"
] as const

/** The full source of a script, as sent to Redis: the helpers it calls, then the script (see scripts/gen-lua.mjs). */
export const source = (file: (typeof scriptFiles)[number]): string =>
  Lua.contracts[/^(\w+)-/.exec(file)![1] as keyof typeof Lua.contracts].lua

/** How a claim routes tasks by name and hands tasks on: `route.*` (ARGV[13..18]) of claim-30.lua, completeClaim-30.lua. */
export type Route = Lua.Route

export const enqueue = define(Lua.contracts.enqueue).withReturnType<[created: 0 | 1, state: string]>()

export const enqueueUnique = define(Lua.contracts.enqueueUnique).withReturnType<
  | [created: 1 | 0, state: string]
  | [duplicate: 2, holder: string, expiresInMillis: number]
  | [replaced: 3, id: string, state: string]
  | [debounced: 4, id: string, state: string, startsAt: number]
>()

/**
 * A claim's reply: "task", now, count, then 8 fields per task (id, name, payload, attempts, trace, enqueuedAt,
 * booked, failures), or "idle", waitMillis, registration; the last element is the names passed on (see claim-30.lua).
 */
type ClaimReply = ReadonlyArray<string | number>

/** One reply per task, in order, as enqueue's and enqueueUnique's (see enqueueBatch-27.lua). */
export const enqueueBatch = define(Lua.contracts.enqueueBatch).withReturnType<
  ReadonlyArray<[created: 1 | 0, state: string] | [duplicate: 2, holder: string, expiresInMillis: number]>
>()

export const claim = define(Lua.contracts.claim).withReturnType<ClaimReply>()

export const renew = define(Lua.contracts.renew).withReturnType<number>()

export const complete = define(Lua.contracts.complete).withReturnType<number>()

export const completeClaim = define(Lua.contracts.completeClaim)
  // completed (0 | 1), then a claim's reply
  .withReturnType<ClaimReply>()

export const completeClaimMany = define(Lua.contracts.completeClaimMany)
  // completed ("1" or "0" per completion, in one string), then a claim's reply
  .withReturnType<ClaimReply>()

export const fail = define(Lua.contracts.fail).withReturnType<number>()

export const reschedule = define(Lua.contracts.reschedule).withReturnType<number>()

export const release = define(Lua.contracts.release).withReturnType<number>()

export const deadLetter = define(Lua.contracts.deadLetter).withReturnType<number>()

export const retire = define(Lua.contracts.retire).withReturnType<number>()

export const beat = define(Lua.contracts.beat)
  // name, parked, dead-lettered now, ... for every name with parked tasks
  .withReturnType<ReadonlyArray<string | number>>()

export const leave = define(Lua.contracts.leave).withReturnType<number>()

/** The Inspector's reads (read-only scripts): counts, each name's oldest waiting task. */
export const counts = define(Lua.contracts.counts).withReturnType<
  [
    now: number,
    counts: ReadonlyArray<string>,
    oldest: ReadonlyArray<string | number>,
    readyLength: number,
    scanned: number,
    lastSince: number
  ]
>()

/** A page: task rows (id, name, score, enqueued at, attempts, error or reason, state), then the next cursor or []. */
type PageReply = ReadonlyArray<ReadonlyArray<string | number>>

export const pageSorted = define(Lua.contracts.pageSorted).withReturnType<PageReply>()

export const pageQueued = define(Lua.contracts.pageQueued).withReturnType<PageReply>()

export const inspect = define(Lua.contracts.inspect).withReturnType<
  | readonly [now: number]
  | readonly [now: number, record: ReadonlyArray<string>, leaseEnd: number, holder: string, ttl: number]
>()

/** A task's record, as HGETALL replies (empty: no such task, or it expired); see task-1.lua. */
export const task = define(Lua.contracts.task).withReturnType<ReadonlyArray<string>>()

export const workers = define(Lua.contracts.workers).withReturnType<
  readonly [now: number, ...live: Array<readonly [id: string, expiresAt: string, fields: ReadonlyArray<string>]>]
>()

/** The Admin's actions (see retry-12.lua, retryAll-11.lua, purge-3.lua, cancel-12.lua for the replies). */
export const retry = define(Lua.contracts.retry).withReturnType<
  | readonly [requeued: 1]
  | readonly [conflict: 0, state: string]
  | readonly [missing: -1]
  | readonly [duplicate: 2, holder: string, pttl: number]
>()

export const retryAll = define(Lua.contracts.retryAll).withReturnType<number>()

export const purge = define(Lua.contracts.purge).withReturnType<number>()

export const cancel = define(Lua.contracts.cancel).withReturnType<
  readonly [cancelled: 1, previous: string] | readonly [conflict: 0, state: string] | readonly [missing: -1]
>()

/** The schedulers' steps and the Inspector's read of the schedules (see scheduleSync-1.lua, scheduleFire-28.lua). */
export const scheduleSync = define(Lua.contracts.scheduleSync).withReturnType<readonly [now: number, record: string]>()

export const scheduleFire = define(Lua.contracts.scheduleFire).withReturnType<
  | readonly [created: 1, state: string]
  | readonly [passed: 0]
  | readonly [skipped: 3, previous: string]
  | readonly [deferred: 4, previous: string]
>()

export const schedules = define(Lua.contracts.schedules).withReturnType<
  readonly [now: number, records: ReadonlyArray<string>]
>()
