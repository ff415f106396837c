/**
 * Decoding a task record's payload, result and errors with the task definitions a caller knows (public as
 * `Inspector.decode`). A record stores them as the JSON its task's codecs encoded (`queue/task.ts`); an operator's
 * tool sees raw JSON unless it passes the definitions, and a value that no longer decodes (the schema changed since)
 * stays raw, with the reason.
 */
import { Result, Schema } from "effect"
import type { TaskRecord } from "./queue/model.ts"
import { codecs, type Schemas } from "./queue/task.ts"

/**
 * One encoded value of a record, decoded or not: `decoded` with the value when the record's task definition was
 * given and the JSON decodes with it; otherwise the raw JSON, and `problem` says why it was not decoded (no
 * definition of that name given, or the decoder's message).
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const show = (v: Inspector.DecodedValue) => (v.decoded ? v.value : `${v.json} (raw: ${v.problem})`)
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export type DecodedValue =
  | { readonly decoded: true; readonly value: unknown }
  | { readonly decoded: false; readonly json: string; readonly problem: string }

/**
 * A record's encoded values, decoded where its definition allows (see `DecodedValue`). `result` is there once the
 * task succeeded, `error` once it failed (the task's error, `TaskTimeout` or `TaskDefect`), `lastError` when a failed
 * attempt was retried. `known`: a definition with the record's name was given.
 *
 * **Example**
 *
 * ```ts
 * import type { Inspector } from "effect-heimdall"
 *
 * const failedWith = (d: Inspector.DecodedRecord) => (d.error?.decoded ? d.error.value : d.error?.json)
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export interface DecodedRecord {
  readonly known: boolean
  readonly payload: DecodedValue
  readonly result: DecodedValue | undefined
  readonly error: DecodedValue | undefined
  readonly lastError: DecodedValue | undefined
}

const raw = (json: string, problem: string): DecodedValue => ({ decoded: false, json, problem })

const with_ = (decoder: Schema.Decoder<unknown> | undefined, json: string, name: string): DecodedValue => {
  if (decoder === undefined) return raw(json, `no task definition named "${name}" was given`)
  const result = Schema.decodeUnknownResult(decoder)(json)
  return Result.isSuccess(result)
    ? { decoded: true, value: result.success }
    : raw(json, `does not decode with task "${name}": ${result.failure.message}`)
}

/**
 * Decodes a task record's payload, result and errors with the definition in `tasks` named as the record (see
 * `DecodedRecord`): values of a task not in `tasks`, or that no longer decode, stay raw JSON, with the reason. Never
 * fails.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Inspector, Task } from "effect-heimdall"
 *
 * const SendEmail = Task.make("send-email", { payload: Schema.Struct({ to: Schema.String }) })
 *
 * const payloadOf = (id: string) =>
 *   Effect.gen(function* () {
 *     const detail = yield* Inspector.Inspector.use((i) => i.task(id))
 *     return detail && Inspector.decode(detail.record, [SendEmail]).payload
 *   })
 * ```
 *
 * @category inspection
 * @since 0.2.0
 */
export const decode = (record: TaskRecord, tasks: Iterable<Schemas & { readonly name: string }>): DecodedRecord => {
  let task: Schemas | undefined
  for (const t of tasks) {
    if (t.name === record.name) {
      task = t
      break
    }
  }
  const c = task === undefined ? undefined : codecs(task)
  return {
    known: task !== undefined,
    payload: with_(c?.payload, record.payload, record.name),
    result: record.result === undefined ? undefined : with_(c?.success, record.result, record.name),
    error: record.error === undefined ? undefined : with_(c?.failure, record.error, record.name),
    lastError: record.lastError === undefined ? undefined : with_(c?.failure, record.lastError, record.name)
  }
}
