/**
 * What `Task` and `Worker` share but do not export: the JSON codecs of a task,
 * the metric counters, and span links.
 */
import { Schema, Tracer } from "effect"
import { TaskDefect, TaskTimeout } from "../../Errors.ts"
import type { TraceContext } from "../../TaskQueue.ts"
import * as Metrics from "../metrics.ts"

/** The schemas of a task definition (`Task.Any`), all the codecs need; not importing `Task.ts` keeps it below it. */
export interface Schemas {
  readonly payload: Schema.Codec<any, any, never, never>
  readonly success: Schema.Codec<any, any, never, never>
  readonly error: Schema.Codec<any, any, never, never>
}

const build = (task: Schemas) => ({
  payload: Schema.fromJsonString(Schema.toCodecJson(task.payload)),
  success: Schema.fromJsonString(Schema.toCodecJson(task.success)),
  failure: Schema.fromJsonString(Schema.toCodecJson(Schema.Union([task.error, TaskTimeout, TaskDefect])))
})
const cache = new WeakMap<Schemas, ReturnType<typeof build>>()

/** The JSON codecs of a task, cached per definition. */
export const codecs = (task: Schemas): ReturnType<typeof build> => {
  let found = cache.get(task)
  if (!found) {
    found = build(task)
    cache.set(task, found)
  }
  return found
}

/** The task metrics (see `Task.metrics`); defined with the others in `internal/metrics.ts`. */
export const metrics = Metrics.taskMetrics

/** Increments one of the task counters by `by` (default 1), tagged with the task's name (built once per name). */
export const count = Metrics.countTask

/** A link to the span that enqueued a task, for the span that runs it. */
export const linkTo = (trace: TraceContext | undefined): Array<Tracer.SpanLink> =>
  trace
    ? [
        {
          span: Tracer.externalSpan({ traceId: trace.traceId, spanId: trace.spanId, sampled: trace.sampled }),
          attributes: {}
        }
      ]
    : []
