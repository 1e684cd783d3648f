/**
 * `ringest query` and `ringest export` as a user runs them: the installed
 * command in a child process, against a real server in this process. The
 * child is spawned asynchronously: a spawnSync would block the event loop the
 * server answers on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseCliTime } from '../dist/src/cli.js'
import { post, startTestServer, type TestServer } from './helpers/server.js'
import { runCli } from './helpers/child.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = join(root, 'bin', 'ringest.js')

/** Runs the installed command without RINGEST_* variables from the test's environment; killed after 30 s. */
const ringest = runCli

/** A port nothing listens on: bound a moment ago, then closed. */
function deadPort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))))
    })
  })
}

// Three samples 15 s apart for two series, at fixed times (the test server keeps everything: retention 0).
const T0 = 1_700_000_000 // 2023-11-14T22:13:20Z
const LINES = [
  `cpu,host=a,region=x usage_user=1.5 ${T0 * 1000}`,
  `cpu,host=b,region=y usage_user=10 ${T0 * 1000}`,
  `cpu,host=a,region=x usage_user=2.5 ${(T0 + 15) * 1000}`,
  `cpu,host=b,region=y usage_user=20 ${(T0 + 15) * 1000}`,
  `cpu,host=a,region=x usage_user=3.5 ${(T0 + 30) * 1000}`,
  `cpu,host=b,region=y usage_user=30 ${(T0 + 30) * 1000}`,
].join('\n')

let server: TestServer
let url: string

beforeAll(async () => {
  server = await startTestServer()
  url = server.url
  const now = Date.now()
  const w = await post(`${url}/write?precision=ms`, `${LINES}\nrecent,host=a value=7 ${now - 60_000}`)
  expect(w.status).toBe(204)
})
afterAll(async () => { await server?.stop() })

describe('ringest query', () => {
  it('instant: one row per series with its labels, the time and the value; exit 0', async () => {
    const r = await ringest(['query', 'cpu_usage_user', '--url', url, '--time', String(T0 + 30)])
    expect([r.status, r.stderr]).toEqual([0, ''])
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^SERIES\s+TIME\s+VALUE$/)
    expect(lines.slice(1).sort()).toEqual([
      expect.stringMatching(/^cpu_usage_user\{host="a", region="x"\}\s+2023-11-14T22:13:50\.000Z\s+3\.5$/),
      expect.stringMatching(/^cpu_usage_user\{host="b", region="y"\}\s+2023-11-14T22:13:50\.000Z\s+30$/),
    ])
  })

  it('instant --format json prints the server\'s Prometheus JSON; RFC 3339 times are taken', async () => {
    const r = await ringest(['query', 'sum by (region)(cpu_usage_user)', '--url', url, '--time', '2023-11-14T22:13:35Z', '--format', 'json'])
    expect(r.status).toBe(0)
    const body = JSON.parse(r.stdout) as { status: string, data: { resultType: string, result: Array<{ metric: Record<string, string>, value: [number, string] }> } }
    expect(body.status).toBe('success')
    expect(body.data.resultType).toBe('vector')
    const byRegion = Object.fromEntries(body.data.result.map((s) => [s.metric.region, s.value]))
    expect(byRegion).toEqual({ x: [T0 + 15, '2.5'], y: [T0 + 15, '20'] })
  })

  it('the default time is now, and relative times work: now-2m sees the sample written a minute ago', async () => {
    expect((await ringest(['query', 'recent_value', '--url', url])).stdout).toMatch(/^recent_value\{host="a"\}\s+\S+Z\s+7$/m)
    const before = await ringest(['query', 'recent_value', '--url', url, '--time', 'now-2m'])
    expect([before.status, before.stdout]).toEqual([0, '(no series)\n'])
  })

  it('range: one block per series, a point per step', async () => {
    const r = await ringest(['query', 'cpu_usage_user{host="a"}', '--url', url, '--start', String(T0), '--end', String(T0 + 30), '--step', '15s'])
    expect([r.status, r.stderr]).toEqual([0, ''])
    expect(r.stdout).toBe([
      'cpu_usage_user{host="a", region="x"}  (3 points)',
      '  2023-11-14T22:13:20.000Z  1.5',
      '  2023-11-14T22:13:35.000Z  2.5',
      '  2023-11-14T22:13:50.000Z  3.5',
      '',
    ].join('\n'))
  })

  it('range without --step takes about 250 points; blocks are separated by a blank line', async () => {
    const r = await ringest(['query', 'cpu_usage_user', '--url', url, '--start', String(T0), '--end', String(T0 + 250), '--format', 'json'])
    expect(r.status).toBe(0)
    const body = JSON.parse(r.stdout) as { data: { resultType: string, result: Array<{ values: unknown[] }> } }
    expect(body.data.resultType).toBe('matrix')
    // step 1 s; the last sample (T0 + 30) stays visible for the 5 min lookback: T0 .. T0 + 250, 251 points.
    expect(body.data.result.map((s) => s.values.length)).toEqual([251, 251])
    const table = await ringest(['query', 'cpu_usage_user', '--url', url, '--start', String(T0), '--end', String(T0 + 15), '--step', '15'])
    expect(table.stdout.split('\n\n')).toHaveLength(2)
  })

  it('a bad expression: the server\'s errorType and message on stderr, nothing on stdout, exit 1', async () => {
    const r = await ringest(['query', 'rate(cpu_usage_user[5m]', '--url', url])
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^ringest query: bad_data: .+ \(HTTP 400, ERR_QUERY_BAD_DATA\)\n$/)
  })

  it('an unreachable server: a message naming the address, exit 3', async () => {
    const port = await deadPort()
    const r = await ringest(['query', 'up', '--url', `http://127.0.0.1:${port}`])
    expect(r.status).toBe(3)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(new RegExp(`^ringest query: cannot reach http://127\\.0\\.0\\.1:${port}: ECONNREFUSED\\. Is the server running there\\? Pass its address with --url\\.\n$`))
  })

  it('usage errors exit 2 before any request', async () => {
    for (const args of [[], ['a', 'b'], ['up', '--end', 'now'], ['up', '--start', 'now-1h', '--time', 'now'], ['up', '--time', 'yesterday'],
      ['up', '--format', 'csv'], ['up', '--url', 'ftp://x'], ['up', '--start', 'now', '--end', 'now-1h'], ['up', '--bogus']]) {
      const r = await ringest(['query', ...args, ...(args.includes('--url') ? [] : ['--url', url])])
      expect([args, r.status, r.stdout]).toEqual([args, 2, ''])
      expect(r.stderr).toMatch(/^ringest query: .+\nRun 'ringest query --help' to see every option\.\n$/)
    }
    expect((await ringest(['query', '--help'])).stdout).toMatch(/^Usage: ringest query '<expr>' \[options\]/)
  })
})

describe('ringest export', () => {
  it('streams the NDJSON of the matching series within --start/--end', async () => {
    const r = await ringest(['export', 'cpu_usage_user', '--url', url, '--start', String(T0), '--end', String(T0 + 15)])
    expect([r.status, r.stderr]).toEqual([0, ''])
    const series = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { metric: Record<string, string>, values: number[], timestamps: number[] })
    series.sort((a, b) => (a.metric.host! < b.metric.host! ? -1 : 1))
    expect(series).toEqual([
      { metric: { __name__: 'cpu_usage_user', host: 'a', region: 'x' }, values: [1.5, 2.5], timestamps: [T0 * 1000, (T0 + 15) * 1000] },
      { metric: { __name__: 'cpu_usage_user', host: 'b', region: 'y' }, values: [10, 20], timestamps: [T0 * 1000, (T0 + 15) * 1000] },
    ])
  })

  it('several selectors are OR-ed; an export feeds /api/v1/import', async () => {
    const r = await ringest(['export', 'cpu_usage_user{host="a"}', 'recent_value', '--url', url])
    expect(r.status).toBe(0)
    const names = r.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { metric: Record<string, string> }).metric.__name__).sort()
    expect(names).toEqual(['cpu_usage_user', 'recent_value'])
    expect((await post(`${url}/api/v1/import`, r.stdout)).status).toBe(204)
  })

  it('a bad selector: the server\'s error on stderr, exit 1; an unreachable server: exit 3', async () => {
    const bad = await ringest(['export', 'cpu_usage_user{', '--url', url])
    expect([bad.status, bad.stdout]).toEqual([1, ''])
    expect(bad.stderr).toMatch(/^ringest export: .*HTTP 400/)
    const port = await deadPort()
    const gone = await ringest(['export', 'x', '--url', `http://127.0.0.1:${port}`])
    expect(gone.status).toBe(3)
    expect(gone.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/)
  })
})

describe('parseCliTime', () => {
  const now = 1_800_000_000_000
  it('takes unix seconds, RFC 3339 with an offset, now and now±duration', () => {
    expect(parseCliTime('1700000000.5', '--time', now)).toBe(1_700_000_000_500)
    expect(parseCliTime('2023-11-14T22:13:20Z', '--time', now)).toBe(1_700_000_000_000)
    expect(parseCliTime('2023-11-14T23:13:20+01:00', '--time', now)).toBe(1_700_000_000_000)
    expect(parseCliTime('now', '--time', now)).toBe(now)
    expect(parseCliTime('now-1h30m', '--time', now)).toBe(now - 5_400_000)
    expect(parseCliTime('now+90s', '--time', now)).toBe(now + 90_000)
  })

  it('refuses the rest, naming the flag', () => {
    expect(() => parseCliTime('2023-11-14T22:13:20', '--start', now)).toThrow(/--start .*needs its offset/)
    expect(() => parseCliTime('now-1x', '--end', now)).toThrow(/--end now-1x: "1x" is not a duration/)
    expect(() => parseCliTime('tomorrow', '--time', now)).toThrow(/--time tomorrow: expected unix seconds/)
  })
})
