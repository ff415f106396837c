/**
 * The package as a user installs it, following the README's "Install" section: `npm pack`, then
 * `npm install ./effect-heimdall-<version>.tgz effect ioredis` in an empty project, then a program
 * that enqueues and runs a task, type-checked and run there, on the memory backend and on Redis.
 * The consumer compiles and runs with the `source` condition on: the published `exports` must
 * resolve to `dist/` whatever conditions the consumer uses.
 */
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { afterAll, beforeAll } from "vitest"
import { hasRedis, keyPrefix, redisUrl } from "./support/redis.ts"

const root = fileURLToPath(new URL("../", import.meta.url))
const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"))
/** The peers at the versions this run tests (the lowest supported, or the newest in CI's second run). */
const installed = (name: string): string =>
  JSON.parse(readFileSync(path.join(root, "node_modules", name, "package.json"), "utf8")).version
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")

/** Runs a command; `env` entries that are `undefined` are removed from the child's environment. */
const run = (command: string, args: ReadonlyArray<string>, cwd: string, env: Record<string, string | undefined> = {}) =>
  new Promise<string>((resolve, reject) =>
    execFile(
      command,
      args,
      {
        cwd,
        env: Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined)),
        maxBuffer: 16 * 1024 * 1024,
        timeout: 120_000
      },
      (error, stdout, stderr) =>
        error
          ? reject(new Error(`${command} ${args.join(" ")} failed in ${cwd}: ${error.message}\n${stdout}\n${stderr}`))
          : resolve(stdout)
    )
  )

// A consumer's program, using only the public API; Console rather than console, so that it
// type-checks without @types/node.
const program = `import { Config, Console, Effect, Layer, Option, Schema } from "effect"
import { Heimdall, RedisIoredis, Task, Worker } from "effect-heimdall"

const Greet = Task.make("greet", { payload: Schema.Struct({ name: Schema.String }), success: Schema.String })
const GreetLive = Task.implement(Greet, ({ name }) => Effect.succeed(\`hello \${name}\`))

const Backend = Layer.unwrap(
  Effect.gen(function* () {
    const url = yield* Config.option(Config.String("REDIS_URL"))
    const queue = yield* Config.String("QUEUE_PREFIX").pipe(Config.withDefault("h-q"))
    return Option.isSome(url)
      ? Heimdall.layerRedis({ queuePrefix: queue }).pipe(Layer.provide(RedisIoredis.layer(url.value)))
      : Heimdall.layerMemory
  })
)

const main = Effect.gen(function* () {
  yield* Layer.build(Worker.layer({ tasks: [GreetLive], concurrency: 2 }))
  const handle = yield* Task.enqueue(Greet, { name: "consumer" })
  const result = yield* Task.join(handle)
  yield* Console.log(\`\${result}, status \${yield* Task.status(handle)}\`)
})

Effect.runPromise(Effect.scoped(main).pipe(Effect.provide(Backend)))
`

let work = ""
let app = ""
let tarball = ""
let packed: ReadonlyArray<string> = []

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "heimdall-pack-"))
  // `npm pack` as the README says, without its prepack build: `npm test` has just built dist/, and a
  // rebuild here would rewrite dist/ under the examples that other test files are running meanwhile
  const [info] = JSON.parse(await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], root))
  tarball = path.join(work, info.filename)
  packed = info.files.map((f: { path: string }) => f.path)
  app = path.join(work, "app")
  mkdirSync(app)
  writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }))
  await run(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      tarball,
      `effect@${installed("effect")}`,
      `ioredis@${installed("ioredis")}`
    ],
    app
  )
  writeFileSync(path.join(app, "main.ts"), program)
  writeFileSync(
    path.join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "es2022",
        lib: ["es2023"],
        module: "nodenext",
        moduleResolution: "nodenext",
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: [],
        // a condition some toolchains set: it must not lead into the package's TypeScript sources
        customConditions: ["source"]
      },
      files: ["main.ts"]
    })
  )
}, 180_000)

afterAll(() => {
  if (work !== "") rmSync(work, { recursive: true, force: true })
})

describe("the packed package", () => {
  it("holds dist/ and the docs, and no tests, examples or benchmarks", () => {
    for (const file of ["package.json", "README.md", "LICENSE", "dist/index.js", "dist/index.d.ts"]) {
      assert.include(packed, file)
    }
    for (const file of packed) assert.notMatch(file, /^(test|examples|bench|scripts|node_modules|\.ci)\//)
  })

  it("exports only dist/ (no `source` condition), and every export target is in the tarball", () => {
    const exported = JSON.parse(readFileSync(path.join(app, "node_modules", "effect-heimdall", "package.json"), "utf8"))
    const targets = JSON.stringify(exported.exports)
    assert.notInclude(targets, "source")
    assert.notInclude(targets, "src/")
    for (const target of Object.values(exported.exports["."] as Record<string, string>)) {
      assert.include(packed, target.replace(/^\.\//, ""))
    }
  })

  it("declares effect and ioredis as peers with the tested range, and has no dependencies of its own", () => {
    // @effect/platform-node: only the `heimdall` command needs it, an optional peer
    assert.deepStrictEqual(manifest.peerDependencies, {
      effect: "^4.1.0",
      ioredis: "^6.0.0",
      "@effect/platform-node": "^4.1.0"
    })
    assert.deepStrictEqual(manifest.peerDependenciesMeta, { "@effect/platform-node": { optional: true } })
    assert.strictEqual(manifest.bin.heimdall, "./dist/cli/main.js")
    assert.isUndefined(manifest.dependencies)
    // the lowest supported effect is what development installs (CI's first run)
    assert.strictEqual(manifest.devDependencies.effect, manifest.peerDependencies.effect.replace(/^\^/, ""))
  })

  it("type-checks a consumer's program (nodenext, `source` condition on)", { timeout: 60_000 }, async () => {
    await run(process.execPath, [tsc, "-p", "tsconfig.json"], app)
  })

  it("runs a consumer's program on the memory backend", { timeout: 60_000 }, async () => {
    const output = await run(process.execPath, ["--conditions=source", "main.ts"], app, { REDIS_URL: undefined })
    assert.strictEqual(output.trim(), "hello consumer, status succeeded")
  })

  it.skipIf(!hasRedis)("runs a consumer's program on Redis", { timeout: 60_000 }, async () => {
    const output = await run(process.execPath, ["--conditions=source", "main.ts"], app, {
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: keyPrefix(import.meta.url).slice(0, -1)
    })
    assert.strictEqual(output.trim(), "hello consumer, status succeeded")
  })
})
