/**
 * `partitions: N` (partitions.ts): the tags and where they land on the local Redis Cluster, where a task lives, finding
 * it by id, aggregated reads, and fairness of claims across partitions. The queue conformance suite runs on 3
 * partitions too (Queue.redis.test.ts, Queue.memory.test.ts).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema, type Scope } from "effect"
import * as Redis from "effect/persistence/Redis"
import { describe, it } from "vitest"
import * as Heimdall from "../src/Heimdall.ts"
import { RedisIoredis } from "../src/index.ts"
import { partitionOf, partitionTags, taskId } from "../src/internal/queue/keys.ts"
import { keySlot } from "../src/internal/slot.ts"
import * as Task from "../src/Task.ts"
import * as TaskQueue from "../src/TaskQueue.ts"
import * as Worker from "../src/Worker.ts"
import { tasksKey } from "./support/records.ts"
import { clusterLayer, describeCluster, describeRedis, keyPrefix, redisLayer } from "./support/redis.ts"

const prefix = keyPrefix(import.meta.url).slice(0, -1)
let counter = 0
const queueName = () => `pq${++counter}-${Date.now() % 100000}`

/** The first `<base>-<k>` in partition `p` of `n`. */
const idIn = (base: string, p: number, n: number) => {
  for (let k = 0; ; k++) if (partitionOf(`${base}-${k}`, n) === p) return `${base}-${k}`
}

describe("partition tags", () => {
  it("partition 0 is the queue's own tag; the others' slots are evenly spaced; the same n gives the same tags", () => {
    for (const queue of ["default", "reports", "q-1"]) {
      assert.deepStrictEqual(partitionTags(queue, 1), [queue])
      for (const n of [2, 3, 5, 8]) {
        const tags = partitionTags(queue, n)
        assert.strictEqual(tags.length, n)
        assert.strictEqual(tags[0], queue)
        assert.strictEqual(new Set(tags).size, n)
        const base = keySlot(queue)
        tags.forEach((tag, i) => {
          assert.notInclude(tag, "{")
          const target = (base + Math.round((i * 16384) / n)) % 16384
          assert.strictEqual(keySlot(`h-q:{${tag}}:ready`), target, `${queue} partition ${i} of ${n}: ${tag}`)
        })
        // computed again (another process): the same tags
        assert.deepStrictEqual([...partitionTags(queue, n)], [...tags])
      }
    }
  })

  it("a unique task's drawn id falls in its key's partition; a plain task's id spreads evenly", () => {
    for (let i = 0; i < 50; i++) {
      const key = `report:${i}`
      assert.strictEqual(partitionOf(taskId({ partitions: 3 }, key), 3), partitionOf(key, 3))
    }
    const per = [0, 0, 0]
    for (let i = 0; i < 30_000; i++) per[partitionOf(taskId({ partitions: 3 }, undefined), 3)]!++
    for (const count of per) assert.isTrue(count > 9_000 && count < 11_000, `${per}`)
  })
})

const Bulk = Task.make("bulk", { payload: Schema.Number })
const Lone = Task.make("lone", { payload: Schema.Number })
const Once = Task.make("once", { payload: Schema.Struct({ n: Schema.Number }), unique: true, success: Schema.Number })

describeRedis("partitions on one server", () => {
  layer(redisLayer(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    const on = <A, E>(queue: string, body: Effect.Effect<A, E, TaskQueue.TaskQueue | Redis.Redis | Scope.Scope>) =>
      Effect.flatMap(Effect.context<Redis.Redis>(), (context) =>
        body.pipe(
          Effect.provide(
            Heimdall.layerRedis({ queue, queuePrefix: prefix, partitions: 3 }).pipe(
              Layer.provide(Layer.succeedContext(context))
            )
          ),
          Effect.provide(context),
          Effect.scoped
        )
      )

    it.effect(
      "a worker that finds work by a busy claim leaves its hand-off registrations: new tasks are not handed to it",
      () =>
        on(
          queueName(),
          Effect.gen(function* () {
            const q = yield* TaskQueue.TaskQueue
            const waiter = yield* q.waiterAs("busy-worker")
            const task = (id: string, delayMillis = 0): TaskQueue.NewTask => ({
              id,
              name: "bulk",
              payload: "1",
              delayMillis,
              trace: undefined,
              unique: undefined
            })
            // idle: registered for hand-offs in every partition
            const first = yield* waiter.claim({ token: "a", leaseMillis: 10_000, max: 1 }, 30_000)
            assert.strictEqual(first._tag, "Idle")
            // a delayed task becomes due: no hand-off, a claim finds it (as after a wake-up)
            yield* q.enqueue(task(idIn("due", 0, 3), 50))
            yield* Effect.sleep(100)
            const busy = yield* waiter.claim({ token: "b", leaseMillis: 10_000, max: 1 }, 30_000)
            assert.strictEqual(busy._tag, "Claimed")
            yield* Effect.sleep(50) // it leaves in the background
            // while it works, a task in each partition waits in line for another worker
            for (const p of [0, 1, 2]) {
              const id = idIn(`next${p}`, p, 3)
              const created = yield* q.enqueue(task(id))
              assert.deepStrictEqual(created, { _tag: "Created", state: "queued" }, `partition ${p}`)
            }
          })
        )
    )

    it.effect("a partition's backlog does not starve another partition's single task", () =>
      on(
        queueName(),
        Effect.gen(function* () {
          const done: Array<string> = []
          // 300 tasks in partition 0, then one in partition 1
          yield* Task.enqueueAll(
            Bulk,
            Array.from({ length: 300 }, (_, i) => i),
            { id: (i) => idIn(`bulk${i}`, 0, 3) }
          )
          const lone = yield* Task.enqueue(Lone, 1, { id: idIn("lone", 1, 3) })
          let bulkDoneWhenLoneRan = -1
          yield* Layer.build(
            Worker.layer({
              concurrency: 2,
              tasks: [
                Task.implement(Bulk, (n) => Effect.sync(() => done.push(`bulk ${n}`)).pipe(Effect.delay(2))),
                Task.implement(Lone, () =>
                  Effect.sync(() => {
                    bulkDoneWhenLoneRan = done.length
                  })
                )
              ]
            })
          )
          yield* Task.join(lone)
          // the claims rotate over the partitions: the lone task ran within a few claims, not after the backlog
          assert.isAtLeast(bulkDoneWhenLoneRan, 0)
          assert.isBelow(bulkDoneWhenLoneRan, 20, `${bulkDoneWhenLoneRan} backlog tasks ran before the lone one`)
          const queue = yield* TaskQueue.TaskQueue
          assert.strictEqual((yield* queue.get(lone.id))!.state, "succeeded")
        })
      )
    )

    it.effect("a unique task lives in its key's partition: record and lock in one slot; duplicates meet the lock", () =>
      on(
        queueName(),
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const redis = yield* Redis.Redis
          const tags = partitionTags(queue.queue, 3)
          for (let n = 0; n < 6; n++) {
            const key = yield* Task.uniqueKey(Once, { n })
            const home = partitionOf(key, 3)
            const first = yield* Task.enqueue(Once, { n }, { delay: "1 minute" })
            assert.strictEqual(partitionOf(first.id, 3), home) // a drawn id falls in the key's partition
            assert.strictEqual(yield* redis.send<number>("HEXISTS", tasksKey(prefix, tags[home]!), first.id), 1)
            assert.strictEqual(queue.lockKey(key), `{${tags[home]}}:${key}`)
            // the lock is a field of the partition's locks hash: "<fence>:<expires at>:<holder>"
            const lock = `h-lock:${queue.lockKey(key)}`
            const locks = `${prefix}:{${tags[home]}}:locks`
            assert.match(String(yield* redis.send<string>("HGET", locks, lock)), new RegExp(`^\\d+:\\d+:${first.id}$`))
            // a duplicate, with an id of its own in another partition: it meets the lock in the key's partition
            const otherId = idIn("dup", (home + 1) % 3, 3)
            const outcome = yield* Task.enqueueOutcome(Once, { n }, { id: otherId })
            assert.strictEqual(outcome._tag, "Existing")
            assert.strictEqual(outcome.handle.id, first.id)
            assert.isUndefined(yield* queue.get(otherId))
          }
        })
      )
    )

    it.effect(
      "a task is found by id wherever it lives: status, join, detail, cancel, retry (a unique task's own id)",
      () =>
        on(
          queueName(),
          Effect.gen(function* () {
            const queue = yield* TaskQueue.TaskQueue
            // a unique task given its own id, away from its id's partition (it lives in its key's)
            const key = yield* Task.uniqueKey(Once, { n: 7 })
            const away = idIn("mine", (partitionOf(key, 3) + 1) % 3, 3)
            const handle = yield* Task.enqueue(Once, { n: 7 }, { id: away })
            assert.strictEqual(handle.id, away)
            assert.strictEqual(yield* Task.status(handle), "queued")
            assert.strictEqual((yield* queue.detail(away))?.lock?.holder, away)
            const worker = yield* Effect.forkChild(Task.join(handle))
            yield* Layer.build(
              Worker.layer({ concurrency: 1, tasks: [Task.implement(Once, ({ n }) => Effect.succeed(n * 2))] })
            )
            assert.strictEqual(yield* Fiber.join(worker), 14)
            assert.deepStrictEqual(yield* queue.cancel(away), { _tag: "Conflict", state: "succeeded" })
            assert.deepStrictEqual(yield* queue.cancel("no-such-task"), { _tag: "NotFound" })
            assert.deepStrictEqual(yield* queue.retry("no-such-task"), { _tag: "NotFound" })
            // a waiting one elsewhere is cancelled where it lives
            const later = yield* Task.enqueue(Once, { n: 8 }, { id: idIn("later", 2, 3), delay: "1 minute" })
            assert.deepStrictEqual(yield* queue.cancel(later.id), { _tag: "Cancelled", previous: "scheduled" })
            assert.strictEqual(yield* Task.status(later), "cancelled")
          })
        )
    )

    it.effect("counts, pages and operators' actions span every partition", () =>
      on(
        queueName(),
        Effect.gen(function* () {
          const queue = yield* TaskQueue.TaskQueue
          const ids = [0, 1, 2].flatMap((p) => [idIn(`a${p}`, p, 3), idIn(`b${p}`, p, 3)])
          for (const id of ids) yield* Task.enqueue(Bulk, 1, { id })
          yield* Task.enqueue(Lone, 1, { id: idIn("s", 2, 3), delay: "1 minute" })
          const counts = yield* queue.counts
          assert.deepStrictEqual([counts.total.queued, counts.total.scheduled], [6, 1])
          assert.strictEqual(counts.byName.bulk?.queued, 6)
          assert.strictEqual(counts.oldestByName.bulk?._tag, "Found")
          // pages: partition after partition; every task once
          const seen: Array<string> = []
          let after: TaskQueue.ListQuery["after"]
          let pages = 0
          do {
            const page = yield* queue.list({ state: "queued", limit: 1, after })
            assert.isAtMost(page.tasks.length, 1)
            seen.push(...page.tasks.map((t) => t.id))
            after = page.next
            pages++
          } while (after !== undefined && pages < 50)
          assert.deepStrictEqual([...seen].sort(), [...ids].sort())
          // scheduled tasks page in one order over the partitions: latest run time first, exactly, two per page
          const delayed = [0, 1, 2, 3, 4, 5].map((k) => idIn(`d${k}`, k % 3, 3))
          for (const [k, id] of delayed.entries()) yield* Task.enqueue(Bulk, k, { id, delay: `${10 + k * 10} seconds` })
          const scheduled: Array<string> = []
          let cursor: TaskQueue.ListQuery["after"]
          do {
            const page = yield* queue.list({ state: "scheduled", limit: 2, after: cursor, name: "bulk" })
            assert.isAtMost(page.tasks.length, 2)
            scheduled.push(...page.tasks.map((t) => t.id))
            cursor = page.next
          } while (cursor !== undefined)
          assert.deepStrictEqual(scheduled, [...delayed].reverse())
          // fail two tasks in two partitions: retryAll and purge reach both
          const claimFail = (p: number) =>
            Effect.gen(function* () {
              const id = idIn(`f${p}`, p, 3)
              yield* queue.enqueue({ id, name: "f", payload: "1", delayMillis: 0, trace: undefined })
              for (let i = 0; i < 10; i++) {
                const claimed = yield* queue.claim({ token: `t${p}-${i}`, leaseMillis: 10_000, names: ["f"] })
                if (claimed._tag === "Claimed" && claimed.task.id === id) {
                  assert.isTrue(yield* queue.fail(id, claimed.task.token, '"no"', undefined))
                  return id
                }
                if (claimed._tag === "Claimed") yield* queue.release(claimed.task.id, claimed.task.token)
              }
              return assert.fail(`${id} was not claimed`)
            })
          const failed = [yield* claimFail(0), yield* claimFail(1)]
          assert.strictEqual((yield* queue.counts).total.failed, 2)
          const failedPage = yield* queue.list({ state: "failed", limit: 10 })
          const failedSeen = [...failedPage.tasks.map((t) => t.id)]
          let next = failedPage.next
          while (next !== undefined) {
            const page = yield* queue.list({ state: "failed", limit: 10, after: next })
            failedSeen.push(...page.tasks.map((t) => t.id))
            next = page.next
          }
          assert.deepStrictEqual(failedSeen.sort(), [...failed].sort())
          assert.strictEqual(yield* queue.retryAll("failed", "f"), 2)
          for (const id of failed) assert.strictEqual((yield* queue.get(id))!.state, "queued")
        })
      )
    )
  })
})

describeCluster("partitions on the local Redis Cluster", () => {
  layer(clusterLayer(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("3 partitions' keys are on 3 different masters; tasks spread over them", () =>
      Effect.gen(function* () {
        const cluster = yield* RedisIoredis.ClusterClient
        const redis = yield* Redis.Redis
        const context = yield* Effect.context<Redis.Redis>()
        const queue = queueName()
        const tags = partitionTags(queue, 3)
        const owners = tags.map((tag) => cluster.slots[keySlot(`${prefix}:{${tag}}:ready`)]![0])
        assert.strictEqual(new Set(owners).size, 3, `owners ${owners.join(", ")}`)
        const ids = yield* Effect.gen(function* () {
          const results = yield* Task.enqueueAll(
            Bulk,
            Array.from({ length: 60 }, (_, i) => i),
            { delay: "1 minute" }
          )
          return results.map((r) => (r._tag === "Success" ? r.success.id : ""))
        }).pipe(
          Effect.provide(
            Heimdall.layerRedis({ queue, queuePrefix: prefix, partitions: 3 }).pipe(
              Layer.provide(Layer.succeedContext(context))
            )
          )
        )
        const perMaster = new Map<string, number>()
        for (const id of ids) {
          const tag = tags[partitionOf(id, 3)]!
          const key = tasksKey(prefix, tag)
          assert.strictEqual(yield* redis.send<number>("HEXISTS", key, id), 1, `${key} ${id}`)
          const owner = cluster.slots[keySlot(key)]![0]!
          perMaster.set(owner, (perMaster.get(owner) ?? 0) + 1)
        }
        assert.strictEqual(perMaster.size, 3)
        for (const count of perMaster.values()) assert.isAtLeast(count, 8, [...perMaster.values()].join(","))
      })
    )
  })
})
