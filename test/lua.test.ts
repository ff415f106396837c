/**
 * Static checks of every Lua script (the queue's and the primitives'), one header style for all: a script opens with
 * a block of `--` lines, `-- <name>: <what it does>`, then `Input:` (every KEYS[i] and ARGV[i] it uses, one a line)
 * and `Output:`. The KEYS the header documents, the KEYS the code uses and the key count in the file name
 * (`<name>-<keys>.lua`, or `-N` for a script that takes any number) agree; time comes from Redis TIME only; key names
 * come from KEYS (or a prefix in KEYS/ARGV), never from a literal; no keyspace-wide command.
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as QueueLua from "../src/internal/queue/lua.generated.ts"
import * as RedisLua from "../src/internal/redis/lua.generated.ts"

const root = fileURLToPath(new URL("../src/internal/", import.meta.url))
const generated = { queue: QueueLua, redis: RedisLua } as unknown as Record<string, Record<string, string>>
const helperFiles = [
  ...readdirSync(`${root}lua/`)
    .filter((f) => f.endsWith(".lua"))
    .map((f) => `lua/${f}`),
  "queue/lua/includes.lua",
  "redis/lua/includes.lua"
]
const scripts = Object.keys(generated).flatMap((folder) =>
  readdirSync(`${root}${folder}/lua/`)
    .filter((f) => f.endsWith(".lua") && f !== "includes.lua")
    .map((file) => ({ folder, file, path: `${folder}/lua/${file}` }))
)
const read = (path: string) => readFileSync(root + path, "utf8")

/** The leading block of `--` lines. */
const headerOf = (lua: string) => {
  const lines = lua.split("\n")
  const end = lines.findIndex((l) => !l.startsWith("--"))
  return lines.slice(0, end === -1 ? lines.length : end)
}
/** The code without comments (whole-line and trailing). */
const codeOf = (lua: string) =>
  lua
    .split("\n")
    .filter((l) => !l.trimStart().startsWith("--"))
    .map((l) => l.replace(/\s--\s.*$/, ""))
    .join("\n")
const indices = (lines: ReadonlyArray<string>, pattern: RegExp) =>
  [...new Set(lines.flatMap((l) => [...l.matchAll(pattern)].map((m) => Number(m[1]))))].sort((a, b) => a - b)
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

describe("Lua scripts", () => {
  it("exist in both folders", () => {
    for (const folder of Object.keys(generated))
      assert.isAbove(scripts.filter((s) => s.folder === folder).length, 0, folder)
  })

  for (const { folder, file, path } of scripts) {
    it(`${path}: header, KEYS and file name agree; ARGV documented`, () => {
      const lua = read(path)
      const [, name, count] = /^(\w+)-(\d+|N)\.lua$/.exec(file) ?? []
      assert.isDefined(name, "file name <name>-<key count or N>.lua")
      assert.isDefined(generated[folder]![name!], "generated (npm run gen)")
      const header = headerOf(lua)
      assert.match(header[0] ?? "", new RegExp(`^-- ${name}: \\S`), "the header opens with `-- <name>: ...`")
      const input = header.indexOf("-- Input:")
      const output = header.findIndex((l) => l === "-- Output:" || l.startsWith("-- Output: "))
      assert.isTrue(input > 0, "an Input section")
      assert.isTrue(output > input, "an Output section after Input")
      const inputs = header.slice(input + 1, output)
      const code = codeOf(lua).split("\n")
      const keysUsed = indices(code, /KEYS\[(\d+)\]/g)
      if (count === "N") {
        assert.isTrue(
          inputs.some((l) => /^-- {3}KEYS\[1\.\.\w+\] /.test(l)),
          "KEYS[1..k] documented"
        )
        assert.deepStrictEqual(keysUsed, [], "N-key scripts index KEYS dynamically")
      } else {
        const n = Number(count)
        assert.deepStrictEqual(indices(inputs, /^-- {3}KEYS\[(\d+)\] /g), oneTo(n), "the header documents KEYS[1..n]")
        assert.deepStrictEqual(keysUsed, oneTo(n), "the code uses KEYS[1..n]")
        assert.deepStrictEqual(
          indices(header.slice(0, input).concat(header.slice(output)), /^-- {3}KEYS\[(\d+)\] /g),
          [],
          "KEYS documented under Input only"
        )
      }
      const documented = indices(inputs, /^-- {3}ARGV\[(\d+)\] /g)
      assert.deepStrictEqual(documented, oneTo(documented.length), "ARGV documented in order, from 1")
      for (const i of indices(code, /ARGV\[(\d+)\]/g)) assert.include(documented, i, `ARGV[${i}] documented`)
    })
  }

  for (const { folder, path } of scripts) {
    const name = /(\w+)-/.exec(path.split("/").pop()!)![1]!
    it(`${path}: time only from Redis TIME, as shipped`, () => {
      const shipped = codeOf(generated[folder]![name]!)
      assert.notMatch(shipped, /\bos\.(time|clock|date)\b/, "no other clock")
      if (/\bnow\b/.test(shipped)) assert.include(shipped, `redis.call("TIME")`, "now comes from TIME")
      for (const l of headerOf(read(path)))
        assert.notMatch(l, /ARGV\[\d+\]\s+(now|the time|current time|timestamp)\b/i, "no caller's clock in ARGV")
    })
  }

  for (const path of [...scripts.map((s) => s.path), ...helperFiles]) {
    it(`${path}: key names from KEYS or prefixes, never literals; no keyspace-wide command`, () => {
      const code = codeOf(read(path))
      // key-taking commands get KEYS[n], a prefix from KEYS/ARGV .. id, or a helper's parameter
      assert.notMatch(code, /redis\.call\("\w+", "[^"]*:/, "builds no key names from literals")
      assert.notMatch(code, /redis\.call\(\s*["'](KEYS|SCAN|FLUSHALL|FLUSHDB)["']/i, "no keyspace-wide commands")
    })
  }

  it("claims scan scheduled and running ranges only behind an O(1) read of their first entry", () => {
    const lua = read("queue/lua/includes.lua") // claimTasks, shared by claim and completeClaim
    for (const key of ["scheduledKey", "runningKey"]) {
      const scan = lua.indexOf(`redis.call("ZRANGEBYSCORE", ${key}`)
      const peek = lua.indexOf(`redis.call("ZRANGE", ${key}, 0, 0, "WITHSCORES")`)
      assert.isAbove(scan, -1, `claim scans ${key}`)
      assert.isTrue(peek > -1 && peek < scan, `claim reads ${key}'s first score before scanning it`)
      assert.match(lua.slice(peek, scan), /if \w+\[2\] and tonumber\(\w+\[2\]\) <= now then/)
    }
    // a batch claim: each later task's token is the claim's token .. ":" .. n
    assert.match(lua, /[tT]oken \.\. ":" \.\. n/)
    assert.include(read("queue/lua/claim-8.lua"), "math.max(1, tonumber(ARGV[7]))")
    assert.include(read("queue/lua/completeClaim-8.lua"), "math.max(1, tonumber(ARGV[10]))")
  })
})
