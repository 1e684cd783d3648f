/**
 * `ringest bench` as a user runs it: the installed command in a child process
 * (its own event loop and CPU), against a real ringest in this process and
 * against tiny node:http servers started here that record what arrives and
 * when, and can stall or answer 503. The value generators and the offset
 * parser are checked directly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  GAP_MAX, isGap, makeGenerator, SINE_NOISE, SINE_PERIOD_MS, WALK_MAX, WALK_MIN, WALK_STEP,
} from '../dist/src/bench/values.js'
import { parseOffset } from '../dist/src/bench/replay.js'
import { get, startTestServer, type TestServer } from './helpers/server.js'
import { runCli, type CliRun } from './helpers/child.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = join(root, 'bin', 'ringest.js')
const dir = mkdtempSync(join(tmpdir(), 'bench-cli-'))

type Run = CliRun

/** `ringest bench ...` in a child process, without RINGEST_* variables; killed after 30 s. */
const bench = async (args: string[]): Promise<Run> => await runCli(['bench', ...args])

/** The --json result, as far as the tests read it. */
interface Result {
  runs: Array<{
    kind: string, path: string, format: string, ok: number, requests: number, sent: number, non2xx: number, retries: number, late: number
    statuses: Record<string, number>, latencyMs: { count: number, p50: number, p90: number, p99: number, max: number }
    perSecond: unknown[], serverStats: { counters: Record<string, number>, requestsByStatus: Record<string, number> } | null
  }>
}
const readResult = (path: string): Result => JSON.parse(readFileSync(path, 'utf8')) as Result
let files = 0
const tmp = (ext: string): string => join(dir, `f${++files}.${ext}`)

interface Arrival { at: number, method: string, url: string, headers: IncomingMessage['headers'], body: string }
interface Tiny { url: string, arrivals: Arrival[], close: () => Promise<void> }

/**
 * A node:http server that records every request (arrival time, path, body) and answers with
 * `answer` (default 204). `answer` may hold the response back (a stall) or send a 503.
 */
async function tiny (answer?: (a: Arrival, n: number, res: ServerResponse) => void, like?: 'vm' | 'influx'): Promise<Tiny> {
  const arrivals: Arrival[] = []
  const server = createServer((req, res) => {
    const at = performance.now()
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const a = { at, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      if (a.method !== 'POST') { // the kind probe: VictoriaMetrics' /health, InfluxDB's /ping; or nothing known
        if (like === 'vm' && a.url === '/health') { res.writeHead(200); res.end('OK') } else if (like === 'influx' && a.url === '/ping') { res.writeHead(204, { 'x-influxdb-version': '1.8.10' }); res.end() } else { res.writeHead(404); res.end() }
        return
      }
      arrivals.push(a)
      if (answer === undefined) { res.writeHead(204); res.end() } else answer(a, arrivals.length, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}

let ringest: TestServer
beforeAll(async () => { ringest = await startTestServer() })
afterAll(async () => {
  await ringest?.stop()
  rmSync(dir, { recursive: true, force: true })
})

const writeRequests = async (): Promise<{ byStatus: Record<string, number>, samples: number }> => {
  const eps = (await get(`${ringest.url}/stats`)).json().endpoints as Record<string, { requests: Record<string, number>, samplesAccepted: number }>
  const byStatus: Record<string, number> = {}
  let samples = 0
  for (const e of Object.values(eps)) {
    samples += e.samplesAccepted
    for (const [s, n] of Object.entries(e.requests)) byStatus[s] = (byStatus[s] ?? 0) + n
  }
  return { byStatus, samples }
}

describe('closed loop', () => {
  it('--requests N against ringest sends exactly N; ringest counts N requests and their samples; --stats prints the delta', async () => {
    const before = await writeRequests()
    const json = tmp('json')
    // undici's Pool here (the default for https://); the other cases use the default for http://, the net client.
    const r = await bench(['--client', 'undici', '--requests', '300', '--samples-per-body', '10', '--connections', '8', '--stats', '--json', json, ringest.url])
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining('result saved')])
    const after = await writeRequests()
    expect((after.byStatus['204'] ?? 0) - (before.byStatus['204'] ?? 0)).toBe(300)
    expect(after.samples - before.samples).toBe(3000)
    const run = readResult(json).runs[0]!
    expect(run).toMatchObject({ kind: 'ringest', path: '/write?precision=ms', ok: 300, requests: 300, sent: 300, statuses: { 204: 300 } })
    expect(run.latencyMs.count).toBe(300)
    expect(run.serverStats?.counters['samples accepted']).toBe(3000)
    expect(run.serverStats?.requestsByStatus).toEqual({ 204: 300 })
    expect(r.stdout).toMatch(/^server {5}\/stats delta over the run:$/m)
    expect(r.stdout).toMatch(/samples accepted\s+\+3,000$/m)
    expect(r.stdout).toMatch(/^requests {3}300 answered 2xx: [\d,]+ req\/s, [\d,]+ samples\/s/m)
    expect(r.stdout).toMatch(/^latency {4}p50 [\d.,]+ {2}p90 [\d.,]+ {2}p99 [\d.,]+ {2}p99\.9 [\d.,]+ {2}max [\d.,]+ ms/m)
  })

  it('--format json and ndjson: bodies ringest\'s /api/v1/ingest takes whole', async () => {
    for (const format of ['json', 'ndjson']) {
      const before = await writeRequests()
      const json = tmp('json')
      const r = await bench(['--requests', '20', '--samples-per-body', '25', '--format', format, '--values', 'counter', '--quiet', '--json', json, ringest.url])
      expect([format, r.status]).toEqual([format, 0])
      expect(readResult(json).runs[0]).toMatchObject({ path: '/api/v1/ingest', format, ok: 20 })
      expect((await writeRequests()).samples - before.samples).toBe(500)
    }
  })

  it('--requests N against a plain node:http server: N requests arrive, and --bodies sends a file\'s bodies in rotation', async () => {
    const t = await tiny()
    try {
      const r = await bench(['--requests', '57', '--connections', '5', '--quiet', t.url])
      expect(r.status).toBe(0)
      expect(t.arrivals).toHaveLength(57)
      expect(t.arrivals[0]!.url).toBe('/write?precision=ms') // the probe found no known server: ringest's path
      expect(t.arrivals[0]!.body.split('\n')[0]).toMatch(/^bench,region=region-\d,host=host-\d+ m\d+=[\d.]+ \d{13}$/)

      t.arrivals.length = 0
      const file = tmp('lp')
      writeFileSync(file, 'a v=1 1\n\nb v=2 2\nb v=3 3\n\nc v=4 4\n\n')
      const r2 = await bench(['--requests', '6', '--connections', '1', '--bodies', file, '--quiet', `${t.url}/custom/path?x=1`])
      expect(r2.status).toBe(0)
      expect(t.arrivals.map((a) => [a.url, a.body])).toEqual([1, 2].flatMap(() => [
        ['/custom/path?x=1', 'a v=1 1\n'], ['/custom/path?x=1', 'b v=2 2\nb v=3 3\n'], ['/custom/path?x=1', 'c v=4 4\n'],
      ]))
    } finally { await t.close() }
  })
})

describe('--client net (a plain socket per connection)', () => {
  it('counts as undici does: ringest gets exactly N; retries, Connection: close, chunked answers, an open loop', async () => {
    const before = await writeRequests()
    const json = tmp('json')
    expect((await bench(['--client', 'net', '--requests', '200', '--samples-per-body', '5', '--quiet', '--json', json, ringest.url])).status).toBe(0)
    expect((await writeRequests()).samples - before.samples).toBe(1000)
    expect(readResult(json).runs[0]).toMatchObject({ ok: 200, sent: 200, statuses: { 204: 200 } })

    // Every 3rd answer closes the connection; the first two are 503s with Retry-After; every 5th is a chunked 400.
    const t = await tiny((_a, n, res) => {
      if (n <= 2) { res.writeHead(503, { 'retry-after': '0' }); res.end(); return }
      if (n % 5 === 0) { res.writeHead(400, { 'content-type': 'text/plain' }); res.write('bad '); res.end('line'); return }
      res.writeHead(204, n % 3 === 0 ? { connection: 'close' } : {})
      res.end()
    })
    try {
      const j2 = tmp('json')
      const r = await bench(['--client', 'net', '--requests', '60', '--connections', '3', '--quiet', '--json', j2, t.url])
      expect(r.status).toBe(0)
      const run = readResult(j2).runs[0]!
      expect(run).toMatchObject({ requests: 60, retries: 2, sent: 62 })
      expect(t.arrivals).toHaveLength(62)
      expect(run.ok + run.non2xx).toBe(60)
      expect(run.non2xx).toBe(12) // arrivals 5, 10, ... 60
      expect(r.stdout).toMatch(/e\.g\. 400 bad line/)

      const j3 = tmp('json')
      expect((await bench(['--client', 'net', '--rate', '100', '--duration', '1s', '--connections', '2', '--quiet', '--json', j3, t.url])).status).toBe(0)
      expect(readResult(j3).runs[0]!.requests).toBe(100)
    } finally { await t.close() }
    expect((await bench(['--client', 'net', 'https://127.0.0.1:1'])).stderr).toMatch(/--client net speaks plain http only/)
  })
})

describe('open loop', () => {
  it('latency counts from the intended send time: a 500 ms stall shows in the requests queued behind it, which a closed loop hides', async () => {
    // The server holds every request that arrives within 500 ms of the 100th, as a GC pause or a stuck disk would.
    let stallEnd = 0
    const t = await tiny((a, n, res) => {
      if (n === 100) stallEnd = a.at + 500
      const wait = stallEnd - performance.now()
      if (wait > 0) setTimeout(() => { res.writeHead(204); res.end() }, wait)
      else { res.writeHead(204); res.end() }
    })
    try {
      const open = tmp('json')
      const r = await bench(['--rate', '200', '--requests', '400', '--connections', '4', '--samples-per-body', '1', '--quiet', '--json', open, t.url])
      expect(r.status).toBe(0)
      expect(r.stdout).toMatch(/^schedule {3}\d+ sent late/m)
      const o = readResult(open).runs[0]!
      expect(o.ok).toBe(400)
      // About 100 requests were due during the stall; those due early in it waited up to 500 ms.
      expect(o.late).toBeGreaterThan(40)
      expect(o.latencyMs.max).toBeGreaterThan(400)
      expect(o.latencyMs.p90).toBeGreaterThan(150)

      stallEnd = 0
      t.arrivals.length = 0
      const closed = tmp('json')
      const r2 = await bench(['--requests', '400', '--connections', '4', '--samples-per-body', '1', '--quiet', '--json', closed, t.url])
      expect(r2.status).toBe(0)
      const c = readResult(closed).runs[0]!
      expect(c.ok).toBe(400)
      expect(c.latencyMs.max).toBeGreaterThan(400) // the 4 requests in flight saw the stall...
      expect(c.latencyMs.p90).toBeLessThan(50) // ...and nothing else did: the closed loop stopped sending meanwhile
    } finally { await t.close() }
  })
})

describe('value generators', () => {
  const N = 20
  const STEP = 10_000
  const series = (kind: Parameters<typeof makeGenerator>[0], samples: number, step = STEP): number[][] => {
    const g = makeGenerator(kind, N, 7, step)
    const out: number[][] = Array.from({ length: N }, () => [])
    for (let k = 0; k < samples; k++) for (let i = 0; i < N; i++) out[i]!.push(g.next(i, 1_700_000_000_000 + k * step))
    return out
  }

  it('constant stays put; counter never decreases except at resets to a small value; walk stays in bounds with small steps', () => {
    for (const s of series('constant', 100)) expect(new Set(s).size).toBe(1)
    // Violations are collected and compared once: an expect per sample would take seconds.
    const bad: string[] = []
    let resets = 0
    series('counter', 5_000).forEach((s, i) => {
      for (let k = 1; k < s.length; k++) {
        if (!Number.isInteger(s[k])) bad.push(`counter ${i}[${k}] = ${s[k]}`)
        if (s[k]! >= s[k - 1]!) continue
        resets++
        if (s[k]! > 1000 * 10 * 1.5) bad.push(`counter ${i}[${k}] fell to ${s[k]}`) // a reset restarts at 0 plus one increment (< 1000/s x 10 s x 1.5)
      }
    })
    expect(bad).toEqual([])
    expect(resets).toBeGreaterThan(0) // 100,000 samples, a reset once in 20,000 on average
    expect(resets).toBeLessThan(30)
    series('walk', 2_000).forEach((s, i) => {
      for (let k = 0; k < s.length; k++) {
        if (s[k]! < WALK_MIN || s[k]! > WALK_MAX) bad.push(`walk ${i}[${k}] = ${s[k]}`)
        if (k > 0 && Math.abs(s[k]! - s[k - 1]!) > WALK_STEP + 0.01) bad.push(`walk ${i}[${k}] jumped ${s[k - 1]} -> ${s[k]}`)
      }
    })
    expect(bad).toEqual([])
  })

  it('sine repeats every day within its noise, and moves within the day', () => {
    const perDay = SINE_PERIOD_MS / 600_000 // a sample every 10 min
    for (const s of series('sine', 2 * perDay, 600_000)) {
      const amplitude = (Math.max(...s) - Math.min(...s)) / 2
      expect(amplitude).toBeGreaterThan(5) // noise alone would move it 1.5 at most (amplitude 10..30, noise 5 %)
      const drift = Math.max(...s.slice(0, perDay).map((v, k) => Math.abs(s[k + perDay]! - v)))
      expect(drift).toBeLessThanOrEqual(2 * SINE_NOISE * amplitude * 1.2 + 0.02)
    }
  })

  it('spiky has gaps of a few samples, spikes well above its level, and values otherwise', () => {
    let gaps = 0
    let spikes = 0
    for (const s of series('spiky', 3_000)) {
      const values = s.filter((v) => !isGap(v)).sort((a, b) => a - b)
      const median = values[values.length >> 1]!
      spikes += values.filter((v) => v > 3 * median).length
      let run = 0
      for (const v of [...s, 0]) {
        if (isGap(v)) { run++; continue }
        if (run > 0) { gaps++; expect(run).toBeLessThanOrEqual(GAP_MAX) }
        run = 0
      }
    }
    expect(gaps).toBeGreaterThan(50) // 60,000 samples, a gap once in 300 on average
    expect(spikes).toBeGreaterThan(100) // a spike once in 100
  })
})

describe('target kinds', () => {
  it('VictoriaMetrics (GET /health says OK): line protocol on /write, NDJSON as its /api/v1/import lines, no JSON', async () => {
    const t = await tiny(undefined, 'vm')
    try {
      expect((await bench(['--requests', '1', '--quiet', t.url])).status).toBe(0)
      expect(t.arrivals[0]!.url).toBe('/write?precision=ms')
      expect((await bench(['--requests', '1', '--samples-per-body', '2', '--format', 'ndjson', '--quiet', t.url])).status).toBe(0)
      expect(t.arrivals[1]!.url).toBe('/api/v1/import')
      const lines = t.arrivals[1]!.body.trimEnd().split('\n').map((l) => JSON.parse(l) as { metric: Record<string, string>, values: number[], timestamps: number[] })
      expect(lines.map((l) => [l.metric.__name__, l.values.length, l.timestamps.length])).toEqual([['bench_m0', 1, 1], ['bench_m0', 1, 1]])
      expect(lines[0]!.metric).toMatchObject({ region: 'region-0', host: 'host-0' })
      const j = await bench(['--requests', '1', '--format', 'json', t.url])
      expect([j.status, j.stderr]).toEqual([2, expect.stringMatching(/is VictoriaMetrics: it has no JSON-array ingest/)])
    } finally { await t.close() }
  })

  it('InfluxDB 1.x (X-Influxdb-Version on /ping): CREATE DATABASE bench, then /write?db=bench', async () => {
    const t = await tiny((_a, _n, res) => { res.writeHead(_a.url.startsWith('/query') ? 200 : 204); res.end() }, 'influx')
    try {
      expect((await bench(['--requests', '2', '--connections', '1', '--quiet', t.url])).status).toBe(0)
      expect(t.arrivals.map((a) => a.url)).toEqual(['/query', '/write?db=bench&precision=ms', '/write?db=bench&precision=ms'])
      expect(decodeURIComponent(t.arrivals[0]!.body)).toBe('q=CREATE DATABASE bench')
    } finally { await t.close() }
  })
})

describe('replay', () => {
  it('offsets: MM:SS (minutes past 59 too), HH:MM:SS, fractions of a second; anything else is refused', () => {
    expect(parseOffset('00:00')).toBe(0)
    expect(parseOffset('01:30')).toBe(90_000)
    expect(parseOffset('90:00')).toBe(5_400_000)
    expect(parseOffset('01:02:03')).toBe(3_723_000)
    expect(parseOffset('00:01.250')).toBe(1250)
    for (const bad of ['1:60', '61', '00:00:60', 'ab:cd', '']) expect(parseOffset(bad)).toBeNaN()
  })

  it('sends each offset\'s points at start + offset / --speed, stamped with that time', async () => {
    const t = await tiny()
    try {
      const dataset = tmp('json')
      const points = ['00:00', '00:01', '00:02', '00:03', '00:04'].flatMap((offset, i) => [
        { offset, name: 'cpu_usage_user', labels: { host: 'a' }, value: i },
        { offset, name: 'cpu_usage_user', labels: { host: 'b' }, value: 10 + i },
      ])
      writeFileSync(dataset, JSON.stringify({ points }))
      const r = await bench(['--replay', dataset, '--speed', '4', '--quiet', t.url])
      expect([r.status, r.stderr]).toEqual([0, ''])
      expect(t.arrivals).toHaveLength(5) // one body per offset, both hosts in it
      const first = t.arrivals[0]!.at
      t.arrivals.forEach((a, i) => expect(Math.abs(a.at - first - i * 250), `body ${i}`).toBeLessThan(120))
      const stamps = t.arrivals.map((a) => a.body.split('\n').filter((l) => l !== '').map((l) => Number(l.split(' ')[2])))
      expect(stamps.map((s) => s[1]! - s[0]!)).toEqual([0, 0, 0, 0, 0])
      expect(stamps.slice(1).map((s, i) => s[0]! - stamps[i]![0]!)).toEqual([250, 250, 250, 250])
      expect(t.arrivals[2]!.body).toBe(`cpu_usage,host=a user=2 ${stamps[2]![0]}\ncpu_usage,host=b user=12 ${stamps[2]![0]}\n`)
    } finally { await t.close() }
  })
})

describe('results', () => {
  it('--json parses, compare prints both figures and b/a; --plot writes an SVG with paths', async () => {
    const t = await tiny()
    try {
      const a = tmp('json')
      const b = tmp('json')
      const svg = tmp('svg')
      expect((await bench(['--requests', '50', '--connections', '2', '--quiet', '--json', a, t.url])).status).toBe(0)
      expect((await bench(['--requests', '80', '--connections', '4', '--quiet', '--json', b, '--plot', svg, t.url])).status).toBe(0)
      expect(readResult(a).runs[0]!.ok).toBe(50)
      const c = await bench(['compare', a, b])
      expect(c.status).toBe(0)
      expect(c.stdout).toMatch(/^ {2}req\/s \(2xx\)\s+[\d,]+\s+[\d,]+\s+\d+\.\d\d\s+higher is better$/m)
      expect(c.stdout).toMatch(/^ {2}latency p99 ms\s+[\d.,]+\s+[\d.,]+\s+(\d+\.\d\d|inf)\s+lower is better$/m)
      const text = readFileSync(svg, 'utf8')
      expect(text).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>/)
      expect(text.trimEnd().endsWith('</svg>')).toBe(true)
      expect(text).toMatch(/<path d="M[\d.]+,[\d.]+L/)
    } finally { await t.close() }
  })
})

describe('retries and errors', () => {
  it('a 503 with Retry-After is resent after the wait asked for, and counted', async () => {
    const t = await tiny((_a, n, res) => {
      if (n <= 2) { res.writeHead(503, { 'retry-after': '1' }); res.end('{"code":"ERR_OVERLOADED"}') } else { res.writeHead(204); res.end() }
    })
    try {
      const json = tmp('json')
      const r = await bench(['--requests', '3', '--connections', '1', '--quiet', '--json', json, t.url])
      expect(r.status).toBe(0)
      expect(t.arrivals).toHaveLength(5)
      expect(t.arrivals[1]!.at - t.arrivals[0]!.at).toBeGreaterThan(950)
      expect(t.arrivals[1]!.body).toBe(t.arrivals[0]!.body) // the same request again
      expect(readResult(json).runs[0]).toMatchObject({ ok: 3, requests: 3, retries: 2, sent: 5, statuses: { 503: 2, 204: 3 } })
      expect(r.stdout).toMatch(/^retries {4}2 \(503 with Retry-After\)$/m)
    } finally { await t.close() }
  })

  it('retries are bounded by --retries; a 503 without Retry-After is final', async () => {
    const t = await tiny((a, _n, res) => {
      res.writeHead(503, a.url.includes('bare') ? {} : { 'retry-after': '0' })
      res.end()
    })
    try {
      const json = tmp('json')
      expect((await bench(['--requests', '3', '--connections', '1', '--retries', '2', '--quiet', '--json', json, t.url])).status).toBe(0)
      expect(t.arrivals).toHaveLength(9)
      expect(readResult(json).runs[0]).toMatchObject({ ok: 0, non2xx: 3, retries: 6, statuses: { 503: 9 } })
      t.arrivals.length = 0
      expect((await bench(['--requests', '3', '--connections', '1', '--quiet', `${t.url}/bare`])).status).toBe(0)
      expect(t.arrivals).toHaveLength(3)
    } finally { await t.close() }
  })

  it('usage errors exit 2 naming the option; an unreachable target exits 3', async () => {
    const r = await bench(['--mode', 'closed', '--rate', '10', 'http://127.0.0.1:1'])
    expect([r.status, r.stderr]).toEqual([2, expect.stringMatching(/^ringest bench: --rate is for --mode open/)])
    expect((await bench([])).stderr).toMatch(/missing the target URL/)
    expect((await bench(['--labels', 'host', 'http://127.0.0.1:1'])).stderr).toMatch(/--labels host: "host" is not name:count/)
    const t = await tiny()
    const url = t.url
    await t.close()
    const dead = await bench(['--requests', '1', url])
    expect([dead.status, dead.stderr]).toEqual([3, expect.stringMatching(/cannot reach .*ECONNREFUSED/)])
  })
})
