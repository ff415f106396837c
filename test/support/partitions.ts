import { partitionOf } from "../../src/internal/queue/keys.ts"
import type * as TaskQueue from "../../src/TaskQueue.ts"

/**
 * On a partitioned queue (`partitions`), `text` with the first suffix (`~1`, `~2`, ...) that puts it in partition 0;
 * on one partition, `text` itself. Order is FIFO per partition and a claim takes from one partition, so the tests of
 * order and of claims of several tasks keep their task ids (and unique keys) in one partition with it.
 */
export const together =
  (queue: TaskQueue.Service) =>
  (text: string): string => {
    const n = queue.config.partitions
    if (n <= 1 || partitionOf(text, n) === 0) return text
    for (let k = 1; ; k++) if (partitionOf(`${text}~${k}`, n) === 0) return `${text}~${k}`
  }
