// The versions CI tests. Prints what this checkout has installed of the peers (and of the Effect packages
// the tests use). With --lowest, fails unless each peer is installed at the lowest version of its range in
// package.json (CI's first run). With --newest, prints the install specs of CI's second run instead: the
// newest version of each peer within its range (asked of the registry, not of npm's cache), and the newest
// @effect/platform-node(-shared) and @effect/vitest 4.x not newer than that effect.
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"

const read = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8"))
const manifest = read("../package.json")
const peers = Object.entries(manifest.peerDependencies)

/** The newest release (no pre-release) of `name` within `range`, from the registry. */
const newest = (name, range) => {
  const found = JSON.parse(
    execFileSync("npm", ["view", `${name}@${range}`, "version", "--json", "--prefer-online"], { encoding: "utf8" })
  )
  const versions = (Array.isArray(found) ? found : [found]).filter((v) => /^\d+\.\d+\.\d+$/.test(v))
  const key = (v) => v.split(".").map(Number)
  versions.sort((a, b) => {
    const [x, y] = [key(a), key(b)]
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]
  })
  if (versions.length === 0) throw new Error(`no release of ${name} within ${range}`)
  return versions.at(-1)
}

if (process.argv.includes("--newest")) {
  const specs = peers.map(([name, range]) => [name, newest(name, range)])
  const effect = specs.find(([name]) => name === "effect")[1]
  for (const name of ["@effect/platform-node", "@effect/platform-node-shared", "@effect/vitest"]) {
    // an Effect package that is also a peer (the CLI's optional @effect/platform-node) is pinned by effect's version
    const spec = [name, newest(name, `>=4.0.0 <=${effect}`)]
    const peer = specs.findIndex(([peerName]) => peerName === name)
    if (peer === -1) specs.push(spec)
    else specs[peer] = spec
  }
  console.log(specs.map(([name, version]) => `${name}@${version}`).join(" "))
  process.exit(0)
}

const installed = (name) => read(`../node_modules/${name}/package.json`).version

// --differs "<name@version> ...": exits 0 when one of those versions differs from what is installed here, 1 when
// all are installed already (CI's second run would then repeat its first).
const differs = process.argv.indexOf("--differs")
if (differs !== -1) {
  const specs = (process.argv[differs + 1] ?? "").split(" ").filter((spec) => spec !== "")
  const changed = specs.filter((spec) => {
    const at = spec.lastIndexOf("@")
    return installed(spec.slice(0, at)) !== spec.slice(at + 1)
  })
  console.log(changed.length === 0 ? "the newest versions are the installed ones" : `newer: ${changed.join(" ")}`)
  process.exit(changed.length === 0 ? 1 : 0)
}
const names = [...new Set([...peers.map(([name]) => name), "@effect/platform-node", "@effect/vitest"])]
console.log(`installed: ${names.map((name) => `${name}@${installed(name)}`).join(" ")}`)

if (process.argv.includes("--lowest")) {
  const wrong = peers
    .map(([name, range]) => ({ name, range, lowest: /^\^(\d+\.\d+\.\d+)$/.exec(range)?.[1] }))
    .filter(({ name, lowest }) => lowest === undefined || installed(name) !== lowest)
  for (const { name, range, lowest } of wrong) {
    console.error(
      lowest === undefined
        ? `peer ${name}: range "${range}" is not of the form ^x.y.z`
        : `peer ${name}: installed ${installed(name)}, but the lowest of "${range}" is ${lowest}: pin devDependencies.${name} to ${lowest}`
    )
  }
  if (wrong.length > 0) process.exit(1)
}
