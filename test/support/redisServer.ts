/**
 * Starts and stops private `redis-server` processes for the tests: on a free
 * loopback port, persistence off, nothing written to disk.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import * as net from "node:net"

/** The `redis-server` binary: `$REDIS_SERVER`, else the first one on `PATH` or in the usual places. */
export const findRedisServer = (): string | undefined => {
  const fromEnv = process.env.REDIS_SERVER
  if (fromEnv !== undefined) return existsSync(fromEnv) ? fromEnv : undefined
  try {
    const found = execFileSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).trim()
    if (found) return found
  } catch {
    // not on PATH
  }
  return ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"].find((p) => existsSync(p))
}

/** A port that was free a moment ago (the caller retries if it is taken meanwhile). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))
      )
    })
  })

/** Sends one inline command and reads the first reply line; rejects on any error. */
export const rawCommand = (port: number, command: string, timeoutMs = 500): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    let data = ""
    socket.setTimeout(timeoutMs, () => {
      socket.destroy()
      reject(new Error("timeout"))
    })
    socket.on("error", reject)
    socket.on("connect", () => socket.write(`${command}\r\n`))
    socket.on("data", (chunk) => {
      data += chunk.toString()
      if (data.includes("\r\n")) {
        socket.destroy()
        resolve(data.split("\r\n")[0]!)
      }
    })
  })

export interface RedisServer {
  readonly port: number
  readonly url: string
  readonly process: ChildProcess
  /** Stops the server (SIGTERM, then SIGKILL after a second) and waits for it to exit. */
  readonly stop: () => Promise<void>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Starts a private `redis-server`; rejects with a message naming the fix when it cannot. */
export const startRedisServer = async (binary = findRedisServer()): Promise<RedisServer> => {
  if (!binary)
    throw new Error("no redis-server binary found: install it (apt-get install -y redis-server) or set REDIS_URL")
  let lastError: unknown
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const child = spawn(
      binary,
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
        "--dir",
        process.env.TMPDIR ?? "/tmp"
      ],
      { stdio: ["ignore", "ignore", "pipe"] }
    )
    let exited = false
    let stderr = ""
    child.stderr?.on("data", (chunk) => {
      stderr += chunk.toString()
    })
    const exit = new Promise<void>((resolve) =>
      child.on("exit", () => {
        exited = true
        resolve()
      })
    )
    child.on("error", (error) => {
      lastError = error
    })
    const deadline = Date.now() + 5000
    while (!exited && Date.now() < deadline) {
      const pong = await rawCommand(port, "PING").catch(() => undefined)
      if (pong === "+PONG") {
        const stop = async () => {
          if (exited) return
          child.kill("SIGTERM")
          const timer = setTimeout(() => child.kill("SIGKILL"), 1000)
          await exit
          clearTimeout(timer)
        }
        return { port, url: `redis://127.0.0.1:${port}`, process: child, stop }
      }
      await sleep(20)
    }
    if (!exited) child.kill("SIGKILL")
    lastError ??= new Error(`redis-server on port ${port} did not start: ${stderr.trim()}`)
  }
  throw lastError
}
