/**
 * Child processes for the multi-process tests: a fixture (a .ts file, which
 * Node 24 runs directly) started on the test's Node, its stdout split into
 * lines, a wait for a line, and a stop that never leaves a process behind.
 */
import { type ChildProcess, spawn } from "node:child_process"

export interface Child {
  readonly child: ChildProcess
  /** stdout, line by line, as it arrives. */
  readonly lines: Array<string>
  /** The stdout lines that are JSON, parsed (log lines are left out). */
  readonly json: () => Array<any>
  /** Resolves with the first line `match` accepts, or rejects after `ms` with everything the child printed. */
  readonly waitFor: (what: string, match: (line: string) => boolean, ms?: number) => Promise<string>
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  /** Sends `signal` (unless it has exited), then SIGKILL after 8 s, and waits for the exit. */
  readonly stop: (
    signal: NodeJS.Signals
  ) => Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

const running = new Set<ChildProcess>()

/** SIGKILLs every child still running: for `afterEach`/`afterAll`, so a failed test leaves nothing behind. */
export const killAll = () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  running.clear()
}

export const parseJson = (line: string): unknown => {
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}

export const spawnFixture = (script: string, env: Record<string, string | undefined>): Child => {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  running.add(child)
  const lines: Array<string> = []
  const listeners = new Set<() => void>()
  let buffer = ""
  child.stdout!.on("data", (chunk) => {
    buffer += chunk
    const parts = buffer.split("\n")
    buffer = parts.pop()!
    lines.push(...parts.filter((l) => l.trim() !== ""))
    for (const l of listeners) l()
  })
  let stderr = ""
  child.stderr!.on("data", (chunk) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      running.delete(child)
      resolve({ code, signal })
    })
  )
  const waitFor = (what: string, match: (line: string) => boolean, ms = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.find(match)
        if (found !== undefined) {
          listeners.delete(check)
          clearTimeout(timer)
          resolve(found)
        }
      }
      const timer = setTimeout(() => {
        listeners.delete(check)
        reject(
          new Error(
            `process ${child.pid}: no ${what} within ${ms} ms; exit ${child.exitCode ?? child.signalCode}\n` +
              `stdout:\n${lines.join("\n")}\nstderr:\n${stderr}`
          )
        )
      }, ms)
      listeners.add(check)
      check()
    })
  const stop = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    const timer = setTimeout(() => child.kill("SIGKILL"), 8000)
    const exit = await exited
    clearTimeout(timer)
    return exit
  }
  const json = () => lines.map(parseJson).filter((l) => l !== undefined && l !== null && typeof l === "object")
  return { child, lines, json, waitFor, exited, stop }
}
