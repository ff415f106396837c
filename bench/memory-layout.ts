/**
 * Memory per waiting unique task, part by part (bench/README.md, "Memory per waiting unique task"): writes 10,000
 * copies of a candidate layout (a task record (a field of the queue's records hash, packed, as stored now; or a hash of
 * its own, as stored before), its id in the ready list, its lock (a field of the queue's locks hash, as stored now; or
 * a key of its own, as before)) into an empty private
 * `redis-server` with one Lua loop, and prints the `used_memory` delta per copy, the allocator's rounding included.
 * Ids are 16 characters, as `randomId`'s; the lock value is `<fence>:<id>`; the default unique key is the task
 * name and 32 hex digits, `u<n>` the id the BullMQ peer gives deduplication. Usage: `node bench/memory-layout.ts`.
 */
import { Redis as IORedis } from "ioredis"
import { startServer, usedMemory } from "./lib/redis.ts"

const count = 10_000
// Lua pieces: `i` is the copy's number, `id` its task id, `h` a 32-hex hash, `fence` a 16-digit fence
const prelude =
  "local id = string.format('Q%015d', i); local h = redis.sha1hex(tostring(i)):sub(1, 32); " +
  "local fence = string.format('1796278199%06d', i % 1000000)"
const record = (extra: string) =>
  `redis.call('HSET', 'hq:{cost}:task:' .. id, 'n', 'bench-noop', 'p', '{"n":' .. i .. '}', 's', 'q', 'e', '1796278199610'${extra})`
const ready = "redis.call('LPUSH', 'hq:{cost}:ready', id)"
// the record as a field of the queue's records hash, packed (includes.lua, recSave): what is stored now
const packed = (extra: string) =>
  `redis.call('HSET', 'hq:{cost}:tasks', id, cmsgpack.pack({ n = 'bench-noop', p = '{"n":' .. i .. '}', s = 'q', e = '1796278199610'${extra} }))`
const packedLock = (l: string) => `, lp = 'bench-lock:', l = ${l}, lt = '3600000'`
const defaultKey = "'bench-lock:{cost}:bench-noop:' .. h"
const shortKey = "'bench-lock:{cost}:u' .. i"
const lock = (key: string, value = "fence .. ':' .. id", ttl = ", 'PX', 3600000") =>
  `redis.call('SET', ${key}, ${value}${ttl})`
// the lock as a field of the queue's locks hash (uniqueLock.lua, ulockWrite): stored now
const hashLock = (key: string) => `redis.call('HSET', 'hq:{cost}:locks', ${key}, fence .. ':1796281799610:' .. id)`
const fields = (key: string) => `, 'lp', 'bench-lock:', 'l', ${key}, 'lt', 3600000`
const defaultL = "'bench-noop:' .. h"
// a default key with half the hash (16 hex digits): what a shorter default key would store
const short16Key = "'bench-lock:{cost}:bench-noop:' .. h:sub(1, 16)"
const short16L = "'bench-noop:' .. h:sub(1, 16)"
const shortL = "'u' .. i"

const layouts: ReadonlyArray<readonly [string, string]> = [
  ["plain task, packed in the records hash (stored now)", `${packed("")} ${ready}`],
  ["plain task, a hash per task (before)", `${record("")} ${ready}`],
  [
    "unique, default key: packed record, lock in the locks hash (now)",
    `${packed(packedLock(defaultL))} ${ready} ${hashLock(defaultKey)}`
  ],
  [
    "unique, default key: packed record, a lock key (before)",
    `${packed(packedLock(defaultL))} ${ready} ${lock(defaultKey)}`
  ],
  ["unique, default key: a hash per task (before)", `${record(fields(defaultL))} ${ready} ${lock(defaultKey)}`],
  [
    "unique, default key: record without lp",
    `${record(`, 'l', ${defaultL}, 'lt', 3600000`)} ${ready} ${lock(defaultKey)}`
  ],
  ["unique, default key: record with l only", `${record(`, 'l', ${defaultL}`)} ${ready} ${lock(defaultKey)}`],
  ["unique, default key: no lock field in the record", `${record("")} ${ready} ${lock(defaultKey)}`],
  [
    "unique, default key: lp, l, lt packed in one field",
    `${record(`, 'u', '3600000,11,bench-lock:' .. ${defaultL}`)} ${ready} ${lock(defaultKey)}`
  ],
  ["unique, key u<n>: a hash per task (before)", `${record(fields(shortL))} ${ready} ${lock(shortKey)}`],
  ["unique, key u<n>: record without lp", `${record(`, 'l', ${shortL}, 'lt', 3600000`)} ${ready} ${lock(shortKey)}`],
  ["unique, key u<n>: no lock field in the record", `${record("")} ${ready} ${lock(shortKey)}`],
  [
    "unique, default key of 16 hex digits: a hash per task (before)",
    `${record(fields(short16L))} ${ready} ${lock(short16Key)}`
  ],
  [
    "unique, 16 hex digits, no lp, lock value the id, no TTL",
    `${record(`, 'l', ${short16L}, 'lt', 3600000`)} ${ready} ${lock(short16Key, "id", "")}`
  ],
  ["lock key alone, default key", lock(defaultKey)],
  ["lock in the locks hash alone, default key", hashLock(defaultKey)],
  ["lock in the locks hash alone, name without lock prefix and tag", hashLock(defaultL)],
  ["lock key alone, default key, no TTL", lock(defaultKey, undefined, "")],
  ["lock key alone, default key, value: the id alone", lock(defaultKey, "id")],
  ["lock key alone, key u<n>", lock(shortKey)],
  ["BullMQ's deduplication key alone (integer value, no TTL)", "redis.call('SET', 'bull:cost:de:u' .. i, i)"]
]

const server = await startServer()
const admin = new IORedis(server.url)
try {
  for (const [label, body] of layouts) {
    await admin.flushall()
    const before = await usedMemory(admin)
    await admin.eval(`for i = 1, ${count} do ${prelude}; ${body} end return 1`, 0)
    const after = await usedMemory(admin)
    console.log(`${label.padEnd(62)} ${Math.round((after - before) / count)} bytes`)
  }
} finally {
  admin.disconnect()
  await server.stop()
}
