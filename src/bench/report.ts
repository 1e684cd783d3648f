/**
 * What `ringest bench` prints and saves: the result of a run (also the shape
 * of --json), its summary text, the progress line, and `compare`.
 */
import type { Percentiles, SecondRow } from './recorder.js'
import type { StatsDelta } from './target.js'

export interface RunResult {
  url: string
  kind: string
  /** Path and query the requests went to. */
  path: string
  format: string
  mode: string
  client: string
  connections: number
  /** Open loop: the schedule's requests/s (null: closed loop or replay). */
  rate: number | null
  replay: string | null
  startedAt: string
  warmupSeconds: number
  /** The measured phase: its start to its last answer, s. */
  elapsedSeconds: number
  body: { count: number, avgBytes: number, avgSamples: number }
  /** Measured requests finished: answered (after retries) or failed. */
  requests: number
  ok: number
  non2xx: number
  socketErrors: number
  /** 2xx answers per second. */
  requestsPerSecond: number
  /** Samples in the bodies answered 2xx, per second. */
  samplesPerSecond: number
  bytesPerSecond: number
  latencyMs: Percentiles
  /** Every response by status, retried 503s included. */
  statuses: Record<string, number>
  errors: Record<string, number>
  retries: number
  late: number
  unsent: number
  /** HTTP requests sent, warmup and retries included. */
  sent: number
  clientCpuCores: number | null
  perSecond: SecondRow[]
  errorSamples: string[]
  serverStats: StatsDelta | null
}

export interface BenchResult {
  tool: 'ringest bench'
  version: string
  createdAt: string
  command: string[]
  machine: { cpus: number, model: string, node: string, platform: string }
  runs: RunResult[]
}

const n0 = (v: number): string => Math.round(v).toLocaleString('en-US')
const fix = (v: number, d: number): string => v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
/** Milliseconds with 3 significant digits at most. */
export const msText = (v: number): string => (v >= 100 ? n0(v) : v >= 10 ? fix(v, 1) : fix(v, 2))
const counts = (m: Record<string, number>): string => Object.keys(m).length === 0 ? 'none' : Object.entries(m).map(([k, v]) => `${k}: ${n0(v)}`).join('   ')

export function summaryText (r: RunResult): string {
  const loop = r.replay !== null ? `replay of ${r.replay}` : r.mode === 'open' ? `open loop at ${n0(r.rate ?? 0)} req/s` : 'closed loop'
  const origin = r.mode === 'open' ? 'from the intended send time' : 'from the first send'
  const L = r.latencyMs
  const lines = [
    `target     ${r.url.replace(/\/$/, '')}${r.path}  (${r.kind}, ${r.format}, ${loop}, ${r.connections} connections, ${r.client})`,
    `bodies     ${n0(r.body.count)} of ${fix(r.body.avgSamples, r.body.avgSamples % 1 === 0 ? 0 : 1)} samples, ${n0(r.body.avgBytes)} bytes on average`,
    `measured   ${fix(r.elapsedSeconds, 2)} s from ${r.startedAt}`,
    `requests   ${n0(r.ok)} answered 2xx: ${n0(r.requestsPerSecond)} req/s, ${n0(r.samplesPerSecond)} samples/s, ${fix(r.bytesPerSecond / 1e6, 1)} MB/s`,
    `latency    p50 ${msText(L.p50)}  p90 ${msText(L.p90)}  p99 ${msText(L.p99)}  p99.9 ${msText(L.p999)}  max ${msText(L.max)} ms  (2xx, ${origin}, HDR histogram)`,
    `statuses   ${counts(r.statuses)}`,
    `retries    ${n0(r.retries)} (503 with Retry-After)`,
    `errors     ${counts(r.errors)}`,
  ]
  if (r.mode === 'open') lines.push(`schedule   ${n0(r.late)} sent late (over 10 ms after their time), ${n0(r.unsent)} never sent (no free connection before the end)`)
  if (r.clientCpuCores !== null) lines.push(`client CPU ${fix(r.clientCpuCores, 2)} cores (this process, measured phase)`)
  for (const s of r.errorSamples) lines.push(`  e.g. ${s.replace(/\s+/g, ' ')}`)
  if (r.serverStats !== null) lines.push(statsText(r.serverStats, r.warmupSeconds > 0))
  return lines.join('\n')
}

function statsText (d: StatsDelta, warmup: boolean): string {
  const lines = [`server     /stats delta over the run${warmup ? ', warmup included' : ''}:`]
  for (const [k, v] of Object.entries(d.counters)) lines.push(`             ${k.padEnd(26)} ${v >= 0 ? '+' : ''}${Number.isInteger(v) ? n0(v) : fix(v, 3)}`)
  lines.push(`             ${'write requests by status'.padEnd(26)} ${counts(d.requestsByStatus)}`)
  if (Object.keys(d.rejectedByReason).length > 0) lines.push(`             ${'rejected by reason'.padEnd(26)} ${counts(d.rejectedByReason)}`)
  const lat = d.after.requestLatencyMs
  if (lat !== null) lines.push(`             ${'server latency, last 10 s'.padEnd(26)} p50 ${msText(lat.p50 ?? 0)}  p99 ${msText(lat.p99 ?? 0)}  max ${msText(lat.max ?? 0)} ms`)
  if (d.after.rssBytes !== null) lines.push(`             ${'server RSS after'.padEnd(26)} ${n0(d.after.rssBytes / 2 ** 20)} MiB`)
  return lines.join('\n')
}

/** `[  7s] 12,345 req/s  errors 0  p99 4.56 ms  in flight 64` */
export function progressText (second: number, warmup: boolean, rate: number, errors: number, p99: number | null, extra: string): string {
  const p = p99 === null ? '-' : `${msText(p99)} ms`
  return `[${warmup ? 'warmup ' : ''}${String(second).padStart(3)}s] ${n0(rate).padStart(7)} req/s  errors ${n0(errors)}  p99 ${p}${extra}`
}

// ---------------------------------------------------------------------------
// compare

/** [label, value, true if higher is better] */
const FIGURES: ReadonlyArray<readonly [string, (r: RunResult) => number, boolean]> = [
  ['req/s (2xx)', (r) => r.requestsPerSecond, true],
  ['samples/s', (r) => r.samplesPerSecond, true],
  ['MB/s', (r) => r.bytesPerSecond / 1e6, true],
  ['latency p50 ms', (r) => r.latencyMs.p50, false],
  ['latency p90 ms', (r) => r.latencyMs.p90, false],
  ['latency p99 ms', (r) => r.latencyMs.p99, false],
  ['latency p99.9 ms', (r) => r.latencyMs.p999, false],
  ['latency max ms', (r) => r.latencyMs.max, false],
  ['non-2xx', (r) => r.non2xx, false],
  ['socket errors', (r) => r.socketErrors, false],
  ['retries', (r) => r.retries, false],
  ['late (open loop)', (r) => r.late, false],
  ['unsent (open loop)', (r) => r.unsent, false],
  ['client CPU cores', (r) => r.clientCpuCores ?? NaN, false],
]

const cell = (v: number): string => (Number.isNaN(v) ? '-' : Math.abs(v) >= 100 || Number.isInteger(v) ? n0(v) : fix(v, 2))

export function compareText (a: BenchResult, b: BenchResult, aName: string, bName: string): string {
  const out: string[] = []
  const runs = Math.max(a.runs.length, b.runs.length)
  for (let i = 0; i < runs; i++) {
    const ra = a.runs[i]
    const rb = b.runs[i]
    if (ra === undefined || rb === undefined) { out.push(`run ${i + 1}: only in ${ra === undefined ? bName : aName}`); continue }
    out.push(`run ${i + 1}: a = ${ra.url.replace(/\/$/, '')}${ra.path} (${ra.startedAt})`, `       b = ${rb.url.replace(/\/$/, '')}${rb.path} (${rb.startedAt})`)
    const rows = [['figure', 'a', 'b', 'b/a', '']]
    for (const [label, get, higher] of FIGURES) {
      const x = get(ra)
      const y = get(rb)
      const ratio = x === 0 ? (y === 0 ? '1.00' : 'inf') : Number.isNaN(x) || Number.isNaN(y) ? '-' : fix(y / x, 2)
      rows.push([label, cell(x), cell(y), ratio, higher ? 'higher is better' : 'lower is better'])
    }
    const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
    for (const r of rows) out.push(`  ${r.map((c, k) => (k === 0 || k === 4 ? c.padEnd(w[k]!) : c.padStart(w[k]!))).join('  ').trimEnd()}`)
    out.push('')
  }
  return out.join('\n')
}
