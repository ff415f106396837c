/**
 * Static checks of the queue's Lua scripts: the key count in each file name
 * matches its header contract and the KEYS it uses, and no script reads the
 * caller's clock (time comes from Redis TIME only).
 */
import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { scriptFiles } from "../src/internal/queue/scripts.ts"

const read = (file: string) => readFileSync(new URL(`../src/internal/queue/lua/${file}`, import.meta.url), "utf8")

describe("queue Lua scripts", () => {
  for (const file of scriptFiles) {
    it(`${file}: header, KEYS and file name agree`, () => {
      const lua = read(file)
      const declared = Number(/-(\d+)\.lua$/.exec(file)![1])
      const header = lua.split("\n").filter((l) => l.startsWith("--"))
      const headerKeys = header.map((l) => /KEYS\[(\d+)\]/.exec(l)?.[1]).filter((k) => k !== undefined)
      assert.deepStrictEqual(
        headerKeys.map(Number),
        Array.from({ length: declared }, (_, i) => i + 1),
        "the header documents KEYS[1..n]"
      )
      const code = lua
        .split("\n")
        .filter((l) => !l.trimStart().startsWith("--"))
        .join("\n")
      const used = [...code.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]))
      assert.isAtMost(Math.max(...used), declared)
      assert.match(header.join("\n"), /Output:/)
      // every ARGV used is documented
      const documentedArgv = new Set(header.map((l) => /ARGV\[(\d+)\]/.exec(l)?.[1]).filter((k) => k !== undefined))
      for (const m of code.matchAll(/ARGV\[(\d+)\]/g))
        assert.isTrue(documentedArgv.has(m[1]!), `ARGV[${m[1]}] documented`)
    })
  }

  it("claims scan scheduled and running ranges only behind an O(1) read of their first entry", () => {
    const lua = read("includes.lua") // claimTasks, shared by claim and completeClaim
    for (const key of ["scheduledKey", "runningKey"]) {
      const scan = lua.indexOf(`redis.call("ZRANGEBYSCORE", ${key}`)
      const peek = lua.indexOf(`redis.call("ZRANGE", ${key}, 0, 0, "WITHSCORES")`)
      assert.isAbove(scan, -1, `claim scans ${key}`)
      assert.isTrue(peek > -1 && peek < scan, `claim reads ${key}'s first score before scanning it`)
      assert.match(lua.slice(peek, scan), /if \w+\[2\] and tonumber\(\w+\[2\]\) <= now then/)
    }
    // a batch claim: each later task's token is the claim's token .. ":" .. n
    assert.match(lua, /[tT]oken \.\. ":" \.\. n/)
    assert.include(read("claim-8.lua"), "math.max(1, tonumber(ARGV[7]))")
    assert.include(read("completeClaim-8.lua"), "math.max(1, tonumber(ARGV[10]))")
  })

  it("time only from Redis TIME; every key name comes from KEYS", () => {
    const includes = read("includes.lua")
    assert.include(includes, `redis.call("TIME")`)
    for (const file of scriptFiles) {
      const lua = read(file)
      // key-taking commands get KEYS[n] or KEYS[4] .. id (claim's task-key prefix, same hash tag)
      assert.notMatch(lua, /redis\.call\("\w+", "[^"]*:/, `${file} builds no key names from literals`)
    }
  })
})
