/**
 * A producer process: enqueues invoices to render, `COUNT` of them (default 10), one every `EVERY`
 * (default 100 millis), and exits. In an application this is the web server or the scheduler; it
 * needs the task's definition and the backend, never the handler.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 node examples/production/producer.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Config, Effect, Layer, Logger } from "effect"
import { Task } from "effect-heimdall"
import { HeimdallLive, RenderInvoice } from "./shared.ts"

const program = Effect.gen(function* () {
  const count = yield* Config.Int("COUNT").pipe(Config.withDefault(10))
  const every = yield* Config.Duration("EVERY").pipe(Config.withDefault("100 millis"))
  const pages = yield* Config.Int("PAGES").pipe(Config.withDefault(3))
  for (let invoiceId = 1; invoiceId <= count; invoiceId++) {
    // once enqueue has returned, the task is in Redis: a worker will run it, even if this process dies now
    const handle = yield* Task.enqueue(RenderInvoice, { invoiceId, pages })
    yield* Effect.log("enqueued").pipe(Effect.annotateLogs({ taskId: handle.id, invoiceId }))
    yield* Effect.sleep(every)
  }
})

program.pipe(Effect.provide(Layer.merge(HeimdallLive, Logger.layer([Logger.consoleJson]))), NodeRuntime.runMain)
