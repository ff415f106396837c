import { Layer } from "effect"
import * as Heimdall from "../src/Heimdall.ts"
import { AdminUnderTest, adminSuite } from "./AdminSuite.ts"
import type { Backend } from "./support/backends.ts"
import { conformance } from "./support/backends.ts"

const memory: Backend<AdminUnderTest> = {
  name: "memory",
  redis: false,
  layer: Layer.succeed(AdminUnderTest, {
    layer: (queue, options) => Heimdall.layerMemoryWith({ ...options, queue }),
    redis: undefined,
    prefix: ""
  })
}

conformance("Admin", [memory], adminSuite)
