/**
 * Options of `ringest bench`, typed once: the defaults with their units, one
 * parse that validates everything before any load and names the option and
 * the fix in its message, and the --help text.
 */
import { parseArgs } from 'node:util'
import { parseDurationParam } from '../params.js'
import { VALUE_KINDS, type ValueKind } from './values.js'
import { FORMATS, parseLabels, WorkloadError, type Format, type LabelLevel } from './workload.js'

export const MODES = ['closed', 'open'] as const
export type Mode = typeof MODES[number]
export const TARGET_KINDS = ['auto', 'ringest', 'vm', 'influx'] as const
export const CLIENTS = ['undici', 'net'] as const
export type Client = typeof CLIENTS[number]
export type TargetKind = typeof TARGET_KINDS[number]

export interface BenchOptions {
  urls: URL[]
  mode: Mode
  client: Client
  connections: number
  /** Open loop: requests per second. */
  rate: number | null
  durationMs: number | null
  requests: number | null
  warmupMs: number
  timeoutMs: number
  format: Format
  targetKind: TargetKind
  samplesPerBody: number
  series: number
  labelsSpec: string
  labels: LabelLevel[]
  values: ValueKind
  intervalMs: number
  seed: number
  replay: string | null
  speed: number
  bodies: string | null
  retries: number
  headers: Array<[string, string]>
  json: string | null
  plot: string | null
  stats: boolean
  quiet: boolean
}

export const DEFAULTS = Object.freeze({
  mode: 'closed' as Mode, // 'open' when --rate is given
  /** Absent: net for plain http:// targets (it keeps up with wrk on 2 cores; undici's Pool does not), undici for https. */
  client: undefined as Client | undefined,
  connections: 64, // keep-alive connections, one request in flight on each
  durationMs: 10_000, // 10 s, unless --requests
  warmupMs: 0, // load before the measured phase
  timeoutMs: 30_000, // 30 s per request (headers, then between body chunks)
  format: 'lp' as Format,
  targetKind: 'auto' as TargetKind,
  samplesPerBody: 100,
  series: 1000,
  labelsSpec: 'region:4,host:25', // 100 hosts in 4 regions; 1,000 series = 10 metrics per host
  values: 'walk' as ValueKind,
  intervalMs: 10_000, // 10 s between two samples of a series
  seed: 1,
  speed: 1, // replay at the dataset's own pace
  retries: 3, // per request, after a 503 with Retry-After
})

export const BENCH_HELP = `Usage: ringest bench [options] <url> [<url>...]
       ringest bench compare <a.json> <b.json>

Sends ingest requests to each <url> in turn (the same bodies to each) and prints a
summary per target: requests/s, samples/s, latency p50/p90/p99/p99.9/max (HDR
histogram, 2xx answers only), status codes, retries, socket errors. A progress line
(rate, errors, p99 so far) goes to stderr once a second; the summary to stdout.

A <url> without a path gets the ingest path of its target kind and --format:
  ringest, or unknown   lp: /write?precision=ms   json, ndjson: /api/v1/ingest
  vm (VictoriaMetrics)  lp: /write?precision=ms   ndjson: /api/v1/import (its JSON lines)
  influx (InfluxDB 1.x) lp: /write?db=bench&precision=ms (CREATE DATABASE bench first)
A <url> with a path is used as it is.

Load:
  --mode closed|open      closed (default): each connection sends its next request as soon
                          as the previous one is answered. open: --rate requests/s on a fixed
                          schedule whatever the answers; latency counts from the intended send
                          time, so a stall shows in every request queued behind it
  --rate R                open loop: requests per second (implies --mode open)
  --connections N         keep-alive connections, one request in flight on each (default ${DEFAULTS.connections})
  --client net|undici     net (default for http://): a plain socket per connection writing
                          pre-formatted requests, about 40 % less client CPU per request than
                          undici's Pool (0.88x wrk's rate on 2 cores, undici 0.73x). undici
                          (default for https://): undici's Pool
  --duration D            measured phase, e.g. 30s, 2m (default ${DEFAULTS.durationMs / 1000}s)
  --requests N            or: exactly N measured requests
  --warmup D              load before the measured phase, not counted (default 0s)
  --timeout D             per request (default ${DEFAULTS.timeoutMs / 1000}s)
  --retries N             resend after a 503 with Retry-After, at most N times per request,
                          waiting what the server asks (at most 10 s) (default ${DEFAULTS.retries})
  --header 'Name: value'  extra request header, repeatable (e.g. Authorization)

Bodies (made before the load, rotated during it):
  --format lp|json|ndjson Influx line protocol (default), ringest's JSON array, NDJSON
  --target-kind K         auto (default: asks the server), ringest, vm, influx
  --samples-per-body N    samples in each request body (default ${DEFAULTS.samplesPerBody})
  --series N              distinct series (default ${DEFAULTS.series})
  --labels SPEC           label hierarchy, outermost first (default ${DEFAULTS.labelsSpec}: 4 regions
                          of 25 hosts; host-37 is in region-1). Series i gets label set i mod
                          (label sets) and metric bench_m<i div label sets>
  --values KIND           constant, counter (rises, rare resets), walk (default, random walk in
                          0..100), sine (daily seasonality plus noise), spiky (spikes and gaps)
  --interval D            time between two samples of one series (default ${DEFAULTS.intervalMs / 1000}s)
  --seed N                seed of the values (default ${DEFAULTS.seed})
  --bodies FILE           post these bodies instead (separated by an empty line: the format of
                          bench/wrk-post.lua), e.g. to send wrk's exact bytes
  --replay FILE           replay a dataset: JSON {"points":[{"offset":"MM:SS","name":...,
                          "labels":{...},"value":...}]}; each offset's points go out at
                          start + offset / --speed, stamped with that time
  --speed N               replay N times faster (default 1)

Output:
  --stats                 ringest targets: GET /stats before and after, print the delta
  --json FILE             save the result (every run, per-second figures) as JSON
  --plot FILE             draw latency percentiles and the request rate per second as SVG
  --quiet                 no progress line

compare: prints each figure of a.json and b.json (runs matched in order) and b / a.
Exit status: 0 done, 1 a run failed, 2 usage error, 3 a target could not be reached.`

export class UsageError extends Error {}

const int = (v: string, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
  const n = Number(v)
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag} ${v}: expected a whole number from ${min} to ${max}`)
  return n
}

const positive = (v: string, flag: string): number => {
  const n = Number(v)
  if (!Number.isFinite(n) || !(n > 0) || v.trim() === '') throw new UsageError(`${flag} ${v}: expected a number above 0`)
  return n
}

const duration = (v: string, flag: string, min: number): number => {
  const ms = parseDurationParam(v)
  if (!Number.isFinite(ms) || ms < min) throw new UsageError(`${flag} ${v}: expected a duration such as 500ms, 30s, 2m (at least ${min} ms)`)
  return ms
}

function oneOf<T extends string> (v: string, flag: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`${flag} ${v}: use ${allowed.join(', ')}`)
  return v as T
}

export function parseBenchArgs (args: string[]): BenchOptions {
  let parsed: ReturnType<typeof parseArgs>
  const s = { type: 'string' } as const
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        mode: s, client: s, rate: s, connections: s, duration: s, requests: s, warmup: s, timeout: s, retries: s,
        header: { type: 'string', multiple: true },
        format: s, 'target-kind': s, 'samples-per-body': s, series: s, labels: s, values: s, interval: s, seed: s,
        bodies: s, replay: s, speed: s, json: s, plot: s,
        stats: { type: 'boolean' }, quiet: { type: 'boolean' },
      },
    })
  } catch (e) {
    if (String((e as { code?: string }).code).startsWith('ERR_PARSE_ARGS')) throw new UsageError((e as Error).message)
    throw e
  }
  const v = parsed.values as Record<string, string | undefined> & { header?: string[], stats?: boolean, quiet?: boolean }
  if (parsed.positionals.length === 0) throw new UsageError('missing the target URL, e.g. ringest bench http://127.0.0.1:7070')
  const urls = parsed.positionals.map((raw) => {
    let u: URL
    try { u = new URL(raw) } catch { throw new UsageError(`${raw}: not a URL (e.g. http://127.0.0.1:7070)`) }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${raw}: use http:// or https://`)
    return u
  })

  const replay = v.replay ?? null
  const bodies = v.bodies ?? null
  const rate = v.rate === undefined ? null : positive(v.rate, '--rate')
  const mode = v.mode === undefined ? (rate !== null || replay !== null ? 'open' : DEFAULTS.mode) : oneOf(v.mode, '--mode', MODES)
  if (mode === 'closed' && rate !== null) throw new UsageError('--rate is for --mode open (a closed loop sends as fast as the answers come)')
  if (mode === 'open' && rate === null && replay === null) throw new UsageError('--mode open needs --rate R (requests per second)')
  if (v.duration !== undefined && v.requests !== undefined) throw new UsageError('give --duration or --requests, not both')
  if (replay !== null) {
    for (const flag of ['rate', 'duration', 'requests', 'warmup', 'bodies', 'series', 'labels', 'values', 'interval'] as const) {
      if (v[flag] !== undefined) throw new UsageError(`--${flag} does not apply to --replay (the dataset says what to send and when)`)
    }
  }
  if (replay === null && v.speed !== undefined) throw new UsageError('--speed is for --replay')
  if (bodies !== null) {
    for (const flag of ['samples-per-body', 'series', 'labels', 'values', 'interval', 'seed'] as const) {
      if (v[flag] !== undefined) throw new UsageError(`--${flag} does not apply to --bodies (the file holds the bodies)`)
    }
  }
  const labelsSpec = v.labels ?? DEFAULTS.labelsSpec
  let labels: LabelLevel[]
  try { labels = parseLabels(labelsSpec) } catch (e) { throw new UsageError((e as WorkloadError).message) }
  const headers = (v.header ?? []).map((h): [string, string] => {
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):\s*(.*)$/.exec(h)
    if (m === null) throw new UsageError(`--header ${h}: expected 'Name: value'`)
    return [m[1]!.toLowerCase(), m[2]!]
  })
  const client = v.client !== undefined ? oneOf(v.client, '--client', CLIENTS) : DEFAULTS.client ?? (urls.every((u) => u.protocol === 'http:') ? 'net' : 'undici')
  if (client === 'net') {
    const https = urls.find((u) => u.protocol !== 'http:')
    if (https !== undefined) throw new UsageError(`--client net speaks plain http only (${https.origin}): use --client undici`)
  }
  return {
    urls,
    mode,
    client,
    connections: v.connections === undefined ? DEFAULTS.connections : int(v.connections, '--connections', 1, 10_000),
    rate,
    durationMs: replay !== null || v.requests !== undefined ? null : v.duration === undefined ? DEFAULTS.durationMs : duration(v.duration, '--duration', 1),
    requests: v.requests === undefined ? null : int(v.requests, '--requests', 1),
    warmupMs: v.warmup === undefined ? DEFAULTS.warmupMs : duration(v.warmup, '--warmup', 0),
    timeoutMs: v.timeout === undefined ? DEFAULTS.timeoutMs : duration(v.timeout, '--timeout', 1),
    format: v.format === undefined ? DEFAULTS.format : oneOf(v.format, '--format', FORMATS),
    targetKind: v['target-kind'] === undefined ? DEFAULTS.targetKind : oneOf(v['target-kind'], '--target-kind', TARGET_KINDS),
    samplesPerBody: v['samples-per-body'] === undefined ? DEFAULTS.samplesPerBody : int(v['samples-per-body'], '--samples-per-body', 1, 10_000_000),
    series: v.series === undefined ? DEFAULTS.series : int(v.series, '--series', 1, 100_000_000),
    labelsSpec,
    labels,
    values: v.values === undefined ? DEFAULTS.values : oneOf(v.values, '--values', VALUE_KINDS),
    intervalMs: v.interval === undefined ? DEFAULTS.intervalMs : duration(v.interval, '--interval', 1),
    seed: v.seed === undefined ? DEFAULTS.seed : int(v.seed, '--seed', 0, 2 ** 31 - 1),
    replay,
    speed: v.speed === undefined ? DEFAULTS.speed : positive(v.speed, '--speed'),
    bodies,
    retries: v.retries === undefined ? DEFAULTS.retries : int(v.retries, '--retries', 0, 100),
    headers,
    json: v.json ?? null,
    plot: v.plot ?? null,
    stats: v.stats === true,
    quiet: v.quiet === true,
  }
}
