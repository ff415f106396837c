/**
 * A private `redis-server` for one test (the fault tests restart it), stopped, and its data directory removed, when
 * the test's scope closes.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { startRedisServer } from "./redisServer.ts"

/** With `persistent`, the server writes an append-only file in a temporary directory, so a restart keeps its data. */
export const privateServer = (persistent: boolean) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = persistent ? mkdtempSync(path.join(tmpdir(), "heimdall-aof-")) : undefined
      const server = await startRedisServer(undefined, { persistentDir: dir })
      return { server, dir }
    }),
    ({ server, dir }) =>
      Effect.promise(async () => {
        await server.stop()
        if (dir) rmSync(dir, { recursive: true, force: true })
      })
  ).pipe(Effect.map(({ server }) => server))
