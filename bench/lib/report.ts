/**
 * What one run of the ingest benchmark records, and the tables printed from
 * the records: every run, then medians over rounds per target and body size,
 * then ratios taken within the same round (medians with their range), then
 * the goals when both ringest and VictoriaMetrics ran.
 */
import type { TargetName } from './targets.js'

export interface RunRecord {
  round: number
  target: TargetName
  lines: number
  /** False if the run failed; `error` says why and the figures may be null. */
  ok: boolean
  error: string | null
  port: number
  /** The measured window at the client, s. */
  window_s: number
  /** Time between the two server counter readings, s. */
  counter_window_s: number | null
  /** From the server's own counter over the window (baseline: requests x samples per body). */
  samples_per_s: number | null
  /** 2xx responses completed in the window, per second, counted by the client. */
  rps: number | null
  /** Samples in the bodies answered 2xx in the window, per second (client's view of samples/s). */
  acked_samples_per_s: number | null
  /** Body megabytes (10^6) per second answered 2xx in the window. */
  mb_per_s: number | null
  /** Latency of the 2xx responses completed in the window. */
  p50_ms: number | null
  p90_ms: number | null
  p99_ms: number | null
  max_ms: number | null
  mean_ms: number | null
  latency_count: number
  /** Non-2xx responses completed in the window, by status. */
  non2xx: Record<string, number>
  non2xx_total: number
  /** Requests that failed without a response in the window (socket errors, timeouts), by code. */
  sock_errors: Record<string, number>
  sock_errors_total: number
  server_cpu_cores: number | null
  /** The load generator process, from /proc like the server. */
  loadgen_cpu_cores: number | null
  /** The load generator's own process.cpuUsage() over its window timers (a cross-check). */
  loadgen_cpu_cores_self: number | null
  /** This driver process (reads counters, sleeps). */
  driver_cpu_cores: number | null
  /** CPU used on this machine by everything else (other processes, kernel work not charged to these), cores. */
  other_cpu_cores: number | null
  /** CPU the hypervisor gave to other guests, whole machine. */
  steal_cores: number | null
  samples_per_server_cpu_s: number | null
  /** VmHWM of the server at the end of the run, MiB. */
  server_rss_peak_mib: number | null
  /** Connections waiting in the server's accept queue at the end of the window. */
  accept_queue_end: number | null
  /** How long the counter reads at the window's start and end took, ms. */
  counter_read_ms: [number, number] | null
  whole_run: { ok: number, non2xx: number, sock_errors: number }
  /** Requests still in flight 30 s after the load stopped (their sockets were closed). */
  abandoned: number | null
  bodies: { count: number, bytes_avg: number, samples_avg: number } | null
  body_gen_ms: number | null
  server_ready_ms: number | null
  server_stop: { ms: number, killed: boolean, code: number | null, signal: string | null } | null
  /** A few non-2xx bodies or error messages, truncated. */
  error_samples: string[]
  /** ringest-observed: stream events and /metrics scrapes the observers got (bench/lib/observers.ts). */
  observed?: { events: number, scrapes: number, errors: number }
}

export interface SummaryRow {
  target: TargetName
  lines: number
  rounds: number
  samples_per_s: number | null
  samples_per_s_min: number | null
  samples_per_s_max: number | null
  rps: number | null
  p50_ms: number | null
  p99_ms: number | null
  max_ms: number | null
  server_cpu_cores: number | null
  loadgen_cpu_cores: number | null
  samples_per_server_cpu_s: number | null
  /** The highest over rounds (the goal is "under 512 MiB throughout"). */
  server_rss_peak_mib: number | null
  non2xx_total: number
  sock_errors_total: number
}

export interface RatioRow {
  /** e.g. "ringest ÷ vm samples/s" */
  name: string
  numerator: TargetName
  denominator: TargetName
  metric: 'samples_per_s' | 'rps' | 'p99_ms'
  /** Per body size: median, min, max over the rounds in which both ran. */
  bySize: Record<string, { median: number, min: number, max: number, rounds: number } | null>
}

export function median (xs: number[]): number | null {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const nums = (xs: Array<number | null>): number[] => xs.filter((x): x is number => x !== null && Number.isFinite(x))

export function summarize (runs: RunRecord[], targets: readonly TargetName[], sizes: readonly number[]): SummaryRow[] {
  const rows: SummaryRow[] = []
  for (const lines of sizes) {
    for (const target of targets) {
      const rs = runs.filter((r) => r.ok && r.target === target && r.lines === lines)
      const all = runs.filter((r) => r.target === target && r.lines === lines)
      const med = (k: keyof RunRecord): number | null => median(nums(rs.map((r) => r[k] as number | null)))
      const sps = nums(rs.map((r) => r.samples_per_s))
      const rss = nums(all.map((r) => r.server_rss_peak_mib))
      rows.push({
        target,
        lines,
        rounds: rs.length,
        samples_per_s: med('samples_per_s'),
        samples_per_s_min: sps.length > 0 ? Math.min(...sps) : null,
        samples_per_s_max: sps.length > 0 ? Math.max(...sps) : null,
        rps: med('rps'),
        p50_ms: med('p50_ms'),
        p99_ms: med('p99_ms'),
        max_ms: med('max_ms'),
        server_cpu_cores: med('server_cpu_cores'),
        loadgen_cpu_cores: med('loadgen_cpu_cores'),
        samples_per_server_cpu_s: med('samples_per_server_cpu_s'),
        server_rss_peak_mib: rss.length > 0 ? Math.max(...rss) : null,
        non2xx_total: all.reduce((n, r) => n + r.non2xx_total, 0),
        sock_errors_total: all.reduce((n, r) => n + r.sock_errors_total, 0),
      })
    }
  }
  return rows
}

/** Same-round ratios for the pairs that ran: ringest against the ceiling and against VictoriaMetrics. */
export function ratios (runs: RunRecord[], targets: readonly TargetName[], sizes: readonly number[], rounds: number): RatioRow[] {
  const pairs: Array<[TargetName, TargetName, RatioRow['metric']]> = [
    ['ringest', 'baseline', 'samples_per_s'],
    ['ringest', 'vm', 'samples_per_s'],
    ['ringest', 'vm', 'rps'],
    ['ringest', 'vm', 'p99_ms'],
    ['vm', 'baseline', 'samples_per_s'],
    // What watching costs (issue 5: at most 3 % of throughput).
    ['ringest-observed', 'ringest', 'samples_per_s'],
    ['ringest-observed', 'ringest', 'p99_ms'],
  ]
  const label = { samples_per_s: 'samples/s', rps: 'req/s', p99_ms: 'p99' } as const
  const out: RatioRow[] = []
  for (const [a, b, metric] of pairs) {
    if (!targets.includes(a) || !targets.includes(b)) continue
    if (a === 'vm' && targets.includes('ringest')) continue // keep the table about ringest when it ran
    const row: RatioRow = { name: `${a} ÷ ${b} ${label[metric]}`, numerator: a, denominator: b, metric, bySize: {} }
    for (const lines of sizes) {
      const rs: number[] = []
      for (let round = 1; round <= rounds; round++) {
        const x = runs.find((r) => r.ok && r.round === round && r.lines === lines && r.target === a)?.[metric]
        const y = runs.find((r) => r.ok && r.round === round && r.lines === lines && r.target === b)?.[metric]
        if (typeof x === 'number' && typeof y === 'number' && y > 0) rs.push(x / y)
      }
      const m = median(rs)
      const r3 = (x: number): number => Math.round(x * 1000) / 1000
      row.bySize[String(lines)] = m === null ? null : { median: r3(m), min: r3(Math.min(...rs)), max: r3(Math.max(...rs)), rounds: rs.length }
    }
    out.push(row)
  }
  return out
}

export interface GoalCheck { goal: string, value: number | null, met: boolean | null }

/** Issue 3's goals, in the default durable mode, as ratios in one run. */
export function goals (ratioRows: RatioRow[], summary: SummaryRow[]): GoalCheck[] {
  const get = (name: string, lines: number): number | null => ratioRows.find((r) => r.name === name)?.bySize[String(lines)]?.median ?? null
  if (!ratioRows.some((r) => r.name.startsWith('ringest ÷ vm'))) return []
  const out: GoalCheck[] = []
  const atLeast = (goal: string, v: number | null): void => { out.push({ goal, value: v, met: v === null ? null : v >= 1 }) }
  atLeast('5,000-line bodies: samples/s >= 1.0x vm', get('ringest ÷ vm samples/s', 5000))
  atLeast('100-line bodies: samples/s >= 1.0x vm', get('ringest ÷ vm samples/s', 100))
  atLeast('1-line bodies: req/s >= 1.0x vm', get('ringest ÷ vm req/s', 1))
  const p99 = get('ringest ÷ vm p99', 1)
  out.push({ goal: '1-line bodies: p99 <= vm p99 (ratio <= 1)', value: p99, met: p99 === null ? null : p99 <= 1 })
  const rss = nums(summary.filter((s) => s.target === 'ringest').map((s) => s.server_rss_peak_mib))
  const peak = rss.length > 0 ? Math.max(...rss) : null
  out.push({ goal: 'ringest peak RSS < 512 MiB (MiB)', value: peak, met: peak === null ? null : peak < 512 })
  return out
}

// ---- text ----

const int = (x: number | null): string => (x === null ? '–' : Math.round(x).toLocaleString('en-US'))
const fix = (x: number | null, d: number): string => (x === null ? '–' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }))
const counts = (m: Record<string, number>): string => {
  const e = Object.entries(m)
  return e.length === 0 ? '0' : e.map(([k, v]) => `${k}:${v}`).join(' ')
}

function table (head: string[], align: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${align.map((a) => (a === 'r' ? '--:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n')
}

export function runsTable (runs: RunRecord[]): string {
  const head = ['round', 'target', 'lines/req', 'samples/s', 'req/s', 'acked samples/s', 'p50 ms', 'p99 ms', 'max ms',
    'non-2xx', 'socket errors', 'server CPU', 'loadgen CPU', 'other CPU', 'steal', 'samples per server CPU-s', 'peak RSS MiB', 'accept queue']
  return table(head, ['r', 'l', ...head.slice(2).map(() => 'r')], runs.map((r) => [
    String(r.round), r.target, String(r.lines), int(r.samples_per_s), int(r.rps), int(r.acked_samples_per_s),
    fix(r.p50_ms, 1), fix(r.p99_ms, 1), fix(r.max_ms, 1), counts(r.non2xx), counts(r.sock_errors),
    fix(r.server_cpu_cores, 2), fix(r.loadgen_cpu_cores, 2), fix(r.other_cpu_cores, 2), fix(r.steal_cores, 2),
    int(r.samples_per_server_cpu_s), int(r.server_rss_peak_mib), r.accept_queue_end === null ? '–' : String(r.accept_queue_end)]))
    .concat(failures(runs))
}

/** One line per failed run, under the table. */
function failures (runs: RunRecord[]): string {
  const f = runs.filter((r) => !r.ok)
  return f.length === 0 ? '' : '\n\nFailed runs (their figures above are partial, left out of medians and ratios):\n' +
    f.map((r) => `- round ${r.round} ${r.target} ${r.lines} line(s): ${(r.error ?? '').split('\n')[0]!}` +
      (r.error_samples.length > 0 ? `\n  e.g. ${r.error_samples[0]!.replace(/\s+/g, ' ')}` : '')).join('\n')
}

export function summaryTable (rows: SummaryRow[]): string {
  const head = ['target', 'lines/req', 'rounds', 'samples/s', 'min–max', 'req/s', 'p50 ms', 'p99 ms', 'max ms',
    'server CPU', 'loadgen CPU', 'samples per server CPU-s', 'peak RSS MiB (max)', 'non-2xx', 'socket errors']
  return table(head, ['l', ...head.slice(1).map(() => 'r')], rows.map((s) => [
    s.target, String(s.lines), String(s.rounds), int(s.samples_per_s), `${int(s.samples_per_s_min)}–${int(s.samples_per_s_max)}`,
    int(s.rps), fix(s.p50_ms, 1), fix(s.p99_ms, 1), fix(s.max_ms, 1), fix(s.server_cpu_cores, 2), fix(s.loadgen_cpu_cores, 2),
    int(s.samples_per_server_cpu_s), int(s.server_rss_peak_mib), String(s.non2xx_total), String(s.sock_errors_total)]))
}

export function ratiosTable (rows: RatioRow[], sizes: readonly number[]): string {
  return table(['same-round ratio', ...sizes.map((l) => `${l} line(s)/req`)], ['l', ...sizes.map(() => 'r')],
    rows.map((r) => [r.name, ...sizes.map((l) => {
      const c = r.bySize[String(l)]
      return c === null || c === undefined ? '–' : c.rounds > 1 ? `${fix(c.median, 2)} [${fix(c.min, 2)}–${fix(c.max, 2)}]` : fix(c.median, 2)
    })]))
}

export function goalsText (gs: GoalCheck[]): string {
  return gs.map((g) => `- ${g.goal}: ${g.value === null ? 'not measured' : fix(g.value, 2)} ${g.met === null ? '' : g.met ? '(met)' : '(MISSED)'}`).join('\n')
}
