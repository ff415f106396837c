/**
 * A private Redis Cluster for the tests: 3 masters and 3 replicas, each a
 * `redis-server --cluster-enabled yes` on a free loopback port (its cluster
 * bus on the port + 10000), its `nodes.conf` in a temporary directory, joined
 * by `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`.
 * `startRedisCluster` resolves once every node reports `cluster_state:ok` and sees the three replicas, and every
 * replica has finished its first sync with its master.
 */
import { execFile, execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { findRedisServer, type Started, spawnServer } from "./redisServer.ts"

const run = promisify(execFile)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The `redis-cli` binary: `$REDIS_CLI`, else next to `redis-server`, else the first one on `PATH`. */
export const findRedisCli = (server = findRedisServer()): string | undefined => {
  const fromEnv = process.env.REDIS_CLI
  if (fromEnv !== undefined) return existsSync(fromEnv) ? fromEnv : undefined
  const sibling = server === undefined ? undefined : path.join(path.dirname(server), "redis-cli")
  if (sibling !== undefined && existsSync(sibling)) return sibling
  try {
    return execFileSync("sh", ["-c", "command -v redis-cli"], { encoding: "utf8" }).trim() || undefined
  } catch {
    return undefined
  }
}

const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = net.createServer()
    server.unref()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/** A port below 55536 that is free, with its cluster bus port (+10000) free too. */
const freeClusterPort = async (taken: Set<number>): Promise<number> => {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 20000)
    if (taken.has(port) || taken.has(port + 10000) || taken.has(port - 10000)) continue
    if ((await portFree(port)) && (await portFree(port + 10000))) return port
  }
  throw new Error("no free pair of ports (port, port + 10000) for a cluster node")
}

export interface RedisCluster {
  /** Every node's `host:port`, masters first as created (the cluster decides which stay masters). */
  readonly nodes: ReadonlyArray<string>
  /** Stops every node and removes the temporary directory. */
  readonly stop: () => Promise<void>
}

/** Runs `redis-cli -p <port> <args>` and returns its output. */
export const cli = async (binary: string, port: number, ...args: ReadonlyArray<string>): Promise<string> =>
  (await run(binary, ["-h", "127.0.0.1", "-p", String(port), ...args], { timeout: 10_000 })).stdout

/** Starts a 3-master, 3-replica cluster; rejects, after stopping what it started, with what went wrong. */
export const startRedisCluster = async (
  server = findRedisServer(),
  redisCli = findRedisCli(server)
): Promise<RedisCluster> => {
  if (server === undefined || redisCli === undefined) {
    throw new Error("a Redis Cluster needs redis-server and redis-cli: apt-get install -y redis-server")
  }
  const dir = mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), "heimdall-cluster-"))
  const started: Array<Started> = []
  const stop = async () => {
    await Promise.all(
      started.map(async (node) => {
        if (node.exited()) return
        node.child.kill("SIGTERM")
        const timer = setTimeout(() => node.child.kill("SIGKILL"), 1000)
        await node.exit
        clearTimeout(timer)
      })
    )
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const taken = new Set<number>()
    const ports: Array<number> = []
    for (let i = 0; i < 6; i++) {
      const port = await freeClusterPort(taken)
      taken.add(port)
      ports.push(port)
    }
    started.push(
      ...(await Promise.all(
        ports.map((port) =>
          spawnServer(server, port, {
            args: [
              "--cluster-enabled",
              "yes",
              "--cluster-config-file",
              path.join(dir, `nodes-${port}.conf`),
              "--cluster-node-timeout",
              "2000",
              "--dir",
              dir
            ]
          })
        )
      ))
    )
    const nodes = ports.map((port) => `127.0.0.1:${port}`)
    await run(redisCli, ["--cluster", "create", ...nodes, "--cluster-replicas", "1", "--cluster-yes"], {
      timeout: 30_000
    })
    // every node agrees the cluster is up and knows all six nodes
    const deadline = Date.now() + 20_000
    for (const port of ports) {
      for (;;) {
        const info = await cli(redisCli, port, "CLUSTER", "INFO").catch(() => "")
        const known = Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1] ?? 0)
        // and sees three replicas (their roles spread by gossip after `--cluster create` returns)
        const replicas =
          info.includes("cluster_state:ok") && known === 6
            ? (await cli(redisCli, port, "CLUSTER", "NODES").catch(() => "")).match(/ (myself,)?slave /g)?.length
            : 0
        if (replicas === 3) break
        if (Date.now() > deadline) throw new Error(`cluster node ${port} not ready: ${info.trim()}`)
        await sleep(100)
      }
    }
    // and every replica has finished its first sync (a WAIT on a master counts it from then on): on a loaded
    // machine the cluster can be "ok" well before, and a durable write sent meanwhile is refused
    for (const port of ports) {
      for (;;) {
        const replication = await cli(redisCli, port, "INFO", "replication").catch(() => "")
        const ready = replication.includes("role:master")
          ? /connected_slaves:1\b/.test(replication) && /slave0:.*state=online/.test(replication)
          : replication.includes("master_link_status:up") && replication.includes("master_sync_in_progress:0")
        if (ready) break
        if (Date.now() > deadline) throw new Error(`cluster node ${port} not replicating: ${replication.trim()}`)
        await sleep(100)
      }
    }
    return { nodes, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
