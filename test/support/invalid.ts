/** Assertions on the validation policy's errors, shared by the conformance suites. */
import { assert } from "@effect/vitest"
import { InvalidArgument } from "../../src/Errors.ts"

/** Asserts a typed `InvalidArgument` for `option`, whose message names the option and the value as given. */
export const assertInvalid = (error: unknown, option: string, value: string) => {
  assert.instanceOf(error, InvalidArgument, `expected InvalidArgument for ${option}, got ${String(error)}`)
  const e = error as InvalidArgument
  assert.strictEqual(e._tag, "InvalidArgument")
  assert.strictEqual(e.argument, option)
  assert.strictEqual(e.value, value)
  assert.include(e.message, option)
  assert.include(e.message, value)
  assert.isAbove(e.reason.length, 0)
}

/** What `f` throws (it must throw). */
export const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  return assert.fail("expected a throw")
}
