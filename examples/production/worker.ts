/**
 * A worker process: runs tasks from Redis until SIGTERM (or SIGINT), then drains: it takes no new
 * task, lets the running ones finish within `gracePeriod`, releases whatever is left for other
 * workers, closes its connections and exits 0.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 node examples/production/worker.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Config, Duration, Effect, Exit, Layer, Logger, Runtime } from "effect"
import { Task, Worker } from "effect-heimdall"
import { HeimdallLive, RenderInvoice } from "./shared.ts"

const RenderInvoiceLive = Task.implement(RenderInvoice, ({ invoiceId, pages }) =>
  Effect.gen(function* () {
    const { id, attempt } = yield* Task.CurrentTask
    yield* Effect.log("rendering").pipe(Effect.annotateLogs({ taskId: id, invoiceId, attempt }))
    yield* Effect.sleep(Duration.millis(pages * 100)) // the real work
    yield* Effect.log("rendered").pipe(Effect.annotateLogs({ taskId: id, invoiceId }))
    return `invoice-${invoiceId}.pdf`
  })
)

const WorkerLive = Layer.unwrap(
  Effect.map(Config.Int("CONCURRENCY").pipe(Config.withDefault(8)), (concurrency) =>
    Worker.layer({
      tasks: [RenderInvoiceLive],
      concurrency,
      lease: "30 seconds", // a dead worker's tasks run elsewhere at most this long after its last renewal
      gracePeriod: "30 seconds" // keep it below the orchestrator's kill timeout (Kubernetes: 30 s by default)
    })
  )
).pipe(
  Layer.tap(() =>
    Effect.log("worker started").pipe(
      // runs first when the worker's scope closes, before the drain
      Effect.andThen(Effect.addFinalizer(() => Effect.log("worker stopping: draining the running tasks")))
    )
  ),
  Layer.provide(HeimdallLive),
  Layer.provide(Logger.layer([Logger.consoleJson])) // one JSON object per line
)

// SIGTERM interrupts the program, so its exit is an interruption: after a drain, that is a clean stop.
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

Layer.launch(WorkerLive).pipe(NodeRuntime.runMain({ teardown }))
