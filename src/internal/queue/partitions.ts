/**
 * A partitioned queue (`partitions: N` of `Heimdall.Options`, Redis): one logical queue spread over N partitions,
 * each a complete copy of the single queue's key layout under its own hash tag, so each can live on another master
 * of a Redis Cluster. Everything here is above the scripts: each partition is the Redis backend of one hash tag
 * (redis.ts, unchanged), and this module routes each call to its partition, or spreads it over all of them.
 *
 * - **Tags**: partition 0 is `{<queue>}` (the layout of one partition, so a queue can grow from 1 partition without
 *   moving its existing tasks); partition i is `{<queue>~<i>.<j>}`, with the first `j` whose CRC16 slot is the slot of
 *   `{<queue>}` plus i × 16,384 / N (mod 16,384): the partitions' slots are evenly spaced over the slot range, so on a
 *   cluster whose masters hold even shares of it (as `redis-cli --cluster create` splits them) N partitions land on
 *   min(N, masters) different masters. The same N gives the same tags in every process.
 * - **Where a task lives**: a unique task in the partition of its unique key (CRC16 of the key, mod N: its lock and
 *   record share a slot, and every duplicate meets the lock); a task of a per-key concurrency limit in the partition
 *   of its concurrency key (one partition counts the key's admissions); any other task in the partition of its id (CRC16 of the
 *   id, mod N): random ids spread evenly, the same id always lands in the same partition (an enqueue with an id that
 *   exists finds it), and the id alone finds the task. Task ids drawn for unique tasks are drawn in their key's
 *   partition (`taskId`); a task found elsewhere (a unique task given its own id, a schedule's run, which lives in
 *   partition 0 with its schedule) is found by reading the other partitions, after its id's own.
 * - **Leases**: every claim's token starts with its partition (`<i>/`), so the lease holder's calls (renew, complete,
 *   fail, ...) go to the partition of the claim.
 * - **Claims** rotate: each claim starts at the partition after the previous claim's, and takes from the first with
 *   work; a completion's claim of the next task rotates the same way. Each partition keeps its own order (FIFO per
 *   partition); there is no order across partitions.
 * - **Idle workers** block on every partition at once (a BLPOP per partition, each on its own reserved connection: one
 *   BLPOP cannot span slots on a cluster); the first to return ends the wait, the others are cut (CLIENT UNBLOCK), and
 *   the worker leaves the other partitions' hand-off (tasks handed to it there meanwhile go back to the line).
 * - **Reads** (counts, workers, pages) and operators' actions aggregate over the partitions; the worker registry and
 *   the schedules live in partition 0, and so do the pub/sub channels of finished and cancelled tasks (every partition
 *   publishes there: a process holds one subscription of each, not one per partition).
 */
import { Deferred, Effect, Exit, Fiber } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { HeimdallStore } from "../../HeimdallStore.ts"
import type { Config } from "../config.ts"
import { randomId } from "../id.ts"
import { dealClaims } from "./deal.ts"
import * as Inspect from "./inspect.ts"
import { partitionOf, partitionTags } from "./keys.ts"
import type {
  ClaimedTask,
  ClaimOptions,
  ClaimResult,
  Completion,
  CompletionOutcome,
  EnqueueResult,
  ListQuery,
  NewTask,
  Parked,
  QueueCounts,
  Service,
  StateCounts,
  TaskPage,
  TaskRecord,
  Waiter,
  WaitingAge
} from "./model.ts"
import { makeChannels, makeRedisPartition, type PartitionWaiter } from "./redis.ts"

/** A partition's place in a page over every partition: its own cursor, `null` (from its start), `0` (done). */
type Position = readonly [key: string, id: string] | null | 0

/**
 * The positions a page cursor holds (see `list`), each checked as `Inspector` checks a cursor of one partition; undefined
 * for a cursor of no partitioned page of `n` partitions.
 */
const decodePositions = (query: ListQuery, n: number): Array<Position> | undefined => {
  const after = query.after
  if (after === undefined || !after.id.startsWith("~")) return undefined
  const valid = (p: unknown): p is Position =>
    p === null ||
    p === 0 ||
    (Array.isArray(p) &&
      p.length === 2 &&
      typeof p[1] === "string" &&
      p[1] !== "" &&
      typeof p[0] === "string" &&
      (query.state === "queued"
        ? p[0] === "ready" || p[0] === "held" || p[0].startsWith("parked:")
        : p[0] !== "" && Number.isFinite(Number(p[0]))))
  try {
    const parsed: unknown = JSON.parse(after.id.slice(1))
    return Array.isArray(parsed) && parsed.length === n && parsed.every(valid) ? parsed : undefined
  } catch {
    return undefined
  }
}

/** The cursor of the positions (its key one that `Inspector` accepts for `state`); undefined when all are done. */
const cursorOf = (state: ListQuery["state"], positions: ReadonlyArray<Position>): ListQuery["after"] =>
  positions.every((p) => p === 0)
    ? undefined
    : { key: state === "queued" ? "ready" : "0", id: `~${JSON.stringify(positions)}` }

/** The sorted states' order: greatest score first, then greatest id (byte by byte, as Redis orders members). */
const order = (scoreA: number, idA: string, scoreB: number, idB: string): number =>
  scoreB - scoreA || Buffer.compare(Buffer.from(idB), Buffer.from(idA))

/** The partitioned Redis queue: `config.partitions` partitions (at least 2) as one `Service`. */
export const makeRedisPartitioned = (config: Config, store: HeimdallStore["Service"]) =>
  Effect.gen(function* () {
    const n = config.partitions
    const tags = partitionTags(config.queue, n)
    // one channel of finished tasks and one of cancels for every partition, and one subscription of the joiners
    const channels = yield* makeChannels(config)
    const parts = yield* Effect.forEach(tags, (tag) => makeRedisPartition({ ...config, queue: tag }, store, channels))
    const services = parts.map((p) => p.service)
    const all = services.map((_, i) => i)
    let turn = 0
    let calls = 0
    /** The partitions in claim order: each call starts one further than the previous one. */
    const rotation = () => {
      const start = turn++ % n
      return all.map((i) => (start + i) % n)
    }
    /**
     * Where the tasks this process claimed live when that is not their id's partition (a unique task given its own
     * id, a schedule's run): the lease holder's calls go there. Forgotten when the holder settles the task.
     */
    const away = new Map<string, number>()
    const note = (p: number, tasks: ReadonlyArray<ClaimedTask>) => {
      for (const task of tasks) if (partitionOf(task.id, n) !== p) away.set(task.id, p)
    }
    const partitionOfClaimed = (id: string) => away.get(id) ?? partitionOf(id, n)
    /**
     * A lease holder's call: in the partition of the claim; `false` there from a partition this process did not see
     * the claim in (another process claimed it) is asked of the others too (the token matches in one at most).
     */
    const holding = (
      id: string,
      op: (s: Service) => Effect.Effect<boolean, Redis.RedisError>,
      settles: boolean
    ): Effect.Effect<boolean, Redis.RedisError> =>
      Effect.gen(function* () {
        const known = away.get(id)
        if (settles) away.delete(id)
        const first = known ?? partitionOf(id, n)
        if (yield* op(services[first]!)) return true
        if (known !== undefined) return false
        for (const p of all) if (p !== first && (yield* op(services[p]!))) return true
        return false
      })

    /** The partitions in the order to look for a task id: its own first. */
    const lookupOrder = (id: string) => {
      const home = partitionOf(id, n)
      return [home, ...all.filter((i) => i !== home)]
    }
    /** The first partition's answer that `found` accepts, in lookup order (the last one's otherwise). */
    const findBy = <A>(
      id: string,
      op: (s: Service) => Effect.Effect<A, Redis.RedisError>,
      found: (a: A) => boolean
    ): Effect.Effect<{ readonly value: A; readonly partition: number }, Redis.RedisError> =>
      Effect.gen(function* () {
        const order = lookupOrder(id)
        let last: { value: A; partition: number } | undefined
        for (const p of order) {
          const value = yield* op(services[p]!)
          last = { value, partition: p }
          if (found(value)) return last
        }
        return last!
      })
    const locate = (id: string) =>
      findBy(
        id,
        (s) => s.get(id),
        (r: TaskRecord | undefined) => r !== undefined
      )

    const partitionOfTask = (task: NewTask) => partitionOf(task.unique?.key ?? task.concurrency?.key ?? task.id, n)

    /** Claims `options` from the partitions in `order`: the first that has work; Idle with the shortest wait. */
    const claimFrom = (
      order: ReadonlyArray<number>,
      options: ClaimOptions,
      claimIn: (p: number, options: ClaimOptions) => Effect.Effect<ClaimResult, Redis.RedisError>
    ): Effect.Effect<{ readonly result: ClaimResult; readonly partition: number }, Redis.RedisError> =>
      Effect.gen(function* () {
        let wait: number | undefined
        const passed: Array<string> = []
        const deadLettered: Array<string> = []
        for (const p of order) {
          const result = yield* claimIn(p, options)
          if (result.passed) passed.push(...result.passed)
          if (result.deadLettered) deadLettered.push(...result.deadLettered)
          const reports = {
            passed: passed.length > 0 ? passed : undefined,
            deadLettered: deadLettered.length > 0 ? deadLettered : undefined
          }
          if (result._tag === "Claimed") {
            note(p, result.tasks)
            return { result: { ...result, ...reports }, partition: p }
          }
          if (result.waitMillis !== undefined)
            wait = wait === undefined ? result.waitMillis : Math.min(wait, result.waitMillis)
          if (p === order[order.length - 1]) {
            return { result: { _tag: "Idle", waitMillis: wait, ...reports } as ClaimResult, partition: p }
          }
        }
        return { result: { _tag: "Idle", waitMillis: wait } as ClaimResult, partition: -1 }
      })
    /** `later` with the names `earlier` passed on and dead-lettered first (a worker counts each claim's once). */
    const withReports = (earlier: ClaimResult, later: ClaimResult): ClaimResult => {
      const join = (a: ReadonlyArray<string> | undefined, b: ReadonlyArray<string> | undefined) =>
        a === undefined ? b : b === undefined ? a : [...a, ...b]
      return {
        ...later,
        passed: join(earlier.passed, later.passed),
        deadLettered: join(earlier.deadLettered, later.deadLettered)
      }
    }
    const claim = (options: ClaimOptions) =>
      Effect.map(
        claimFrom(rotation(), options, (p, o) => services[p]!.claim(o)),
        ({ result }) => result
      )

    /**
     * Completes each task in its partition and claims the completions' next tasks: the completions of one partition
     * and their claims are one call there (completeClaimMany, as on one partition), the partitions' calls at once. Every
     * n-th call takes the turn instead: the completions of other partitions than the turn's are completed alone, and
     * their claims go to the partitions in turn, so that a worker whose slots drain one partition's backlog still
     * claims from every partition. Slots left without a task claim from the partitions that did not run dry.
     */
    const completeAndClaimMany = (
      completions: ReadonlyArray<Completion>,
      next: ClaimOptions
    ): Effect.Effect<ReadonlyArray<CompletionOutcome>, Redis.RedisError> =>
      Effect.gen(function* () {
        if (completions.length === 0) return []
        const max = Math.max(1, Math.floor(next.max ?? 1))
        const groups = new Map<number, Array<number>>()
        completions.forEach((c, i) => {
          const p = partitionOfClaimed(c.id)
          const group = groups.get(p)
          if (group === undefined) groups.set(p, [i])
          else group.push(i)
        })
        // (the turn moves only when taken: were it to move on every call, every n-th call would find it in one place)
        const turn = ++calls % n === 0 ? rotation() : undefined
        const outcomes: Array<CompletionOutcome> = new Array(completions.length)
        const alone: Array<number> = []
        const dry = new Set<number>()
        const together = [...groups].flatMap(([p, indexes]) => {
          if (turn !== undefined && p !== turn[0]) {
            alone.push(...indexes)
            return []
          }
          const group = indexes.map((i) => completions[i]!)
          for (const c of group) away.delete(c.id)
          const c0 = group[0]!
          const call =
            group.length === 1
              ? Effect.map(services[p]!.completeAndClaim(c0.id, c0.token, c0.result, next), (o) => [o])
              : services[p]!.completeAndClaimMany(group, next)
          return [
            Effect.map(call, (outs) =>
              outs.forEach((o, k) => {
                if (o.next._tag === "Claimed") note(p, o.next.tasks)
                else dry.add(p)
                outcomes[indexes[k]!] = o
              })
            )
          ]
        })
        const alones =
          alone.length === 0
            ? Effect.void
            : Effect.map(
                Effect.all(
                  [
                    Effect.forEach(
                      alone,
                      (i) => {
                        const c = completions[i]!
                        return holding(c.id, (s) => s.complete(c.id, c.token, c.result), true)
                      },
                      { concurrency: "unbounded" }
                    ),
                    claimFrom(turn!, { ...next, max: max * alone.length }, (p, o) => services[p]!.claim(o))
                  ],
                  { concurrency: "unbounded" }
                ),
                ([completed, claimed]) =>
                  dealClaims(completed, claimed.result, max).forEach((o, k) => {
                    outcomes[alone[k]!] = o
                  })
              )
        yield* Effect.all([...together, alones], { concurrency: "unbounded", discard: true })
        // slots left without a task: one claim for them from the partitions that did not run dry
        const empty = outcomes.flatMap((o, i) => (o.next._tag === "Idle" && !alone.includes(i) ? [i] : []))
        if (empty.length === 0) return outcomes
        const others = rotation().filter((p) => !dry.has(p))
        if (others.length === 0) return outcomes
        const more = yield* claimFrom(others, { ...next, max: max * empty.length }, (p, o) => services[p]!.claim(o))
        dealClaims(
          empty.map(() => true),
          more.result,
          max
        ).forEach((dealt, k) => {
          const i = empty[k]!
          const before = outcomes[i]!.next
          const wait =
            dealt.next._tag === "Idle" && before._tag === "Idle"
              ? before.waitMillis === undefined
                ? dealt.next.waitMillis
                : Math.min(before.waitMillis, dealt.next.waitMillis ?? before.waitMillis)
              : undefined
          const after = dealt.next._tag === "Idle" ? { ...dealt.next, waitMillis: wait } : dealt.next
          outcomes[i] = { completed: outcomes[i]!.completed, next: withReports(before, after) }
        })
        return outcomes
      })

    /**
     * A worker's waiter over every partition: claims in turn (first without registering anywhere, then, when no
     * partition has work, as an idle worker in each), and waits on all partitions at once.
     */
    const waiterAs = (worker: string) =>
      Effect.gen(function* () {
        const waiters: ReadonlyArray<PartitionWaiter> = yield* Effect.forEach(parts, (p) => p.waiterAs(worker))
        const runFork = Effect.runForkWith(yield* Effect.context<never>())
        const inFlight: Array<Fiber.Fiber<unknown, unknown> | undefined> = waiters.map(() => undefined)
        let waiting: Deferred.Deferred<ClaimedTask | undefined, Redis.RedisError> | undefined
        /**
         * The worker works on partition `kept`'s task now: it leaves the others' hand-off, in the background; the
         * worker's next claim waits for that first (its registrations must not be the ones removed).
         */
        let leaving: Fiber.Fiber<void> | undefined
        /** Registered for hand-offs in some partition (an idle claim), and not left since. */
        let registered = false
        /** Leaves every partition's hand-off but `kept`'s (-1: every partition's). */
        const leaveOthers = (kept: number) => {
          registered = false
          leaving = runFork(
            Effect.forEach(
              all.filter((p) => p !== kept),
              (p) => Effect.andThen(inFlight[p] === undefined ? Effect.void : waiters[p]!.cut, waiters[p]!.unregister),
              { concurrency: "unbounded", discard: true }
            )
          )
        }
        const settleWait = (p: number, exit: Exit.Exit<ClaimedTask | undefined, Redis.RedisError>) => {
          inFlight[p] = undefined
          const current = waiting
          if (current !== undefined) {
            waiting = undefined
            if (Exit.isSuccess(exit) && exit.value !== undefined) {
              note(p, [exit.value])
              Deferred.doneUnsafe(current, exit)
              leaveOthers(p)
            } else {
              Deferred.doneUnsafe(current, exit)
              for (const q of all) if (q !== p && inFlight[q] !== undefined) runFork(waiters[q]!.cut)
            }
          } else if (Exit.isSuccess(exit) && exit.value !== undefined) {
            // handed over after the wait ended: back to the line at once, its attempt given back
            const handed = exit.value
            runFork(Effect.ignore(services[p]!.release(handed.id, handed.token)))
          }
        }
        const waiter: Waiter = {
          claim: (options, maxIdleMillis) =>
            Effect.gen(function* () {
              if (leaving !== undefined) {
                yield* Fiber.await(leaving)
                leaving = undefined
              }
              const order = rotation()
              const busy = yield* claimFrom(order, options, (p, o) => services[p]!.claim(o))
              if (busy.result._tag === "Claimed") {
                // busy now (after a wake-up, say): its registrations from an earlier idle claim must not be handed
                // tasks while it works; what was handed meanwhile goes back to the line
                if (registered) leaveOthers(-1)
                return busy.result
              }
              // nothing anywhere: claim again as an idle worker (its inbox, and its hand-off registration)
              registered = true
              const idle = yield* claimFrom(order, options, (p, o) => waiters[p]!.claim(o, maxIdleMillis))
              if (idle.result._tag === "Claimed") leaveOthers(idle.partition)
              return withReports(busy.result, idle.result)
            }),
          wait: (maxMillis) =>
            Effect.suspend(() => {
              const result = Deferred.makeUnsafe<ClaimedTask | undefined, Redis.RedisError>()
              waiting = result
              waiters.forEach((w, p) => {
                if (inFlight[p] !== undefined) return
                const fiber = runFork(
                  w.wait(maxMillis).pipe(Effect.onExit((exit) => Effect.sync(() => settleWait(p, exit))))
                )
                inFlight[p] = fiber
              })
              return Deferred.await(result).pipe(
                Effect.timeoutOrElse({ duration: Math.max(0, maxMillis), orElse: () => Effect.succeed(undefined) }),
                Effect.ensuring(
                  Effect.sync(() => {
                    if (waiting === result) waiting = undefined
                  })
                )
              )
            })
        }
        yield* Effect.addFinalizer(() =>
          Effect.forEach([...inFlight, leaving], (f) => (f === undefined ? Effect.void : Fiber.interrupt(f)), {
            discard: true
          })
        )
        return waiter
      })

    const sumCounts = (list: ReadonlyArray<QueueCounts>): QueueCounts => {
      const byName: Record<string, StateCounts> = {}
      const oldestByName: Record<string, WaitingAge> = {}
      let oldest: QueueCounts["oldestWaiting"]
      let now = 0
      for (const c of list) {
        now = Math.max(now, c.now)
        for (const [name, counts] of Object.entries(c.byName)) {
          const sum = (byName[name] ?? Inspect.zeroCounts()) as ReturnType<typeof Inspect.zeroCounts>
          byName[name] = sum
          for (const state of Inspect.states) sum[state] += counts[state]
        }
        for (const [name, age] of Object.entries(c.oldestByName)) {
          const seen = oldestByName[name]
          // a partition that did not find the name within its scan makes the name's age unknown
          if (seen === undefined || (seen._tag === "Found" && (age._tag === "BeyondScan" || age.since < seen.since)))
            oldestByName[name] = age
        }
        if (
          c.oldestWaiting !== undefined &&
          (oldest === undefined ||
            c.oldestWaiting.since < oldest.since ||
            (c.oldestWaiting.since === oldest.since && c.oldestWaiting.id < oldest.id))
        )
          oldest = c.oldestWaiting
      }
      const total = Inspect.zeroCounts()
      for (const counts of Object.values(byName)) for (const state of Inspect.states) total[state] += counts[state]
      const age = (since: number) => Math.max(0, now - since)
      for (const [name, a] of Object.entries(oldestByName)) {
        oldestByName[name] =
          a._tag === "Found"
            ? { ...a, millis: age(a.since) }
            : { ...a, lastMillis: a.lastSince === undefined ? undefined : age(a.lastSince) }
      }
      return {
        now,
        total,
        byName,
        oldestWaiting: oldest,
        oldestWaitingMillis: oldest === undefined ? undefined : age(oldest.since),
        oldestByName
      }
    }

    /**
     * A page over every partition. The cursor holds each partition's position (`~` and JSON in its id: per partition
     * its own cursor, `null` from the start, `0` done). The sorted states are merged exactly, in their order (score
     * descending, then id descending byte by byte, as each partition pages them): each partition is asked for a full
     * page after its position, and the page takes the first `limit` of them all, stopping where a partition whose
     * page stopped early (a name filter's scan budget) has read up to. Queued tasks have a place in their own
     * partition's line only: a page takes whole pages of `limit / partitions` of each partition, newest run time first.
     */
    const list = (query: ListQuery) =>
      Effect.gen(function* () {
        const positions = decodePositions(query, n) ?? all.map((): Position => null)
        const queued = query.state === "queued"
        const open = all.filter((p) => positions[p] !== 0)
        // queued: the limit shared out, the first partitions taking one more of what does not divide evenly
        const share = (i: number) =>
          queued ? Math.floor(query.limit / open.length) + (i < query.limit % open.length ? 1 : 0) : query.limit
        const live = open.filter((_, i) => share(i) > 0)
        const limit = queued ? 0 : query.limit
        const pages = yield* Effect.forEach(
          live,
          (p, i) => {
            const at = positions[p]
            const after = at ? { key: at[0], id: at[1] } : undefined
            return services[p]!.list({ ...query, limit: queued ? share(i) : limit, after })
          },
          { concurrency: "unbounded" }
        )
        const next = [...positions]
        const endOf = (page: TaskPage): Position => (page.next ? [page.next.key, page.next.id] : 0)
        if (queued) {
          pages.forEach((page, i) => {
            next[live[i]!] = endOf(page)
          })
          const tasks = pages.flatMap((page) => page.tasks).sort((a, b) => b.at - a.at)
          return { tasks, next: cursorOf(query.state, next) }
        }
        const items = pages
          .flatMap((page, i) => page.tasks.map((task) => ({ task, p: live[i]! })))
          .sort((a, b) => order(a.task.at, a.task.id, b.task.at, b.task.id))
        // a partition that stopped before a full page has read up to its cursor: nothing past it is taken yet
        let cut = Math.min(items.length, query.limit)
        pages.forEach((page) => {
          if (page.next === undefined || page.tasks.length >= limit) return
          const bound = [Number(page.next.key), page.next.id] as const
          const past = items.findIndex(({ task }) => order(task.at, task.id, bound[0], bound[1]) > 0)
          if (past !== -1) cut = Math.min(cut, past)
        })
        const taken = items.slice(0, cut)
        pages.forEach((page, i) => {
          const p = live[i]!
          const mine = taken.filter((item) => item.p === p)
          const last = mine[mine.length - 1]?.task
          next[p] = mine.length === page.tasks.length ? endOf(page) : last ? [String(last.at), last.id] : positions[p]!
        })
        return { tasks: taken.map(({ task }) => task), next: cursorOf(query.state, next) }
      })

    const enqueueAll = (tasks: ReadonlyArray<NewTask>) =>
      Effect.gen(function* () {
        const groups = services.map((): Array<number> => [])
        tasks.forEach((task, i) => {
          groups[partitionOfTask(task)]!.push(i)
        })
        const results: Array<EnqueueResult> = new Array(tasks.length)
        yield* Effect.forEach(
          groups,
          (indexes, p) =>
            indexes.length === 0
              ? Effect.void
              : Effect.map(services[p]!.enqueueAll(indexes.map((i) => tasks[i]!)), (out) => {
                  out.forEach((r, k) => {
                    results[indexes[k]!] = r
                  })
                }),
          { concurrency: "unbounded", discard: true }
        )
        return results
      })

    const zero = services[0]!
    const service: Service = {
      queue: config.queue,
      config,
      store,
      lockKey: (uniqueKey) => services[partitionOf(uniqueKey, n)]!.lockKey(uniqueKey),
      enqueue: (task) => services[partitionOfTask(task)]!.enqueue(task),
      enqueueAll,
      claim,
      waiter: Effect.suspend(() => waiterAs(randomId())),
      waiterAs,
      renew: (id, token, leaseMillis) => holding(id, (s) => s.renew(id, token, leaseMillis), false),
      complete: (id, token, result) => holding(id, (s) => s.complete(id, token, result), true),
      completeAndClaim: (id, token, result, next) =>
        Effect.map(completeAndClaimMany([{ id, token, result }], next), (outcomes) => outcomes[0]!),
      completeAndClaimMany,
      fail: (id, token, error, retryInMillis) => holding(id, (s) => s.fail(id, token, error, retryInMillis), true),
      reschedule: (id, token, delayMillis, booked) =>
        holding(id, (s) => s.reschedule(id, token, delayMillis, booked), true),
      release: (id, token) => holding(id, (s) => s.release(id, token), true),
      deadLetter: (id, token, reason) => holding(id, (s) => s.deadLetter(id, token, reason), true),
      get: (id) => Effect.map(locate(id), ({ value }) => value),
      beat: (names, deadAfterMillis, worker) =>
        Effect.map(
          Effect.forEach(all, (p) => services[p]!.beat(names, deadAfterMillis, p === 0 ? worker : undefined), {
            concurrency: "unbounded"
          }),
          (lists) => {
            const byName = new Map<string, { parked: number; deadLettered: number }>()
            for (const { name, parked, deadLettered } of lists.flat()) {
              const seen = byName.get(name) ?? { parked: 0, deadLettered: 0 }
              byName.set(name, { parked: seen.parked + parked, deadLettered: seen.deadLettered + deadLettered })
            }
            return [...byName].map(([name, c]): Parked => ({ name, ...c }))
          }
        ),
      awaitTerminal: (id) =>
        Effect.flatMap(locate(id), ({ value, partition }) =>
          value === undefined ? Effect.succeed(undefined) : services[partition]!.awaitTerminal(id)
        ),
      leave: (worker) => zero.leave(worker),
      counts: Effect.map(
        Effect.forEach(services, (s) => s.counts, { concurrency: "unbounded" }),
        sumCounts
      ),
      list,
      detail: (id) =>
        Effect.map(
          findBy(
            id,
            (s) => s.detail(id),
            (d) => d !== undefined
          ),
          ({ value }) => value
        ),
      workers: Effect.map(zero.workers, (workers) => workers.map((w) => ({ ...w, queue: config.queue }))),
      retry: (id) =>
        Effect.map(
          findBy(
            id,
            (s) => s.retry(id),
            (r) => r._tag !== "NotFound"
          ),
          ({ value }) => value
        ),
      retryAll: (state, name) =>
        Effect.map(
          Effect.forEach(services, (s) => s.retryAll(state, name), { concurrency: "unbounded" }),
          (counts) => counts.reduce((a, b) => a + b, 0)
        ),
      purge: (state, name) =>
        Effect.map(
          Effect.forEach(services, (s) => s.purge(state, name), { concurrency: "unbounded" }),
          (counts) => counts.reduce((a, b) => a + b, 0)
        ),
      cancel: (id) =>
        Effect.map(
          findBy(
            id,
            (s) => s.cancel(id),
            (r) => r._tag !== "NotFound"
          ),
          ({ value }) => value
        ),
      // every partition announces cancels on the one channel (SharedChannels in redis.ts)
      watchCancels: (onCancel) => zero.watchCancels(onCancel),
      syncSchedule: (spec) => zero.syncSchedule(spec),
      fireSchedule: (fire) => zero.fireSchedule(fire),
      schedules: zero.schedules,
      removeSchedule: (name) => zero.removeSchedule(name)
    }
    return service
  })
