import { Layer } from "effect"
import * as TaskQueue from "../src/TaskQueue.ts"
import { QueueUnderTest, queueSuite } from "./QueueSuite.ts"
import type { Backend } from "./support/backends.ts"
import { conformance } from "./support/backends.ts"

const memory: Backend<QueueUnderTest> = {
  name: "memory",
  redis: false,
  layer: Layer.succeed(QueueUnderTest, {
    layer: (queue, options) => TaskQueue.layerMemoryWith({ ...options, queue }),
    redis: undefined,
    prefix: ""
  })
}

conformance("Task queue", [memory], queueSuite)
