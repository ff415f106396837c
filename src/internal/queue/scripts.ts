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

/** How a claim routes tasks by name and hands tasks on: `route.*` (ARGV[13..18]) of claim-8.lua, completeClaim-8.lua. */
export type Route = Lua.Route

export const enqueue = define(Lua.contracts.enqueue).withReturnType<[created: 0 | 1, state: string]>()

export const enqueueUnique = define(Lua.contracts.enqueueUnique).withReturnType<
  [created: 1 | 0, state: string] | [duplicate: 2, holder: string, expiresInMillis: number]
>()

/**
 * A claim's reply: "task", now, count, then 8 fields per task (id, name, payload, attempts, trace, enqueuedAt,
 * booked, failures), or "idle", waitMillis, registration; the last element is the names passed on (see claim-8.lua).
 */
type ClaimReply = ReadonlyArray<string | number>

export const claim = define(Lua.contracts.claim).withReturnType<ClaimReply>()

export const renew = define(Lua.contracts.renew).withReturnType<number>()

export const complete = define(Lua.contracts.complete).withReturnType<number>()

export const completeClaim = define(Lua.contracts.completeClaim)
  // completed (0 | 1), then a claim's reply
  .withReturnType<ClaimReply>()

export const fail = define(Lua.contracts.fail).withReturnType<number>()

export const reschedule = define(Lua.contracts.reschedule).withReturnType<number>()

export const release = define(Lua.contracts.release).withReturnType<number>()

export const deadLetter = define(Lua.contracts.deadLetter).withReturnType<number>()

export const retire = define(Lua.contracts.retire).withReturnType<number>()

export const beat = define(Lua.contracts.beat)
  // name, parked, dead-lettered now, ... for every name with parked tasks
  .withReturnType<ReadonlyArray<string | number>>()
