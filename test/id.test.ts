import { assert, describe, it } from "@effect/vitest"
import { randomId } from "../src/internal/id.ts"

describe("randomId", () => {
  it("16 URL-safe characters, distinct, never a leading '-' (a CLI would read it as an option)", () => {
    const ids = Array.from({ length: 20_000 }, () => randomId())
    for (const id of ids) assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{15}$/)
    assert.strictEqual(new Set(ids).size, ids.length)
    // without the rule, about 1 in 64 would start with "-": 20,000 ids would have about 312 of them
    assert.isTrue(ids.filter((id) => id.startsWith("_")).length > 150)
  })
})
