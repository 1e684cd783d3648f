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
import { BodyFormat, BodyStatus, type BodyJob, type BodyOutcome } from '../workers/shared.js'
import { openStore, type Store } from '../workers/storage.js'
import { Engine } from './engine.js'
import { HttpError, type ErrorCode } from './errors.js'
import { Stats } from './stats.js'
import { SelectorError, parseSelector, parseTimeParam } from './selector.js'
import { exportLine, exportSeries } from './export.js'

export interface ServerConfig {
  listen: string
  dataDir: string
  ack: 'durable' | 'committed' | 'received'
  parseWorkers: number
  ringBytes: number
  maxBodyBytes: number
  maxInflightBytes: number
  maxQueue: number
  admissionWaitMs: number
  retryAfterSeconds: number
  flushMaxSamples: number
  flushDelayMs: number
  shutdownTimeoutMs: number
  mapSizeBytes: number
  requestTimeoutMs: number
  headersTimeoutMs: number
  keepAliveTimeoutMs: number
}

export interface RunningServer {
  url: string
  engine: Engine
  stats: Stats
  close (reason?: string): Promise<void>
}

/** How long a request may wait for its commit before it gets ERR_ACK_TIMEOUT. */
const ACK_TIMEOUT_MS = 30_000
/** Samples an export may gather at most. */
const MAX_EXPORT_SAMPLES = 20_000_000

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
  // Reads go through the main thread's own handle on the same environment.
  const store: Store = openStore(config.dataDir, { mapSizeBytes: config.mapSizeBytes, sync: config.ack === 'durable' })
  const stats = new Stats()
  let closing = false

  function sendError (res: ServerResponse, endpoint: string, err: HttpError): void {
    const body: Record<string, unknown> = { code: err.code, error: err.message, ...err.extra }
    const headers: Record<string, string | number> = { 'content-type': 'application/json' }
    if (err.status === 503) headers['retry-after'] = config.retryAfterSeconds
    if (err.code === 'ERR_METHOD_NOT_ALLOWED' && err.extra?.allow !== undefined) headers.allow = String(err.extra.allow)
    headers['x-influxdb-error'] = err.message.slice(0, 1024).replace(/[^\x20-\x7e]/g, '?')
    if (closing) headers.connection = 'close'
    stats.request(endpoint, err.status)
    res.writeHead(err.status, headers).end(JSON.stringify(body))
  }

  function fail (code: ErrorCode, message: string, extra?: Record<string, unknown>): never {
    throw new HttpError(code, message, extra)
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

  async function ingest (req: IncomingMessage, res: ServerResponse, url: Url, endpoint: string, format: BodyFormat | 'lp-or-json'): Promise<void> {
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim()
    if (encoding !== 'gzip' && encoding !== 'identity' && encoding !== '') {
      stats.rejected(endpoint, 'unsupported_encoding')
      fail('ERR_UNSUPPORTED_ENCODING', `Content-Encoding ${JSON.stringify(encoding)} is not supported (use gzip or none)`)
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    let fmt: BodyFormat
    if (format === 'lp-or-json') {
      const f = JSON_TYPES[type]
      if (f === undefined) {
        stats.rejected(endpoint, 'unsupported_media_type')
        fail('ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type)} is not accepted here (use application/json or application/x-ndjson)`)
      }
      fmt = f
    } else {
      if (!LP_TYPES.has(type)) {
        stats.rejected(endpoint, 'unsupported_media_type')
        fail('ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type)} is not accepted here (send line protocol as text/plain)`)
      }
      fmt = format
    }
    if (closing) { stats.rejected(endpoint, 'shutting_down'); fail('ERR_SHUTTING_DOWN', 'ringest is shutting down') }
    const declared = req.headers['content-length'] === undefined ? -1 : Number(req.headers['content-length'])
    if (declared > config.maxBodyBytes) {
      stats.rejected(endpoint, 'too_large')
      res.setHeader('connection', 'close')
      fail('ERR_BODY_TOO_LARGE', `body of ${declared} bytes is larger than ${config.maxBodyBytes} bytes`)
    }
    const reserve = declared >= 0 ? declared : 64 * 1024
    if (stats.inflightBytes + reserve > config.maxInflightBytes) {
      stats.rejected(endpoint, 'overload_inflight_bytes')
      fail('ERR_OVERLOADED', `too many bytes in flight (${stats.inflightBytes})`, { reason: 'inflight_bytes' })
    }
    stats.inflightBytes += reserve
    let counted = reserve
    try {
      const body = await readBody(req, declared)
      stats.inflightBytes += body.byteLength - counted
      counted = body.byteLength
      const job: BodyJob = {
        body,
        format: fmt,
        gzip: encoding === 'gzip',
        precision: url.searchParams.get('precision') ?? undefined,
        db: url.searchParams.get('db') ?? url.searchParams.get('bucket') ?? undefined,
        nowMs: Date.now(),
      }
      let submitted
      try {
        submitted = await engine.submit(job)
      } catch (err) {
        if (err instanceof HttpError && err.code === 'ERR_OVERLOADED') stats.rejected(endpoint, 'overload_queue')
        throw err
      }
      await answer(res, endpoint, submitted.ring, submitted.outcome)
    } finally {
      stats.inflightBytes -= counted
    }
  }

  const ackTimeout = (): Error => new HttpError('ERR_ACK_TIMEOUT', `commit did not complete within ${ACK_TIMEOUT_MS} ms`)
  function durable (ring: number, end: number): Promise<void> | undefined {
    if (end < 0 || config.ack === 'received') return undefined
    return engine.waitDurable(ring, end, ACK_TIMEOUT_MS, ackTimeout)
  }

  async function answer (res: ServerResponse, endpoint: string, ring: number, o: BodyOutcome): Promise<void> {
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
    counters.samplesAccepted += o.accepted
    counters.linesRejected += o.rejected
    counters.fieldsSkipped += o.skipped
    if (o.status === BodyStatus.OK) {
      const headers: Record<string, string | number> = {}
      if (o.skipped > 0) headers['x-ringest-skipped-fields'] = o.skipped
      if (closing) headers.connection = 'close'
      stats.request(endpoint, 204)
      res.writeHead(204, headers).end()
      return
    }
    stats.rejected(endpoint, 'parse_error')
    const first = o.errors[0]
    const message = o.accepted > 0 || o.rejected === 0
      ? `partial write: line ${first?.line ?? '?'}: ${first?.message ?? 'rejected'} dropped=${o.rejected}`
      : `unable to parse: line ${first?.line ?? '?'}: ${first?.message ?? 'rejected'} dropped=${o.rejected}`
    fail('ERR_PARSE', message, { accepted: o.accepted, rejected: o.rejected, skipped: o.skipped, errors: o.errors })
  }

  function exportHandler (_req: IncomingMessage, res: ServerResponse, url: Url): void {
    const matches = [...url.searchParams.getAll('match[]'), ...url.searchParams.getAll('match')]
    if (matches.length === 0) fail('ERR_BAD_REQUEST', 'missing match[] parameter, e.g. match[]=cpu_usage_user{host="a"}')
    let selectors, start, end
    try {
      selectors = matches.map(parseSelector)
      start = parseTimeParam(url.searchParams.get('start'), -Infinity, 'start')
      end = parseTimeParam(url.searchParams.get('end'), Infinity, 'end')
    } catch (err) {
      if (err instanceof SelectorError) fail('ERR_BAD_REQUEST', err.message)
      throw err
    }
    const series = exportSeries(store, selectors, start, end, MAX_EXPORT_SAMPLES)
    stats.request('/api/v1/export', 200)
    res.writeHead(200, { 'content-type': 'application/stream+json' })
    for (const g of series) res.write(exportLine(g))
    res.end()
  }

  function json (res: ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value))
  }

  const routes: Record<string, Route> = {
    '/write': { methods: ['POST'], handler: (req, res, url) => ingest(req, res, url, '/write', BodyFormat.LINE_PROTOCOL) },
    '/api/v2/write': { methods: ['POST'], handler: (req, res, url) => ingest(req, res, url, '/api/v2/write', BodyFormat.LINE_PROTOCOL) },
    '/influx/write': { methods: ['POST'], handler: (req, res, url) => ingest(req, res, url, '/write', BodyFormat.LINE_PROTOCOL) },
    '/influx/api/v2/write': { methods: ['POST'], handler: (req, res, url) => ingest(req, res, url, '/api/v2/write', BodyFormat.LINE_PROTOCOL) },
    '/api/v1/ingest': { methods: ['POST'], handler: (req, res, url) => ingest(req, res, url, '/api/v1/ingest', 'lp-or-json') },
    '/api/v1/export': { methods: ['GET', 'POST'], handler: exportHandler },
    '/healthz': { methods: ['GET', 'HEAD'], handler: (_req, res) => json(res, 200, { status: 'ok' }) },
    '/readyz': {
      methods: ['GET', 'HEAD'],
      handler: (_req, res) => {
        const ready = !closing && engine.failed === undefined
        json(res, ready ? 200 : 503, { status: ready ? 'ready' : closing ? 'shutting down' : 'flush worker failed' })
      },
    },
    '/stats': { methods: ['GET'], handler: (_req, res) => json(res, 200, { version: VERSION, ...stats.snapshot(engine, config.dataDir, config.ack) }) },
    '/metrics': { methods: ['GET'], handler: (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(stats.metrics(engine, config.dataDir)) } },
    '/ping': { methods: ['GET', 'HEAD'], handler: (_req, res) => { res.writeHead(204, { 'x-influxdb-version': `ringest-${VERSION}` }).end() } },
    // Telegraf's influxdb output creates its database first; there is nothing to create.
    '/query': { methods: ['GET', 'POST'], handler: (_req, res) => json(res, 200, { results: [{ statement_id: 0 }] }) },
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
    const route = routes[pathname]
    const endpoint = route === undefined ? 'other' : pathname
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
        sendError(res, endpoint, err)
        if (err.code === 'ERR_BODY_TOO_LARGE') req.resume()
        return
      }
      log.error({ err, path: url.pathname }, 'request failed')
      sendError(res, endpoint, new HttpError('ERR_INTERNAL', (err as Error).message ?? 'internal error'))
    })
  })

  const { host, port } = parseListen(config.listen)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  const addr = server.address() as AddressInfo
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
  log.info({ url, ack: config.ack, parseWorkers: config.parseWorkers }, 'listening')

  async function close (reason = 'close'): Promise<void> {
    if (closing) return
    closing = true
    const started = Date.now()
    // In-flight requests get 60 % of the budget; draining the rings and the last commit get the rest.
    const deadline = started + config.shutdownTimeoutMs * 0.6
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeIdleConnections()
    // In-flight requests finish (their samples are committed) before the engine stops.
    while (stats.inflightRequests > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    server.closeAllConnections()
    await stopped
    await engine.stop()
    await store.close()
    const committed = engine.flushStats
    log.info({ reason, ms: Date.now() - started, samplesCommitted: committed[0], unansweredRequests: stats.inflightRequests }, 'stopped')
  }

  return { url, engine, stats, close }
}

