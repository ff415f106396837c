/**
 * The queue's Lua scripts as typed `Redis.script` descriptors, one per state
 * change. Each script lives in `lua/<name>-<keys>.lua` (the suffix is its key
 * count) and opens with its contract (KEYS, ARGV, output); `lua/includes.lua`
 * holds the helpers they share; scripts/gen-lua.mjs ships with each script the
 * helpers it calls, into `lua.generated.ts`, with each script's key and ARGV
 * counts (`Lua.contracts`). A descriptor here names its keys and parameters
 * once, as tuple types the compiler checks against those counts.
 */
import { definer } from "../script.ts"
import * as Lua from "./lua.generated.ts"

/** Every script file with its key count, as named on disk. */
export const scriptFiles = [
  "enqueue-6.lua",
  "enqueueUnique-7.lua",
  "claim-8.lua",
  "renew-2.lua",
  "complete-2.lua",
  "completeClaim-8.lua",
  "fail-4.lua",
  "reschedule-4.lua",
  "release-4.lua",
  "deadLetter-2.lua",
  "retire-6.lua",
  "beat-4.lua"
] as const

/** The full source of a script, as sent to Redis: the helpers it calls, then the script (see scripts/gen-lua.mjs). */
export const source = (file: (typeof scriptFiles)[number]): string =>
  Lua.contracts[/^(\w+)-/.exec(file)![1] as keyof typeof Lua.contracts].lua

/** The descriptor of a script from its generated contract: keys and parameters named once (see `definer`). */
const define = definer<Route, 6>((route) => routeArgs(route))

export const enqueue = define<
  readonly [task: string, ready: string, scheduled: string, wake: string, idle: string, running: string],
  [
    id: string,
    name: string,
    payload: string,
    delayMillis: number,
    trace: string,
    wakeCap: number,
    wakeTtlMillis: number,
    inboxPrefix: string,
    handOffLeaseMillis: number
  ]
>(Lua.contracts.enqueue).withReturnType<[created: 0 | 1, state: string]>()

export const enqueueUnique = define<
  readonly [task: string, ready: string, scheduled: string, wake: string, lock: string, idle: string, running: string],
  [
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
  ]
>(Lua.contracts.enqueueUnique).withReturnType<
  [created: 1 | 0, state: string] | [duplicate: 2, holder: string, expiresInMillis: number]
>()

/**
 * How a claim routes tasks by name and hands tasks on (ARGV[13..18] of claim-8.lua and completeClaim-8.lua):
 * the claimer's task names ("" for every name, else "\n" .. names joined by "\n" .. "\n"), the parked lists'
 * key prefix, the inbox key prefix, the first lease of a handed-over task, and the wake list's cap and TTL.
 */
export interface Route {
  readonly names: string
  readonly parkedPrefix: string
  readonly inboxPrefix: string
  readonly handOffLeaseMillis: number
  readonly wakeCap: number
  readonly wakeTtlMillis: number
}
const routeArgs = (route: Route) => [
  route.names,
  route.parkedPrefix,
  route.inboxPrefix,
  route.handOffLeaseMillis,
  route.wakeCap,
  route.wakeTtlMillis
]

/**
 * A claim's reply: "task", now, count, then 8 fields per task (id, name, payload, attempts, trace, enqueuedAt,
 * booked, failures), or "idle", waitMillis, registration; the last element is the names passed on (see claim-8.lua).
 */
type ClaimReply = ReadonlyArray<string | number>

export const claim = define<
  readonly [
    ready: string,
    scheduled: string,
    running: string,
    taskPrefix: string,
    idle: string,
    inbox: string,
    wake: string,
    parked: string
  ],
  [
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
    idleMillis: number,
    route: Route
  ]
>(Lua.contracts.claim).withReturnType<ClaimReply>()

export const renew = define<readonly [task: string, running: string], [id: string, token: string, leaseMillis: number]>(
  Lua.contracts.renew
).withReturnType<number>()

export const complete = define<
  readonly [task: string, running: string],
  [
    id: string,
    token: string,
    result: string,
    retentionMillis: number,
    channel: string,
    lockChannel: string,
    lockInfix: string
  ]
>(Lua.contracts.complete).withReturnType<number>()

export const completeClaim = define<
  readonly [
    task: string,
    ready: string,
    scheduled: string,
    running: string,
    taskPrefix: string,
    idle: string,
    wake: string,
    parked: string
  ],
  [
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
    lockInfix: string,
    route: Route
  ]
>(Lua.contracts.completeClaim)
  // completed (0 | 1), then a claim's reply
  .withReturnType<ClaimReply>()

export const fail = define<
  readonly [task: string, running: string, scheduled: string, wake: string],
  [
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
  ]
>(Lua.contracts.fail).withReturnType<number>()

export const reschedule = define<
  readonly [task: string, running: string, scheduled: string, wake: string],
  [id: string, token: string, delayMillis: number, wakeCap: number, wakeTtlMillis: number, booked: boolean]
>(Lua.contracts.reschedule).withReturnType<number>()

export const release = define<
  readonly [task: string, running: string, ready: string, wake: string],
  [id: string, token: string, wakeCap: number, wakeTtlMillis: number]
>(Lua.contracts.release).withReturnType<number>()

export const deadLetter = define<
  readonly [task: string, running: string],
  [
    id: string,
    token: string,
    reason: string,
    retentionMillis: number,
    channel: string,
    lockChannel: string,
    lockInfix: string
  ]
>(Lua.contracts.deadLetter).withReturnType<number>()

export const retire = define<
  readonly [idle: string, inbox: string, ready: string, running: string, wake: string, taskPrefix: string],
  [registration: string, wakeCap: number, wakeTtlMillis: number]
>(Lua.contracts.retire).withReturnType<number>()

export const beat = define<
  readonly [names: string, parked: string, running: string, taskPrefix: string],
  [
    names: string,
    deadAfterMillis: number,
    retentionMillis: number,
    channel: string,
    lockChannel: string,
    lockInfix: string,
    parkedPrefix: string,
    namesTtlMillis: number
  ]
>(Lua.contracts.beat)
  // name, parked, dead-lettered now, ... for every name with parked tasks
  .withReturnType<ReadonlyArray<string | number>>()
