/**
 * What `Task` and `Worker` share but do not export: the JSON codecs of a task,
 * the metric counters, and span links.
 */
import { Metric, Schema, Tracer } from "effect"
import { TaskDefect, TaskTimeout } from "../../Errors.ts"
import type { TraceContext } from "../../TaskQueue.ts"

/** The schemas of a task definition (`Task.Any`), all the codecs need; not importing `Task.ts` keeps it below it. */
interface Schemas {
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

export const metrics = {
  enqueued: Metric.counter("heimdall_tasks_enqueued", { description: "Tasks enqueued", incremental: true }),
  started: Metric.counter("heimdall_tasks_started", { description: "Task attempts started", incremental: true }),
  succeeded: Metric.counter("heimdall_tasks_succeeded", { description: "Tasks succeeded", incremental: true }),
  failed: Metric.counter("heimdall_tasks_failed", { description: "Tasks failed for good", incremental: true }),
  retried: Metric.counter("heimdall_tasks_retried", { description: "Failed attempts retried", incremental: true }),
  rescheduled: Metric.counter("heimdall_tasks_rescheduled", {
    description: "Starts put off by a rate limit (no attempt spent)",
    incremental: true
  }),
  deadLettered: Metric.counter("heimdall_tasks_dead_lettered", {
    description: "Tasks dead-lettered",
    incremental: true
  }),
  passed: Metric.counter("heimdall_tasks_passed", {
    description: "Tasks a worker met and left for a worker that runs their name (mixed fleets)",
    incremental: true
  })
}

const tagged = new Map<string, Metric.Metric<number, unknown>>()

/** Increments one of the task counters, tagged with the task's name (the tagged counter is built once per name). */
export const count = (metric: keyof typeof metrics, taskName: string) => {
  const key = `${metric}\u0000${taskName}`
  let counter = tagged.get(key)
  if (counter === undefined) {
    counter = Metric.withAttributes(metrics[metric], { task: taskName })
    tagged.set(key, counter)
  }
  return Metric.update(counter, 1)
}

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
