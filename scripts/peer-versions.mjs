// Prints the versions of the peers (and of the Effect packages the tests use) that this checkout has
// installed. With --lowest, fails unless each peer is installed at the lowest version its range in
// package.json allows: CI's first run tests the lowest supported versions, its second the newest.
import { readFileSync } from "node:fs"

const read = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8"))
const manifest = read("../package.json")
const installed = (name) => read(`../node_modules/${name}/package.json`).version
const names = [...Object.keys(manifest.peerDependencies), "@effect/platform-node", "@effect/vitest"]
console.log(`installed: ${names.map((name) => `${name}@${installed(name)}`).join(" ")}`)

if (process.argv.includes("--lowest")) {
  const wrong = Object.entries(manifest.peerDependencies)
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
