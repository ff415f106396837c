/**
 * What the producer and the worker share: the task definitions and the backend. Both processes
 * import this file; a task's name and schemas are its contract between them.
 */
import { Config, Effect, Layer, Schema } from "effect"
import { Heimdall, RedisIoredis, Task } from "effect-heimdall"

export const RenderInvoice = Task.make("render-invoice", {
  payload: Schema.Struct({ invoiceId: Schema.Number, pages: Schema.Number }),
  success: Schema.String,
  timeout: "5 minutes"
})

// Redis from REDIS_URL; the queue's name from HEIMDALL_QUEUE (default "invoices").
export const HeimdallLive = Layer.unwrap(
  Effect.map(Config.String("HEIMDALL_QUEUE").pipe(Config.withDefault("invoices")), (queue) =>
    Heimdall.layerRedis({ queue, retention: "7 days" })
  )
).pipe(Layer.provide(RedisIoredis.layerConfig({ commandTimeout: "5 seconds" })))
