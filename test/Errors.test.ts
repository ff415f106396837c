/**
 * Every error class the library exports says what and why: a non-empty `message` that names its subject (the
 * task id and name, the key, the option and its value). The list of classes is read from the package's exports,
 * so a new error class without a case here fails this test.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Schema } from "effect"
import * as Library from "../src/index.ts"
import { InvalidArgument } from "../src/index.ts"

/** Every exported class that extends `Error`, at the top level or in a module namespace, by its name. */
const exportedErrorClasses = (): Map<string, new (...args: Array<any>) => Error> => {
  const found = new Map<string, new (...args: Array<any>) => Error>()
  const visit = (value: unknown, depth: number) => {
    if (typeof value === "function" && value.prototype instanceof Error) {
      found.set(value.name, value as new (...args: Array<any>) => Error)
    } else if (depth === 0 && value !== null && typeof value === "object") {
      for (const inner of Object.values(value)) visit(inner, depth + 1)
    }
  }
  for (const value of Object.values(Library)) visit(value, 0)
  return found
}

/** An instance of each error class, and the parts its message must name. */
const cases: Record<string, { readonly error: Error; readonly names: ReadonlyArray<string> }> = {
  LockTaken: {
    error: new Library.LockTaken({ key: "report:42", holder: "task-7", expiresIn: Duration.millis(1500) }),
    names: ["report:42", "task-7", "1500"]
  },
  LockLost: { error: new Library.LockLost({ key: "report:42", owner: "task-7" }), names: ["report:42", "task-7"] },
  RateLimited: {
    error: new Library.RateLimited({
      key: "partner-api",
      retryAfter: Duration.millis(250),
      limit: { times: 2, per: Duration.seconds(1) },
      remaining: 0
    }),
    names: ["partner-api", "250"]
  },
  ConcurrencyLimited: {
    error: new Library.ConcurrencyLimited({ key: "renderer", limit: 3, holders: 3, retryAfter: Duration.millis(10) }),
    names: ["renderer", "3/3"]
  },
  AlreadyQueued: {
    error: new Library.AlreadyQueued({
      taskName: "report",
      key: "report:abc",
      likelyCulprit: "task-7",
      expiresIn: Duration.millis(900)
    }),
    names: ["report", "report:abc", "task-7"]
  },
  InvalidArgument: {
    error: new InvalidArgument({ argument: "rateLimit.times", value: "0", reason: "must be a positive integer" }),
    names: ["rateLimit.times", "0", "must be a positive integer"]
  },
  TaskTimeout: {
    error: new Library.Task.TaskTimeout({ taskId: "id-1", taskName: "report", timeoutMillis: 5000 }),
    names: ["id-1", "report", "5000"]
  },
  TaskDefect: {
    error: new Library.Task.TaskDefect({ taskId: "id-1", taskName: "report", defect: "Error: boom" }),
    names: ["id-1", "report", "Error: boom"]
  },
  TaskDeadLettered: {
    error: new Library.Task.TaskDeadLettered({ taskId: "id-1", taskName: "report", reason: "payload does not decode" }),
    names: ["id-1", "report", "payload does not decode"]
  },
  TaskNotFound: { error: new Library.Task.TaskNotFound({ taskId: "id-1" }), names: ["id-1"] },
  TaskCancelled: {
    error: new Library.Task.TaskCancelled({ taskId: "id-1", taskName: "report" }),
    names: ["id-1", "report"]
  },
  ReplicationTimeout: {
    error: new Library.ReplicationTimeout({ acknowledged: 0, required: 2, timeoutMillis: 250 }),
    names: ["0 of 2", "250 ms"]
  },
  TaskStateConflict: {
    error: new Library.Admin.TaskStateConflict({ taskId: "id-1", state: "succeeded", action: "cancel" }),
    names: ["id-1", "succeeded", "cancel"]
  },
  TaskSkipped: {
    error: new Library.Task.TaskSkipped({ taskId: "id-1", taskName: "report", reason: "key held by id-2" }),
    names: ["id-1", "report", "key held by id-2"]
  },
  TaskNameMismatch: {
    error: new Library.Task.TaskNameMismatch({ taskId: "id-1", expected: "report", actual: "invoice" }),
    names: ["id-1", "report", "invoice"]
  }
}

describe("errors say what and why", () => {
  it("the cases cover every exported error class", () => {
    assert.deepStrictEqual([...exportedErrorClasses().keys()].sort(), Object.keys(cases).sort())
  })

  it("every message is non-empty and names its subject, also in String(error)", () => {
    for (const [name, { error, names }] of Object.entries(cases)) {
      assert.strictEqual(error.constructor.name, name)
      assert.isAbove(error.message.length, 0, `${name} has an empty message`)
      for (const part of names) {
        assert.include(error.message, part, `${name}'s message does not name ${part}`)
        assert.include(String(error), part, `String(${name}) does not name ${part}`)
      }
    }
  })

  it.effect("each survives a JSON round trip with the same message", () =>
    Effect.gen(function* () {
      for (const [name, { error }] of Object.entries(cases)) {
        const codec = Schema.fromJsonString(Schema.toCodecJson(error.constructor as any))
        const back = (yield* Schema.decodeUnknownEffect(codec)(yield* Schema.encodeEffect(codec)(error))) as Error
        assert.strictEqual(back.message, error.message, name)
      }
    })
  )
})
