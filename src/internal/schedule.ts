/**
 * Schedules (public through `Task.schedule` and `Task.layerSchedules`): checking a schedule's options, the tick
 * arithmetic (`cron` with a time zone through Effect's `Cron`, or `every`), which ticks a scheduler fires, and the
 * scheduler loop. The atomic step per tick is the backend's `fireSchedule` (scheduleFire-28.lua on Redis).
 */
import { Cron, DateTime, Duration, Effect, Result, Schedule } from "effect"
import type { InvalidArgument } from "../Errors.ts"
import type { FireResult, ScheduleRecord, ScheduleSpec, Service } from "./queue/model.ts"
import * as validate from "./validate.ts"

/** What a schedule does when the previous tick's run has not ended (see `Task.ScheduleOptions`). */
export type Overlap = ScheduleSpec["overlap"]
/** What a scheduler does with the ticks that fell while no scheduler ran (see `Task.ScheduleOptions`). */
export type CatchUp = ScheduleSpec["catchUp"]

/** At most this many missed ticks are enqueued by `catchUp: "all"` (the latest ones), and at most this many late ones. */
export const maxCatchUp = 100

/** A scheduler sleeps at most this long before it reads the clock again (a long sleep does not drift). */
const maxSleepMillis = 60_000

/** When a schedule ticks: a parsed cron (its text and time zone kept for the record), or every `millis`. */
export type Timing =
  | { readonly _tag: "Cron"; readonly cron: Cron.Cron; readonly text: string; readonly timeZone: string | undefined }
  | { readonly _tag: "Every"; readonly millis: number }

const overlaps: ReadonlyArray<string> = ["skip", "bufferOne", "allow"]
const catchUps: ReadonlyArray<string> = ["none", "last", "all"]

/** The options `Task.schedule` checks, as given. */
export interface RawOptions {
  readonly cron?: unknown
  readonly timeZone?: unknown
  readonly every?: unknown
  readonly overlap?: unknown
  readonly catchUp?: unknown
  readonly name?: unknown
}

/** A schedule's options checked and resolved, or the `InvalidArgument` naming the first bad option. */
export const resolve = (
  taskName: string,
  options: RawOptions
):
  | { readonly timing: Timing; readonly overlap: Overlap; readonly catchUp: CatchUp; readonly name: string }
  | InvalidArgument => {
  if (options === null || typeof options !== "object") {
    return validate.invalid("options", options, "must be an object with cron or every, and payload")
  }
  const name = validate.taskName("name", options.name ?? taskName)
  if (typeof name !== "string") return name
  if (options.cron !== undefined && options.every !== undefined) {
    return validate.invalid("every", options.every, "give either cron or every, not both")
  }
  const overlap = options.overlap ?? "skip"
  if (typeof overlap !== "string" || !overlaps.includes(overlap)) {
    return validate.invalid("overlap", overlap, 'must be "skip", "bufferOne" or "allow"')
  }
  const catchUp = options.catchUp ?? "last"
  if (typeof catchUp !== "string" || !catchUps.includes(catchUp)) {
    return validate.invalid("catchUp", catchUp, 'must be "none", "last" or "all"')
  }
  let timing: Timing
  if (options.every !== undefined) {
    if (options.timeZone !== undefined) {
      return validate.invalid("timeZone", options.timeZone, "applies to cron only: every counts from the epoch")
    }
    const millis = validate.durationMillis("every", options.every, 1)
    if (typeof millis !== "number") return millis
    timing = { _tag: "Every", millis }
  } else {
    if (typeof options.cron !== "string") {
      return validate.invalid("cron", options.cron, "give cron (a cron expression) or every (a duration)")
    }
    let zone: DateTime.TimeZone | undefined
    if (options.timeZone !== undefined) {
      const z = DateTime.isTimeZone(options.timeZone)
        ? options.timeZone
        : typeof options.timeZone === "string"
          ? DateTime.zoneFromString(options.timeZone).pipe((o) => (o._tag === "Some" ? o.value : undefined))
          : undefined
      if (z === undefined) {
        return validate.invalid("timeZone", options.timeZone, 'must be an IANA time zone ("Europe/Berlin") or offset')
      }
      zone = z
    }
    const parsed = Cron.parse(options.cron, zone)
    if (Result.isFailure(parsed)) return validate.invalid("cron", options.cron, parsed.failure.message)
    timing = {
      _tag: "Cron",
      cron: parsed.success,
      text: options.cron,
      timeZone: zone === undefined ? undefined : DateTime.zoneToString(zone)
    }
  }
  return { timing, overlap: overlap as Overlap, catchUp: catchUp as CatchUp, name }
}

/** A record's timing (for the Inspector's next tick); `undefined` for a record it cannot read. */
export const timingOf = (record: ScheduleRecord): Timing | undefined => {
  if (record.everyMillis !== undefined && record.everyMillis > 0) return { _tag: "Every", millis: record.everyMillis }
  if (record.cron === undefined) return undefined
  const parsed = Cron.parse(record.cron, record.timeZone)
  return Result.isSuccess(parsed)
    ? { _tag: "Cron", cron: parsed.success, text: record.cron, timeZone: record.timeZone }
    : undefined
}

/** The first tick strictly after `after` (epoch ms). `every` ticks at the multiples of its period since the epoch. */
export const nextTick = (timing: Timing, after: number): number =>
  timing._tag === "Every"
    ? (Math.floor(after / timing.millis) + 1) * timing.millis
    : Cron.next(timing.cron, new Date(after)).getTime()

/** The ticks `t` with `lower < t <= upper`, the latest `max` of them, oldest first. */
export const ticksIn = (timing: Timing, lower: number, upper: number, max: number): Array<number> => {
  const ticks: Array<number> = []
  if (upper <= lower || max <= 0) return ticks
  if (timing._tag === "Every") {
    for (
      let t = Math.floor(upper / timing.millis) * timing.millis;
      t > lower && ticks.length < max;
      t -= timing.millis
    ) {
      ticks.push(t)
    }
  } else {
    // `prev` is strict; cron ticks are whole seconds, so the latest one at or before `upper` is before `upper + 1`
    for (
      let t = Cron.prev(timing.cron, new Date(upper + 1)).getTime();
      t > lower && ticks.length < max;
      t = Cron.prev(timing.cron, new Date(t)).getTime()
    ) {
      ticks.push(t)
    }
  }
  return ticks.reverse()
}

/**
 * The ticks a scheduler fires at `now`, oldest first. `handled`: the schedule's progress (the latest tick handled by
 * any scheduler). `onTimeAfter`: ticks after it fell while this scheduler ran (its start, then its last read) and
 * are all fired, the latest `maxCatchUp`; ticks up to it that nobody handled fell while no scheduler ran: `catchUp`
 * decides (`none`: not fired; `last`: the latest; `all`: the latest `maxCatchUp`).
 */
export const plan = (timing: Timing, catchUp: CatchUp, handled: number, onTimeAfter: number, now: number) => {
  const missedUpTo = Math.min(now, onTimeAfter)
  const missed = catchUp === "none" ? [] : ticksIn(timing, handled, missedUpTo, catchUp === "last" ? 1 : maxCatchUp)
  return [...missed, ...ticksIn(timing, Math.max(handled, onTimeAfter), now, maxCatchUp)]
}

/** The id of a tick's task: the schedule's name and the tick as an ISO instant (`nightly@2026-01-01T03:00:00.000Z`). */
export const taskIdOf = (schedule: string, tick: number): string => `${schedule}@${new Date(tick).toISOString()}`

/** A schedule ready to run: its record's definition, and the task each tick enqueues. */
export interface Runnable {
  readonly spec: ScheduleSpec
  readonly timing: Timing
  readonly payload: string
}

/** The record's definition of a resolved schedule. */
export const specOf = (
  name: string,
  task: string,
  timing: Timing,
  overlap: Overlap,
  catchUp: CatchUp
): ScheduleSpec => ({
  name,
  task,
  cron: timing._tag === "Cron" ? timing.text : undefined,
  timeZone: timing._tag === "Cron" ? timing.timeZone : undefined,
  everyMillis: timing._tag === "Every" ? timing.millis : undefined,
  overlap,
  catchUp
})

/**
 * One scheduler of one schedule, forever: read the clock and the progress (and write the definition), fire the due
 * ticks (a pending one first), sleep until the next tick (or until the run a pending tick waits for ends). A backend
 * error is logged and the step retried every second; the ticks it delayed are fired when it succeeds.
 */
export const run = (queue: Service, schedule: Runnable): Effect.Effect<never> => {
  const { spec, timing, payload } = schedule
  let startedAt: number | undefined
  let lastRead: number | undefined
  let seen: number | undefined
  const fire = (tick: number) =>
    queue.fireSchedule({
      schedule: spec.name,
      overlap: spec.overlap,
      tick,
      task: { id: taskIdOf(spec.name, tick), name: spec.task, payload, delayMillis: 0, trace: undefined }
    })
  const step = Effect.gen(function* () {
    const { now, record } = yield* queue.syncSchedule(spec)
    if (startedAt === undefined) startedAt = now
    // the progress in the record, or what this scheduler handled itself if more (a Redis that lost its data)
    const handled = Math.max(record?.last ?? startedAt - 1, seen ?? Number.NEGATIVE_INFINITY)
    const due = plan(timing, spec.catchUp, handled, lastRead ?? startedAt - 1, now)
    const pending = record?.pending
    let waitFor: string | undefined
    for (const tick of pending === undefined ? due : [pending, ...due.filter((t) => t !== pending)]) {
      // a stop waits for the tick in flight (one round trip, bounded by the connection's command timeout), so the
      // log reports every tick this scheduler enqueued, even the one it fired as it was stopped
      const result: FireResult = yield* Effect.uninterruptible(
        fire(tick).pipe(
          Effect.tap((result) =>
            result._tag === "Passed"
              ? Effect.void
              : Effect.logDebug(`schedule ${spec.name}: tick ${taskIdOf(spec.name, tick)} ${result._tag}`)
          )
        )
      )
      if (seen === undefined || tick > seen) seen = tick
      if (result._tag === "Deferred") waitFor = result.previous
    }
    lastRead = now
    const sleep = Effect.sleep(Duration.millis(Math.min(nextTick(timing, now) - now, maxSleepMillis)))
    yield* waitFor === undefined ? sleep : Effect.raceFirst(sleep, Effect.ignore(queue.awaitTerminal(waitFor)))
  })
  return step.pipe(
    Effect.tapError((e) => Effect.logWarning(`schedule ${spec.name}: the backend failed, retrying in 1 s`, e)),
    Effect.retry(Schedule.spaced("1 second")),
    Effect.forever,
    Effect.annotateLogs("heimdall.schedule", spec.name)
  ) as Effect.Effect<never>
}
