/**
 * The memory backend's ready line (src/internal/queue/line.ts) against a plain array doing the same operations: the
 * same ids in the same order through pushes, shifts past the compaction threshold, unshifts and removals.
 */
import { assert, describe, it } from "@effect/vitest"
import { Line } from "../src/internal/queue/line.ts"

describe("Line", () => {
  it("agrees with an array through 20,000 pushes, shifts, unshifts and removals, across compactions", () => {
    const line = new Line()
    const model: Array<string> = []
    let next = 0
    // a fixed pseudo-random sequence (LCG): the same run every time
    let seed = 42
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed / 2147483648
    }
    for (let step = 0; step < 20_000; step++) {
      const r = random()
      if (r < 0.5) {
        const id = `t${next++}`
        line.push(id)
        model.push(id)
      } else if (r < 0.9) {
        assert.strictEqual(line.shift(), model.shift())
      } else if (r < 0.95) {
        const id = `t${next++}`
        line.unshift(id)
        model.unshift(id)
      } else if (model.length > 0) {
        const i = Math.floor(random() * model.length)
        const id = model[i]!
        assert.strictEqual(line.indexOf(id), i)
        assert.strictEqual(line.lastIndexOf(id), i)
        line.removeAt(i)
        model.splice(i, 1)
      }
      assert.strictEqual(line.length, model.length)
    }
    assert.deepStrictEqual(line.first(5), model.slice(0, 5))
    assert.strictEqual(line.at(0), model[0])
    assert.strictEqual(line.at(model.length), undefined)
    assert.strictEqual(line.indexOf("never"), -1)
    // an id shifted out is gone, even while its slot is still in the array before a compaction
    const taken = line.shift()!
    model.shift()
    assert.strictEqual(line.indexOf(taken), -1)
    assert.strictEqual(line.lastIndexOf(taken), -1)
    while (line.length > 0) assert.strictEqual(line.shift(), model.shift())
    assert.strictEqual(line.shift(), undefined)
  })

  it("100,000 pushes then shifts come out in order across many compactions", () => {
    const line = new Line()
    for (let i = 0; i < 100_000; i++) line.push(`t${i}`)
    for (let i = 0; i < 100_000; i++) assert.strictEqual(line.shift(), `t${i}`)
    assert.strictEqual(line.length, 0)
  })
})
