import { Duration } from "effect"
import type { Options } from "../../TaskQueue.ts"

/** `TaskQueue.Options` with every default filled in. */
export const resolveOptions = (options: Options = {}) => ({
  queue: options.queue ?? "default",
  prefix: options.prefix ?? "h-q",
  retentionMillis: Duration.toMillis(Duration.fromInputUnsafe(options.retention ?? Duration.days(1))),
  lockPrefix: options.lockPrefix ?? "h-lock:",
  ratePrefix: options.ratePrefix ?? "h-rate:",
  uniqueTimeoutMillis: Duration.toMillis(Duration.fromInputUnsafe(options.uniqueTimeout ?? Duration.hours(1)))
})

export type Resolved = ReturnType<typeof resolveOptions>
