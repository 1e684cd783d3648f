/**
 * Logs an SRE can use: `ringest serve` in real child processes (stdout or a
 * --log-file in a temp dir) and an in-process server with a logger that
 * records its lines. Rotation really rotates and gzips; SIGUSR2 and
 * PUT /admin/log-level change the level; rejected writes are one line each,
 * sampled, with `suppressed` counts that add up; start and stop are one info
 * line each.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import pino from 'pino'
import { request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { startServer, type RunningServer } from '../dist/src/server.js'
import { loadConfig } from '../dist/src/config.js'
import { isLoopback } from '../dist/src/admin.js'
import { rotationInterval } from '../dist/src/log-rotation.js'
import { get, post, testConfig } from './helpers/server.js'

type Line = Record<string, any>

const BIN = fileURLToPath(new URL('../bin/ringest.js', import.meta.url))
const dirs: string[] = []
const children: ChildProcess[] = []
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function tempDir (): string {
  const d = mkdtempSync(join(tmpdir(), 'ringest-logs-'))
  dirs.push(d)
  return d
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `lines()` until one matches (bounded: a test fails, it does not hang). */
async function waitFor (lines: () => Line[], match: (l: Line) => boolean, what: string, ms = 15_000): Promise<Line> {
  const until = Date.now() + ms
  for (;;) {
    const found = lines().find(match)
    if (found !== undefined) return found
    if (Date.now() > until) throw new Error(`no log line ${what} within ${ms} ms; lines: ${JSON.stringify(lines()).slice(0, 2000)}`)
    await sleep(25)
  }
}

const parseLines = (text: string): Line[] => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line)

interface Cli { proc: ChildProcess, url: string, dir: string, lines: () => Line[], exited: Promise<[number | null]> }

/**
 * `ringest serve` on a free port with small settings. Its log lines come from
 * stdout, or from the live --log-file when `logFile` is given.
 */
async function serve (args: string[], opts: { logFile?: string, dataDir?: string } = {}): Promise<Cli> {
  const dir = opts.dataDir ?? tempDir()
  const log = opts.logFile === undefined ? [] : ['--log-file', opts.logFile]
  const proc = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--parse-workers', '1', '--ring-bytes', '1MiB', '--map-size-bytes', '1GiB', ...log, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(proc)
  const exited = once(proc, 'exit') as Promise<[number | null]>
  let out = ''
  let stderr = ''
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const file = opts.logFile
  const lines = file === undefined
    ? () => parseLines(out.slice(0, out.lastIndexOf('\n') + 1))
    : () => { const t = existsSync(file) ? readFileSync(file, 'utf8') : ''; return parseLines(t.slice(0, t.lastIndexOf('\n') + 1)) }
  let gone = false
  void exited.then(() => { gone = true })
  const started = await waitFor(() => { if (gone) throw new Error(`ringest serve exited before starting: ${stderr}`); return lines() }, (l) => l.msg === 'started', '"started"')
  return { proc, url: started.url as string, dir, lines, exited }
}

async function stop (cli: Cli): Promise<number | null> {
  cli.proc.kill('SIGTERM')
  const [code] = await cli.exited
  return code
}

const badWrite = (url: string): Promise<unknown> => post(`${url}/api/v1/ingest`, 'x', { 'content-type': 'text/csv' })

describe('start and stop', () => {
  it('are one info line each, with the documented fields; the WAL replay shows at the next start', async () => {
    const cli = await serve([])
    await sleep(200)
    const atInfo = (): Line[] => cli.lines().filter((l) => l.level >= 30)
    expect(atInfo().map((l) => l.msg)).toEqual(['started'])
    const started = atInfo()[0]!
    for (const field of ['version', 'node', 'url', 'dataDir', 'ack', 'parseWorkers', 'queryWorkers', 'series', 'walReplay', 'startMs', 'config', 'sources']) {
      expect(started, field).toHaveProperty(field)
    }
    expect(started.dataDir).toBe(join(cli.dir, 'data'))
    expect(started.ack).toBe('durable')
    expect(started.parseWorkers).toBe(1)
    expect(started.series).toBe(0)
    expect(started.config.logRejectionsPerSecond).toBe(10)

    expect((await post(`${cli.url}/write?precision=s`, 'lifecycle v=1 1700000000')).status).toBe(204)
    expect(await stop(cli)).toBe(0)
    const after = atInfo().slice(1)
    expect(after.map((l) => l.msg)).toEqual(['stopped'])
    const stopped = after[0]!
    expect(stopped).toMatchObject({ reason: 'SIGTERM', exitCode: 0, samplesAccepted: 1, samplesCommitted: 1 })
    expect(stopped.requests).toBeGreaterThanOrEqual(1)
    for (const field of ['stopMs', 'uptimeSeconds', 'rejectedRequests', 'walSamples']) expect(typeof stopped[field], field).toBe('number')

    // Restarted on the same data: the start line counts the series it found.
    const again = await serve([], { dataDir: cli.dir })
    const line = again.lines().find((l) => l.msg === 'started')!
    expect(line.series).toBe(1)
    expect(typeof line.walReplay.samples).toBe('number')
    expect(typeof line.walReplay.ms).toBe('number')
    expect(await stop(again)).toBe(0)
  })
})

describe('log level at run time', () => {
  it('SIGUSR2 turns debug lines on, and off again', async () => {
    const cli = await serve([])
    const query = async (): Promise<void> => { expect((await get(`${cli.url}/api/v1/query?query=up`)).status).toBe(200) }
    const debugQueries = (): number => cli.lines().filter((l) => l.level === 20 && l.msg === 'query').length
    await query()
    await sleep(200)
    expect(debugQueries()).toBe(0)

    cli.proc.kill('SIGUSR2')
    await waitFor(cli.lines, (l) => l.msg === 'log level changed' && l.logLevel === 'debug', 'changing the level to debug')
    await query()
    await waitFor(cli.lines, (l) => l.level === 20 && l.msg === 'query', 'for the query at debug')
    expect(debugQueries()).toBe(1)

    cli.proc.kill('SIGUSR2')
    const back = await waitFor(cli.lines, (l) => l.msg === 'log level changed' && l.logLevel === 'info', 'changing the level back to info')
    expect(back).toMatchObject({ previous: 'debug', via: 'SIGUSR2', level: 30 })
    await query()
    await sleep(200)
    expect(debugQueries()).toBe(1)
    expect(await stop(cli)).toBe(0)
  })

  it('PUT /admin/log-level sets the level and refuses an unknown one', async () => {
    const { server, lines, log } = await inProcess({})
    try {
      const put = async (body: string): Promise<{ status: number, json: any }> => {
        const r = await request(`${server.url}/admin/log-level`, { method: 'PUT', body })
        return { status: r.statusCode, json: await r.body.json() }
      }
      expect(await put('{"level":"debug"}')).toEqual({ status: 200, json: { level: 'debug', previous: 'info' } })
      expect(log.level).toBe('debug')
      expect(lines.find((l) => l.msg === 'log level changed')).toMatchObject({ logLevel: 'debug', previous: 'info', via: 'PUT /admin/log-level' })

      const bad = await put('{"level":"loud"}')
      expect(bad.status).toBe(400)
      expect(bad.json.code).toBe('ERR_BAD_LOG_LEVEL')
      expect((await put('debug')).json.code).toBe('ERR_BAD_LOG_LEVEL')
      expect(log.level).toBe('debug')
      expect((await get(`${server.url}/admin/log-level`)).status).toBe(405)

      expect(await put('{"level":"warn"}')).toEqual({ status: 200, json: { level: 'warn', previous: 'debug' } })
      // Quieter now: the change was logged before it took effect, so it still shows.
      expect(lines.filter((l) => l.msg === 'log level changed').at(-1)).toMatchObject({ logLevel: 'warn', previous: 'debug' })
    } finally {
      await server.close('test')
    }
  })

  it('answers only loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a), a).toBe(true)
    for (const a of ['10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', '::', '0.0.0.0', undefined]) expect(isLoopback(a), String(a)).toBe(false)
  })
})

/** A server in this process whose logger keeps its lines (pino writes each line synchronously to a plain object). */
async function inProcess (overrides: Record<string, unknown>): Promise<{ server: RunningServer, lines: Line[], log: pino.Logger }> {
  const lines: Line[] = []
  const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s) as Line) } })
  const server = await startServer(testConfig(join(tempDir(), 'data'), { parseWorkers: 1, ...overrides }), log)
  return { server, lines, log }
}

describe('rejected requests', () => {
  it('1,000 in a burst: a bounded number of lines whose suppressed counts add up to 1,000', async () => {
    const { server, lines } = await inProcess({ logRejectionsPerSecond: 10 })
    const BURST = 1000
    const began = Date.now()
    let seconds = 0
    try {
      for (let i = 0; i < BURST; i += 50) await Promise.all(Array.from({ length: 50 }, () => badWrite(server.url)))
      seconds = Math.ceil((Date.now() - began) / 1000)
      // Once the flood is over, what was left out is summarized within about a second, without another rejection.
      await waitFor(() => lines, (l) => l.msg === 'rejected requests not logged', 'summarizing the rejections left out', 3000)
    } finally {
      // Closing writes the summary lines still owed.
      await server.close('test')
    }
    const rejected = lines.filter((l) => l.msg === 'request rejected')
    const summaries = lines.filter((l) => l.msg === 'rejected requests not logged')
    expect(rejected.length).toBeGreaterThan(0)
    // At most 10 a second; the burst spans at most `seconds` + 1 clock seconds.
    expect(rejected.length).toBeLessThanOrEqual(10 * (seconds + 1))
    const suppressed = [...rejected, ...summaries].reduce((n, l) => n + (l.suppressed ?? 0), 0)
    expect(suppressed).toBeGreaterThan(0)
    expect(rejected.length + suppressed).toBe(BURST)
    for (const l of rejected) {
      expect(l).toMatchObject({ level: 30, endpoint: '/api/v1/ingest', status: 415, code: 'ERR_UNSUPPORTED_MEDIA_TYPE', remoteAddress: '127.0.0.1', bytes: 1 })
      expect(l.error).toMatch(/text\/csv/)
    }
  })

  it('a parse error names its first bad line; an overload says its reason, at warn; node:http\'s path logs too', async () => {
    const { server, lines } = await inProcess({ maxInflightBytes: 64 * 1024, maxBodyBytes: 1024 })
    try {
      expect((await post(`${server.url}/write?precision=s`, 'ok v=1 1700000000\nbad line here\n')).status).toBe(400)
      // Chunked bodies go to node:http, not the fast path.
      const chunked = await request(`${server.url}/write`, { method: 'POST', body: (async function * () { yield Buffer.alloc(2048, 0x61) })() })
      await chunked.body.text()
      expect(chunked.statusCode).toBe(413)
      // A chunked body still arriving holds 64 KiB of the in-flight budget (all of it here): the next write gets 503.
      let release!: () => void
      const gate = new Promise<void>((resolve) => { release = resolve })
      const slow = request(`${server.url}/write?precision=s`, { method: 'POST', body: (async function * () { yield Buffer.from('slow v=1 1700000000\n'); await gate })() })
      await sleep(300)
      expect((await post(`${server.url}/write?precision=s`, 'fast v=1 1700000000')).status).toBe(503)
      release()
      expect((await slow).statusCode).toBe(204)
    } finally {
      await server.close('test')
    }
    const parse = lines.find((l) => l.code === 'ERR_PARSE')!
    expect(parse).toMatchObject({ msg: 'request rejected', level: 30, endpoint: '/write', status: 400, line: 2, linesRejected: 1, remoteAddress: '127.0.0.1' })
    expect(parse.bytes).toBe(Buffer.byteLength('ok v=1 1700000000\nbad line here\n'))
    expect(parse.error).not.toBe('')
    expect(lines.find((l) => l.code === 'ERR_BODY_TOO_LARGE')).toMatchObject({ msg: 'request rejected', endpoint: '/write', status: 413, remoteAddress: '127.0.0.1' })
    expect(lines.find((l) => l.code === 'ERR_OVERLOADED')).toMatchObject({ msg: 'request rejected', level: 40, endpoint: '/write', status: 503, reason: 'inflight_bytes', bytes: Buffer.byteLength('fast v=1 1700000000') })
  })

  it('--log-rejections-per-second 0 writes none', async () => {
    const { server, lines } = await inProcess({ logRejectionsPerSecond: 0 })
    try {
      for (let i = 0; i < 20; i++) await badWrite(server.url)
    } finally {
      await server.close('test')
    }
    expect(lines.filter((l) => l.msg === 'request rejected' || l.msg === 'rejected requests not logged')).toEqual([])
  })
})

describe('--log-file', () => {
  it('rotates by size, gzips rotated files and keeps --log-file-keep of them', async () => {
    const dir = tempDir()
    const file = join(dir, 'logs', 'ringest.log')
    const cli = await serve(['--log-file-max-bytes', '4KiB', '--log-file-interval', '0', '--log-file-keep', '3', '--log-rejections-per-second', '100000'], { logFile: file })
    // About 330 bytes a line: some 60 KiB, 15 rotations or so.
    for (let i = 0; i < 200; i += 20) await Promise.all(Array.from({ length: 20 }, () => badWrite(cli.url)))
    expect(await stop(cli)).toBe(0)

    const names = readdirSync(join(dir, 'logs')).sort()
    const rotated = names.filter((n) => /^ringest\.log-\d{8}T\d{6}Z(-\d+)?\.gz$/.test(n))
    expect(names).toEqual(['ringest.log', ...rotated, 'ringest.log.history'].sort())
    expect(rotated).toHaveLength(3)
    const history = readFileSync(`${file}.history`, 'utf8').split('\n').filter((l) => l !== '')
    expect(history.map((p) => p.slice(join(dir, 'logs').length + 1)).sort()).toEqual(rotated)
    let rejectedSeen = 0
    const all: Line[] = []
    for (const name of rotated) {
      const gz = readFileSync(join(dir, 'logs', name))
      const text = gunzipSync(gz).toString('utf8')
      expect(gz.length).toBeLessThan(Buffer.byteLength(text))
      // Rotated once the size is reached, after the write that reached it: the log thread writes what the
      // shared buffer holds in one go, and a write is never split between two files.
      expect(Buffer.byteLength(text)).toBeGreaterThanOrEqual(4096)
      expect(Buffer.byteLength(text)).toBeLessThan(4096 + 64 * 1024)
      const lines = parseLines(text)
      expect(lines.length).toBeGreaterThan(3)
      rejectedSeen += lines.filter((l) => l.msg === 'request rejected').length
      all.push(...lines)
    }
    expect(rejectedSeen).toBeGreaterThan(5)
    // The stop line is the last one ringest wrote: in the live file, or in the newest rotated one if it filled that
    // up (the live file then starts with the log thread's own "log file rotated" line).
    all.push(...parseLines(readFileSync(file, 'utf8')))
    const stopped = all.find((l) => l.msg === 'stopped')!
    expect(stopped).toBeDefined()
    expect(all.filter((l) => l.msg !== 'log file rotated' && l.time > stopped.time)).toEqual([])
    expect(statSync(file).size).toBeLessThan(4096 + 64 * 1024)
  })

  it('rotates on clock boundaries with --log-file-interval', async () => {
    const dir = tempDir()
    const file = join(dir, 'ringest.log')
    const cli = await serve(['--log-file-max-bytes', '0', '--log-file-interval', '1s'], { logFile: file })
    // The first boundary may pass before the start line is written (an empty file is rotated then): wait for the one that has it.
    const rotatedLines = (): Line[] => readdirSync(dir).filter((n) => n.endsWith('.gz')).flatMap((n) => {
      try { return parseLines(gunzipSync(readFileSync(join(dir, n))).toString('utf8')) } catch { return [] } // still being written
    })
    await waitFor(rotatedLines, (l) => l.msg === 'started', 'started in a rotated file', 5000)
    expect(await stop(cli)).toBe(0)
    expect(parseLines(readFileSync(file, 'utf8')).at(-1)!.msg).toBe('stopped')
  })

  it('refuses a period the clock cannot be cut into, naming the option', () => {
    expect(() => loadConfig(['--log-file-interval', '7h'], {})).toThrow(/logFileInterval.*--log-file-interval/)
    expect(loadConfig(['--log-file-interval', '6h'], {}).logFileInterval).toBe(6 * 3_600_000)
    expect([86_400_000, 2 * 86_400_000, 6 * 3_600_000, 15 * 60_000, 30_000, 1000, 0, 7 * 3_600_000, 90 * 60_000, 1500].map(rotationInterval))
      .toEqual(['1d', '2d', '6h', '15m', '30s', '1s', undefined, undefined, undefined, undefined])
  })
})
