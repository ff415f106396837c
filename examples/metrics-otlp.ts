/**
 * Metrics: the `heimdall_*` metrics (tasks, rate limits, locks) exported with
 * OpenTelemetry through Effect's own OTLP metrics exporter
 * (`effect/observability`), to any OTLP/HTTP collector: the OpenTelemetry
 * Collector, Grafana Alloy, Prometheus' OTLP receiver...
 *
 *   OTLP_METRICS_URL=http://127.0.0.1:4318/v1/metrics node examples/metrics-otlp.ts
 *   REDIS_URL=redis://127.0.0.1:6379 OTLP_METRICS_URL=... node examples/metrics-otlp.ts
 *
 * The metrics are recorded in each process (producers count enqueues,
 * workers the rest) and exported every `exportInterval`, and once more when
 * the layer closes.
 */
import { Config, Effect, Layer, Metric, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpMetrics, OtlpSerialization } from "effect/observability"
import { Heimdall, Task, Worker } from "effect-heimdall"
import { HeimdallLive } from "./backend.ts"

// 1. The exporter: OTLP over HTTP (JSON here; `OtlpSerialization.layerProtobuf` for protobuf).
const MetricsLive = Layer.unwrap(
  Effect.map(Config.String("OTLP_METRICS_URL").pipe(Config.withDefault("http://127.0.0.1:4318/v1/metrics")), (url) =>
    OtlpMetrics.layer({
      url,
      resource: { serviceName: "heimdall-example", serviceVersion: "1.0.0" },
      exportInterval: "10 seconds"
    })
  )
).pipe(Layer.provide([OtlpSerialization.layerJson, FetchHttpClient.layer]))

// 2. Tasks and primitives record their metrics as they run: nothing to add to the program.
const SendEmail = Task.make("send-email", { payload: Schema.String })
const SendEmailLive = Task.implement(SendEmail, (to) => Effect.sleep("20 millis").pipe(Effect.as(to)))

const work = Effect.gen(function* () {
  const handles = yield* Effect.forEach(["a@example.com", "b@example.com", "c@example.com"], (to) =>
    Task.enqueue(SendEmail, to)
  )
  yield* Effect.forEach(handles, Task.join)
  const limits = { times: 2, per: "1 minute" } as const
  const takes = yield* Effect.forEach([1, 2, 3], () =>
    Heimdall.take("partner-api", limits).pipe(
      Effect.as("ok"),
      Effect.catchTag("RateLimited", () => Effect.succeed("denied"))
    )
  )
  yield* Heimdall.withLock(Effect.void, "report", { ttl: "10 seconds", wait: "1 second" })
  return takes
}).pipe(Effect.provide(Worker.layer({ concurrency: 2, tasks: [SendEmailLive] })))

const program = Effect.gen(function* () {
  const takes = yield* work
  // 3. The same values, read in the process (the worker has stopped: every settlement is counted).
  const sent = yield* Metric.value(Metric.withAttributes(Task.metrics.succeeded, { task: "send-email" }))
  const runs = yield* Metric.value(
    Metric.withAttributes(Task.metrics.runDuration, { task: "send-email", outcome: "success" })
  )
  console.log(`emails sent: ${sent.count}, run durations recorded: ${runs.count}; takes: ${takes.join(", ")}`)
})

program.pipe(
  Effect.provide(HeimdallLive),
  // closing this layer (last) exports once more: every value recorded above is sent
  Effect.provide(MetricsLive),
  Effect.tap(() => Effect.sync(() => console.log("exported the heimdall metrics"))),
  Effect.runPromise
)
