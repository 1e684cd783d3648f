/**
 * `ringest <command> [options]`. main() returns the exit status:
 * 0 success, 1 runtime failure (the server failed to start, or shutdown did not
 * finish within --shutdown-timeout-ms; query and export: the server answered
 * with an error), 2 usage or configuration error, 3 query and export: the
 * server could not be reached (a script may retry a 3, never a 2).
 *
 * serve: SIGTERM or SIGINT stops accepting, lets in-flight requests finish,
 * commits and closes the store (server.close), then exits 0. A second signal
 * exits 1 at once; acknowledged samples are safe either way (they are committed).
 */
import { readFileSync } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { Agent, request, type Dispatcher } from 'undici'
import { ConfigError, describeOptions, effectiveConfigForLog, loadConfig, type Config } from './config.js'
import { createLogger, toggleDebug } from './log.js'
import { startedFields, stoppedFields } from './lifecycle-log.js'
import { ParamError, parseTimeParam } from './params.js'
import { parseDurationParam } from './params.js'

const COMMANDS = {
  serve: { available: true, summary: 'run the ingestion server (HTTP ingest, LMDB store, export)' },
  bench: { available: true, summary: 'load generator: closed or open loop, replay; compare results (ringest bench --help)' },
  query: { available: true, summary: 'evaluate a PromQL query against a server' },
  export: { available: true, summary: 'stream series from a server as NDJSON' },
  import: { available: false, summary: 'send NDJSON series to a server' },
} as const

type Command = keyof typeof COMMANDS

const EXIT_OK = 0
const EXIT_FAILURE = 1
const EXIT_USAGE = 2
const EXIT_UNREACHABLE = 3

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

function usage (): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  const lines = ['Usage: ringest <command> [options]', '', 'Commands:']
  for (const [name, c] of Object.entries(COMMANDS)) {
    lines.push(`  ${name.padEnd(width)}  ${c.summary}${c.available ? '' : ' (not yet available)'}`)
  }
  lines.push('', 'Options:',
    '  --help     show this help; ringest <command> --help shows a command\'s options',
    '  --version  print the version', '')
  return lines.join('\n')
}

function serveHelp (): string {
  return [
    'Usage: ringest serve [options]',
    '',
    'Runs the ingestion server: Influx line protocol on POST /write and /api/v2/write, JSON and NDJSON on',
    'POST /api/v1/ingest, read-back on GET /api/v1/export, /healthz, /stats and /metrics. By default a',
    'write is answered 204 only once it is fsync\'d in the LMDB store (--ack durable).',
    'SIGTERM or SIGINT stops it cleanly (exit 0); a second signal exits at once (exit 1).',
    'SIGUSR2 switches the log level to debug, and the next one back (PUT /admin/log-level sets any level).',
    '',
    describeOptions(),
  ].join('\n')
}

/** Options end at `--`; a --help after it is a value, not a request for help. */
function wantsHelp (args: string[]): boolean {
  const end = args.indexOf('--')
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

function out (text: string): void { process.stdout.write(text.endsWith('\n') ? text : `${text}\n`) }
function err (text: string): void { process.stderr.write(text.endsWith('\n') ? text : `${text}\n`) }

export async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined) { err(usage()); return EXIT_USAGE }
  if (command === '--version') { out(version()); return EXIT_OK }
  if (command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined
    if (topic === 'serve') out(serveHelp())
    else if (topic === 'query') out(QUERY_HELP)
    else if (topic === 'export') out(EXPORT_HELP)
    else out(usage())
    return EXIT_OK
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    err(`ringest: unknown ${command.startsWith('-') ? 'option' : 'command'} '${command}'\n\n${usage()}`)
    return EXIT_USAGE
  }
  const name = command as Command
  if (name === 'serve') {
    if (wantsHelp(rest)) { out(serveHelp()); return EXIT_OK }
    return await serve(rest)
  }
  if (name === 'bench') return await (await import('./bench/main.js')).benchMain(rest)
  if (name === 'query' || name === 'export') {
    if (wantsHelp(rest)) { out(name === 'query' ? QUERY_HELP : EXPORT_HELP); return EXIT_OK }
    return name === 'query' ? await runQuery(rest) : await runExport(rest)
  }
  const summary = `ringest ${name}: ${COMMANDS[name].summary}. Not yet available in ringest ${version()}.`
  if (wantsHelp(rest)) { out(summary); return EXIT_OK }
  err(summary)
  return EXIT_USAGE
}

async function serve (args: string[]): Promise<number> {
  let config: Config
  try {
    config = loadConfig(args, process.env)
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    const hint = e.message.includes('--help') ? '' : '\nRun \'ringest serve --help\' to see every option.'
    err(`ringest serve: configuration error: ${e.message}${hint}`)
    return EXIT_USAGE
  }
  let logger: ReturnType<typeof createLogger>
  try {
    logger = createLogger(config)
  } catch (e) {
    err(`ringest serve: configuration error: logFile: cannot open ${config.logFile ?? 'stdout'}: ${(e as Error).message}. Fix: give --log-file a writable path, or omit it to log to stdout.`)
    return EXIT_USAGE
  }
  // Start and stop are one info line each ("started", "stopped": lifecycle-log.ts); the steps between are debug.
  const startedAt = Date.now()
  logger.debug({ version: version(), node: process.version, ...effectiveConfigForLog(config) }, 'starting')

  const { startServer } = await import('./server.js')
  let server: Awaited<ReturnType<typeof startServer>>
  try {
    server = await startServer(config, logger)
  } catch (e) {
    logger.fatal({ err: e, version: version(), ...effectiveConfigForLog(config) }, 'failed to start')
    err(`ringest serve: failed to start: ${(e as Error).message}`)
    return EXIT_FAILURE
  }
  const running = server
  // Each SIGUSR2 turns debug lines on or off again (PUT /admin/log-level sets any level).
  process.on('SIGUSR2', () => { toggleDebug(logger, config.logLevel) })

  return await new Promise<number>((resolve) => {
    let stopping = false
    let stopStartedAt = 0
    const stopped = (code: number, reason: string, extra: Record<string, unknown> = {}): void => {
      logger[code === EXIT_OK ? 'info' : 'error']({ ...stoppedFields(running, reason, code, Date.now() - stopStartedAt), ...extra }, 'stopped')
    }
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        stopped(EXIT_FAILURE, `${signal} again`, { error: 'second signal: exited at once, shutdown unfinished' })
        process.exit(EXIT_FAILURE)
      }
      stopping = true
      stopStartedAt = Date.now()
      logger.debug({ signal }, 'stopping')
      const deadline = setTimeout(() => {
        stopped(EXIT_FAILURE, signal, { error: `shutdown did not finish within shutdownTimeoutMs (${config.shutdownTimeoutMs} ms)` })
        process.exit(EXIT_FAILURE)
      }, config.shutdownTimeoutMs)
      const finish = (code: number, failure?: unknown): void => {
        clearTimeout(deadline)
        stopped(code, signal, failure === undefined ? {} : { err: failure })
        // The process should now end by itself; if a stray handle keeps it alive, end it anyway.
        setTimeout(() => {
          logger.warn('still running after shutdown (a handle keeps the event loop alive); exiting')
          process.exit(code)
        }, 2000).unref()
        resolve(code)
      }
      running.close(signal).then(() => finish(EXIT_OK), (e: unknown) => finish(EXIT_FAILURE, e))
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    // Only now: whoever waits for this line may signal at once (the line can reach a pipe before the next statement runs).
    logger.info(startedFields(config, running, version(), Date.now() - startedAt), 'started')
  })
}

// ---------------------------------------------------------------------------
// query and export: HTTP clients of a running server (Prometheus query API,
// VictoriaMetrics export), so they work against ringest, Prometheus or VM alike.

const DEFAULT_URL = 'http://127.0.0.1:7070'
/** A range query without --step gets about this many points (Grafana's habit). */
const RANGE_POINTS = 250
const CONNECT_TIMEOUT_MS = 10_000 // 10 s to open the connection, then the server's own query timeout rules

const QUERY_HELP = `Usage: ringest query '<expr>' [options]

Evaluates a PromQL expression on a server's /api/v1/query (instant, the default) or
/api/v1/query_range (with --start) and prints a table, or the server's JSON.

  --url URL          server (default ${DEFAULT_URL})
  --time T           instant query at T (default now)
  --start T          range query from T
  --end T            range query to T (default now)
  --step S           range query resolution: seconds or a duration such as 15s, 1m
                     (default: (end - start) / ${RANGE_POINTS}, whole seconds, at least 1 s)
  --format F         table (default) or json (the response body, unchanged)

Times: unix seconds (fractions allowed), RFC 3339 (2026-11-24T12:00:00Z), now, now-1h, now+5m.
An expression that starts with '-' goes after '--': ringest query -- '-x'.
Exit status: 0 done, 1 the server answered with an error (errorType and message on stderr),
2 usage error, 3 the server could not be reached.`

const EXPORT_HELP = `Usage: ringest export '<selector>' ['<selector>'...] [options]

Streams the matching series from a server's /api/v1/export to stdout, one JSON line per
series ({"metric":{...},"values":[...],"timestamps":[...]}); several selectors are OR-ed.
ringest's POST /api/v1/import takes the lines back.

  --url URL          server (default ${DEFAULT_URL})
  --start T          first sample time (default: the first sample)
  --end T            last sample time (default: the last sample)

Times: unix seconds (fractions allowed), RFC 3339, now, now-1h, now+5m.
Exit status: 0 done, 1 the server answered with an error, 2 usage error,
3 the server could not be reached.`

class UsageError extends Error {}
/** The request never got an answer: connection refused, DNS, connect timeout, reset. */
class UnreachableError extends Error {}

/** A time argument: what Prometheus takes (unix seconds, RFC 3339), plus now and now±duration. Returns ms. */
export function parseCliTime (v: string, flag: string, nowMs: number): number {
  const rel = /^now(?:([+-])(.+))?$/.exec(v)
  if (rel !== null) {
    if (rel[1] === undefined) return nowMs
    const d = parseDurationParam(rel[2]!)
    if (!Number.isFinite(d)) throw new UsageError(`${flag} ${v}: "${rel[2]}" is not a duration (use e.g. 1h, 30m, 1h30m, 90s)`)
    return rel[1] === '+' ? nowMs + d : nowMs - d
  }
  // RFC 3339 requires an offset; without one Date.parse would read local time, so refuse it.
  if (/^\d{4}-\d{2}-\d{2}T/.test(v) && !/(Z|[+-]\d{2}:\d{2})$/i.test(v)) {
    throw new UsageError(`${flag} ${v}: an RFC 3339 time needs its offset, e.g. ${v}Z`)
  }
  try {
    return parseTimeParam(v, NaN, flag)
  } catch (e) {
    if (!(e instanceof ParamError)) throw e
    throw new UsageError(`${flag} ${v}: expected unix seconds, an RFC 3339 time, now or now-<duration> (e.g. now-1h)`)
  }
}

/** Seconds as the query API takes them, to the millisecond. */
const seconds = (ms: number): string => (ms / 1000).toFixed(3).replace(/\.?0+$/, '')

function parseUrl (raw: string | undefined): URL {
  let url: URL
  try { url = new URL(raw ?? DEFAULT_URL) } catch { throw new UsageError(`--url ${raw}: not a URL (e.g. ${DEFAULT_URL})`) }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url ${raw}: use http:// or https://`)
  return url
}

/** `base` + API path, keeping a path prefix the server may sit under (a reverse proxy). */
const endpoint = (base: URL, path: string): string => new URL(base.pathname.replace(/\/+$/, '') + path, base).toString()

function parseCommandArgs (args: string[], options: Record<string, { type: 'string' }>): { values: Record<string, string | undefined>, positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true })
    return { values: r.values as Record<string, string | undefined>, positionals: r.positionals }
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code !== undefined && code.startsWith('ERR_PARSE_ARGS')) throw new UsageError((e as Error).message)
    throw e
  }
}

let dispatcher: Agent | undefined
const agent = (): Agent => (dispatcher ??= new Agent({ connect: { timeout: CONNECT_TIMEOUT_MS } }))

async function send (url: string, opts: { method: 'GET' | 'POST', body?: string, headers?: Record<string, string> }): Promise<Dispatcher.ResponseData> {
  try {
    return await request(url, { ...opts, dispatcher: agent() })
  } catch (e) {
    const err = e as Error & { code?: string, cause?: { code?: string, message?: string } }
    const why = err.cause?.code ?? err.code ?? err.message
    throw new UnreachableError(`cannot reach ${new URL(url).origin}: ${why}${err.cause?.message !== undefined && err.cause.message !== why ? ` (${err.cause.message})` : ''}. Is the server running there? Pass its address with --url.`)
  }
}

/** "errorType: message" from a Prometheus error body, or the status and the start of the body. */
function describeError (status: number, text: string): string {
  try {
    const j = JSON.parse(text) as { errorType?: unknown, error?: unknown, code?: unknown }
    if (typeof j.error === 'string') {
      const code = typeof j.code === 'string' ? `, ${j.code}` : ''
      return `${typeof j.errorType === 'string' ? j.errorType : 'error'}: ${j.error} (HTTP ${status}${code})`
    }
  } catch { /* not JSON: show the text */ }
  return `HTTP ${status}: ${text.trim().slice(0, 500) || '(empty body)'}`
}

async function withClient (command: string, run: () => Promise<number>): Promise<number> {
  try {
    return await run()
  } catch (e) {
    if (e instanceof UsageError) { err(`ringest ${command}: ${e.message}\nRun 'ringest ${command} --help' to see every option.`); return EXIT_USAGE }
    if (e instanceof UnreachableError) { err(`ringest ${command}: ${e.message}`); return EXIT_UNREACHABLE }
    throw e
  } finally {
    const d = dispatcher
    dispatcher = undefined
    await d?.close()
  }
}

function runQuery (args: string[]): Promise<number> {
  return withClient('query', async () => {
    const { values: v, positionals } = parseCommandArgs(args, {
      url: { type: 'string' }, time: { type: 'string' }, start: { type: 'string' }, end: { type: 'string' }, step: { type: 'string' }, format: { type: 'string' },
    })
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing the expression, e.g. ringest query \'up\'' : `one expression expected, got ${positionals.length} (quote the expression)`)
    const expr = positionals[0]!
    const format = v.format ?? 'table'
    if (format !== 'table' && format !== 'json') throw new UsageError(`--format ${format}: use table or json`)
    const base = parseUrl(v.url)
    const now = Date.now()
    const range = v.start !== undefined
    if (!range && (v.end !== undefined || v.step !== undefined)) throw new UsageError('--end and --step make a range query: give --start too')
    if (range && v.time !== undefined) throw new UsageError('--time is for an instant query; a range query takes --start, --end and --step')
    const form = new URLSearchParams({ query: expr })
    let path = '/api/v1/query'
    if (range) {
      const start = parseCliTime(v.start!, '--start', now)
      const end = v.end === undefined ? now : parseCliTime(v.end, '--end', now)
      if (end < start) throw new UsageError(`--end is before --start (${new Date(end).toISOString()} < ${new Date(start).toISOString()})`)
      let stepMs = Math.max(1000, Math.ceil((end - start) / RANGE_POINTS / 1000) * 1000)
      if (v.step !== undefined) {
        stepMs = parseDurationParam(v.step)
        if (!(stepMs > 0)) throw new UsageError(`--step ${v.step}: expected seconds or a duration such as 15s, 1m`)
      }
      form.set('start', seconds(start))
      form.set('end', seconds(end))
      form.set('step', seconds(stepMs))
      path = '/api/v1/query_range'
    } else {
      form.set('time', seconds(v.time === undefined ? now : parseCliTime(v.time, '--time', now)))
    }
    const res = await send(endpoint(base, path), { method: 'POST', body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    const text = await res.body.text()
    if (res.statusCode !== 200) { err(`ringest query: ${describeError(res.statusCode, text)}`); return EXIT_FAILURE }
    if (format === 'json') { out(text); return EXIT_OK }
    let body: PromResponse
    try { body = JSON.parse(text) as PromResponse } catch { err(`ringest query: the server's answer is not JSON: ${text.slice(0, 200)}`); return EXIT_FAILURE }
    for (const w of body.warnings ?? []) err(`warning: ${w}`)
    out(formatResult(body.data))
    return EXIT_OK
  })
}

function runExport (args: string[]): Promise<number> {
  return withClient('export', async () => {
    const { values: v, positionals } = parseCommandArgs(args, { url: { type: 'string' }, start: { type: 'string' }, end: { type: 'string' } })
    if (positionals.length === 0) throw new UsageError('missing the selector, e.g. ringest export \'cpu_usage_user{host="a"}\'')
    const base = parseUrl(v.url)
    const now = Date.now()
    const q = new URLSearchParams()
    for (const m of positionals) q.append('match[]', m)
    if (v.start !== undefined) q.set('start', seconds(parseCliTime(v.start, '--start', now)))
    if (v.end !== undefined) q.set('end', seconds(parseCliTime(v.end, '--end', now)))
    const res = await send(`${endpoint(base, '/api/v1/export')}?${q.toString()}`, { method: 'GET' })
    if (res.statusCode !== 200) { err(`ringest export: ${describeError(res.statusCode, await res.body.text())}`); return EXIT_FAILURE }
    try {
      await pipeline(res.body, process.stdout, { end: false })
    } catch (e) {
      // The reader went away (ringest export ... | head): what it wanted was written.
      if ((e as { code?: string }).code === 'EPIPE') return EXIT_OK
      err(`ringest export: the stream broke off: ${(e as Error).message}`)
      return EXIT_FAILURE
    }
    return EXIT_OK
  })
}

// Prometheus's response shapes, as far as the table needs them.
type Sample = [number, string]
interface PromResponse { status: string, data: PromData, warnings?: string[] }
type PromData =
  | { resultType: 'vector', result: Array<{ metric: Record<string, string>, value: Sample }> }
  | { resultType: 'matrix', result: Array<{ metric: Record<string, string>, values: Sample[] }> }
  | { resultType: 'scalar' | 'string', result: Sample }

/** `name{a="x", b="y"}` as Prometheus writes a series; `{}` for no labels. */
export function formatSeries (metric: Record<string, string>): string {
  const { __name__: name, ...labels } = metric
  const pairs = Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`)
  return pairs.length === 0 && name !== undefined ? name : `${name ?? ''}{${pairs.join(', ')}}`
}

const isoTime = (t: number): string => new Date(Math.round(t * 1000)).toISOString()

function columns (rows: string[][]): string {
  if (rows.length === 0) return ''
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n')
}

/** The readable table: one row per series (instant), one block per series (range). */
export function formatResult (data: PromData): string {
  switch (data.resultType) {
    case 'scalar':
    case 'string':
      return columns([['TIME', 'VALUE'], [isoTime(data.result[0]), data.result[1]]])
    case 'vector':
      if (data.result.length === 0) return '(no series)'
      return columns([['SERIES', 'TIME', 'VALUE'], ...data.result.map((s) => [formatSeries(s.metric), isoTime(s.value[0]), s.value[1]])])
    case 'matrix':
      if (data.result.length === 0) return '(no series)'
      return data.result.map((s) =>
        `${formatSeries(s.metric)}  (${s.values.length} point${s.values.length === 1 ? '' : 's'})\n` +
        columns(s.values.map(([t, value]) => [`  ${isoTime(t)}`, value]))).join('\n\n')
  }
}
