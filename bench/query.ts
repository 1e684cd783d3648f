/**
 * Query latency, ringest against VictoriaMetrics, on the same data, and (with
 * --ingest-impact) what a heavy query loop costs ringest's ingest.
 *
 *   npm run bench:query                                  # part 1: query latency (~2 min)
 *   npm run bench:query -- --ingest-impact               # part 1, then part 2 on the same ringest (~3 min)
 *   QUERY_RUNS=5 npm run bench:query -- --hosts 1000     # a quick check of the tool itself
 *   npm run bench:query -- --help
 *
 * Part 1. Both servers start fresh (separate processes, VM with
 * -search.disableCache so that repeated runs measure evaluation, not its
 * rollup cache) and get the same line-protocol bodies (5,000 lines, a few
 * posts in flight): one counter `rate_test_total`, a sample every 15 s for
 * 24 h, and `cpu,host=host-<i>,region=<1 of 4> usage_user=<random walk>` for
 * every host, every 15 s for 1 h, ending about a minute ago. The walk only
 * goes up (steps of 0 to 4): rate() reads a decrease as a counter reset, and
 * Prometheus and VM handle resets differently (VM takes a drop of less than
 * 1/8 for jitter), so on a walk that goes down too the two answers differ
 * by the reset heuristics (97 % in a trial), not by the engines. Sample times sit
 * 8 s before the query's 15 s grid, so no sample lies on a window boundary
 * (Prometheus closes range windows on the left, VM opens them). Both are
 * probed until the full data is searchable (VM: after /internal/force_flush;
 * ringest: and until its WAL is checkpointed into chunks, the state old data
 * is queried in). Then each query runs 2 warm-up times and N measured times
 * per server, the servers alternating, and we print the median and p90 of the
 * client-side latency (request to last byte), the ratios ringest/VM, and how
 * far the two answers are apart (series, points, max relative difference:
 * reported, not asserted; VM's rate does not extrapolate as Prometheus's does).
 *
 * Part 2. Both servers are stopped. The ingest benchmark's load generator
 * (dist/bench/lib/loadgen.js, 100-line bodies of its cpu/mem stream, 64
 * connections) loads a fresh ringest, started on a copy of part 1's data
 * directory, for warm-up + window twice: alone, then (another fresh copy)
 * while a loop runs sum by (region)(rate(cpu_usage_user[5m])) over the last
 * hour back to back. We print samples/s and p99 of both and their ratio (goal: within
 * 10 %).
 *
 * Output: progress on stderr; JSON lines, then the tables, then one JSON line
 * with everything on stdout; the JSON also goes to bench/results/query-<UTC>.json.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Client, Pool } from 'undici'
import { mulberry32 } from './lib/bodies.js'
import { Msg, type ConfigMsg, type FromLoadgen, type ResultMsg } from './lib/messages.js'
import { cpuSeconds, freePort, sleep, startProcess, stopProcess, waitHttp, withTimeout, type Child } from './lib/proc.js'
import { launch, missing, sumMetric } from './lib/targets.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const LOADGEN = join(ROOT, 'dist/bench/lib/loadgen.js')

const STEP_MS = 15_000 // sample interval and query step
const OFFSET_MS = 8_000 // samples lie this long before a grid point
const COUNTER_HOURS = 24
const CPU_HOURS = 1
const LOAD_LINES = 5_000 // lines per body when loading
const LOAD_CONCURRENCY = 4 // posts in flight when loading
const REGIONS = ['us-east', 'us-west', 'eu-central', 'ap-south'] as const
const SEED = 1
const SERVER_READY_MS = 60_000
const SERVER_STOP_GRACE_MS = 30_000
const SEARCHABLE_MS = 120_000 // VM after force_flush; ringest until checkpointed
const QUERY_TIMEOUT_MS = 120_000 // one query's answer, client side

interface Options {
  runs: number // measured runs per query and server
  warmupRuns: number
  hosts: number
  ingestImpact: boolean
  impactDuration: number // s, measured window of part 2
  impactWarmup: number // s
  impactConnections: number
  impactLines: number // lines per body in part 2
  vmBin: string
  json: string | null
}

const USAGE = `npm run bench:query -- [flags]      (or: node dist/bench/query.js [flags])

Query latency of ringest against VictoriaMetrics on the same data; with --ingest-impact,
ringest's ingest with and without a heavy query running.

  --runs N               measured runs per query and server (default 15; env QUERY_RUNS)
  --warmup-runs N        unmeasured runs first (default 2)
  --hosts N              cpu hosts (series) in the data (default 10000)
  --ingest-impact        also run part 2 (env QUERY_INGEST_IMPACT=1)
  --impact-duration S    part 2's measured window, seconds (default 10)
  --impact-warmup S      part 2's load before the window, seconds (default 3)
  --impact-connections N part 2's connections (default 64)
  --impact-lines N       part 2's lines per body (default 100)
  --vm-bin PATH          VictoriaMetrics binary (default victoria-metrics)
  --json PATH            also write the results JSON there
  --help`

function options (argv: string[], env: NodeJS.ProcessEnv): Options | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      runs: { type: 'string' },
      'warmup-runs': { type: 'string' },
      hosts: { type: 'string' },
      'ingest-impact': { type: 'boolean' },
      'impact-duration': { type: 'string' },
      'impact-warmup': { type: 'string' },
      'impact-connections': { type: 'string' },
      'impact-lines': { type: 'string' },
      'vm-bin': { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) return 'help'
  if (positionals.length > 0) throw new Error(`unexpected argument ${positionals[0]}: every setting is a --flag`)
  const int = (flag: string, raw: string | undefined, fallback: number, min: number): number => {
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} ${raw}: expected a whole number >= ${min}`)
    return n
  }
  return {
    runs: int('runs', values.runs ?? env.QUERY_RUNS, 15, 1),
    warmupRuns: int('warmup-runs', values['warmup-runs'], 2, 0),
    hosts: int('hosts', values.hosts, 10_000, 4),
    ingestImpact: values['ingest-impact'] === true || ['1', 'true', 'yes'].includes(env.QUERY_INGEST_IMPACT ?? ''),
    impactDuration: int('impact-duration', values['impact-duration'], 10, 1),
    impactWarmup: int('impact-warmup', values['impact-warmup'], 3, 0),
    impactConnections: int('impact-connections', values['impact-connections'], 64, 1),
    impactLines: int('impact-lines', values['impact-lines'], 100, 1),
    vmBin: values['vm-bin'] ?? 'victoria-metrics',
    json: values.json ?? null,
  }
}

const log = (msg: string): void => { process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`) }

// --- data --------------------------------------------------------------------

interface Dataset {
  /** Last grid point: queries end here; the last samples are OFFSET_MS before it. */
  endMs: number
  bodies: Buffer[]
  /** The counter's bodies are posted first and one at a time: out of order by more than --ooo-window-ms they would be dropped. */
  serialBodies: number
  samples: number
  cpuSeries: number
  cpuSamples: number
  counterSamples: number
}

/** The bodies of part 1, in time order, the same bytes for both servers. */
function makeDataset (hosts: number, nowMs: number): Dataset {
  // Four steps back: VM hides the newest -search.latencyOffset (30 s) of data from range queries.
  const endMs = Math.floor(nowMs / STEP_MS) * STEP_MS - 4 * STEP_MS
  const rand = mulberry32(SEED)
  const bodies: Buffer[] = []
  let lines: string[] = []
  const flush = (): void => { if (lines.length > 0) { bodies.push(Buffer.from(lines.join(''), 'latin1')); lines = [] } }
  const add = (line: string): void => { lines.push(line); if (lines.length === LOAD_LINES) flush() }

  const counterSamples = COUNTER_HOURS * 3600_000 / STEP_MS
  let counter = 0
  for (let k = 0; k < counterSamples; k++) {
    counter += Math.floor(rand() * 20)
    add(`rate_test total=${counter} ${endMs - OFFSET_MS - (counterSamples - 1 - k) * STEP_MS}\n`)
  }
  flush()
  const serialBodies = bodies.length

  const steps = CPU_HOURS * 3600_000 / STEP_MS
  const value = new Float64Array(hosts)
  const tags: string[] = []
  for (let h = 0; h < hosts; h++) { value[h] = rand() * 100; tags.push(`cpu,host=host-${h},region=${REGIONS[h % REGIONS.length]} usage_user=`) }
  for (let k = 0; k < steps; k++) {
    const ts = ` ${endMs - OFFSET_MS - (steps - 1 - k) * STEP_MS}\n`
    for (let h = 0; h < hosts; h++) {
      const v = value[h]! + rand() * 4 // non-decreasing: see the header
      value[h] = v
      add(tags[h]! + v.toFixed(2) + ts)
    }
  }
  flush()
  return { endMs, bodies, serialBodies, samples: counterSamples + hosts * steps, cpuSeries: hosts, cpuSamples: hosts * steps, counterSamples }
}

/** Posts the bodies: the first `serial` one at a time, the rest LOAD_CONCURRENCY at a time, in order. 503s are retried. */
async function load (origin: string, d: Dataset): Promise<number> {
  const t = performance.now()
  const pool = new Pool(origin, { connections: LOAD_CONCURRENCY, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000 })
  const post = async (body: Buffer): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      const res = await pool.request({ path: '/write?precision=ms', method: 'POST', body, headers: { 'content-type': 'text/plain' } })
      const text = await res.body.text()
      if (res.statusCode === 204) return
      if (res.statusCode !== 503 || attempt === 30) throw new Error(`POST /write answered ${res.statusCode}: ${text.slice(0, 300)}`)
      await sleep(1_000) // Retry-After
    }
  }
  try {
    for (let i = 0; i < d.serialBodies; i++) await post(d.bodies[i]!)
    let next = d.serialBodies
    const lane = async (): Promise<void> => { while (next < d.bodies.length) await post(d.bodies[next++]!) }
    await Promise.all(Array.from({ length: LOAD_CONCURRENCY }, lane))
  } finally {
    await pool.close()
  }
  return (performance.now() - t) / 1000
}

// --- queries -------------------------------------------------------------------

interface QuerySpec { name: string, expr: string, rangeMs: number }

const QUERIES: QuerySpec[] = [
  { name: 'counter_rate_24h', expr: 'rate(rate_test_total[5m])', rangeMs: COUNTER_HOURS * 3600_000 },
  { name: 'cpu_sum_rate_1h', expr: 'sum by (region)(rate(cpu_usage_user[5m]))', rangeMs: CPU_HOURS * 3600_000 },
]

interface Matrix { series: Map<string, Map<number, number>>, points: number }

class QueryClient {
  readonly client: Client
  constructor (readonly name: string, origin: string) {
    this.client = new Client(origin, { pipelining: 1, headersTimeout: QUERY_TIMEOUT_MS, bodyTimeout: QUERY_TIMEOUT_MS, keepAliveTimeout: 60_000 })
  }

  /** One request; returns the latency (request to last byte) and the body. Throws on anything but a Prometheus success. */
  async get (path: string, params: Record<string, string>): Promise<{ ms: number, body: string }> {
    const t = performance.now()
    const res = await this.client.request({ path: `${path}?${new URLSearchParams(params).toString()}`, method: 'GET' })
    const body = await res.body.text()
    const ms = performance.now() - t
    if (res.statusCode !== 200) throw new Error(`${this.name} ${path} answered ${res.statusCode}: ${body.slice(0, 300)}`)
    return { ms, body }
  }

  range (q: QuerySpec, endMs: number): Promise<{ ms: number, body: string }> {
    return this.get('/api/v1/query_range', { query: q.expr, start: String((endMs - q.rangeMs) / 1000), end: String(endMs / 1000), step: String(STEP_MS / 1000) })
  }

  /** The single value of an instant query, or null if it has no series. */
  async scalar (expr: string, atMs: number): Promise<number | null> {
    const { body } = await this.get('/api/v1/query', { query: expr, time: String(atMs / 1000) })
    const r = (JSON.parse(body) as { data: { result: Array<{ value: [number, string] }> } }).data.result
    return r.length === 0 ? null : Number(r[0]!.value[1])
  }

  async close (): Promise<void> { await this.client.close() }
}

function parseMatrix (body: string): Matrix {
  const j = JSON.parse(body) as { status: string, data: { resultType: string, result: Array<{ metric: Record<string, string>, values: Array<[number, string]> }> } }
  if (j.status !== 'success' || j.data.resultType !== 'matrix') throw new Error(`not a matrix: ${body.slice(0, 200)}`)
  const series = new Map<string, Map<number, number>>()
  let points = 0
  for (const s of j.data.result) {
    const key = JSON.stringify(Object.entries(s.metric).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    series.set(key, new Map(s.values.map(([t, v]) => [Math.round(t * 1000), Number(v)])))
    points += s.values.length
  }
  return { series, points }
}

interface Agreement {
  series: { ringest: number, vm: number, common: number }
  points: { ringest: number, vm: number, common: number }
  max_rel_diff: number | null
  /** The max over points whose 5 m window lies wholly after the first sample (at the start of the data the engines' edge rules differ most). */
  max_rel_diff_full_windows: number | null
  p99_rel_diff: number | null
  median_rel_diff: number | null
  worst: { series: string, time: string, ringest: number, vm: number } | null
}

/** How close two answers are: |a - b| / max(|a|, |b|) over the points both have. */
function agreement (a: Matrix, b: Matrix, fullWindowsFromMs: number): Agreement {
  const diffs: number[] = []
  let maxFull = -1
  let common = 0
  let commonSeries = 0
  let worst: Agreement['worst'] = null
  let max = -1
  for (const [key, pa] of a.series) {
    const pb = b.series.get(key)
    if (pb === undefined) continue
    commonSeries++
    for (const [t, va] of pa) {
      const vb = pb.get(t)
      if (vb === undefined) continue
      common++
      if (Number.isNaN(va) && Number.isNaN(vb)) continue
      const scale = Math.max(Math.abs(va), Math.abs(vb))
      const d = scale === 0 ? 0 : Math.abs(va - vb) / scale
      diffs.push(d)
      if (t >= fullWindowsFromMs && !(d <= maxFull)) maxFull = d
      if (d > max || Number.isNaN(d)) { max = d; worst = { series: key, time: new Date(t).toISOString(), ringest: va, vm: vb } }
    }
  }
  diffs.sort((x, y) => x - y)
  return {
    series: { ringest: a.series.size, vm: b.series.size, common: commonSeries },
    points: { ringest: a.points, vm: b.points, common },
    max_rel_diff: diffs.length === 0 ? null : round(max, 6),
    max_rel_diff_full_windows: maxFull < 0 ? null : round(maxFull, 6),
    p99_rel_diff: diffs.length === 0 ? null : round(percentile(diffs, 99), 6),
    median_rel_diff: diffs.length === 0 ? null : round(percentile(diffs, 50), 6),
    worst,
  }
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits

/** Nearest rank, as bench/lib/latency.ts. */
function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]!
}

interface LatencyRow { bench: 'query', query: string, expr: string, server: string, runs: number, median_ms: number, p90_ms: number, min_ms: number, max_ms: number }

function latencyRow (q: QuerySpec, server: string, ms: number[]): LatencyRow {
  const s = [...ms].sort((x, y) => x - y)
  return { bench: 'query', query: q.name, expr: q.expr, server, runs: s.length, median_ms: round(percentile(s, 50), 1), p90_ms: round(percentile(s, 90), 1), min_ms: round(s[0]!, 1), max_ms: round(s[s.length - 1]!, 1) }
}

// --- servers -------------------------------------------------------------------

interface Server { name: 'ringest' | 'vm', child: Child, origin: string, q: QueryClient }

async function startServer (name: 'ringest' | 'vm', tmp: string, o: Options, dataDir = join(tmp, `${name}-data`)): Promise<Server> {
  const port = await freePort()
  mkdirSync(dataDir, { recursive: true })
  const l = launch(name, { port, dataDir, root: ROOT, ringestArgs: [], vmBin: o.vmBin })
  // VM caches range results; repeated runs would then measure its cache, not its evaluation.
  const args = name === 'vm' ? [...l.args, '-search.disableCache'] : l.args
  const child = startProcess(name, l.cmd, args, { cwd: l.cwd, logPath: join(tmp, `${name}.log`) })
  const origin = `http://127.0.0.1:${port}`
  await waitHttp(origin + l.readyPath, SERVER_READY_MS, child)
  return { name, child, origin, q: new QueryClient(name, origin) }
}

async function stopServer (s: Server): Promise<void> {
  await s.q.close().catch(() => {})
  const r = await stopProcess(s.child, SERVER_STOP_GRACE_MS)
  if (r.killed) log(`${s.name} did not exit within ${SERVER_STOP_GRACE_MS} ms of SIGTERM: killed`)
}

async function metric (origin: string, name: string): Promise<number | null> {
  const c = new Client(origin)
  try {
    const res = await c.request({ path: '/metrics', method: 'GET' })
    return sumMetric(await res.body.text(), name)
  } finally { await c.close() }
}

/** Polls until both probe queries return the whole dataset (and ringest has checkpointed it). */
async function waitSearchable (s: Server, d: Dataset): Promise<number> {
  const t = performance.now()
  const at = d.endMs
  const want = [
    [`count(count_over_time(cpu_usage_user[${CPU_HOURS + 1}h]))`, d.cpuSeries],
    [`sum(count_over_time(cpu_usage_user[${CPU_HOURS + 1}h]))`, d.cpuSamples],
    [`count_over_time(rate_test_total[${COUNTER_HOURS + 1}h])`, d.counterSamples],
  ] as const
  if (s.name === 'vm') {
    const c = new Client(s.origin)
    try { await (await c.request({ path: '/internal/force_flush', method: 'GET' })).body.dump() } finally { await c.close() }
  }
  let last = ''
  while (performance.now() - t < SEARCHABLE_MS) {
    const got = await Promise.all(want.map(([expr]) => s.q.scalar(expr, at)))
    last = want.map(([expr, n], i) => `${expr} = ${got[i]} (want ${n})`).join('; ')
    const head = s.name === 'ringest' ? await metric(s.origin, 'ringest_head_samples') : 0
    if (want.every(([, n], i) => got[i] === n) && head === 0) return (performance.now() - t) / 1000
    await sleep(1_000)
  }
  throw new Error(`${s.name}: data not searchable within ${SEARCHABLE_MS} ms: ${last}`)
}

// --- part 2 ----------------------------------------------------------------------

interface ImpactPhase {
  phase: 'alone' | 'with_query'
  samples_per_s: number
  rps: number
  p50_ms: number | null
  p99_ms: number | null
  non2xx: number
  socket_errors: number
  server_cpu_cores: number | null
  queries: { completed: number, failed: number, median_ms: number | null, p90_ms: number | null } | null
}

/** One message of `kind` from the load generator, or a rejection if it fails or exits first. */
function nextMessage<K extends FromLoadgen['kind']> (child: Child, kind: K, timeoutMs: number): Promise<Extract<FromLoadgen, { kind: K }>> {
  return withTimeout(new Promise((resolve, reject) => {
    const onMessage = (m: FromLoadgen): void => {
      if (m.kind === Msg.FAILED) { child.proc.off('message', onMessage); reject(new Error(`load generator failed: ${m.message}`)) }
      if (m.kind === kind) { child.proc.off('message', onMessage); resolve(m as Extract<FromLoadgen, { kind: K }>) }
    }
    child.proc.on('message', onMessage)
    void child.exited.then((e) => reject(new Error(`load generator exited (code ${e.code})`)))
  }), timeoutMs, `load generator ${kind}`)
}

async function impactPhase (s: Server, o: Options, tmp: string, withQuery: boolean): Promise<ImpactPhase> {
  const loadgen = startProcess('loadgen', process.execPath, [LOADGEN], { cwd: ROOT, logPath: join(tmp, 'loadgen.log'), ipc: true })
  let stopQueries = false
  const queryMs: number[] = []
  let queryFailures = 0
  try {
    const config: ConfigMsg = {
      kind: Msg.CONFIG, origin: s.origin, path: '/write?precision=ms', linesPerBody: o.impactLines, totalLines: 200_000, hosts: o.hosts,
      t0: Math.floor(Date.now() / 1000) * 1000 - 600_000, // 10 min ago: inside the hour the query reads, within --ooo-window-ms
      seed: SEED, connections: o.impactConnections, timeoutMs: 30_000, drainMs: 30_000,
    }
    const ready = nextMessage(loadgen, Msg.READY, 120_000)
    loadgen.proc.send(config)
    await ready
    const windowStart = Date.now() + o.impactWarmup * 1000
    const windowEnd = windowStart + o.impactDuration * 1000
    loadgen.proc.send({ kind: Msg.START, windowStart, windowEnd })
    const queryLoop = withQuery
      ? (async () => {
          const q = QUERIES[1]!
          while (!stopQueries) {
            const end = Math.floor(Date.now() / STEP_MS) * STEP_MS
            const t = Date.now()
            try {
              const r = await s.q.range(q, end)
              if (t >= windowStart && t < windowEnd) queryMs.push(r.ms)
            } catch (e) {
              queryFailures++
              if (queryFailures <= 3) log(`query during ingest failed: ${(e as Error).message}`)
              await sleep(100)
            }
          }
        })()
      : Promise.resolve()
    await sleep(Math.max(0, windowStart - Date.now()))
    const cpu0 = cpuSeconds(s.child.pid)
    const t0 = Date.now()
    await sleep(Math.max(0, windowEnd - Date.now()))
    const cpu1 = cpuSeconds(s.child.pid)
    const cpuCores = cpu0 === null || cpu1 === null ? null : round((cpu1 - cpu0) / ((Date.now() - t0) / 1000), 2)
    const result = nextMessage(loadgen, Msg.RESULT, 45_000)
    loadgen.proc.send({ kind: Msg.STOP })
    const r: ResultMsg = await result
    stopQueries = true
    await queryLoop
    const sorted = [...queryMs].sort((x, y) => x - y)
    const count = (m: Record<string, number>): number => Object.values(m).reduce((n, v) => n + v, 0)
    return {
      phase: withQuery ? 'with_query' : 'alone',
      samples_per_s: Math.round(r.window.okSamples / o.impactDuration),
      rps: Math.round(r.window.ok / o.impactDuration),
      p50_ms: r.latency.p50_ms,
      p99_ms: r.latency.p99_ms,
      non2xx: count(r.window.statuses),
      socket_errors: count(r.window.errors),
      server_cpu_cores: cpuCores,
      queries: withQuery
        ? { completed: sorted.length, failed: queryFailures, median_ms: sorted.length === 0 ? null : round(percentile(sorted, 50), 1), p90_ms: sorted.length === 0 ? null : round(percentile(sorted, 90), 1) }
        : null,
    }
  } finally {
    stopQueries = true
    await stopProcess(loadgen, 2_000)
  }
}

// --- report --------------------------------------------------------------------

function table (header: string[], rows: Array<Array<string | number | null>>): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null ? '–' : typeof c === 'number' ? c.toLocaleString('en-US', { maximumFractionDigits: 3 }) : c)))]
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)))
  const line = (r: string[]): string => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`
  return [line(cells[0]!), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...cells.slice(1).map(line)].join('\n')
}

const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : round(a / b, 2))

async function main (): Promise<number> {
  let o: Options
  try {
    const parsed = options(process.argv.slice(2), process.env)
    if (parsed === 'help') { console.log(USAGE); return 0 }
    o = parsed
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`)
    return 2
  }
  for (const t of ['ringest', 'vm'] as const) {
    const m = missing(t, { root: ROOT, vmBin: o.vmBin })
    if (m !== null) { console.error(`${t}: ${m}`); return 2 }
  }
  const started = new Date()
  const command = `npm run bench:query -- ${process.argv.slice(2).join(' ')}`.trim() +
    (process.env.QUERY_RUNS !== undefined ? ` (QUERY_RUNS=${process.env.QUERY_RUNS})` : '') +
    (process.env.QUERY_INGEST_IMPACT !== undefined ? ` (QUERY_INGEST_IMPACT=${process.env.QUERY_INGEST_IMPACT})` : '')
  const tmp = mkdtempSync(join(tmpdir(), 'ringest-qbench-'))
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))

  const tGen = performance.now()
  const data = makeDataset(o.hosts, started.getTime())
  log(`query bench: ${data.samples.toLocaleString('en-US')} samples in ${data.bodies.length} bodies (${((performance.now() - tGen) / 1000).toFixed(1)} s to generate); ` +
    `${o.warmupRuns} warm-up + ${o.runs} runs per query and server${o.ingestImpact ? '; then the ingest impact' : ''}`)

  const servers: Server[] = []
  const results: Record<string, unknown> = { bench: 'query', started: started.toISOString(), command, options: o }
  try {
    const loads: Record<string, { load_s: number, searchable_s: number }> = {}
    for (const name of ['ringest', 'vm'] as const) {
      const s = await startServer(name, tmp, o)
      servers.push(s)
      const loadS = await load(s.origin, data)
      log(`${name}: loaded in ${loadS.toFixed(1)} s (${Math.round(data.samples / loadS).toLocaleString('en-US')} samples/s); waiting until searchable`)
      const searchableS = await waitSearchable(s, data)
      loads[name] = { load_s: round(loadS, 2), searchable_s: round(searchableS, 2) }
      log(`${name}: searchable after ${searchableS.toFixed(1)} s more`)
    }
    results.load = loads
    const dropped = await metric(servers[0]!.origin, 'ringest_samples_dropped_total')

    const latencies: LatencyRow[] = []
    const agreements: Array<{ bench: 'query', query: string } & Agreement> = []
    for (const q of QUERIES) {
      const ms = new Map<string, number[]>(servers.map((s) => [s.name, []]))
      const answer = new Map<string, string>()
      for (let i = 0; i < o.warmupRuns + o.runs; i++) {
        // Alternate who goes first, so neither always runs right after the other's query.
        for (const s of i % 2 === 0 ? servers : [...servers].reverse()) {
          const r = await s.q.range(q, data.endMs)
          if (i >= o.warmupRuns) ms.get(s.name)!.push(r.ms)
          if (!answer.has(s.name)) answer.set(s.name, r.body)
        }
      }
      for (const s of servers) {
        const row = latencyRow(q, s.name, ms.get(s.name)!)
        latencies.push(row)
        console.log(JSON.stringify(row))
      }
      const a = { bench: 'query' as const, query: q.name, ...agreement(parseMatrix(answer.get('ringest')!), parseMatrix(answer.get('vm')!), data.endMs - q.rangeMs + 5 * 60_000 + STEP_MS) }
      agreements.push(a)
      console.log(JSON.stringify(a))
      log(`${q.name}: done`)
    }
    results.latency = latencies
    results.agreement = agreements

    let impact: ImpactPhase[] | null = null
    if (o.ingestImpact) {
      // Each phase gets a fresh ringest on its own copy of the data part 1 left (checkpointed):
      // on one server the second phase would inherit the first one's WAL and checkpoint (measured:
      // with no query at all, a second 10 s window on the same server ingested 0.59-0.75x the first).
      while (servers.length > 0) await stopServer(servers.pop()!)
      const source = join(tmp, 'ringest-data')
      impact = []
      for (const withQuery of [false, true]) {
        log(`ingest impact: ${withQuery ? 'with' : 'without'} the query loop, fresh server on a copy of the data, ${o.impactWarmup} s + ${o.impactDuration} s`)
        const copy = join(tmp, `ringest-impact-${withQuery ? 'query' : 'alone'}`)
        cpSync(source, copy, { recursive: true })
        const s = await startServer('ringest', tmp, o, copy)
        servers.push(s)
        try {
          const p = await impactPhase(s, o, tmp, withQuery)
          impact.push(p)
          console.log(JSON.stringify({ bench: 'query', part: 'ingest_impact', ...p }))
        } finally {
          await stopServer(servers.pop()!)
          rmSync(copy, { recursive: true, force: true })
        }
      }
      results.ingest_impact = impact
    }

    // Tables.
    const by = (query: string, server: string): LatencyRow | undefined => latencies.find((r) => r.query === query && r.server === server)
    console.log(`\n## Query latency (${command}; ${started.toISOString()})\n`)
    console.log(`${o.hosts.toLocaleString('en-US')} cpu series x ${CPU_HOURS * 3600_000 / STEP_MS} samples, 1 counter x ${data.counterSamples} samples; step 15 s; ` +
      `${o.runs} runs after ${o.warmupRuns} warm-up; client-side ms (request to last byte); ratio = ringest / VM, lower is better for ringest; ` +
      `rel diff = |ringest - VM| / max(|ringest|, |VM|) per point, "full windows": points whose 5 m window starts after the first sample` +
      `${dropped !== null && dropped > 0 ? `; ringest dropped ${dropped} samples as too old` : ''}\n`)
    console.log(table(
      ['query', 'range', 'ringest median', 'ringest p90', 'VM median', 'VM p90', 'ratio median', 'ratio p90', 'series r/VM', 'points r/VM', 'median rel diff', 'max rel diff', 'max, full windows'],
      QUERIES.map((q) => {
        const r = by(q.name, 'ringest')
        const v = by(q.name, 'vm')
        const a = agreements.find((x) => x.query === q.name)!
        return [q.expr, `${q.rangeMs / 3600_000} h`, r?.median_ms ?? null, r?.p90_ms ?? null, v?.median_ms ?? null, v?.p90_ms ?? null,
          ratio(r?.median_ms ?? null, v?.median_ms ?? null), ratio(r?.p90_ms ?? null, v?.p90_ms ?? null),
          `${a.series.ringest}/${a.series.vm}`, `${a.points.ringest}/${a.points.vm}`, a.median_rel_diff, a.max_rel_diff, a.max_rel_diff_full_windows]
      })))
    if (impact !== null) {
      const [alone, withQ] = impact as [ImpactPhase, ImpactPhase]
      const sr = ratio(withQ.samples_per_s, alone.samples_per_s)
      console.log(`\n## Ingest with and without a query loop (ringest alone; ${o.impactConnections} connections, ${o.impactLines}-line bodies, ${o.impactWarmup} s + ${o.impactDuration} s)\n`)
      console.log(table(['phase', 'samples/s', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'socket errors', 'server cores', 'queries done', 'query median ms'], impact.map((p) =>
        [p.phase, p.samples_per_s, p.rps, p.p50_ms, p.p99_ms, p.non2xx, p.socket_errors, p.server_cpu_cores, p.queries?.completed ?? null, p.queries?.median_ms ?? null])))
      console.log(`\nwith / alone: samples/s ${sr}, p99 ${ratio(withQ.p99_ms, alone.p99_ms)}. Goal: samples/s within 10 % (>= 0.9): ${sr !== null && sr >= 0.9 ? 'met' : 'missed'}`)
      results.ingest_impact_ratio = { samples_per_s: sr, p99: ratio(withQ.p99_ms, alone.p99_ms) }
    }
    return 0
  } catch (e) {
    results.error = (e as Error).message
    log(`FAILED: ${(e as Error).stack ?? String(e)}`)
    return 1
  } finally {
    for (const s of servers) await stopServer(s)
    results.finished = new Date().toISOString()
    results.machine = { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? null, mem_gib: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version }
    const dir = join(ROOT, 'bench/results')
    mkdirSync(dir, { recursive: true })
    const file = join(dir, `query-${started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.json`)
    writeFileSync(file, JSON.stringify(results, null, 2) + '\n')
    if (o.json !== null) writeFileSync(o.json, JSON.stringify(results) + '\n')
    console.log(`\nresults: ${file}\n${JSON.stringify(results)}`)
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => { log(`${signal}: stopping the servers`); process.exit(130) }) // proc.ts's exit hook kills the children
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(err instanceof Error ? err.stack : err)
  process.exit(1)
})
