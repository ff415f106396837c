/**
 * Static checks of every Lua script (the queue's and the primitives'), one header style for all: a script opens with
 * a block of `--` lines, `-- <name>: <what it does>`, then `Input:` (every KEYS[i] and ARGV[i] it uses, one a line,
 * each named and typed: `--   KEYS[i] <name>: ...`, `--   ARGV[i] <name> (<type>): ...`, see scripts/gen-lua.mjs)
 * and `Output:`. The KEYS the header documents, the KEYS the code uses and the key count in the file name
 * (`<name>-<keys>.lua`, or `-N` for a script that takes any number) agree; the generated contract has the header's
 * parameters; time comes from Redis TIME only; key names come from KEYS (or a prefix in KEYS/ARGV), never from a
 * literal; no keyspace-wide command.
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as QueueLua from "../src/internal/queue/lua.generated.ts"
import * as RedisLua from "../src/internal/redis/lua.generated.ts"

const root = fileURLToPath(new URL("../src/internal/", import.meta.url))
const generated = { queue: QueueLua, redis: RedisLua } as unknown as Record<string, Record<string, string>>
/** The generated contracts, untyped: key count, parameter names, each object parameter's fields. */
const contracts: Record<
  string,
  Record<
    string,
    {
      readonly keys: number | "N"
      readonly args: ReadonlyArray<string>
      readonly fields?: Readonly<Record<string, ReadonlyArray<string>>>
    }
  >
> = {
  queue: QueueLua.contracts,
  redis: RedisLua.contracts
}
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
  // a first line with Dragonfly's script flags (scripts/gen-lua.mjs) is not part of the header
  const lines = lua.split("\n").filter((line, i) => i > 0 || !line.startsWith("--!df "))
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

/** One `KEYS[...]`/`ARGV[...]` line of an Input section: index, name (`group.field` for an object's field), type. */
const entryLine =
  /^-- {3}(KEYS|ARGV)\[(\d+|\d+\.\.|\d+\.\.\d+|1\.\.k)\] ([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)(?: \(([^()]+)\))?: +\S/
/** A description continued: 5 or more spaces. */
const continuation = /^-- {5,}\S/
/** The type of a list that takes the rest of ARGV: its entries' fields, each a string or a number. */
const listType = /^list of \[[A-Za-z_]\w*: (string|number)(, [A-Za-z_]\w*: (string|number))*\]$/

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
        // a range KEYS[i..j] (the hand-off inboxes) is one tuple parameter; the code takes it as unpack(KEYS, i, j)
        const ranges = inputs.flatMap((l) => {
          const m = /^-- {3}KEYS\[(\d+)\.\.(\d+)\] /.exec(l)
          return m ? [[Number(m[1]), Number(m[2])] as const] : []
        })
        const inRanges = ranges.flatMap(([i, j]) => Array.from({ length: j - i + 1 }, (_, k) => i + k))
        const single = indices(inputs, /^-- {3}KEYS\[(\d+)\] /g)
        assert.deepStrictEqual(
          [...single, ...inRanges].sort((a, b) => a - b),
          oneTo(n),
          "the header documents KEYS[1..n]"
        )
        for (const [i, j] of ranges)
          assert.isTrue(
            code.some((l) => l.includes(`unpack(KEYS, ${i}, ${j})`)),
            `the code takes KEYS[${i}..${j}]`
          )
        assert.deepStrictEqual(keysUsed, single, "the code uses KEYS[1..n]")
        assert.deepStrictEqual(
          indices(header.slice(0, input).concat(header.slice(output)), /^-- {3}KEYS\[(\d+)\] /g),
          [],
          "KEYS documented under Input only"
        )
      }
      const documented = indices(inputs, /^-- {3}ARGV\[(\d+)(?:\.\.)?\] /g)
      assert.deepStrictEqual(documented, oneTo(documented.length), "ARGV documented in order, from 1")
      const rest = inputs.some((l) => /^-- {3}ARGV\[\d+\.\.\] /.test(l)) ? documented.at(-1)! : Infinity
      for (const i of indices(code, /ARGV\[(\d+)\]/g))
        assert.isTrue(documented.includes(i) || i >= rest, `ARGV[${i}] documented`)
    })

    it(`${path}: every Input line names and types its parameter; the generated contract has them`, () => {
      const header = headerOf(read(path))
      const inputs = header.slice(
        header.indexOf("-- Input:") + 1,
        header.findIndex((l) => /^-- Output:/.test(l))
      )
      const keys: Array<string> = []
      let keyCount = 0
      const args: Array<string> = []
      const fields: Record<string, Array<string>> = {}
      for (const [i, line] of inputs.entries()) {
        if (continuation.test(line) && i > 0) continue
        const entry = entryLine.exec(line)
        assert.isNotNull(entry, `a KEYS or ARGV line, or a continuation: ${line}`)
        const [, kind, index, name, type] = entry!
        if (kind === "KEYS") {
          assert.isUndefined(type, `KEYS are strings: ${line}`)
          assert.notInclude(name, ".", `a key is no object's field: ${line}`)
          assert.notInclude(keys, name, `one name per key: ${line}`)
          keys.push(name!)
          const range = /^(\d+)\.\.(\d+)$/.exec(index!)
          keyCount += range ? Number(range[2]) - Number(range[1]) + 1 : 1
          continue
        }
        assert.notStrictEqual(index, "1..k", `ARGV are numbered: ${line}`)
        const list = listType.test(type ?? "")
        assert.isTrue(list || [undefined, "string", "number", "boolean"].includes(type), `a known type: ${line}`)
        assert.strictEqual(index!.endsWith(".."), list, `a list, and only a list, takes the rest of ARGV: ${line}`)
        const [param, field] = name!.split(".") as [string, string | undefined]
        if (field !== undefined && fields[param] && args.at(-1) === param) {
          assert.notInclude(fields[param]!, field, `one name per field: ${line}`)
          fields[param]!.push(field)
          continue
        }
        assert.notInclude(args, param, `one name per parameter (an object's fields are consecutive): ${line}`)
        args.push(param)
        if (field !== undefined) fields[param] = [field]
      }
      const contract = contracts[folder]![/^(\w+)-/.exec(file)![1]!]!
      assert.deepStrictEqual(contract.keys, file.endsWith("-N.lua") ? "N" : keyCount, "generated key count")
      assert.deepStrictEqual(contract.args, args, "generated parameters (npm run gen)")
      assert.deepStrictEqual(contract.fields ?? {}, fields, "generated object fields (npm run gen)")
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
    assert.include(read("queue/lua/claim-30.lua"), "math.max(1, tonumber(ARGV[7]))")
    assert.include(read("queue/lua/completeClaim-30.lua"), "math.max(1, tonumber(ARGV[10]))")
  })
})
