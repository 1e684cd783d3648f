/**
 * The pure half of `npm run bench:peers`: what a run records, and the
 * Markdown table, the SVG chart and the README rewrite made from it. No I/O
 * here, so test/bench-peers.test.ts renders a fixture.
 */
import type { RunRecord, SummaryRow } from './report.js'
import type { TargetName } from './targets.js'

/** bench/disk.sh's answer for one server: a fixed number of distinct samples, `du` after the server settled. */
export interface DiskRow {
  server: 'ringest' | 'vm' | 'influx'
  samples: number
  bytes: number
  bytes_per_sample: number
  rss_peak_mb: number | null
}

export interface Machine {
  cpu_model: string | null
  cpus: number
  mem_gib: number
  kernel: string
  node: string
  vm_version: string | null
  influx_version: string | null
}

export interface PeersResult {
  bench: 'peers'
  started: string // ISO UTC
  finished: string
  command: string
  machine: Machine
  options: { targets: TargetName[], sizes: number[], rounds: number, warmup: number, duration: number, connections: number, disk_samples: number, disk_hosts: number }
  runs: RunRecord[]
  summary: SummaryRow[]
  /** Null when the disk part was skipped (--disk-samples 0). */
  disk: DiskRow[] | null
}

export const README_START = '<!-- bench:peers start -->'
export const README_END = '<!-- bench:peers end -->'

const NAMES: Partial<Record<TargetName, string>> = { baseline: 'bare node (ceiling)', ringest: 'ringest', vm: 'VictoriaMetrics', influx: 'InfluxDB 1.x' }
const name = (t: string): string => NAMES[t as TargetName] ?? t
const COLORS: Record<string, string> = { baseline: '#9e9e9e', ringest: '#d62728', vm: '#1f77b4', influx: '#2ca02c' }

const int = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : Math.round(x).toLocaleString('en-US'))
const fix = (x: number | null | undefined, d: number): string =>
  x === null || x === undefined ? '–' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })

function table (head: string[], align: string, rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${[...align].map((a) => (a === 'r' ? '--:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

type Metric = 'samples_per_s' | 'rps' | 'p99_ms' | 'server_rss_peak_mib'
const row = (r: PeersResult, target: string, lines: number): SummaryRow | undefined =>
  r.summary.find((s) => s.target === target && s.lines === lines && s.rounds > 0)

/** Ratio of the medians of `a` and `b` for one size and metric, or null. */
export function ratio (r: PeersResult, a: TargetName, b: TargetName, lines: number, m: Metric): number | null {
  const x = row(r, a, lines)?.[m]
  const y = row(r, b, lines)?.[m]
  return typeof x === 'number' && typeof y === 'number' && y > 0 ? x / y : null
}

export function machineLine (m: Machine): string {
  return `${m.cpus} × ${m.cpu_model ?? 'unknown CPU'}, ${m.mem_gib} GiB RAM, Linux ${m.kernel}, Node ${m.node}, ` +
    `VictoriaMetrics ${m.vm_version ?? '?'}, InfluxDB ${m.influx_version ?? '?'}`
}

/** The Markdown the README section and bench/results/peers-<UTC>.md carry (the chart link is the caller's). */
export function peersMarkdown (r: PeersResult): string {
  const o = r.options
  const out: string[] = []
  out.push(`Run of ${r.started.slice(0, 16).replace('T', ' ')} UTC (${Math.round((Date.parse(r.finished) - Date.parse(r.started)) / 60_000)} min) on ${machineLine(r.machine)}.`)
  out.push('', '```sh', r.command, '```', '')
  out.push(`Each server started fresh per size${o.rounds > 1 ? ' and round' : ''}, ${o.connections} keep-alive connections from a separate undici load generator, ` +
    `${o.warmup} s warm-up then a ${o.duration} s window; samples/s from each server's own counter, req/s and p99 from the client (2xx only), ` +
    `peak RSS = VmHWM. ringest in its default durable mode (\`--ack durable\`). ${o.rounds > 1 ? `Medians over ${o.rounds} rounds.` : 'One round, so no spread is given: this machine is a shared VM whose single figures move between runs; read the ratios, or rerun with `--rounds 3` for medians.'}`)
  out.push('')
  const rows: string[][] = []
  for (const lines of o.sizes) {
    for (const t of o.targets) {
      const s = row(r, t, lines)
      rows.push([String(lines), name(t), int(s?.samples_per_s), int(s?.rps), fix(s?.p99_ms, 1), int(s?.server_rss_peak_mib)])
    }
  }
  out.push(table(['lines/req', 'server', 'samples/s', 'req/s', 'p99 ms', 'peak RSS MiB'], 'rlrrrr', rows))
  const peers = (['vm', 'influx'] as const).filter((p) => o.targets.includes(p) && o.targets.includes('ringest'))
  if (peers.length > 0) {
    out.push('', 'ringest ÷ peer (above 1 is better for samples/s and req/s, below 1 for p99 and RSS):', '')
    const rr: string[][] = []
    for (const p of peers) {
      for (const lines of o.sizes) {
        rr.push([`ringest ÷ ${name(p)}`, String(lines), ...(['samples_per_s', 'rps', 'p99_ms', 'server_rss_peak_mib'] as const).map((m) => fix(ratio(r, 'ringest', p, lines, m), 2))])
      }
    }
    out.push(table(['ratio', 'lines/req', 'samples/s', 'req/s', 'p99', 'peak RSS'], 'lrrrrr', rr))
  }
  const failed = r.runs.filter((x) => !x.ok)
  if (failed.length > 0) out.push('', ...failed.map((x) => `- FAILED: round ${x.round} ${name(x.target)} ${x.lines} line(s): ${(x.error ?? '').split('\n')[0]!}`))
  if (r.disk !== null) {
    out.push('', `Bytes per sample on disk: ${int(o.disk_samples)} distinct samples (${int(o.disk_hosts)} hosts × 8 series, 5,000-line bodies), ` +
      '`du` after each server settled (bench/disk.sh: ringest after its idle checkpoint and a graceful stop; VictoriaMetrics data/ + indexdb/ ' +
      'after force_flush and force_merge; InfluxDB data/ + wal/ + meta/ after WAL snapshot and full compaction). ' +
      `That is ${int(o.disk_samples / (o.disk_hosts * 8))} samples per series: the per-series index weighs more the fewer samples a series has, ` +
      'so raise `--disk-samples` (e.g. 20000000) for figures closer to long-running use:', '')
    const ringest = r.disk.find((d) => d.server === 'ringest')
    out.push(table(['server', 'bytes/sample', 'bytes', 'ringest ÷ this'], 'lrrr', r.disk.map((d) => [
      name(d.server), fix(d.bytes_per_sample, 2), int(d.bytes), ringest === undefined || d.bytes === 0 ? '–' : fix(ringest.bytes / d.bytes, 2)])))
  }
  return out.join('\n')
}

// ---- SVG: one panel per metric, bars grouped by body size, one colour per server ----

const PANEL_W = 340
const PANEL_H = 200
const PAD = { left: 58, top: 40, bottom: 40, right: 12 } as const
const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
const short = (v: number): string => {
  const a = Math.abs(v)
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`
  return `${+v.toPrecision(3)}`
}

interface Panel { title: string, log: boolean, groups: Array<{ label: string, bars: Array<{ key: string, value: number | null }> }> }

function panelSvg (p: Panel, x0: number, y0: number): string[] {
  const w = PANEL_W - PAD.left - PAD.right
  const h = PANEL_H - PAD.top - PAD.bottom
  const vals = p.groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v): v is number => v !== null && v > 0)
  const out = [`<text x="${x0 + PAD.left}" y="${y0 + 22}" font-weight="bold">${esc(p.title)}${p.log ? ' (log scale)' : ''}</text>`]
  const bx = x0 + PAD.left
  const by = y0 + PAD.top
  out.push(`<rect x="${bx}" y="${by}" width="${w}" height="${h}" fill="none" stroke="#888"/>`)
  if (vals.length === 0) return out
  const max = Math.max(...vals)
  const lo = p.log ? 10 ** Math.floor(Math.log10(Math.min(...vals))) : 0
  const hi = p.log ? 10 ** Math.ceil(Math.log10(max * 1.0001)) : max * 1.15
  const y = (v: number): number => by + h - (p.log ? Math.log10(v / lo) / Math.log10(hi / lo) : v / hi) * h
  if (p.log) {
    for (let v = lo; v <= hi * 1.0001; v *= 10) out.push(`<line x1="${bx}" x2="${bx + w}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`, `<text x="${bx - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${short(v)}</text>`)
  } else {
    out.push(`<text x="${bx - 4}" y="${by + h + 4}" text-anchor="end">0</text>`, `<text x="${bx - 4}" y="${(y(max) + 4).toFixed(1)}" text-anchor="end">${short(max)}</text>`)
  }
  const gw = w / p.groups.length
  p.groups.forEach((g, gi) => {
    const barW = (gw * 0.8) / Math.max(1, g.bars.length)
    g.bars.forEach((b, bi) => {
      const x = bx + gi * gw + gw * 0.1 + bi * barW
      if (b.value === null || b.value <= 0) return
      const top = y(Math.max(b.value, lo))
      out.push(`<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${(by + h - top).toFixed(1)}" fill="${COLORS[b.key] ?? '#555'}"><title>${esc(`${name(b.key)}, ${g.label}: ${b.value}`)}</title></rect>`,
        `<text x="${(x + barW / 2).toFixed(1)}" y="${(top - 3).toFixed(1)}" text-anchor="middle" font-size="8">${short(b.value)}</text>`)
    })
    out.push(`<text x="${(bx + gi * gw + gw / 2).toFixed(1)}" y="${by + h + 16}" text-anchor="middle">${esc(g.label)}</text>`)
  })
  return out
}

export function peersSvg (r: PeersResult): string {
  const o = r.options
  const sized = (title: string, m: Metric, log: boolean): Panel => ({
    title,
    log,
    groups: o.sizes.map((lines) => ({ label: `${lines.toLocaleString('en-US')} line${lines === 1 ? '' : 's'}`, bars: o.targets.map((t) => ({ key: t, value: row(r, t, lines)?.[m] ?? null })) })),
  })
  const panels: Panel[] = [
    sized('samples/s', 'samples_per_s', true),
    sized('requests/s', 'rps', true),
    sized('p99 latency, ms', 'p99_ms', true),
    sized('peak RSS, MiB', 'server_rss_peak_mib', false),
  ]
  if (r.disk !== null) panels.push({ title: 'bytes per sample on disk', log: false, groups: [{ label: `${short(o.disk_samples)} samples`, bars: r.disk.map((d) => ({ key: d.server, value: d.bytes_per_sample })) }] })
  const cols = 3
  const W = cols * PANEL_W
  const H = 70 + Math.ceil(panels.length / cols) * PANEL_H
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="12" y="20" font-size="14" font-weight="bold">${esc(`ringest and its peers, ${r.started.slice(0, 10)} (npm run bench:peers)`)}</text>`,
    `<text x="12" y="36" font-size="10">${esc(`${machineLine(r.machine)}. Bars grouped by lines per request body.`)}</text>`,
  ]
  const keys = [...new Set([...o.targets, ...(r.disk ?? []).map((d) => d.server)])]
  keys.forEach((k, i) => out.push(`<rect x="${12 + i * 160}" y="46" width="12" height="12" fill="${COLORS[k] ?? '#555'}"/>`, `<text x="${28 + i * 160}" y="56">${esc(name(k))}</text>`))
  panels.forEach((p, i) => out.push(...panelSvg(p, (i % cols) * PANEL_W, 64 + Math.floor(i / cols) * PANEL_H)))
  out.push('</svg>')
  return out.join('\n') + '\n'
}

/** An error with a stable code, as the rest of the project's errors. */
export class MarkerError extends Error {
  readonly code = 'ERR_BENCH_README_MARKERS'
}

/**
 * `text` with what lies between README_START and README_END replaced by
 * `body`; everything outside the markers (and the markers) kept byte for
 * byte. Throws MarkerError unless each marker occurs exactly once, start first.
 */
export function replaceBetweenMarkers (text: string, body: string): string {
  const count = (m: string): number => text.split(m).length - 1
  const s = text.indexOf(README_START)
  const e = text.indexOf(README_END)
  if (count(README_START) !== 1 || count(README_END) !== 1 || e < s) {
    throw new MarkerError(`README: expected one "${README_START}" followed by one "${README_END}" (found ${count(README_START)} and ${count(README_END)}); add them under "## Benchmarks"`)
  }
  return text.slice(0, s + README_START.length) + '\n' + body.replace(/\n*$/, '\n') + text.slice(e)
}
