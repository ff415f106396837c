/**
 * Script-level micro-benchmark: runs Lua scripts (files) with the enqueue script's keys and arguments against a
 * private Redis, alternating scripts each round, and reports the server's own time per call (commandstats of
 * EVALSHA, which includes the commands the script calls). Usage:
 * `node bench/lua-micro.ts NAME=file.lua ... [--rounds 10] [--count 20000]`; with CALLGRIND=1 also the instructions
 * the server executed per call (deterministic; see lib/callgrind.ts).
 */
import { readFileSync } from "node:fs"
import { Redis as IORedis } from "ioredis"
import { instructionsSinceZero, useCallgrind, zeroInstructions } from "./lib/callgrind.ts"
import { info, startServer } from "./lib/redis.ts"

const args = process.argv.slice(2)
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const scripts = args.filter((a) => a.includes("=")).map((a) => a.split("=") as [string, string])
const rounds = flag("rounds", 10)
const count = flag("count", 20000)
const callgrind = process.env.CALLGRIND !== undefined
if (callgrind) useCallgrind()
const server = await startServer()
const client = new IORedis(server.url)
const shas: Record<string, string> = {}
for (const [name, file] of scripts) shas[name] = (await client.script("LOAD", readFileSync(file, "utf8"))) as string
const usec: Record<string, Array<number>> = {}
const instructions: Record<string, Array<number>> = {}
let seq = 0
for (let round = 0; round < rounds; round++) {
  const order = scripts.map(([n]) => n)
  if (round % 2 === 1) order.reverse()
  for (const name of order) {
    await client.flushdb()
    await client.config("RESETSTAT")
    if (callgrind) zeroInstructions(server)
    const base = "h:{q}:"
    for (let done = 0; done < count; done += 500) {
      const p = client.pipeline()
      for (let i = 0; i < 500; i++) {
        const id = `id${(seq++).toString(36).padStart(14, "0")}`
        p.evalsha(
          shas[name]!,
          7,
          `${base}task:${id}`,
          `${base}ready`,
          `${base}scheduled`,
          `${base}wake`,
          `${base}idle`,
          `${base}running`,
          `${base}counts`,
          id,
          "drain",
          '{"n":1}',
          0,
          "",
          1000,
          60000,
          `${base}inbox:`,
          30000
        )
      }
      await p.exec()
    }
    if (callgrind) {
      instructions[name] = [...(instructions[name] ?? []), instructionsSinceZero(server, `${name}-${round}`) / count]
    }
    const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await info(client, "commandstats"))!
    usec[name] = [...(usec[name] ?? []), Number(m[2]) / Number(m[1])]
  }
}
const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
for (const [name] of scripts) {
  console.log(
    `${name.padEnd(12)} median ${median(usec[name]!).toFixed(2)} us/call  rounds ${usec[name]!.map((x) => x.toFixed(1)).join(" ")}${callgrind ? `  instructions/call ${Math.round(median(instructions[name]!))}` : ""}`
  )
}
await client.quit()
await server.stop()
