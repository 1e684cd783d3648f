/**
 * The servers the ingest benchmark can measure: how each is started, how we
 * know it is up, where it takes writes, and how its own count of accepted
 * samples (or requests) is read.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { join, delimiter } from 'node:path'
import { Client } from 'undici'
import type { Child } from './proc.js'

/**
 * ringest-observed: ringest as an SRE watches it, the dashboard's event
 * stream (GET /stats/stream) open and /metrics scraped every second, both
 * from the driver (bench/lib/observers.ts), to measure what watching costs.
 */
export const TARGETS = ['baseline', 'ringest', 'ringest-observed', 'vm', 'influx'] as const
export type TargetName = typeof TARGETS[number]

/**
 * What the counter counts; requests are turned into samples with the bodies'
 * samples per request, lines (InfluxDB's points) with the samples per line
 * of the bodies actually sent.
 */
export const Unit = { REQUESTS: 'requests', SAMPLES: 'samples', LINES: 'lines' } as const
export type Unit = typeof Unit[keyof typeof Unit]

export interface CounterReading {
  value: number
  unit: Unit
  /** When the value was true, epoch ms (the server's log time, or when /metrics answered). */
  t: number
  /** How long the read took, ms. */
  readMs: number
  /**
   * False if /metrics has no series of the counter yet. Servers may expose a
   * labelled counter only once something was counted, so that reads as 0;
   * the driver fails the run if it is still absent after the load.
   */
  present: boolean
}

export interface Counter {
  read (): Promise<CounterReading>
  close (): Promise<void>
}

export interface TargetContext {
  port: number
  dataDir: string
  /** The project's root (where package.json and bin/ are). */
  root: string
  /** Extra arguments for `ringest serve`. */
  ringestArgs: string[]
  vmBin: string
}

export interface Launch {
  cmd: string
  args: string[]
  cwd: string
  pipeStdout: boolean
  /** GET path that answers 2xx once the server takes writes. */
  readyPath: string
  /** POST path (with query) for Influx line protocol. */
  writePath: string
  counter (child: Child, origin: string): Counter
  /** What the counter reads, for error messages. */
  counterName: string
  /** Run once the server answers readyPath, before any load (InfluxDB: create the database). */
  setup?: (origin: string) => Promise<void>
}

/** The Prometheus counters that count accepted samples. */
export const RINGEST_COUNTER = 'ringest_samples_ingested_total'
export const VM_COUNTER = 'vm_rows_added_to_storage_total'
/**
 * InfluxDB 1.x counts points (lines), not field values: the "write" section's
 * pointReq in GET /debug/vars (../shared/peers/run.sh multiplies it by 4; the
 * driver multiplies by the measured samples per line of the bodies sent, which
 * is 4 here: cpu lines carry 5 fields, mem lines 3, alternating). 1.6 has no
 * per-field counter (valuesWrittenOK came later).
 */
export const INFLUX_COUNTER = 'pointReq'
export const INFLUX_BIN = 'influxd'
/** Every /metrics connection is kept warm this often, below node:http's 5 s keep-alive timeout. */
const METRICS_KEEPALIVE_MS = 2_000
const METRICS_TIMEOUT_MS = 15_000

export function launch (name: TargetName, c: TargetContext): Launch {
  const listen = `127.0.0.1:${c.port}`
  switch (name) {
    case 'baseline':
      return {
        cmd: process.execPath,
        args: [join(c.root, 'dist/bench/baseline-server.js'), '--port', String(c.port)],
        cwd: c.root,
        pipeStdout: true,
        readyPath: '/healthz',
        writePath: '/write?precision=ms',
        counter: (child) => new StdoutCounter(child),
        counterName: 'the counter lines on stdout',
      }
    case 'ringest':
    case 'ringest-observed':
      return {
        cmd: process.execPath,
        // RINGEST_NODE_ARGS: node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (one profile per thread).
        args: [...(process.env.RINGEST_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''), join(c.root, 'bin/ringest.js'), 'serve', '--listen', listen, '--data-dir', c.dataDir, ...c.ringestArgs],
        cwd: c.root,
        pipeStdout: false,
        readyPath: '/healthz',
        writePath: '/write?precision=ms',
        counter: (_child, origin) => new MetricsCounter(origin, RINGEST_COUNTER),
        counterName: RINGEST_COUNTER,
      }
    case 'vm':
      return {
        cmd: c.vmBin,
        args: [`-storageDataPath=${c.dataDir}`, `-httpListenAddr=${listen}`],
        cwd: c.dataDir,
        pipeStdout: false,
        readyPath: '/health',
        writePath: '/write?precision=ms',
        counter: (_child, origin) => new MetricsCounter(origin, VM_COUNTER),
        counterName: VM_COUNTER,
      }
    case 'influx': {
      // As ../shared/peers/run.sh: everything under the run's data dir; RPC on any free port
      // (bind-address :0), no self-monitoring store, quiet logs.
      const conf = join(c.dataDir, 'influxdb.conf')
      writeFileSync(conf, [
        'reporting-disabled = true',
        'bind-address = "127.0.0.1:0"',
        '[meta]', `  dir = "${join(c.dataDir, 'meta')}"`,
        '[data]', `  dir = "${join(c.dataDir, 'data')}"`, `  wal-dir = "${join(c.dataDir, 'wal')}"`,
        '  query-log-enabled = false',
        '[monitor]', '  store-enabled = false',
        '[http]', `  bind-address = "${listen}"`, '  log-enabled = false',
        '[logging]', '  level = "warn"', '',
      ].join('\n'))
      return {
        cmd: INFLUX_BIN,
        args: ['-config', conf],
        cwd: c.dataDir,
        pipeStdout: false,
        readyPath: '/ping',
        writePath: '/write?db=bench&precision=ms',
        counter: (_child, origin) => new MetricsCounter(origin, INFLUX_COUNTER, { path: '/debug/vars', parse: influxPointReq, unit: Unit.LINES }),
        counterName: `${INFLUX_COUNTER} in /debug/vars`,
        setup: createInfluxDb,
      }
    }
  }
}

/** CREATE DATABASE bench (idempotent in InfluxDB 1.x). */
async function createInfluxDb (origin: string): Promise<void> {
  const res = await fetch(`${origin}/query`, {
    method: 'POST',
    body: new URLSearchParams({ q: 'CREATE DATABASE bench' }),
    signal: AbortSignal.timeout(METRICS_TIMEOUT_MS),
  })
  const text = await res.text()
  if (!res.ok || text.includes('"error"')) throw new Error(`influx: CREATE DATABASE bench answered ${res.status}: ${text.slice(0, 200)}`)
}

/** The "write" section's pointReq in InfluxDB 1.x's /debug/vars (expvar JSON), or null if absent. */
export function influxPointReq (text: string): number | null {
  const m = /"pointReq":(\d+)/.exec(text)
  return m === null ? null : Number(m[1])
}

/** Why `name` cannot run here, with the fix, or null if it can. */
export function missing (name: TargetName, c: Pick<TargetContext, 'root' | 'vmBin'>): string | null {
  switch (name) {
    case 'baseline':
      return existsSync(join(c.root, 'dist/bench/baseline-server.js')) ? null : 'dist/bench/baseline-server.js is missing: run `npx tsc -b` first'
    case 'ringest':
    case 'ringest-observed':
      if (!existsSync(join(c.root, 'bin/ringest.js'))) return 'bin/ringest.js is missing (ringest is not built yet?); run with --targets baseline,vm meanwhile'
      return null
    case 'vm':
      return onPath(c.vmBin) ? null : `${c.vmBin} not found: apt-get install -y victoria-metrics, or pass --vm-bin PATH`
    case 'influx':
      return onPath(INFLUX_BIN) ? null : `${INFLUX_BIN} not found: apt-get install -y influxdb`
  }
}

export const onPath = (cmd: string): boolean =>
  cmd.includes('/') ? existsSync(cmd) : (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, cmd)))

/**
 * The baseline server prints "<epoch ms> <requests> <bytes>" every 250 ms.
 * The latest line is the reading, timed by the server itself.
 */
class StdoutCounter implements Counter {
  #last: { t: number, requests: number } | null = null
  #rest = ''

  constructor (child: Child) {
    const out = child.proc.stdout
    if (out === null) throw new Error('baseline: stdout is not piped')
    out.setEncoding('utf8')
    out.on('data', (chunk: string) => {
      const lines = (this.#rest + chunk).split('\n')
      this.#rest = lines.pop() ?? ''
      for (let i = lines.length - 1; i >= 0; i--) {
        const f = lines[i]!.split(' ')
        if (f.length === 3) { this.#last = { t: Number(f[0]), requests: Number(f[1]) }; break }
      }
    })
  }

  async read (): Promise<CounterReading> {
    const t = performance.now()
    for (let i = 0; i < 100 && this.#last === null; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    if (this.#last === null) throw new Error('baseline printed no counter line within 2 s')
    return { value: this.#last.requests, unit: Unit.REQUESTS, t: this.#last.t, readMs: Math.round(performance.now() - t), present: true }
  }

  async close (): Promise<void> {}
}

/** Where a counter is read (MetricsCounter): Prometheus text by default, InfluxDB's expvar JSON. */
interface CounterSource {
  /** GET path (default /metrics). */
  path: string
  /** The counter's value in the answer, or null if it is not there yet. */
  parse (text: string, metric: string): number | null
  unit: Unit
}

/**
 * Sums the series named `metric` (any labels) in Prometheus text from
 * GET /metrics, on one keep-alive connection opened before the load starts
 * and kept warm: a saturated node:http server may leave a new connection in
 * its accept queue for seconds.
 */
class MetricsCounter implements Counter {
  readonly #client: Client
  readonly #metric: string
  readonly #source: CounterSource
  readonly #timer: NodeJS.Timeout
  #busy: Promise<unknown> = Promise.resolve()

  constructor (origin: string, metric: string, source: CounterSource = { path: '/metrics', parse: sumMetric, unit: Unit.SAMPLES }) {
    this.#metric = metric
    this.#source = source
    this.#client = new Client(origin, {
      pipelining: 1,
      headersTimeout: METRICS_TIMEOUT_MS,
      bodyTimeout: METRICS_TIMEOUT_MS,
      keepAliveTimeout: 60_000,
    })
    this.#timer = setInterval(() => { this.#busy = this.#busy.then(() => this.#get()).catch(() => {}) }, METRICS_KEEPALIVE_MS)
    this.#timer.unref()
  }

  async #get (): Promise<string> {
    const res = await this.#client.request({ path: this.#source.path, method: 'GET', signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Error(`GET ${this.#source.path} answered ${res.statusCode}: ${text.slice(0, 200)}`)
    return text
  }

  async read (): Promise<CounterReading> {
    const t = performance.now()
    const p = this.#busy.then(() => this.#get())
    this.#busy = p.catch(() => {})
    const text = await p
    const at = Date.now()
    const value = this.#source.parse(text, this.#metric)
    return { value: value ?? 0, unit: this.#source.unit, t: at, readMs: Math.round(performance.now() - t), present: value !== null }
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    await Promise.race([this.#client.destroy().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 2_000))])
  }
}

/** Sum of every sample of the series `name` (whatever its labels) in Prometheus text, or null if none. */
export function sumMetric (text: string, name: string): number | null {
  let sum = 0
  let found = false
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const next = line.charCodeAt(name.length)
    let rest: string
    if (next === 0x7b /* { */) rest = line.slice(line.lastIndexOf('}') + 1)
    else if (next === 0x20 /* space */) rest = line.slice(name.length)
    else continue // a longer name with the same prefix
    const v = Number(rest.trim().split(/\s+/)[0])
    if (Number.isFinite(v)) { sum += v; found = true }
  }
  return found ? sum : null
}
