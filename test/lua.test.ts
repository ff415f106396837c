/**
 * Static checks of the Lua scripts: every file documents its contract, and
 * its name's key count matches the KEYS it uses.
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"

const dir = fileURLToPath(new URL("../src/internal/redis/lua/", import.meta.url))
const files = readdirSync(dir).filter((f) => f.endsWith(".lua"))

describe("Lua scripts", () => {
  it("exist", () => assert.isAbove(files.length, 0))
  for (const file of files) {
    it(`${file}: contract header and key count`, () => {
      const source = readFileSync(dir + file, "utf8")
      assert.match(source, /^--\[\[\n[\s\S]*Input:[\s\S]*Output:[\s\S]*\]\]/, "a header with Input and Output")
      const count = /-(\d+|N)\.lua$/.exec(file)?.[1]
      assert.isDefined(count)
      const used = [...source.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]))
      if (count === "N") {
        assert.notMatch(
          source.replace(/^--\[\[[\s\S]*?\]\]/, ""),
          /KEYS\[\d+\]/,
          "N-key scripts index KEYS dynamically"
        )
      } else {
        assert.strictEqual(Math.max(0, ...used), Number(count), "highest KEYS index = key count in the name")
        for (let k = 1; k <= Number(count); k++) assert.include(source, `KEYS[${k}]`, `KEYS[${k}] documented and used`)
      }
      assert.notMatch(source, /redis\.call\(\s*["'](KEYS|SCAN|FLUSHALL|FLUSHDB)["']/i, "no keyspace-wide commands")
    })
  }
})
