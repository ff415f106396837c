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
  /** The running `redis-server` process (a new one after each `restart`). */
  readonly process: ChildProcess
  /** Stops the server (SIGTERM, then SIGKILL after a second) and waits for it to exit. */
  readonly stop: () => Promise<void>
  /**
   * Stops the server with `signal` (default SIGKILL: nothing is flushed on the way out), waits `downMs`, and
   * starts it again on the same port with the same settings (a persistent server reloads its append-only
   * file). Resolves once the new server answers PING.
   */
  readonly restart: (options?: { readonly signal?: NodeJS.Signals; readonly downMs?: number }) => Promise<void>
  /** SIGSTOP: the server stays up and keeps its connections, but answers nothing until `thaw`. */
  readonly freeze: () => void
  /** SIGCONT after `freeze`. */
  readonly thaw: () => void
}

/** Options of `startRedisServer`. */
export interface ServerOptions {
  /**
   * Persistence: an append-only file in `dir`, fsynced on every write (`appendonly yes`, `appendfsync always`),
   * so every acknowledged write survives a SIGKILL. Default: persistence off, nothing written to disk.
   */
  readonly persistentDir?: string | undefined
  /** More `redis-server` arguments (e.g. `--cluster-enabled yes`). */
  readonly args?: ReadonlyArray<string> | undefined
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface Started {
  readonly child: ChildProcess
  readonly exit: Promise<void>
  readonly exited: () => boolean
}

/** Spawns `redis-server` on `port` and waits until it answers PING; rejects with its stderr when it does not. */
export const spawnServer = async (binary: string, port: number, options: ServerOptions): Promise<Started> => {
  const persistence =
    options.persistentDir === undefined
      ? ["--save", "", "--appendonly", "no", "--dir", process.env.TMPDIR ?? "/tmp"]
      : ["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", options.persistentDir]
  const child = spawn(
    binary,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      ...persistence,
      "--daemonize",
      "no",
      "--protected-mode",
      "yes",
      "--loglevel",
      "warning",
      ...(options.args ?? [])
    ],
    { stdio: ["ignore", "ignore", "pipe"] }
  )
  let exited = false
  let stderr = ""
  let spawnError: unknown
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
    spawnError = error
  })
  const deadline = Date.now() + 5000
  while (!exited && Date.now() < deadline) {
    const pong = await rawCommand(port, "PING").catch(() => undefined)
    if (pong === "+PONG") return { child, exit, exited: () => exited }
    await sleep(20)
  }
  if (!exited) child.kill("SIGKILL")
  throw spawnError ?? new Error(`redis-server on port ${port} did not start: ${stderr.trim()}`)
}

/** Starts a private `redis-server`; rejects with a message naming the fix when it cannot. */
export const startRedisServer = async (
  binary = findRedisServer(),
  options: ServerOptions = {}
): Promise<RedisServer> => {
  if (!binary)
    throw new Error("no redis-server binary found: install it (apt-get install -y redis-server) or set REDIS_URL")
  let lastError: unknown
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    let current: Started
    try {
      current = await spawnServer(binary, port, options)
    } catch (error) {
      lastError = error
      continue
    }
    const kill = async (signal: NodeJS.Signals) => {
      if (current.exited()) return
      current.child.kill("SIGCONT") // a frozen server cannot act on SIGTERM
      current.child.kill(signal)
      const timer = setTimeout(() => current.child.kill("SIGKILL"), 1000)
      await current.exit
      clearTimeout(timer)
    }
    const server: RedisServer = {
      port,
      url: `redis://127.0.0.1:${port}`,
      get process() {
        return current.child
      },
      stop: () => kill("SIGTERM"),
      restart: async ({ signal = "SIGKILL", downMs = 0 } = {}) => {
        await kill(signal)
        if (downMs > 0) await sleep(downMs)
        // the port was ours a moment ago; retry briefly if the kernel has not let it go yet
        for (let i = 0; ; i++) {
          try {
            current = await spawnServer(binary, port, options)
            return
          } catch (error) {
            if (i >= 20) throw error
            await sleep(100)
          }
        }
      },
      freeze: () => {
        current.child.kill("SIGSTOP")
      },
      thaw: () => {
        current.child.kill("SIGCONT")
      }
    }
    return server
  }
  throw lastError
}
