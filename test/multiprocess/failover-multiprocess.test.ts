/**
 * Failover of the master of a queue's slot in the middle of a multi-process run, on a private local Redis Cluster
 * (3 masters, 3 replicas, `cluster-node-timeout` 2 s), with and without `durability: { replicas: 1 }`: per mode,
 * two producer processes enqueue (test/fixtures/failover-producer.ts: "ack <id>" once an enqueue returned a
 * handle) and two worker processes run the tasks and take one Heimdall lock in turns, holding it 500 ms
 * (test/fixtures/failover-worker.ts: "run <id> <attempt>", "hold <fence> <from> <to>").
 *
 * Three ways to fail the master over:
 * - `CLUSTER FAILOVER` on its replica (a manual failover: the master stops its clients until the replica caught up);
 * - SIGKILL of the master, then `CLUSTER FAILOVER FORCE` on its replica (what the cluster does by itself after
 *   `cluster-node-timeout`, sooner);
 * - the same, after replication was cut for 600 ms (the replica SIGSTOPped and its link closed by the master, so
 *   what the master acknowledged meanwhile is on no replica): the case that loses writes without `durability`.
 *
 * Counted per mode: acknowledged enqueues lost (acked, and the task is not found once the workers drained the
 * queue), tasks that ran twice, and two processes that held the lock at once (overlapping "hold" intervals, on the
 * one host's clock). With durability: 0 lost and no double holder, asserted. Every mode's fences must increase in
 * the order the holdings began (item 6: a fence issued after the failover is larger, also after a lost acquisition).
 * The figures are printed (`[failover]` lines) and written down in the README, "Durability and failover".
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer } from "effect"
import { afterEach } from "vitest"
import * as Heimdall from "../../src/Heimdall.ts"
import { RedisIoredis, ReplicationTimeout } from "../../src/index.ts"
import { keySlot } from "../../src/internal/slot.ts"
import * as Task from "../../src/Task.ts"
import { Beat } from "../fixtures/failover-tasks.ts"
import { type Child, killAll, spawnFixture } from "../support/processes.ts"
import { hasCluster, keyPrefix } from "../support/redis.ts"
import { findRedisCli, startRedisCluster } from "../support/redisCluster.ts"

const run = promisify(execFile)
const prefix = keyPrefix(import.meta.url).slice(0, -1)
const producerScript = fileURLToPath(new URL("../fixtures/failover-producer.ts", import.meta.url))
const workerScript = fileURLToPath(new URL("../fixtures/failover-worker.ts", import.meta.url))

afterEach(killAll)

const cli = (port: number, ...args: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    const out = await run(findRedisCli()!, ["-h", "127.0.0.1", "-p", String(port), ...args], { timeout: 10_000 })
    return out.stdout.trim()
  })
const portOf = (node: string) => Number(node.split(":")[1])

/** CLUSTER NODES as seen by the node on `port`: address, flags, master id, slot ranges. */
const clusterNodes = (port: number) =>
  Effect.map(cli(port, "CLUSTER", "NODES"), (out) =>
    out.split("\n").map((line) => {
      const [id, address, flags, master, , , , , ...ranges] = line.split(" ")
      return { id: id!, address: address!.split("@")[0]!, flags: flags!, master: master!, ranges }
    })
  )

/** The master serving `slot`, as the node on `port` sees it. */
const masterOf = (port: number, slot: number) =>
  Effect.map(clusterNodes(port), (nodes) =>
    nodes.find(
      (n) =>
        n.flags.includes("master") &&
        !n.flags.includes("fail") &&
        n.ranges.some((range) => {
          const [from, to = from] = range.split("-").map(Number)
          return slot >= from! && slot <= to!
        })
    )
  )

/** A queue name, `<base>-<n>`, whose slot `master` serves (the test fails over that master). */
const queueOn = (base: string, ranges: ReadonlyArray<string>) => {
  for (let n = 0; ; n++) {
    const slot = keySlot(`{${base}-${n}}`)
    if (
      ranges.some((range) => {
        const [from, to = from] = range.split("-").map(Number)
        return slot >= from! && slot <= to!
      })
    )
      return `${base}-${n}`
  }
}

interface Figures {
  readonly acked: number
  readonly refused: number
  readonly lost: number
  readonly pending: number
  readonly ranTwice: number
  readonly holdings: number
  readonly doubleHolders: number
  readonly fencesOutOfOrder: number
}

/** What one mode's processes printed, and the queue's final state read from the new master. */
const count = (
  nodes: ReadonlyArray<string>,
  queue: string,
  producers: ReadonlyArray<Child>,
  workers: ReadonlyArray<Child>
) =>
  Effect.gen(function* () {
    const acked = producers.flatMap((p) => p.lines.filter((l) => l.startsWith("ack ")).map((l) => l.split(" ")[1]!))
    const refused = producers.reduce((n, p) => n + p.lines.filter((l) => l.startsWith("nack ")).length, 0)
    const live = Heimdall.layerRedis({ queuePrefix: prefix, lockPrefix: `${prefix}:lock:`, queue }).pipe(
      Layer.provide(RedisIoredis.layerCluster(nodes.slice(), { commandTimeout: "3 seconds" }))
    )
    // wait until every acknowledged task either ran to its end or is not there (lost)
    const states = yield* Effect.provide(
      Effect.gen(function* () {
        const deadline = Date.now() + 15_000
        for (;;) {
          const states = yield* Effect.forEach(
            acked,
            (id) =>
              Task.status(Task.handle(Beat, id)).pipe(
                Effect.catchTag("TaskNotFound", () => Effect.succeed("lost" as const)),
                Effect.retry({ times: 3 })
              ),
            { concurrency: 16 }
          )
          if (states.every((s) => s === "succeeded" || s === "lost") || Date.now() > deadline) return states
          yield* Effect.sleep("500 millis")
        }
      }),
      live
    )
    const runs = new Map<string, number>()
    for (const w of workers) {
      for (const line of w.lines.filter((l) => l.startsWith("run "))) {
        const id = line.split(" ")[1]!
        runs.set(id, (runs.get(id) ?? 0) + 1)
      }
    }
    const holds = workers
      .flatMap((w, worker) =>
        w.lines
          .filter((l) => l.startsWith("hold "))
          .map((l) => {
            const [, fence, from, to] = l.split(" ").map(Number)
            return { worker, fence: fence!, from: from!, to: to! }
          })
      )
      .sort((a, b) => a.from - b.from)
    let doubleHolders = 0
    let fencesOutOfOrder = 0
    for (let i = 1; i < holds.length; i++) {
      if (holds[i]!.from < holds[i - 1]!.to && holds[i]!.worker !== holds[i - 1]!.worker) doubleHolders++
      if (holds[i]!.fence <= holds[i - 1]!.fence) fencesOutOfOrder++
    }
    return {
      acked: acked.length,
      refused,
      lost: states.filter((s) => s === "lost").length,
      pending: states.filter((s) => s !== "lost" && s !== "succeeded").length,
      ranTwice: [...runs.values()].filter((n) => n > 1).length,
      holdings: holds.length,
      doubleHolders,
      fencesOutOfOrder
    } satisfies Figures
  })

type Kind = "CLUSTER FAILOVER" | "SIGKILL" | "SIGKILL after a replication cut"

const scenario = (kind: Kind) =>
  Effect.gen(function* () {
    const cluster = yield* Effect.acquireRelease(
      Effect.promise(() => startRedisCluster()),
      (c) => Effect.promise(() => c.stop())
    )
    const seed = portOf(cluster.nodes[0]!)
    const seen = yield* clusterNodes(seed)
    const master = seen.find((n) => n.flags.includes("master") && n.ranges.length > 0)!
    const replica = seen.find((n) => n.master === master.id)!
    const other = seen.find((n) => n.flags.includes("master") && n.id !== master.id)!
    const queues = { on: queueOn(`${kind.length}on`, master.ranges), off: queueOn(`${kind.length}off`, master.ranges) }
    const env = (mode: "on" | "off") => ({
      CLUSTER_NODES: cluster.nodes.join(","),
      KEY_PREFIX: prefix,
      QUEUE: queues[mode],
      DURABLE: mode === "on" ? "1" : "0"
    })
    const workers = {
      on: [0, 1].map(() => spawnFixture(workerScript, env("on"))),
      off: [0, 1].map(() => spawnFixture(workerScript, env("off")))
    }
    const producers = {
      on: [0, 1].map((i) => spawnFixture(producerScript, { ...env("on"), ID_PREFIX: `on${i}` })),
      off: [0, 1].map((i) => spawnFixture(producerScript, { ...env("off"), ID_PREFIX: `off${i}` }))
    }
    const all = [...workers.on, ...workers.off, ...producers.on, ...producers.off]
    yield* Effect.addFinalizer(() => Effect.sync(killAll))
    yield* Effect.promise(() => Promise.all(all.map((c) => c.waitFor("ready", (l) => l === "ready", 60_000))))
    // traffic before the failover: at least 1.5 s, and until each mode's workers have held the lock once (on a
    // loaded machine the first holdings can take longer)
    const trafficFrom = Date.now()
    yield* Effect.sleep("1500 millis")
    const held = (mode: "on" | "off") => workers[mode].some((w) => w.lines.some((l) => l.startsWith("hold ")))
    while (!held("on") || !held("off")) {
      assert.isBelow(Date.now() - trafficFrom, 30_000, "no lock holding before the failover")
      yield* Effect.sleep("100 millis")
    }
    const slot = keySlot(`{${queues.on}}`)
    const pidOf = (port: number) =>
      Effect.map(cli(port, "INFO", "server"), (info) => Number(/process_id:(\d+)/.exec(info)![1]))
    /** The test's own connection to a queue's backend (with or without durability). */
    const probe = (queue: string, durable: boolean, seeds = cluster.nodes) =>
      Heimdall.layerRedis({
        queuePrefix: prefix,
        lockPrefix: `${prefix}:lock:`,
        queue,
        ...(durable ? { durability: { replicas: 1, timeout: 250 } } : {})
      }).pipe(Layer.provide(RedisIoredis.layerCluster(seeds.slice(), { commandTimeout: "3 seconds" })))
    const probeLock = (queue: string, owner: string) =>
      Heimdall.acquireLock(`{${queue}}:probe`, { owner, ttl: "30 seconds" })
    let cut: { readonly offFence: number } | undefined
    // from the CLUSTER FAILOVER, or the SIGKILL, to the replica serving the slot
    let failedOverAt = Date.now()
    if (kind === "CLUSTER FAILOVER") {
      assert.strictEqual(yield* cli(portOf(replica.address), "CLUSTER", "FAILOVER"), "OK")
    } else {
      const masterPid = yield* pidOf(portOf(master.address))
      if (kind === "SIGKILL after a replication cut") {
        // the replica stops reading, and the master drops its link: what the master acknowledges now is on no replica
        const replicaPid = yield* pidOf(portOf(replica.address))
        // connected before the cut, so that the replica is stopped for the cut only
        const [offProbe, onProbe] = yield* Effect.all([
          Layer.build(probe(queues.off, false)),
          Layer.build(probe(queues.on, true))
        ])
        process.kill(replicaPid, "SIGSTOP")
        yield* cli(portOf(master.address), "CLIENT", "KILL", "TYPE", "replica")
        // this process takes a lock in each queue's slot as "A" (ttl 30 s): acknowledged without durability (and
        // lost with the master), refused with it
        const [offLock, onLock] = yield* Effect.all([
          Effect.exit(Effect.provide(probeLock(queues.off, "A"), offProbe)),
          Effect.exit(Effect.provide(probeLock(queues.on, "A"), onProbe))
        ])
        assert.isTrue(Exit.isSuccess(offLock), "without durability the acquisition is acknowledged")
        const onError = Exit.isFailure(onLock) ? Cause.squash(onLock.cause) : undefined
        assert.instanceOf((onError as { cause?: unknown } | undefined)?.cause, ReplicationTimeout)
        cut = { offFence: Exit.isSuccess(offLock) ? offLock.value.fence : 0 }
        yield* Effect.sleep("600 millis")
        failedOverAt = Date.now()
        process.kill(masterPid, "SIGKILL")
        process.kill(replicaPid, "SIGCONT")
      } else {
        process.kill(masterPid, "SIGKILL")
      }
      assert.strictEqual(yield* cli(portOf(replica.address), "CLUSTER", "FAILOVER", "FORCE"), "OK")
    }
    // the replica serves the slot, as another master sees it
    for (;;) {
      if ((yield* masterOf(portOf(other.address), slot))?.address === replica.address) break
      assert.isBelow(Date.now() - failedOverAt, 20_000, "the replica did not take over")
      yield* Effect.sleep("100 millis")
    }
    const tookMillis = Date.now() - failedOverAt
    let probes: { readonly lostFence: number; readonly laterFence: number } | undefined
    if (cut !== undefined) {
      // "B" takes the same lock on the new master: the lost acquisition leaves "A" believing it holds the lock
      // while "B" does too (with durability "A" was told it did not), and B's fence is still larger than A's,
      // which the promoted replica never saw
      const seeds = cluster.nodes.filter((n) => n !== master.address)
      const off = yield* Effect.provide(probeLock(queues.off, "B"), probe(queues.off, false, seeds))
      assert.isAbove(off.fence, cut.offFence, "a fence issued after the failover is larger than the lost one")
      probes = { lostFence: cut.offFence, laterFence: off.fence }
      console.log(`[failover] lost acquisition: fence ${cut.offFence}, then on the new master ${off.fence}`)
    }
    // traffic after the failover
    yield* Effect.sleep("2000 millis")
    yield* Effect.promise(() => Promise.all([...producers.on, ...producers.off].map((p) => p.stop("SIGTERM"))))
    const nodes = cluster.nodes.filter((n) => kind === "CLUSTER FAILOVER" || n !== master.address)
    const on = yield* count(nodes, queues.on, producers.on, workers.on)
    const off = yield* count(nodes, queues.off, producers.off, workers.off)
    yield* Effect.promise(() => Promise.all([...workers.on, ...workers.off].map((w) => w.stop("SIGKILL"))))
    console.log(`[failover] ${kind} (took ${tookMillis} ms) with durability: ${JSON.stringify(on)}`)
    console.log(`[failover] ${kind} (took ${tookMillis} ms) without durability: ${JSON.stringify(off)}`)
    return { on, off, probes }
  }).pipe(Effect.scoped)

/** What holds in every scenario, with and without durability; and with it, nothing acknowledged is lost. */
const check = ({ on, off }: { readonly on: Figures; readonly off: Figures }) => {
  for (const figures of [on, off]) {
    assert.isAbove(figures.acked, 50, "the producers enqueued")
    assert.isAtLeast(figures.holdings, 2, "the workers took the lock")
    assert.strictEqual(figures.pending, 0, "every surviving task ran")
    assert.strictEqual(figures.fencesOutOfOrder, 0, "fences increase in the order the holdings began")
  }
  assert.strictEqual(on.lost, 0, "with durability, no acknowledged enqueue is lost")
  assert.strictEqual(on.doubleHolders, 0, "with durability, no two holders of the lock at once")
}

describe.skipIf(!hasCluster)("failover of a queue's master in a multi-process run (a private cluster)", () => {
  it.live(
    "CLUSTER FAILOVER on the replica: nothing acknowledged lost, one holder at a time, with or without durability",
    () =>
      Effect.map(scenario("CLUSTER FAILOVER"), (figures) => {
        check(figures)
        // a manual failover waits for the replica: nothing is lost without durability either
        assert.strictEqual(figures.off.lost, 0)
      }),
    150_000
  )

  it.live(
    "SIGKILL of the master, then FAILOVER FORCE on its replica: with durability nothing acknowledged lost",
    () => Effect.map(scenario("SIGKILL"), check),
    150_000
  )

  it.live(
    "SIGKILL after a 600 ms replication cut: without durability acknowledged enqueues are lost; with it, none",
    () =>
      Effect.map(scenario("SIGKILL after a replication cut"), (figures) => {
        check(figures)
        assert.isAbove(figures.off.lost, 0, "without durability, what only the master had is lost")
        assert.isAbove(figures.on.refused, 0, "with durability, the enqueues during the cut were refused")
      }),
    150_000
  )
})
