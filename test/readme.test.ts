/**
 * The README's examples are the files in examples/: each code block marked
 * `<!-- example: examples/<file> -->` must be that file, word for word.
 */
import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"

const root = new URL("../", import.meta.url)
const readme = readFileSync(new URL("README.md", root), "utf8")
const blocks = [...readme.matchAll(/<!-- example: (\S+) -->\n```ts\n([\s\S]*?)\n```/g)]

describe("README", () => {
  it("embeds the examples", () => assert.isAtLeast(blocks.length, 7))
  for (const [, file, code] of blocks) {
    it(`shows ${file} as it is`, () => {
      assert.strictEqual(code, readFileSync(new URL(file!, root), "utf8").trimEnd())
    })
  }
  it("shows the test and demo commands", () => {
    assert.include(readme, "npm test")
    assert.include(readme, "npm run demo")
  })
})
