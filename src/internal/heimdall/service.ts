/**
 * The `Heimdall` service (the configured backend: store and key layout) and its options: the ground floor of the
 * primitives. The concept modules (lock, rateLimit, concurrency, onlyAfter) use the service; the layers (layers.ts)
 * build it and import no concept module.
 */
import { Context, Duration } from "effect"
import type * as Store from "../../HeimdallStore.ts"
import * as Layout from "../layout.ts"

/**
 * Options shared by both backends. A layer given an option that can never
 * work fails with `InvalidArgument` naming it and its value: an empty `queue`
 * or one with `{` or `}`, a `queuePrefix` or `lockPrefix` with `{` or `}` (the
 * queue's hash tag follows them), a `retention` or `uniqueTimeout` that is not
 * a positive finite duration.
 *
 * **Example**
 *
 * ```ts
 * import { Heimdall } from "effect-heimdall"
 *
 * const options: Heimdall.Options = { lockPrefix: "myapp-lock:", uniqueTimeout: "30 minutes", queue: "reports" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Prefix of lock keys. Default `"h-lock:"`. */
  readonly lockPrefix?: string | undefined
  /** Prefix of rate-limit and only-after keys. Default `"h-rate:"`. */
  readonly ratePrefix?: string | undefined
  /** Prefix of concurrency-limit keys. Default `"h-sem:"`. */
  readonly concurrencyPrefix?: string | undefined
  /** Default lock time-to-live (and unique-task timeout). Default 1 hour. */
  readonly uniqueTimeout?: Duration.Input | undefined
  /** The task queue's name. Default `"default"`. */
  readonly queue?: string | undefined
  /** Prefix of the task queue's keys (Redis). Default `"h-q"`. */
  readonly queuePrefix?: string | undefined
  /** How long finished tasks and their results are kept. Default 1 day. */
  readonly retention?: Duration.Input | undefined
}

/**
 * The configured backend: the store and the key layout.
 *
 * @category services
 * @since 0.1.0
 */
export class Heimdall extends Context.Service<
  Heimdall,
  {
    readonly store: Store.HeimdallStore["Service"]
    readonly lockPrefix: string
    readonly ratePrefix: string
    readonly concurrencyPrefix: string
    readonly uniqueTimeout: Duration.Duration
  }
>()("effect-heimdall/Heimdall") {}

export const resolveOptions = (options: Options | undefined) => ({
  lockPrefix: options?.lockPrefix ?? Layout.defaults.lockPrefix,
  ratePrefix: options?.ratePrefix ?? Layout.defaults.ratePrefix,
  concurrencyPrefix: options?.concurrencyPrefix ?? Layout.defaults.concurrencyPrefix,
  uniqueTimeout: Duration.fromInputUnsafe(options?.uniqueTimeout ?? "1 hour")
})
