// After `npm run build`: the package as a user gets it (dist/, no "source" condition) loads and exports its API.
import * as pkg from "effect-heimdall"

const expected = [
  "Heimdall",
  "HeimdallStore",
  "RedisIoredis",
  "Task",
  "TaskQueue",
  "Worker",
  "AlreadyQueued",
  "LockTaken",
  "RateLimited"
]
const missing = expected.filter((name) => !(name in pkg))
if (missing.length > 0) {
  console.error(`dist/ is missing exports: ${missing.join(", ")}`)
  process.exit(1)
}
if (typeof pkg.Task.make !== "function" || typeof pkg.Heimdall.layerMemory !== "object") {
  console.error("dist/ exports are not the API")
  process.exit(1)
}
console.log(`dist/ loads as "effect-heimdall" with ${Object.keys(pkg).length} exports`)
