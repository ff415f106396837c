/**
 * The one source of ids: task ids, worker ids, lease tokens, default lock
 * owners and slot holders, rate-limit call ids. (Randomness that is not an id,
 * such as a rate-limited start's jitter, comes from Effect's `Random`, so that
 * tests control it.)
 *
 * Ids are 16 URL-safe characters, the base64url form of 12 random
 * bytes (96 bits: as unlikely to collide as a random UUID's 122 bits, for any
 * practical number of tasks), never starting with "-" (a leading "-" becomes
 * "_", so command lines never take an id for an option). An id is stored twice per waiting task (in its
 * key and in the ready list), so 16 characters instead of a UUID's 36 save 40
 * bytes of Redis memory per task. The random bytes come from a pooled buffer
 * (one `randomFillSync` per 256 ids), as `randomUUID` does.
 */
import { randomFillSync } from "node:crypto"

const idBytes = 12
const pool = Buffer.allocUnsafe(idBytes * 256)
let offset = pool.length

/** A new random id: 16 characters of `A-Z a-z 0-9 - _`. */
export const randomId = (): string => {
  if (offset === pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const id = pool.toString("base64url", offset, offset + idBytes)
  offset += idBytes
  // never a leading "-": a command line would read the id as an option (`heimdall tasks show -x...`)
  return id.charCodeAt(0) === 45 ? `_${id.slice(1)}` : id
}
