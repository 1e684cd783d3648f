/**
 * The main thread: node:http, routing, limits and admission. It never parses
 * a body: it copies the bytes into one ArrayBuffer, hands it to a parse
 * worker (transferred, not cloned), and answers once the flush worker says
 * the samples are durable (--ack durable), committed or received.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { mkdirSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import { BodyFormat, BodyStatus, type BodyJob, type BodyOutcome, type QueryOutcome } from '../workers/shared.js'
import { Engine, type EngineConfig } from './engine.js'
import { Errors, HttpError, type ErrorCode } from './errors.js'
import { Stats } from './stats.js'
import { ParamError, parseDurationParam, parseTimeParam } from './params.js'
import { QueryService, type QueryConfig, type QueryRequest } from './query.js'
import { FastHttp, type Admission, type FastApp, type FastOptions, type Reply } from './fast-http.js'
import { RejectionLog } from './rejection-log.js'
import { putLogLevel } from './admin.js'
import { StatsStreams } from './stats-stream.js'
import { DashboardAssets } from './dashboard.js'

/** Everything the server uses: each part's own options plus the HTTP layer's. */
export interface ServerConfig extends EngineConfig, QueryConfig, FastOptions {
  listen: string
  maxInflightBytes: number
  retryAfterSeconds: number
  shutdownTimeoutMs: number
  readyOverloadPercent: number
  logRejectionsPerSecond: number
}

export interface RunningServer {
  url: string
  engine: Engine
  stats: Stats
  close (reason?: string): Promise<void>
}

/** How long a request may wait for its commit before it gets ERR_ACK_TIMEOUT. */
const ACK_TIMEOUT_MS = 30_000
/** A query's form body (POST) is read up to this. */
const MAX_QUERY_BODY_BYTES = 1024 * 1024

const VERSION = '0.1.0'

type Url = Pick<URL, 'pathname' | 'searchParams'>
interface Route { methods: string[], handler: (req: IncomingMessage, res: ServerResponse, url: Url) => Promise<void> | void }

/** LP endpoints take any textual body; the clients send text/plain, curl sends form-urlencoded. */
const LP_TYPES = new Set(['', 'text/plain', 'application/octet-stream', 'application/x-www-form-urlencoded'])
const JSON_TYPES: Record<string, BodyFormat> = {
  'application/json': BodyFormat.JSON,
  'application/x-ndjson': BodyFormat.NDJSON,
  'application/ndjson': BodyFormat.NDJSON,
  'application/jsonl': BodyFormat.NDJSON,
  'application/x-jsonlines': BodyFormat.NDJSON,
}

function parseListen (listen: string): { host: string, port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen)
  if (m === null) return { host: '127.0.0.1', port: Number(listen) }
  return { host: m[1] ?? (m[2] === '' || m[2] === undefined ? '127.0.0.1' : m[2]), port: Number(m[3]) }
}

export async function startServer (config: ServerConfig, log: Logger): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true })
  const engine = await Engine.start(config, log)
  const queries = new QueryService(config, log, engine.flushStats.buffer as SharedArrayBuffer)
  const stats = new Stats()
  stats.version = VERSION
  stats.watch(engine, () => [...engine.threads(), ...queries.threads()])
  let closing = false

  /** The body of GET /stats and of every /stats/stream event (open streams are counted here, not as in-flight requests). */
  function statsBody (): Record<string, unknown> {
    return { version: VERSION, ...stats.snapshot(engine, config.dataDir, config.ack), queries: queries.counters(), statsStreams: streams.open }
  }
  const streams = new StatsStreams(statsBody, log)
  const dashboard = new DashboardAssets(log)

  const rejections = new RejectionLog(log, config.logRejectionsPerSecond)

  /**
   * The answer to an error; counts the request, and logs it (sampled) if it
   * was a write. `socket` and `bytes` are only read for that line.
   */
  function errorReply (endpoint: string, err: HttpError, socket?: { readonly remoteAddress?: string | undefined }, bytes?: number): Reply {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' }
    if (err.status === 503) headers['retry-after'] = config.retryAfterSeconds
    if (err.code === 'ERR_METHOD_NOT_ALLOWED' && err.extra?.allow !== undefined) headers.allow = String(err.extra.allow)
    headers['x-influxdb-error'] = err.message.slice(0, 1024).replace(/[^\x20-\x7e]/g, '?')
    stats.request(endpoint, err.status)
    if (rejections.enabled && WRITES[endpoint] !== undefined) {
      const first = err.code === 'ERR_PARSE' ? (err.extra?.errors as Array<{ line: number, message: string }> | undefined)?.[0] : undefined
      rejections.record({
        endpoint,
        status: err.status,
        code: err.code,
        reason: err.extra?.reason as string | undefined,
        error: first === undefined ? err.message.slice(0, 300) : first.message.slice(0, 300),
        line: first?.line,
        linesRejected: first === undefined ? undefined : err.extra?.rejected as number | undefined,
        remoteAddress: socket?.remoteAddress,
        bytes: bytes !== undefined && bytes >= 0 ? bytes : undefined,
      })
    }
    return { status: err.status, headers, body: JSON.stringify({ code: err.code, error: err.message, ...err.extra }) }
  }

  function internalError (endpoint: string, err: unknown, path: string): Reply {
    log.error({ err, path }, 'request failed')
    return errorReply(endpoint, new HttpError('ERR_INTERNAL', (err as Error)?.message ?? 'internal error'))
  }

  /** Writes a reply on node:http (query answers come as UTF-8 bytes from the query worker). */
  function send (res: ServerResponse, reply: Omit<Reply, 'body'> & { body?: string | Uint8Array }): void {
    if (closing) reply.headers.connection = 'close'
    res.writeHead(reply.status, reply.headers).end(reply.body)
  }

  function fail (code: ErrorCode, message: string, extra?: Record<string, unknown>): never {
    throw new HttpError(code, message, extra)
  }

  interface IngestHead {
    endpoint: string
    format: BodyFormat | 'lp-or-json'
    contentType: string | undefined
    contentEncoding: string | undefined
    /** Content-Length, or -1 when the body is chunked. */
    declared: number
    params: URLSearchParams
    /** The client's connection: read only to log a rejection (remote address). */
    socket: { readonly remoteAddress?: string | undefined }
  }

  /**
   * Everything decided from the head alone: endpoint and format, encoding,
   * shutdown, size, and the bytes-in-flight budget (reserved here, before a
   * body byte is held). Throws HttpError when the request is refused.
   */
  function admitIngest (h: IngestHead): { fmt: BodyFormat, gzip: boolean, counted: number } {
    const encoding = (h.contentEncoding ?? 'identity').toLowerCase().trim()
    if (encoding !== 'gzip' && encoding !== 'identity' && encoding !== '') {
      stats.rejected(h.endpoint, 'unsupported_encoding')
      fail('ERR_UNSUPPORTED_ENCODING', `Content-Encoding ${JSON.stringify(encoding)} is not supported (use gzip or none)`)
    }
    const type = (h.contentType ?? '').split(';')[0]!.trim().toLowerCase()
    let fmt: BodyFormat
    if (h.format === 'lp-or-json') {
      const f = JSON_TYPES[type]
      if (f === undefined) {
        stats.rejected(h.endpoint, 'unsupported_media_type')
        fail('ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type)} is not accepted here (use application/json or application/x-ndjson)`)
      }
      fmt = f
    } else if (h.format === BodyFormat.IMPORT) {
      fmt = h.format // any content type: VictoriaMetrics' clients send none or application/json
    } else {
      if (!LP_TYPES.has(type)) {
        stats.rejected(h.endpoint, 'unsupported_media_type')
        fail('ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type)} is not accepted here (send line protocol as text/plain)`)
      }
      fmt = h.format
    }
    if (closing) { stats.rejected(h.endpoint, 'shutting_down'); fail('ERR_SHUTTING_DOWN', 'ringest is shutting down') }
    if (h.declared > config.maxBodyBytes) {
      stats.rejected(h.endpoint, 'too_large')
      fail('ERR_BODY_TOO_LARGE', `body of ${h.declared} bytes is larger than ${config.maxBodyBytes} bytes`)
    }
    const reserve = h.declared >= 0 ? h.declared : 64 * 1024
    if (stats.inflightBytes + reserve > config.maxInflightBytes) {
      stats.rejected(h.endpoint, 'overload_inflight_bytes')
      fail('ERR_OVERLOADED', `too many bytes in flight (${stats.inflightBytes})`, { reason: 'inflight_bytes' })
    }
    stats.inflightBytes += reserve
    return { fmt, gzip: encoding === 'gzip', counted: reserve }
  }

  /** Stores an admitted body and says what to answer; releases the bytes-in-flight reservation. */
  async function completeIngest (h: IngestHead, a: { fmt: BodyFormat, gzip: boolean, counted: number }, body: Uint8Array): Promise<Reply> {
    try {
      stats.inflightBytes += body.byteLength - a.counted
      a.counted = body.byteLength
      const job: BodyJob = {
        body,
        format: a.fmt,
        gzip: a.gzip,
        precision: h.params.get('precision') ?? undefined,
        db: h.params.get('db') ?? h.params.get('bucket') ?? undefined,
        nowMs: Date.now(),
      }
      let submitted
      try {
        submitted = await engine.submit(job)
      } catch (err) {
        if (err instanceof HttpError && err.code === 'ERR_OVERLOADED') stats.rejected(h.endpoint, 'overload_queue')
        throw err
      }
      return await answer(h.endpoint, submitted.ring, submitted.outcome)
    } catch (err) {
      // a.counted, not body.byteLength: the body went to a parse worker (transferred, now detached).
      return err instanceof HttpError ? errorReply(h.endpoint, err, h.socket, a.counted) : internalError(h.endpoint, err, h.endpoint)
    } finally {
      stats.inflightBytes -= a.counted
    }
  }

  /** Reads the body into one fresh ArrayBuffer (transferable), enforcing the size limit while it streams. */
  function readBody (req: IncomingMessage, declared: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const limit = config.maxBodyBytes
      let buf = new Uint8Array(new ArrayBuffer(declared >= 0 ? declared : 64 * 1024))
      let len = 0
      req.on('data', (chunk: Buffer) => {
        if (len + chunk.length > limit) {
          reject(new HttpError('ERR_BODY_TOO_LARGE', `body is larger than ${limit} bytes`))
          req.removeAllListeners('data')
          req.resume()
          return
        }
        if (len + chunk.length > buf.length) {
          const grown = new Uint8Array(new ArrayBuffer(Math.min(limit, Math.max(buf.length * 2, len + chunk.length))))
          grown.set(buf.subarray(0, len))
          buf = grown
        }
        buf.set(chunk, len)
        len += chunk.length
      })
      req.on('end', () => {
        if (len === buf.length) { resolve(buf); return }
        const exact = new Uint8Array(new ArrayBuffer(len))
        exact.set(buf.subarray(0, len))
        resolve(exact)
      })
      req.on('error', reject)
      req.on('aborted', () => reject(new Error('client aborted the request')))
    })
  }

  /** The node:http route for writes (chunked bodies, Expect, HTTP/1.0, and connections handed over). */
  async function ingest (req: IncomingMessage, res: ServerResponse, url: Url, endpoint: string, format: BodyFormat | 'lp-or-json'): Promise<void> {
    const h: IngestHead = {
      endpoint,
      format,
      contentType: req.headers['content-type'],
      contentEncoding: req.headers['content-encoding'],
      declared: req.headers['content-length'] === undefined ? -1 : Number(req.headers['content-length']),
      params: url.searchParams,
      socket: req.socket,
    }
    let a
    try {
      a = admitIngest(h)
    } catch (err) {
      if (err instanceof HttpError && err.code === 'ERR_BODY_TOO_LARGE') res.setHeader('connection', 'close')
      throw err
    }
    let body
    try {
      body = await readBody(req, h.declared)
    } catch (err) {
      stats.inflightBytes -= a.counted
      throw err
    }
    send(res, await completeIngest(h, a, body))
  }

  const ackTimeout = (): Error => new HttpError('ERR_ACK_TIMEOUT', `commit did not complete within ${ACK_TIMEOUT_MS} ms`)
  function durable (ring: number, end: number): Promise<void> | undefined {
    if (end < 0 || config.ack === 'received') return undefined
    return engine.waitDurable(ring, end, ACK_TIMEOUT_MS, ackTimeout)
  }

  const NO_HEADERS: Record<string, string | number> = {}
  const NONE_TOO_OLD = { samples: 0, complete: true }
  async function answer (endpoint: string, ring: number, o: BodyOutcome): Promise<Reply> {
    const counters = stats.endpoint(endpoint)
    switch (o.status) {
      case BodyStatus.TOO_LARGE: stats.rejected(endpoint, 'too_large'); fail('ERR_BODY_TOO_LARGE', o.detail ?? 'body too large')
      case BodyStatus.BAD_ENCODING: stats.rejected(endpoint, 'bad_encoding'); fail('ERR_BAD_ENCODING', o.detail ?? 'bad encoding')
      case BodyStatus.BAD_PRECISION: stats.rejected(endpoint, 'bad_precision'); fail('ERR_BAD_PRECISION', o.detail ?? 'bad precision')
      case BodyStatus.OVERLOAD:
        stats.rejected(endpoint, 'overload_ring_full')
        if (o.end >= 0) { await durable(ring, o.end); counters.samplesAccepted += o.accepted }
        fail('ERR_OVERLOADED', o.detail ?? 'overloaded', { reason: 'ring_full' })
    }
    await durable(ring, o.end)
    // Samples the flush worker dropped as too old are refused here, not acknowledged. With
    // --ack received the answer goes before the flush worker has seen them: they cannot be.
    const old = o.end >= 0 && config.ack !== 'received' ? engine.tooOldIn(ring, o.start, o.end) : NONE_TOO_OLD
    const accepted = o.accepted - old.samples
    counters.samplesAccepted += accepted
    counters.linesRejected += o.rejected
    counters.fieldsSkipped += o.skipped
    const tooOld = old.samples > 0 || !old.complete
    if (o.status === BodyStatus.OK && !tooOld) {
      stats.request(endpoint, 204)
      return { status: 204, headers: o.skipped > 0 ? { 'x-ringest-skipped-fields': o.skipped } : { ...NO_HEADERS } }
    }
    const oldMessage = `${old.complete ? '' : 'at least '}${old.samples} sample(s) further than ${config.oooWindowMs} ms behind their series' newest sample were rejected (--ooo-window-ms)` +
      (old.complete ? '' : '; the count may be short: more than 4,096 records with too-old samples came meanwhile')
    const errors = tooOld ? [...o.errors, { line: 0, message: oldMessage }] : o.errors
    const extra = { accepted, rejected: o.rejected, tooOld: old.samples, skipped: o.skipped, errors }
    if (o.rejected === 0) {
      stats.rejected(endpoint, 'too_old')
      fail('ERR_TOO_OLD', `${accepted > 0 ? 'partial write' : 'unable to write'}: ${oldMessage} dropped=${old.samples}`, extra)
    }
    stats.rejected(endpoint, 'parse_error')
    const first = o.errors[0]
    const message = o.accepted > 0 || o.rejected === 0
      ? `partial write: line ${first?.line ?? '?'}: ${first?.message ?? 'rejected'} dropped=${o.rejected}`
      : `unable to parse: line ${first?.line ?? '?'}: ${first?.message ?? 'rejected'} dropped=${o.rejected}`
    fail('ERR_PARSE', message, extra)
  }

  /** Query parameters: the URL's, plus a form body's for POST (as Prometheus takes them). */
  async function queryParams (req: IncomingMessage, url: Url): Promise<URLSearchParams> {
    if (req.method !== 'POST') return url.searchParams
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== 'application/x-www-form-urlencoded') return url.searchParams
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > MAX_QUERY_BODY_BYTES) fail('ERR_BODY_TOO_LARGE', `query form body is larger than ${MAX_QUERY_BODY_BYTES} bytes`)
      chunks.push(chunk)
    }
    const merged = new URLSearchParams(url.searchParams)
    for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) merged.append(k, v)
    return merged
  }

  const PROM_ERRORS = {
    bad_data: 'ERR_QUERY_BAD_DATA',
    execution: 'ERR_QUERY_LIMIT',
    timeout: 'ERR_QUERY_TIMEOUT',
    unavailable: 'ERR_QUERY_OVERLOADED',
  } as const

  /** Prometheus's error shape, with ringest's code alongside. */
  function promError (res: ServerResponse, endpoint: string, errorType: keyof typeof PROM_ERRORS, error: string): void {
    const code = PROM_ERRORS[errorType]
    const status = Errors[code].status
    const headers: Record<string, string | number> = { 'content-type': 'application/json' }
    if (status === 503) headers['retry-after'] = config.retryAfterSeconds
    stats.request(endpoint, status)
    send(res, { status, headers, body: JSON.stringify({ status: 'error', errorType, error, code }) })
  }

  function promTime (params: URLSearchParams, name: string, fallback?: number): number {
    const v = params.get(name)
    if ((v === null || v === '') && fallback !== undefined) return fallback
    if (v === null || v === '') throw new ParamError(`missing parameter ${name}`)
    return parseTimeParam(v, NaN, name)
  }

  /** The Prometheus query API endpoints: parameters here, evaluation in a query worker. */
  async function promQuery (req: IncomingMessage, res: ServerResponse, url: Url, endpoint: string, build: (p: URLSearchParams) => QueryRequest): Promise<void> {
    const params = await queryParams(req, url)
    let request: QueryRequest
    try {
      request = build(params)
    } catch (err) {
      if (err instanceof ParamError) { promError(res, endpoint, 'bad_data', err.message); return }
      throw err
    }
    const began = performance.now()
    const out = await queries.run(request)
    log.debug({ endpoint, query: request, ms: Math.round(performance.now() - began), ok: out.ok }, 'query')
    if (!out.ok) { promError(res, endpoint, out.errorType, out.error); return }
    stats.request(endpoint, 200)
    send(res, { status: 200, headers: { 'content-type': 'application/json' }, body: out.body })
  }

  const matchParams = (p: URLSearchParams): string[] => [...p.getAll('match[]'), ...p.getAll('match')]
  /** The optional start and end of the series and label endpoints. */
  const timeRange = (p: URLSearchParams): { startMs?: number, endMs?: number } => {
    const r: { startMs?: number, endMs?: number } = {}
    if ((p.get('start') ?? '') !== '') r.startMs = promTime(p, 'start')
    if ((p.get('end') ?? '') !== '') r.endMs = promTime(p, 'end')
    if (r.startMs !== undefined && r.endMs !== undefined && r.endMs < r.startMs) throw new ParamError('invalid parameter "end": end timestamp must not be before start time')
    return r
  }

  /**
   * max_source_resolution (Thanos's name for it): the coarsest rollup a query
   * may read. raw (or 0s) = raw samples only; 5m, 1h or any duration = rollups
   * up to it; auto (or absent) = whatever the step allows.
   */
  const maxSourceResolution = (p: URLSearchParams): { maxSourceResolutionMs?: number } => {
    const v = p.get('max_source_resolution') ?? ''
    if (v === '' || v === 'auto') return {}
    if (v === 'raw') return { maxSourceResolutionMs: 0 }
    const ms = parseDurationParam(v)
    if (!(ms >= 0)) throw new ParamError(`invalid parameter "max_source_resolution": ${JSON.stringify(v)} is not raw, auto or a duration such as 5m or 1h`)
    return { maxSourceResolutionMs: ms }
  }

  const queryRoutes: Record<string, (p: URLSearchParams) => QueryRequest> = {
    '/api/v1/query_range': (p) => {
      const expr = p.get('query') ?? ''
      const startMs = promTime(p, 'start')
      const endMs = promTime(p, 'end')
      const stepMs = parseDurationParam(p.get('step') ?? '')
      if (!(stepMs > 0)) throw new ParamError('invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer')
      if (endMs < startMs) throw new ParamError('invalid parameter "end": end timestamp must not be before start time')
      return { kind: 'range', expr, startMs, endMs, stepMs, ...maxSourceResolution(p) }
    },
    '/api/v1/query': (p) => ({ kind: 'instant', expr: p.get('query') ?? '', timeMs: promTime(p, 'time', Date.now()), ...maxSourceResolution(p) }),
    '/api/v1/series': (p) => {
      const match = matchParams(p)
      if (match.length === 0) throw new ParamError('no match[] parameter provided')
      return { kind: 'series', match, ...timeRange(p) }
    },
    '/api/v1/labels': (p) => ({ kind: 'labels', match: matchParams(p), ...timeRange(p) }),
  }

  /** GET /api/v1/export: VictoriaMetrics' NDJSON export, gathered in a query worker. */
  async function exportHandler (req: IncomingMessage, res: ServerResponse, url: Url): Promise<void> {
    const params = await queryParams(req, url)
    const match = matchParams(params)
    if (match.length === 0) fail('ERR_BAD_REQUEST', 'missing match[] parameter, e.g. match[]=cpu_usage_user{host="a"}')
    let startMs, endMs
    try {
      startMs = parseTimeParam(params.get('start'), -Infinity, 'start')
      endMs = parseTimeParam(params.get('end'), Infinity, 'end')
    } catch (err) {
      if (err instanceof ParamError) fail('ERR_BAD_REQUEST', err.message)
      throw err
    }
    const out: QueryOutcome = await queries.run({ kind: 'export', match, startMs, endMs })
    if (!out.ok) {
      if (out.limit === 'maxSamples') fail('ERR_EXPORT_TOO_LARGE', `export would return more than ${config.queryMaxSamples} samples; narrow match[] or start/end (--query-max-samples)`)
      if (out.errorType === 'bad_data') fail('ERR_BAD_REQUEST', out.error)
      fail(PROM_ERRORS[out.errorType], out.error)
    }
    stats.request('/api/v1/export', 200)
    send(res, { status: 200, headers: { 'content-type': 'application/stream+json' }, body: out.body })
  }

  function json (res: ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value))
  }

  /** Write endpoints: the stats name they count under and the body format. */
  const WRITES: Record<string, { endpoint: string, format: BodyFormat | 'lp-or-json' }> = {
    '/write': { endpoint: '/write', format: BodyFormat.LINE_PROTOCOL },
    '/api/v2/write': { endpoint: '/api/v2/write', format: BodyFormat.LINE_PROTOCOL },
    '/influx/write': { endpoint: '/write', format: BodyFormat.LINE_PROTOCOL },
    '/influx/api/v2/write': { endpoint: '/api/v2/write', format: BodyFormat.LINE_PROTOCOL },
    '/api/v1/ingest': { endpoint: '/api/v1/ingest', format: 'lp-or-json' },
    '/api/v1/import': { endpoint: '/api/v1/import', format: BodyFormat.IMPORT },
  }

  const routes: Record<string, Route> = {
    ...Object.fromEntries(Object.entries(WRITES).map(([path, w]): [string, Route] =>
      [path, { methods: ['POST'], handler: (req, res, url) => ingest(req, res, url, w.endpoint, w.format) }])),
    '/api/v1/export': { methods: ['GET', 'POST'], handler: exportHandler },
    ...Object.fromEntries(Object.entries(queryRoutes).map(([path, build]): [string, Route] =>
      [path, { methods: ['GET', 'POST'], handler: (req, res, url) => promQuery(req, res, url, path, build) }])),
    '/healthz': { methods: ['GET', 'HEAD'], handler: (_req, res) => json(res, 200, { status: 'ok' }) },
    '/readyz': {
      methods: ['GET', 'HEAD'],
      handler: (_req, res) => {
        const reasons = notReady()
        json(res, reasons.length === 0 ? 200 : 503, reasons.length === 0 ? { status: 'ready' } : { status: 'not ready', reasons })
      },
    },
    '/stats': { methods: ['GET'], handler: (_req, res) => json(res, 200, statsBody()) },
    '/stats/stream': { methods: ['GET'], handler: (req, res) => streams.add(req, res) },
    ...Object.fromEntries(dashboard.paths.map((path): [string, Route] =>
      [path, { methods: ['GET', 'HEAD'], handler: (req, res) => dashboard.serve(req, res, path) }])),
    '/metrics': { methods: ['GET'], handler: (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(stats.metrics(engine, config.dataDir, queries.counters())) } },
    '/ping': { methods: ['GET', 'HEAD'], handler: (_req, res) => { res.writeHead(204, { 'x-influxdb-version': `ringest-${VERSION}` }).end() } },
    // Telegraf's influxdb output creates its database first; there is nothing to create.
    '/query': { methods: ['GET', 'POST'], handler: (_req, res) => json(res, 200, { results: [{ statement_id: 0 }] }) },
    // No authentication: answered only to loopback addresses (src/admin.ts).
    '/admin/log-level': { methods: ['PUT'], handler: async (req, res) => json(res, 200, await putLogLevel(req, log)) },
  }

  /**
   * Why a load balancer should send this instance no traffic now (empty:
   * ready): shutting down, the store or a worker gone, or a resource past
   * --ready-overload-percent of its limit (any ring's fill, bytes in flight,
   * the parse queue), where writes would soon get 503s anyway.
   */
  function notReady (): string[] {
    const reasons: string[] = []
    if (closing) reasons.push('shutting down')
    if (engine.failed !== undefined) reasons.push('flush worker failed: the store is not being written')
    const parse = engine.parseThreads
    if (parse < config.parseWorkers) reasons.push(`parse workers up: ${parse} of ${config.parseWorkers}`)
    const limit = config.readyOverloadPercent / 100
    if (limit > 0) {
      engine.rings.forEach((r, i) => { if (r.used() > limit * r.capacity) reasons.push(`ring ${i} over ${config.readyOverloadPercent} % full`) })
      if (stats.inflightBytes > limit * config.maxInflightBytes) reasons.push(`bytes in flight over ${config.readyOverloadPercent} % of --max-inflight-bytes`)
      if (engine.waitingTasks > limit * config.maxQueue) reasons.push(`parse queue over ${config.readyOverloadPercent} % of --max-queue`)
    }
    return reasons
  }

  const LABEL_VALUES = /^\/api\/v1\/label\/([^/]+)\/values$/
  const labelValuesRoute: Route = {
    methods: ['GET', 'POST'],
    handler: (req, res, url) => promQuery(req, res, url, '/api/v1/label/:name/values', (p) => {
      const name = decodeURIComponent(LABEL_VALUES.exec(url.pathname)![1]!)
      // Prometheus 2.42 takes U__-escaped names too; plain names are the common case.
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new ParamError(`invalid label name: ${JSON.stringify(name)}`)
      return { kind: 'labelValues', name, match: matchParams(p), ...timeRange(p) }
    }),
  }

  const server = createServer({
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: config.headersTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
  }, (req, res) => {
    // Path and query by hand: new URL() per request costs more than the rest of the routing.
    const raw = req.url ?? '/'
    const q = raw.indexOf('?')
    const pathname = q < 0 ? raw : raw.slice(0, q)
    const url: Pick<URL, 'pathname' | 'searchParams'> = { pathname, searchParams: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) }
    const route = routes[pathname] ?? (LABEL_VALUES.test(pathname) ? labelValuesRoute : undefined)
    const endpoint = route === undefined ? 'other' : route === labelValuesRoute ? '/api/v1/label/:name/values' : pathname
    stats.inflightRequests++
    const handle = async (): Promise<void> => {
      if (route === undefined) fail('ERR_NOT_FOUND', `no endpoint ${pathname}`)
      if (!route.methods.includes(req.method ?? '')) {
        fail('ERR_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${pathname}`, { allow: route.methods.join(', ') })
      }
      await route.handler(req, res, url)
    }
    handle().finally(() => { stats.inflightRequests-- }).catch((err: unknown) => {
      if (res.headersSent) { res.destroy(); return }
      if (err instanceof HttpError) {
        send(res, errorReply(endpoint, err, req.socket, req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length'])))
        if (err.code === 'ERR_BODY_TOO_LARGE') req.resume()
        return
      }
      send(res, internalError(endpoint, err, url.pathname))
    })
  })

  // The listening socket belongs to the write fast path; it hands every
  // other connection to the node:http server above.
  const fastApp: FastApp = {
    accepts: (method, path) => method === 'POST' && WRITES[path] !== undefined,
    begin (req): Admission | Reply {
      const w = WRITES[req.path]!
      const h: IngestHead = {
        endpoint: w.endpoint,
        format: w.format,
        contentType: req.contentType,
        contentEncoding: req.contentEncoding,
        declared: req.contentLength,
        params: new URLSearchParams(req.query),
        socket: req.socket,
      }
      let a: ReturnType<typeof admitIngest>
      try {
        a = admitIngest(h)
      } catch (err) {
        return err instanceof HttpError ? errorReply(h.endpoint, err, req.socket, h.declared) : internalError(h.endpoint, err, req.path)
      }
      stats.inflightRequests++
      const began = performance.now()
      return {
        // Latency from the headers to the answer (the body's arrival included, as a client sees it).
        complete: (body) => completeIngest(h, a, body).finally(() => { stats.inflightRequests--; stats.writeLatency(performance.now() - began) }),
        abort: () => { stats.inflightBytes -= a.counted; stats.inflightRequests-- },
      }
    },
    get closing () { return closing },
    timedOut (socket, phase, bytes) {
      // Which endpoint is unknown: the fast path keeps no path once a head is consumed, and an incomplete head has none yet.
      if (rejections.enabled) rejections.record({ endpoint: 'unknown', status: 408, code: 'ERR_REQUEST_TIMEOUT', reason: phase, error: `request ${phase} not received in time`, remoteAddress: socket.remoteAddress, bytes })
    },
  }
  const fast = new FastHttp(fastApp, server, config)

  const { host, port } = parseListen(config.listen)
  try {
    await fast.listen(port, host)
  } catch (err) {
    // The store and the workers are up: close them, or they keep the process alive (a taken
    // port left `ringest serve` hanging instead of exiting 1).
    stats.unwatch()
    await queries.close()
    await engine.stop()
    throw err
  }
  const addr = fast.server.address() as AddressInfo
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
  // debug: the CLI's one "started" line says it with the rest (src/lifecycle-log.ts).
  log.debug({ url, ack: config.ack, parseWorkers: config.parseWorkers }, 'listening')

  async function close (reason = 'close'): Promise<void> {
    if (closing) return
    closing = true
    // Open stats streams never end by themselves: end them now (their sockets close with them), not at the deadline.
    streams.closeAll()
    const started = Date.now()
    // In-flight requests get 60 % of the budget; draining the rings and the last commit get the rest.
    const deadline = started + config.shutdownTimeoutMs * 0.6
    const stopped = fast.stopAccepting()
    // In-flight requests finish (their samples are committed) before the engine stops.
    while (stats.inflightRequests > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    fast.destroyAll()
    await stopped
    await queries.close()
    await engine.stop()
    stats.unwatch()
    rejections.stop()
    const committed = engine.flushStats
    // debug: the CLI's one "stopped" line says it with the rest (src/lifecycle-log.ts).
    log.debug({ reason, ms: Date.now() - started, samplesCommitted: committed[0], unansweredRequests: stats.inflightRequests }, 'server closed')
  }

  return { url, engine, stats, close }
}

