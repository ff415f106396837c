/**
 * The only place queue keys are built.
 *
 * Every key of one queue shares the Redis Cluster hash tag `{<queue>}`, so
 * every script touching a queue runs on one slot:
 *
 * | key                              | type   | holds                                        | lifetime                     |
 * | -------------------------------- | ------ | -------------------------------------------- | ---------------------------- |
 * | `<prefix>:{<queue>}:task:<id>`   | hash   | one task record (see `TaskRecord`)           | no TTL until terminal, then `retention` |
 * | `<prefix>:{<queue>}:ready`       | list   | ids ready to run (LPUSH in, RPOP out: FIFO)  | exists while non-empty       |
 * | `<prefix>:{<queue>}:scheduled`   | zset   | ids waiting for their run time (score: ms)   | exists while non-empty       |
 * | `<prefix>:{<queue>}:running`     | zset   | ids claimed by a worker (score: lease end)   | exists while non-empty       |
 * | `<prefix>:{<queue>}:wake`        | list   | wake-up tokens for blocked idle workers      | capped, TTL `wakeTtl`        |
 * | `<prefix>:{<queue>}:events`      | pubsub | channel: the id of each task reaching an end | (a channel, not a key)       |
 */

/** Key builders for one queue. */
export interface QueueKeys {
  readonly queue: string
  readonly task: (id: string) => string
  /** The prefix of every task key; scripts that find ids in lists append the id to it. */
  readonly taskPrefix: string
  readonly ready: string
  readonly scheduled: string
  readonly running: string
  readonly wake: string
  readonly events: string
}

export const makeKeys = (prefix: string, queue: string): QueueKeys => {
  const base = `${prefix}:{${queue}}:`
  return {
    queue,
    task: (id) => `${base}task:${id}`,
    taskPrefix: `${base}task:`,
    ready: `${base}ready`,
    scheduled: `${base}scheduled`,
    running: `${base}running`,
    wake: `${base}wake`,
    events: `${base}events`
  }
}
