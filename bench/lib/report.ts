/**
 * The results as Markdown (printed and written to bench/results/latest.md),
 * the goals of issue 6 checked against them, and an SVG chart.
 */
import type { Row, Settings } from "./context.ts"
import { fmt, fmtRange, table } from "./stats.ts"

type Notes = Record<string, string>

const find = (rows: ReadonlyArray<Row>, section: string, test: (c: string) => boolean, peer: string) =>
  rows.find((r) => r.section.startsWith(section) && test(r.case) && r.peer === peer)

const digitsFor = (unit: string) => (unit === "ms" || unit === "µs" || unit === "commands" ? 2 : 0)

export const renderRows = (rows: ReadonlyArray<Row>): string => {
  const out: Array<string> = []
  const sections = [...new Set(rows.map((r) => r.section))]
  for (const section of sections) {
    out.push(`### ${section}\n`)
    out.push(
      table(
        ["case", "peer", "median", "min–max", "unit", "effect-heimdall vs peer", "note"],
        rows
          .filter((r) => r.section === section)
          .map((r) => [
            r.case,
            r.peer,
            r.value ? fmt(r.value.median, digitsFor(r.unit)) : "pending",
            r.value && r.value.samples.length > 1 ? fmtRange(r.value, digitsFor(r.unit)) : "",
            r.unit,
            r.ratio ? `${r.ratio.value.toFixed(2)}x ${r.ratio.against}` : "",
            r.note ?? ""
          ]),
        "llrrlrl"
      )
    )
    out.push("")
  }
  return out.join("\n")
}

export interface Goal {
  readonly goal: string
  readonly measured: string
  readonly met: boolean | undefined
}

export const goals = (rows: ReadonlyArray<Row>): Array<Goal> => {
  const out: Array<Goal> = []
  const ratioOf = (section: string, test: (c: string) => boolean) =>
    find(rows, section, test, "effect-heimdall")?.ratio?.value
  // unique enqueue
  for (const k of ["sequential", "50 in flight"]) {
    const r = ratioOf("1.", (c) => c === `unique enqueue, ${k}`)
    out.push({
      goal: `unique enqueue (${k}) ≥ 1.5x BullMQ deduplicated add`,
      measured: r === undefined ? "pending issue 5" : `${r.toFixed(2)}x`,
      met: r === undefined ? undefined : r >= 1.5
    })
  }
  for (const r of rows.filter((r) => r.section.startsWith("2.") && r.case.startsWith("drain") && r.ratio)) {
    out.push({
      goal: `end to end (${r.case.replace(/^drain [\d,]+ tasks, /, "")}) ≥ 1.2x BullMQ`,
      measured: `${r.ratio!.value.toFixed(2)}x`,
      met: r.ratio!.value >= 1.2
    })
  }
  for (const p of ["p50", "p99"]) {
    const h = find(rows, "3.", (c) => c.endsWith(p), "effect-heimdall")?.value?.median
    const b = find(rows, "3.", (c) => c.endsWith(p), "BullMQ")?.value?.median
    if (h !== undefined && b !== undefined)
      out.push({ goal: `latency ${p} ≤ BullMQ`, measured: `${h.toFixed(2)} ms vs ${b.toFixed(2)} ms`, met: h <= b })
  }
  const violating = find(rows, "4.", (c) => c.startsWith("violating"), "effect-heimdall")?.value?.median
  const achieved = find(rows, "4.", (c) => c.startsWith("achieved"), "effect-heimdall")?.value?.median
  const bullViolating = find(rows, "4.", (c) => c.startsWith("violating"), "BullMQ")?.value?.median
  if (violating !== undefined && achieved !== undefined)
    out.push({
      goal: "rate limit: zero violating windows, ≥ 95% of the allowed rate",
      measured: `${violating} violating windows, ${achieved.toFixed(1)}% (BullMQ: ${bullViolating} violating windows)`,
      met: violating === 0 && achieved >= 95
    })
  for (const k of ["sequential", "50 in flight"]) {
    const take = ratioOf("5.", (c) => c === `rate-limit take, ${k}`)
    if (take !== undefined)
      out.push({ goal: `take (${k}) ≥ 1.0x rate-limiter-flexible`, measured: `${take.toFixed(2)}x`, met: take >= 1 })
    const lock = ratioOf("5.", (c) => c === `lock acquire+release, ${k}`)
    if (lock !== undefined)
      out.push({
        goal: `lock acquire+release (${k}) vs raw SET NX PX + DEL (rate-limiter-flexible has no lock)`,
        measured: `${lock.toFixed(2)}x raw`,
        met: undefined
      })
  }
  for (const c of ["lock acquire+release: round trips per pair", "rate-limit take: round trips per call"]) {
    const v = find(rows, "5.", (x) => x === c, "effect-heimdall")?.value?.median
    if (v !== undefined)
      out.push({
        goal: `one round trip per primitive operation (${c.split(":")[0]})`,
        measured: `${v.toFixed(2)} per ${c.includes("pair") ? "pair" : "call"}`,
        met: c.includes("pair") ? v <= 2.0001 : v <= 1.0001
      })
  }
  for (const [test, what] of [
    [(c: string) => c.startsWith("round trips per task"), "fewer round trips per task than BullMQ"],
    [(c: string) => c.startsWith("commands executed per task"), "fewer commands executed per task than BullMQ"],
    [(c: string) => c === "memory per waiting task", "less memory per waiting task than BullMQ"]
  ] as const) {
    const h = find(rows, "6.", test, "effect-heimdall")?.value?.median
    const b = find(rows, "6.", test, "BullMQ")?.value?.median
    if (h !== undefined && b !== undefined)
      out.push({ goal: what, measured: `${fmt(h, 2)} vs ${fmt(b, 2)}`, met: h < b })
  }
  return out
}

export const renderGoals = (rows: ReadonlyArray<Row>): string =>
  table(
    ["goal (issue 6)", "measured", "met"],
    goals(rows).map((g) => [g.goal, g.measured, g.met === undefined ? "–" : g.met ? "yes" : "**no**"]),
    "lll"
  )

export const renderMarkdown = (
  rows: ReadonlyArray<Row>,
  meta: { notes: Notes; settings: Settings; elapsed: number; timings: Record<string, number> }
): string =>
  [
    `Machine: nproc ${meta.notes.nproc}, ${meta.notes.cpu}, Node ${meta.notes.node}, ${meta.notes.redis}; load average at start ${meta.notes.loadavg}; ${meta.notes.date}.`,
    `Run: ${meta.settings.rounds} alternating rounds per comparison, ${meta.settings.ms} ms per throughput sample, drain of ${meta.settings.drainCount.toLocaleString("en-US")} tasks; ${meta.elapsed} s in all (${Object.entries(
      meta.timings
    )
      .map(([k, v]) => `${k} ${v} s`)
      .join(", ")}).`,
    "",
    renderRows(rows),
    "### Goals\n",
    renderGoals(rows)
  ].join("\n")

// -----------------------------------------------------------------------------
// SVG
// -----------------------------------------------------------------------------

const esc = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")

interface Bar {
  readonly label: string
  readonly heimdall: number | undefined
  readonly peer: number | undefined
}

const panel = (
  title: string,
  unit: string,
  bars: ReadonlyArray<Bar>,
  peerName: string,
  x0: number,
  y0: number,
  width: number
): { svg: string; height: number } => {
  const rowH = 34
  const labelW = 190
  const barW = width - labelW - 80
  const max = Math.max(1, ...bars.flatMap((b) => [b.heimdall ?? 0, b.peer ?? 0]))
  const parts: Array<string> = [
    `<text x="${x0}" y="${y0 + 14}" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${x0 + width}" y="${y0 + 14}" font-size="11" text-anchor="end" fill="#555">${esc(unit)}</text>`
  ]
  bars.forEach((b, i) => {
    const y = y0 + 24 + i * rowH
    parts.push(`<text x="${x0}" y="${y + 17}" font-size="12">${esc(b.label)}</text>`)
    const one = (value: number | undefined, dy: number, color: string) => {
      if (value === undefined) {
        parts.push(`<text x="${x0 + labelW}" y="${y + dy + 10}" font-size="10" fill="#999">pending</text>`)
        return
      }
      const w = Math.max(1, (value / max) * barW)
      parts.push(`<rect x="${x0 + labelW}" y="${y + dy}" width="${w.toFixed(1)}" height="13" fill="${color}"/>`)
      parts.push(
        `<text x="${(x0 + labelW + w + 4).toFixed(1)}" y="${y + dy + 10}" font-size="10">${esc(fmt(value, unit === "ms" ? 2 : 0))}</text>`
      )
    }
    one(b.heimdall, 2, "#3b6fd8")
    one(b.peer, 16, "#e0823d")
  })
  parts.push(
    `<rect x="${x0 + labelW}" y="${y0 + 28 + bars.length * rowH}" width="10" height="10" fill="#3b6fd8"/>`,
    `<text x="${x0 + labelW + 14}" y="${y0 + 37 + bars.length * rowH}" font-size="11">effect-heimdall</text>`,
    `<rect x="${x0 + labelW + 120}" y="${y0 + 28 + bars.length * rowH}" width="10" height="10" fill="#e0823d"/>`,
    `<text x="${x0 + labelW + 134}" y="${y0 + 37 + bars.length * rowH}" font-size="11">${esc(peerName)}</text>`
  )
  return { svg: parts.join("\n"), height: 50 + bars.length * rowH }
}

export const renderSvg = (rows: ReadonlyArray<Row>, notes: Notes): string => {
  const v = (section: string, test: (c: string) => boolean, peer: string) =>
    find(rows, section, test, peer)?.value?.median
  const pair = (label: string, section: string, test: (c: string) => boolean, peer = "BullMQ"): Bar => ({
    label,
    heimdall: v(section, test, "effect-heimdall"),
    peer: v(section, test, peer)
  })
  const throughput: Array<Bar> = [
    pair("enqueue, sequential", "1.", (c) => c === "enqueue, sequential"),
    pair("enqueue, 50 in flight", "1.", (c) => c === "enqueue, 50 in flight"),
    pair("unique enqueue, sequential", "1.", (c) => c === "unique enqueue, sequential"),
    pair("unique enqueue, 50 in flight", "1.", (c) => c === "unique enqueue, 50 in flight"),
    ...rows
      .filter((r) => r.section.startsWith("2.") && r.case.startsWith("drain") && r.peer === "BullMQ")
      .map((r) => pair(`end to end, ${r.case.replace(/^drain [\d,]+ tasks, /, "")}`, "2.", (c) => c === r.case))
  ]
  const latency: Array<Bar> = [
    pair("enqueue → start p50", "3.", (c) => c.endsWith("p50")),
    pair("enqueue → start p99", "3.", (c) => c.endsWith("p99"))
  ]
  const prims: Array<Bar> = [
    pair("take, sequential", "5.", (c) => c === "rate-limit take, sequential", "rate-limiter-flexible"),
    pair("take, 50 in flight", "5.", (c) => c === "rate-limit take, 50 in flight", "rate-limiter-flexible")
  ]
  const width = 720
  const a = panel("Throughput (higher is better)", "tasks/s", throughput, "BullMQ", 20, 50, width - 40)
  const b = panel(
    "Latency with an idle worker (lower is better)",
    "ms",
    latency,
    "BullMQ",
    20,
    60 + a.height,
    width - 40
  )
  const c = panel(
    "Rate-limit take (higher is better)",
    "ops/s",
    prims,
    "rate-limiter-flexible",
    20,
    70 + a.height + b.height,
    width - 40
  )
  const height = 90 + a.height + b.height + c.height
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="20" y="24" font-size="16" font-weight="bold">effect-heimdall vs BullMQ and rate-limiter-flexible (npm run bench)</text>`,
    `<text x="20" y="40" font-size="11" fill="#555">${esc(`nproc ${notes.nproc}, ${notes.cpu}, Node ${notes.node}, ${notes.redis?.split(" sha=")[0]}; medians`)}</text>`,
    a.svg,
    b.svg,
    c.svg,
    "</svg>",
    ""
  ].join("\n")
}
