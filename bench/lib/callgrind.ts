/**
 * Counting the instructions a private `redis-server` executes (valgrind's callgrind): unlike CPU time on a shared
 * machine, the same work counts the same on every run, so a small difference between two versions of a script
 * shows up in one round. The server runs 20-50 times slower under callgrind: use small counts.
 */
import { execFileSync } from "node:child_process"
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { findRedisServer, type RedisServer } from "../../test/support/redisServer.ts"

/** Where the wrapper and the dumps live (`<label>.callgrind`, for `callgrind_annotate`). */
export const callgrindDir = "/tmp/heimdall-callgrind"

/** Makes the next `startServer` run `redis-server` under callgrind (through `$REDIS_SERVER`). */
export const useCallgrind = (): void => {
  const binary = findRedisServer()
  if (binary === undefined) throw new Error("no redis-server binary found")
  rmSync(callgrindDir, { recursive: true, force: true })
  mkdirSync(callgrindDir, { recursive: true })
  const wrapper = `${callgrindDir}/redis-server`
  writeFileSync(
    wrapper,
    `#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=${callgrindDir}/out --dump-line=no ${binary} "$@" 2>/dev/null\n`
  )
  chmodSync(wrapper, 0o755)
  process.env.REDIS_SERVER = wrapper
}

/** Zeroes the server's instruction counters. */
export const zeroInstructions = (server: RedisServer): void => {
  execFileSync("callgrind_control", ["--zero", String(server.process.pid)], { stdio: "ignore" })
}

/** Instructions the server executed since `zeroInstructions`; the dump is kept as `<label>.callgrind`. */
export const instructionsSinceZero = (server: RedisServer, label: string): number => {
  execFileSync("callgrind_control", ["--dump", String(server.process.pid)], { stdio: "ignore" })
  const newest = readdirSync(callgrindDir)
    .filter((f) => f.startsWith("out"))
    .map((f) => `${callgrindDir}/${f}`)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!
  const text = readFileSync(newest, "utf8")
  renameSync(newest, `${callgrindDir}/${label}.callgrind`)
  return Number(/^(?:totals|summary): (\d+)/m.exec(text)?.[1] ?? Number.NaN)
}
