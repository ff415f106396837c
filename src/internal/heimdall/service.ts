/**
 * The `Heimdall` service (the configured backend: its store and its resolved configuration): the ground floor of
 * the primitives. The concept modules (lock, rateLimit, concurrency, onlyAfter) use the service; the layers
 * (layers.ts) build it and import no concept module.
 */
import { Context } from "effect"
import type * as Store from "../../HeimdallStore.ts"
import type { Config } from "../config.ts"

export type { Config, Options } from "../config.ts"

/**
 * The configured backend: the store and the resolved configuration (prefixes, default lock ttl, the queue's name
 * and retention), the same `Config` the task queue of the same layer holds.
 *
 * @category services
 * @since 0.1.0
 */
export class Heimdall extends Context.Service<
  Heimdall,
  {
    readonly store: Store.HeimdallStore["Service"]
    readonly config: Config
  }
>()("effect-heimdall/Heimdall") {}
