// Printed by `npm test`: the Node the tests actually run on (npm scripts use the pinned `node` dev dependency).
const [major] = process.versions.node.split(".").map(Number)
console.log(`effect-heimdall tests on Node ${process.version} (${process.execPath})`)
if (major < 22) {
  console.error(
    `Node ${process.version} is older than the supported minimum (22): run through npm scripts, which use node@24.`
  )
  process.exit(1)
}
