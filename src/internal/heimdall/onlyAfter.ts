/** only-after: `true` at most once per period per key. */
import { type Duration, Effect } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { InvalidArgument } from "../../Errors.ts"
import * as Layout from "../layout.ts"
import { checkKey, millisOf } from "./common.ts"
import { Heimdall } from "./service.ts"

/**
 * `true` at most once per `period` for a key, atomically across processes;
 * `false` otherwise. For "do this at most once an hour" inside any effect.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Heimdall } from "effect-heimdall"
 *
 * const maybeNotify = Effect.gen(function* () {
 *   if (yield* Heimdall.onlyAfter("disk-full-alert", "1 hour")) yield* Effect.log("paging on-call")
 * })
 * ```
 *
 * @category only-after
 * @since 0.1.0
 */
export const onlyAfter = (
  key: string,
  period: Duration.Input
): Effect.Effect<boolean, InvalidArgument | Redis.RedisError, Heimdall> =>
  Effect.gen(function* () {
    yield* checkKey(key)
    const h = yield* Heimdall
    const periodMs = yield* millisOf("period", period, 1)
    return yield* h.store.onlyAfter(Layout.onlyAfterKey(h.config.ratePrefix, key), periodMs)
  })
