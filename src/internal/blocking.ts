/**
 * How long a Redis command may block on the server by its own arguments: the command bound of `RedisIoredis` adds
 * it to `commandTimeout`, so that a `BLPOP 5` is not timed out after the command timeout alone.
 */

const seconds = (arg: string | undefined): number | undefined => {
  const n = Number(arg)
  return Number.isFinite(n) && n >= 0 ? n * 1000 : undefined
}
const millis = (arg: string | undefined): number | undefined => {
  const n = Number(arg)
  return Number.isFinite(n) && n >= 0 ? n : undefined
}

/**
 * How long a command may block on the server by its own arguments, in
 * milliseconds; `Infinity` for "forever", `0` for a command that never blocks.
 */
export const blockingMillis = (command: string, args: ReadonlyArray<string>): number => {
  // every blocking command starts with B, W or X: the rest (most traffic) returns at once
  const first = command.charCodeAt(0) | 0x20
  if (first !== 0x62 && first !== 0x77 && first !== 0x78) return 0
  const forever = (ms: number | undefined) => (ms === 0 ? Number.POSITIVE_INFINITY : (ms ?? 0))
  switch (command.toUpperCase()) {
    case "BLPOP":
    case "BRPOP":
    case "BLMOVE":
    case "BRPOPLPUSH":
    case "BZPOPMIN":
    case "BZPOPMAX":
      return forever(seconds(args[args.length - 1]))
    case "BLMPOP":
    case "BZMPOP":
      return forever(seconds(args[0]))
    case "WAIT":
      return forever(millis(args[1]))
    case "WAITAOF":
      return forever(millis(args[2]))
    case "XREAD":
    case "XREADGROUP": {
      const at = args.findIndex((a) => a.toUpperCase() === "BLOCK")
      return at === -1 ? 0 : forever(millis(args[at + 1]))
    }
    default:
      return 0
  }
}
