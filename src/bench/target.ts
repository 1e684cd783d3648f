/**
 * What a target URL is (ringest, VictoriaMetrics, InfluxDB 1.x, or something
 * else), where its ingest path is for each format, and ringest's own /stats
 * counters before and after a run.
 */
import { Agent, request } from 'undici'
import type { Format } from './workload.js'
import { Encoding } from './workload.js'
import { UsageError, type TargetKind } from './options.js'

export type Kind = Exclude<TargetKind, 'auto'> | 'unknown'

export interface Target {
  url: URL
  origin: string
  kind: Kind
  /** Path and query of the ingest requests. */
  path: string
  contentType: string
  encoding: Encoding
}

/** The request never got an answer: connection refused, DNS, timeout. */
export class UnreachableError extends Error {}

const PROBE_TIMEOUT_MS = 5_000 // each probe request
/** The database the default InfluxDB path writes to (created before the run). */
export const INFLUX_DB = 'bench'

let agent: Agent | null = null
const dispatcher = (): Agent => (agent ??= new Agent({ connect: { timeout: PROBE_TIMEOUT_MS } }))
export async function closeProbes (): Promise<void> { const a = agent; agent = null; await a?.close() }

async function fetchText (url: string, method: 'GET' | 'POST' = 'GET', body?: string): Promise<{ status: number, text: string, headers: Record<string, unknown> }> {
  try {
    const r = await request(url, {
      method,
      body,
      headers: body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' },
      dispatcher: dispatcher(),
      headersTimeout: PROBE_TIMEOUT_MS,
      bodyTimeout: PROBE_TIMEOUT_MS,
    })
    return { status: r.statusCode, text: await r.body.text(), headers: r.headers }
  } catch (e) {
    const err = e as Error & { code?: string, cause?: { code?: string } }
    throw new UnreachableError(`cannot reach ${new URL(url).origin}: ${err.cause?.code ?? err.code ?? err.message}`)
  }
}

/**
 * Asks the server what it is: ringest answers GET /stats with its JSON, VictoriaMetrics GET /health
 * with "OK", InfluxDB GET /ping with an X-Influxdb-Version header. Anything else is 'unknown'
 * (written to as ringest is, with no /stats).
 */
export async function detectKind (origin: string): Promise<Kind> {
  const stats = await fetchText(`${origin}/stats`)
  if (stats.status === 200) {
    try {
      const j = JSON.parse(stats.text) as Record<string, unknown>
      if (typeof j.ingest === 'object' && typeof j.flush === 'object') return 'ringest'
    } catch { /* not ringest */ }
  }
  const health = await fetchText(`${origin}/health`)
  if (health.status === 200 && health.text.trim() === 'OK') return 'vm'
  const ping = await fetchText(`${origin}/ping`)
  if (ping.headers['x-influxdb-version'] !== undefined) return 'influx'
  return 'unknown'
}

const CONTENT_TYPES = {
  [Encoding.LP]: 'text/plain; charset=utf-8',
  [Encoding.JSON]: 'application/json',
  [Encoding.NDJSON]: 'application/x-ndjson',
  [Encoding.VM_IMPORT]: 'application/x-ndjson',
} as const

/** The path and encoding for `format` on a `kind` target; a URL with a path keeps it. */
export function resolveTarget (url: URL, kind: Kind, format: Format): Target {
  const custom = url.pathname !== '/' || url.search !== ''
  let encoding: Encoding = format
  let path = `${url.pathname}${url.search}`
  if (kind === 'vm' && format === 'ndjson') encoding = Encoding.VM_IMPORT
  if (!custom) {
    if (kind === 'influx' && format !== 'lp') throw new UsageError(`${url.origin} is InfluxDB: it takes line protocol only (--format lp)`)
    if (kind === 'vm' && format === 'json') throw new UsageError(`${url.origin} is VictoriaMetrics: it has no JSON-array ingest; use --format lp or ndjson (its /api/v1/import lines)`)
    path = format === 'lp'
      ? (kind === 'influx' ? `/write?db=${INFLUX_DB}&precision=ms` : '/write?precision=ms')
      : (kind === 'vm' ? '/api/v1/import' : '/api/v1/ingest')
  }
  return { url, origin: url.origin, kind, path, contentType: CONTENT_TYPES[encoding], encoding }
}

/** InfluxDB refuses writes to a database that does not exist; CREATE DATABASE is idempotent. */
export async function prepareTarget (t: Target): Promise<void> {
  if (t.kind !== 'influx' || !t.path.startsWith(`/write?db=${INFLUX_DB}&`)) return
  const r = await fetchText(`${t.origin}/query`, 'POST', `q=${encodeURIComponent(`CREATE DATABASE ${INFLUX_DB}`)}`)
  if (r.status !== 200) throw new Error(`${t.origin}: CREATE DATABASE ${INFLUX_DB} answered ${r.status}: ${r.text.slice(0, 200)}`)
}

// ---------------------------------------------------------------------------
// ringest's /stats: the counters whose change over a run says what the server did.

type Json = Record<string, unknown>
const at = (j: unknown, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Json)[k] : undefined), j)
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)

/** Sums `endpoints.*.<field>`, numbers or maps of numbers (by status, by reason). */
function endpointSums (stats: unknown, field: string): Record<string, number> {
  const out: Record<string, number> = {}
  const eps = at(stats, 'endpoints')
  if (eps === null || typeof eps !== 'object') return out
  for (const e of Object.values(eps as Json)) {
    const v = (e as Json | null)?.[field]
    if (typeof v === 'number') out[''] = (out[''] ?? 0) + v
    else if (v !== null && typeof v === 'object') for (const [k, n] of Object.entries(v as Json)) if (typeof n === 'number') out[k] = (out[k] ?? 0) + n
  }
  return out
}

/** Counters: [label, /stats path] (an `endpoints:` path is summed over the endpoints). */
const COUNTERS: ReadonlyArray<readonly [string, string]> = [
  ['samples accepted', 'endpoints:samplesAccepted'],
  ['lines rejected', 'endpoints:linesRejected'],
  ['samples committed', 'flush.samplesCommitted'],
  ['commits', 'flush.commits'],
  ['series created', 'storage.seriesCreated'],
  ['samples too old (dropped)', 'storage.samplesTooOld'],
  ['checkpoints', 'storage.checkpoints'],
  ['checkpoint stall ms', 'storage.checkpointStallMs'],
  ['GC pauses', 'process.gcPausesTotal'],
  ['GC pause seconds', 'process.gcPauseSecondsTotal'],
]

export interface StatsDelta {
  counters: Record<string, number>
  /** Write requests answered, by status, over all endpoints. */
  requestsByStatus: Record<string, number>
  rejectedByReason: Record<string, number>
  /** Point-in-time figures read after the run. */
  after: { rssBytes: number | null, requestLatencyMs: Record<string, number> | null }
}

export async function readStats (origin: string): Promise<unknown> {
  const r = await fetchText(`${origin}/stats`)
  if (r.status !== 200) throw new Error(`GET ${origin}/stats answered ${r.status}`)
  return JSON.parse(r.text)
}

export function statsDelta (before: unknown, after: unknown): StatsDelta {
  const counters: Record<string, number> = {}
  for (const [label, path] of COUNTERS) {
    const read = (s: unknown): number | null => path.startsWith('endpoints:') ? (endpointSums(s, path.slice(10))[''] ?? null) : num(at(s, path))
    const a = read(after)
    if (a !== null) counters[label] = Math.round((a - (read(before) ?? 0)) * 1000) / 1000
  }
  const mapDelta = (field: string): Record<string, number> => {
    const b = endpointSums(before, field)
    const out: Record<string, number> = {}
    for (const [k, n] of Object.entries(endpointSums(after, field))) if (n - (b[k] ?? 0) !== 0) out[k] = n - (b[k] ?? 0)
    return out
  }
  const lat = at(after, 'ingest.requestLatencyMs')
  return {
    counters,
    requestsByStatus: mapDelta('requests'),
    rejectedByReason: mapDelta('rejectedRequests'),
    after: {
      rssBytes: num(at(after, 'process.rssBytes')),
      requestLatencyMs: lat !== null && typeof lat === 'object' ? lat as Record<string, number> : null,
    },
  }
}
