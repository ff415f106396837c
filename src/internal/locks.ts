/**
 * The in-memory lock table that the memory `HeimdallStore` and the memory
 * task queue share (a unique task's lock is a lock like any other, so that
 * `Heimdall.inspectLock` sees it and enqueue + lock is one synchronous step),
 * with the waiters for its releases.
 */
import * as Waiters from "./waiters.ts"

/**
 * The state of a held lock.
 *
 * @category models
 * @since 0.1.0
 */
export interface LockState {
  readonly holder: string
  readonly expiresInMs: number
  readonly fence: number
}

/**
 * The answer of `lockAcquire`: the lock with its fence, or who holds it.
 *
 * @category models
 * @since 0.1.0
 */
export type LockAcquireResult =
  | { readonly _tag: "Acquired"; readonly fence: number }
  | ({ readonly _tag: "Held" } & LockState)

interface MemoryLock {
  owner: string | undefined
  fence: number
  expiresAt: number
}

/** After a release, the last fence is kept this long, as in Redis. */
const fenceMemoryMs = 1000

/** The in-memory lock table; every function takes the caller's `now` so a caller can compose them atomically. */
export const makeLockTable = () => {
  const locks = new Map<string, MemoryLock>()
  /** Waiters for this table's releases. */
  const releases = Waiters.make()
  const live = (key: string, nowMs: number) => {
    const lock = locks.get(key)
    if (lock && lock.expiresAt <= nowMs) {
      locks.delete(key)
      return undefined
    }
    return lock
  }
  return {
    releases,
    /** Takes a lock or reports its holder; the owner re-taking it extends it and keeps its fence. */
    take: (key: string, owner: string, ttlMs: number, nowMs: number, nowUs: number): LockAcquireResult => {
      const lock = live(key, nowMs)
      if (lock?.owner !== undefined) {
        if (lock.owner === owner) {
          lock.expiresAt = nowMs + ttlMs
          return { _tag: "Acquired", fence: lock.fence }
        }
        return { _tag: "Held", holder: lock.owner, expiresInMs: lock.expiresAt - nowMs, fence: lock.fence }
      }
      const fence = Math.max((lock?.fence ?? 0) + 1, nowUs)
      locks.set(key, { owner, fence, expiresAt: nowMs + ttlMs })
      return { _tag: "Acquired", fence }
    },
    /** Frees a lock held by `owner` (by anyone when `owner` is undefined) and announces it. */
    free: (key: string, owner: string | undefined, nowMs: number): boolean => {
      const lock = live(key, nowMs)
      if (lock?.owner === undefined || (owner !== undefined && lock.owner !== owner)) return false
      lock.owner = undefined
      lock.expiresAt = nowMs + fenceMemoryMs
      releases.wakeAll(key)
      return true
    },
    extend: (key: string, owner: string, ttlMs: number, nowMs: number): boolean => {
      const lock = live(key, nowMs)
      if (lock?.owner !== owner) return false
      lock.expiresAt = nowMs + ttlMs
      return true
    },
    holder: (key: string, nowMs: number) => {
      const lock = live(key, nowMs)
      return lock?.owner === undefined
        ? undefined
        : { holder: lock.owner, expiresInMs: lock.expiresAt - nowMs, fence: lock.fence }
    },
    keys: () => [...locks.keys()],
    sweep: (nowMs: number) => {
      for (const [key, lock] of locks) if (lock.expiresAt <= nowMs) locks.delete(key)
    }
  }
}

export type LockTable = ReturnType<typeof makeLockTable>
