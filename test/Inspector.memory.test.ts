import { Layer } from "effect"
import * as Heimdall from "../src/Heimdall.ts"
import { InspectorUnderTest, inspectorSuite } from "./InspectorSuite.ts"
import type { Backend } from "./support/backends.ts"
import { conformance } from "./support/backends.ts"

const memory: Backend<InspectorUnderTest> = {
  name: "memory",
  redis: false,
  layer: Layer.succeed(InspectorUnderTest, {
    layer: (queue, options) => Heimdall.layerMemoryWith({ ...options, queue }),
    redis: undefined,
    prefix: ""
  })
}

conformance("Inspector", [memory], inspectorSuite)
