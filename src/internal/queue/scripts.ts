/**
 * The queue's Lua scripts as typed `Redis.script` descriptors, one per state
 * change. Each script lives in `lua/<name>-<keys>.lua` (the suffix is its key
 * count) and opens with its contract (KEYS, ARGV, output); `lua/includes.lua`
 * holds the helpers they share; scripts/gen-lua.mjs prepends it to each and
 * inlines them into `lua.generated.ts`.
 */
import * as Redis from "effect/persistence/Redis"
import * as Lua from "./lua.generated.ts"

/** Every script file with its key count, as named on disk. */
export const scriptFiles = [
  "enqueue-6.lua",
  "enqueueUnique-7.lua",
  "claim-6.lua",
  "renew-2.lua",
  "complete-2.lua",
  "completeClaim-5.lua",
  "fail-4.lua",
  "reschedule-4.lua",
  "release-4.lua",
  "deadLetter-2.lua",
  "retire-6.lua"
] as const

/** The full source of a script, as sent to Redis: the shared helpers, then the script (see scripts/gen-lua.mjs). */
export const source = (file: (typeof scriptFiles)[number]): string => Lua[/^(\w+)-/.exec(file)![1] as keyof typeof Lua]

const numberOfKeys = (file: string) => Number(/-(\d+)\.lua$/.exec(file)![1])

const define = <Params extends ReadonlyArray<any>>(
  file: (typeof scriptFiles)[number],
  args: (...params: Params) => ReadonlyArray<string | number>
) => Redis.script(args, { numberOfKeys: numberOfKeys(file), lua: source(file) })

export const enqueue = define(
  "enqueue-6.lua",
  (
    keys: readonly [task: string, ready: string, scheduled: string, wake: string, idle: string, running: string],
    id: string,
    name: string,
    payload: string,
    delayMillis: number,
    trace: string,
    wakeCap: number,
    wakeTtlMillis: number,
    inboxPrefix: string,
    handOffLeaseMillis: number
  ) => [...keys, id, name, payload, delayMillis, trace, wakeCap, wakeTtlMillis, inboxPrefix, handOffLeaseMillis]
).withReturnType<[created: 0 | 1, state: string]>()

export const enqueueUnique = define(
  "enqueueUnique-7.lua",
  (
    keys: readonly [
      task: string,
      ready: string,
      scheduled: string,
      wake: string,
      lock: string,
      idle: string,
      running: string
    ],
    id: string,
    name: string,
    payload: string,
    delayMillis: number,
    trace: string,
    wakeCap: number,
    wakeTtlMillis: number,
    lockTtlMillis: number,
    keepLock: boolean,
    lockPrefix: string,
    uniqueKey: string,
    inboxPrefix: string,
    handOffLeaseMillis: number
  ) => [
    ...keys,
    id,
    name,
    payload,
    delayMillis,
    trace,
    wakeCap,
    wakeTtlMillis,
    lockTtlMillis,
    keepLock ? "1" : "0",
    lockPrefix,
    uniqueKey,
    inboxPrefix,
    handOffLeaseMillis
  ]
).withReturnType<[created: 1 | 0, state: string] | [duplicate: 2, holder: string, expiresInMillis: number]>()

export const claim = define(
  "claim-6.lua",
  (
    keys: readonly [ready: string, scheduled: string, running: string, taskPrefix: string, idle: string, inbox: string],
    token: string,
    leaseMillis: number,
    limit: number,
    retentionMillis: number,
    channel: string,
    maxRedeliveries: number,
    max: number,
    lockChannel: string,
    lockInfix: string,
    worker: string,
    previousRegistration: string,
    idleMillis: number
  ) => [
    ...keys,
    token,
    leaseMillis,
    limit,
    retentionMillis,
    channel,
    maxRedeliveries,
    max,
    lockChannel,
    lockInfix,
    worker,
    previousRegistration,
    idleMillis
  ]
).withReturnType<
  // "task", now, count, then 7 fields per task: id, name, payload, attempts, trace, enqueuedAt, booked
  | [tag: "task", now: number, count: number, ...fields: Array<string | number>]
  | [tag: "idle", waitMillis: number, registration?: string]
>()

export const renew = define(
  "renew-2.lua",
  (keys: readonly [task: string, running: string], id: string, token: string, leaseMillis: number) => [
    ...keys,
    id,
    token,
    leaseMillis
  ]
).withReturnType<number>()

export const complete = define(
  "complete-2.lua",
  (
    keys: readonly [task: string, running: string],
    id: string,
    token: string,
    result: string,
    retentionMillis: number,
    channel: string,
    lockChannel: string,
    lockInfix: string
  ) => [...keys, id, token, result, retentionMillis, channel, lockChannel, lockInfix]
).withReturnType<number>()

export const completeClaim = define(
  "completeClaim-5.lua",
  (
    keys: readonly [task: string, ready: string, scheduled: string, running: string, taskPrefix: string],
    id: string,
    token: string,
    result: string,
    retentionMillis: number,
    channel: string,
    claimToken: string,
    leaseMillis: number,
    limit: number,
    maxRedeliveries: number,
    max: number,
    lockChannel: string,
    lockInfix: string
  ) => [
    ...keys,
    id,
    token,
    result,
    retentionMillis,
    channel,
    claimToken,
    leaseMillis,
    limit,
    maxRedeliveries,
    max,
    lockChannel,
    lockInfix
  ]
).withReturnType<
  | [completed: 0 | 1, tag: "task", now: number, count: number, ...fields: Array<string | number>]
  | [completed: 0 | 1, tag: "idle", waitMillis: number]
>()

export const fail = define(
  "fail-4.lua",
  (
    keys: readonly [task: string, running: string, scheduled: string, wake: string],
    id: string,
    token: string,
    error: string,
    retryInMillis: number,
    retentionMillis: number,
    channel: string,
    wakeCap: number,
    wakeTtlMillis: number,
    lockChannel: string,
    lockInfix: string
  ) => [
    ...keys,
    id,
    token,
    error,
    retryInMillis,
    retentionMillis,
    channel,
    wakeCap,
    wakeTtlMillis,
    lockChannel,
    lockInfix
  ]
).withReturnType<number>()

export const reschedule = define(
  "reschedule-4.lua",
  (
    keys: readonly [task: string, running: string, scheduled: string, wake: string],
    id: string,
    token: string,
    delayMillis: number,
    wakeCap: number,
    wakeTtlMillis: number,
    booked: boolean
  ) => [...keys, id, token, delayMillis, wakeCap, wakeTtlMillis, booked ? "1" : "0"]
).withReturnType<number>()

export const release = define(
  "release-4.lua",
  (
    keys: readonly [task: string, running: string, ready: string, wake: string],
    id: string,
    token: string,
    wakeCap: number,
    wakeTtlMillis: number
  ) => [...keys, id, token, wakeCap, wakeTtlMillis]
).withReturnType<number>()

export const deadLetter = define(
  "deadLetter-2.lua",
  (
    keys: readonly [task: string, running: string],
    id: string,
    token: string,
    reason: string,
    retentionMillis: number,
    channel: string,
    lockChannel: string,
    lockInfix: string
  ) => [...keys, id, token, reason, retentionMillis, channel, lockChannel, lockInfix]
).withReturnType<number>()

export const retire = define(
  "retire-6.lua",
  (
    keys: readonly [idle: string, inbox: string, ready: string, running: string, wake: string, taskPrefix: string],
    registration: string,
    wakeCap: number,
    wakeTtlMillis: number
  ) => [...keys, registration, wakeCap, wakeTtlMillis]
).withReturnType<number>()
