import { Layer } from "effect"
import * as Heimdall from "../src/Heimdall.ts"
import { QueueUnderTest, queueSuite } from "./QueueSuite.ts"
import type { Backend } from "./support/backends.ts"
import { conformance } from "./support/backends.ts"

const memory: Backend<QueueUnderTest> = {
  name: "memory",
  redis: false,
  layer: Layer.succeed(QueueUnderTest, {
    layer: (queue, options) => Heimdall.layerMemoryWith({ ...options, queue }),
    redis: undefined,
    prefix: ""
  })
}

// the memory backend checks `partitions` and keeps one partition: the suite holds for it as for one
const partitioned: Backend<QueueUnderTest> = {
  name: "memory, 3 partitions",
  redis: false,
  layer: Layer.succeed(QueueUnderTest, {
    layer: (queue, options) => Heimdall.layerMemoryWith({ partitions: 3, ...options, queue }),
    redis: undefined,
    prefix: ""
  })
}

conformance("Task queue", [memory, partitioned], queueSuite)
