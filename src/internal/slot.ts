/**
 * Redis Cluster hash slots: which of the 16,384 slots a key lives in. A key's
 * slot is the CRC16 (XMODEM) of its hash tag, the text between its first `{`
 * and the next `}` when that is not empty, else of the whole key, modulo
 * 16,384 (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/).
 */
import * as validate from "./validate.ts"

const table = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  let crc = i << 8
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  table[i] = crc
}

const crc16 = (bytes: Uint8Array): number => {
  let crc = 0
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ table[((crc >> 8) ^ byte) & 0xff]!
  return crc
}

const encoder = new TextEncoder()

/** The part of `key` that decides its slot: its hash tag, if it has a non-empty one, else the key. */
export const hashTag = (key: string): string => {
  const open = key.indexOf("{")
  if (open === -1) return key
  const close = key.indexOf("}", open + 1)
  return close === -1 || close === open + 1 ? key : key.slice(open + 1, close)
}

/** The Redis Cluster hash slot of `key` (0 to 16383). */
export const keySlot = (key: string): number => crc16(encoder.encode(hashTag(key))) % 16384

/** The CRC16 (XMODEM) of `text` modulo 16,384, hash tags ignored: a stable hash of any text. */
export const textSlot = (text: string): number => crc16(encoder.encode(text)) % 16384

/** `keys` grouped by slot, each group in the keys' order (the groups in order of their first key). */
export const bySlot = (keys: ReadonlyArray<string>): Array<Array<string>> => {
  const groups = new Map<number, Array<string>>()
  for (const key of keys) {
    const slot = keySlot(key)
    const group = groups.get(slot)
    if (group === undefined) groups.set(slot, [key])
    else group.push(key)
  }
  return [...groups.values()]
}

/**
 * The error of a call whose limits' keys are in different hash slots of a Redis Cluster: they cannot be checked
 * in one script, so the call is refused before it reaches Redis (which would answer CROSSSLOT).
 */
export const crossSlotInvalid = (keys: ReadonlyArray<string>) =>
  validate.invalid(
    "limits",
    keys,
    "on a Redis Cluster, the keys of the limits checked in one call must share a hash slot: give them one hash " +
      'tag, e.g. "{acme}:customer-7" and "{acme}:all" (or put a hash tag in ratePrefix, which puts every limit in one slot)'
  )
