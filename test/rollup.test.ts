/**
 * Rollups (workers/rollup.ts): the row format, then a real server that rolls
 * two days of data up into 5-minute and 1-hour buckets, answers coarse
 * queries from them with the same numbers as from the raw samples, computes
 * a block again when a late series writes into it, and keeps answering from
 * rollups once retention has deleted the raw samples.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Buckets, decodeRow, snapSum } from '../dist/workers/rollup.js'
import { get, post, startTestServer, type TestServer } from './helpers/server.js'

let server: TestServer | undefined
afterEach(async () => { await server?.stop(); server = undefined })

describe('rollup rows', () => {
  it('round-trip every column bit for bit, only the buckets that have samples', () => {
    const b = new Buckets()
    b.clear()
    const odd = [0, -0, 1.5, -7.25, Infinity, -Infinity, NaN, 1e-310, 123456789.123]
    odd.forEach((v, k) => { b.add(k * 2, 1, v, v, v, v) })
    b.add(23, 3, 10, 1, 6, 4)
    b.add(23, 2, 5, -1, 2, 2) // a second add merges into the bucket: the later last wins
    const row = decodeRow(b.encode()!)
    expect([...row.idx]).toEqual([...odd.map((_, k) => k * 2), 23])
    expect([...row.last].slice(0, odd.length)).toEqual(odd)
    expect(Object.is(row.min[1], -0)).toBe(true)
    expect([row.count[odd.length], row.sum[odd.length], row.min[odd.length], row.max[odd.length], row.last[odd.length]]).toEqual([5, 15, -1, 6, 2])
  })

  it('decodes only the columns asked for, with the bucket indexes', () => {
    const b = new Buckets()
    b.clear()
    b.add(3, 2, 7, 3, 4, 4)
    b.add(9, 1, 5, 5, 5, 5)
    const bytes = b.encode()!
    const maxOnly = decodeRow(bytes, undefined, new Set(['max']))
    expect([...maxOnly.idx]).toEqual([3, 9])
    expect([...maxOnly.max]).toEqual([4, 5])
    expect(maxOnly.sum).toHaveLength(0)
    const none = decodeRow(bytes, new Float64Array(6 * 24), new Set())
    expect([...none.idx]).toEqual([3, 9])
    const avg = decodeRow(bytes, undefined, new Set(['sum', 'count']))
    expect([...avg.sum]).toEqual([7, 5])
    expect([...avg.count]).toEqual([2, 1])
  })

  it('NaN in min and max only when every value is NaN (as min_over_time)', () => {
    const b = new Buckets()
    b.clear()
    b.add(0, 1, NaN, NaN, NaN, NaN)
    b.add(0, 1, 3, 3, 3, 3)
    b.add(1, 1, NaN, NaN, NaN, NaN)
    const row = decodeRow(b.encode()!)
    expect([row.min[0], row.max[0]]).toEqual([3, 3])
    expect(row.min[1]).toBeNaN()
  })

  it('snaps sums to decimals only within their own rounding error', () => {
    expect(snapSum(0.1 + 0.2, 2, 0.2)).toBe(0.3)
    let sum = 0
    for (let i = 0; i < 20; i++) sum += 1.1 + i * 0.13
    expect(sum).not.toBe(46.7) // float noise: 46.699999999999996
    expect(snapSum(sum, 20, 3.57)).toBe(46.7)
    // A real digit beyond the noise is kept: 1e-9 over 2 terms of 1e6 is far above 4 x 2^-52 x 1e6.
    expect(snapSum(2e6 + 1e-9 * 1e3, 2, 1e6)).toBe(2e6 + 1e-6)
    expect(snapSum(1 / 3, 1, 1 / 3)).toBe(1 / 3)
    for (const v of [NaN, Infinity, -Infinity]) expect(snapSum(v, 3, 1)).toBe(v)
  })

  it('an empty row encodes to nothing; a corrupt row is an error, not garbage', () => {
    const b = new Buckets()
    b.clear()
    expect(b.encode()).toBeUndefined()
    b.add(5, 1, 1, 1, 1, 1)
    const bytes = b.encode()!
    expect(() => decodeRow(bytes.subarray(0, bytes.length - 3))).toThrow(/corrupt|truncated|chunk/i)
    const wrong = Buffer.from(bytes)
    wrong[0] = 9
    expect(() => decodeRow(wrong)).toThrow(/format/)
  })
})

const HOUR = 3_600_000
const DAY = 24 * HOUR
/** Midnight UTC three days ago: two days of data end a day before now, so every block is complete. */
const D = Math.floor(Date.now() / DAY) * DAY - 3 * DAY
const HOSTS = ['a', 'b', 'c']
/** A sample every 60 s, 7 s past the minute: never on a bucket edge. */
const at = (k: number): number => D + k * 60_000 + 7_000
const value = (h: number, k: number): number => Math.round(((Math.sin(k / 37 + h) * 50 + 50 + (k % 7) * 0.25) * 100)) / 100

async function write (s: TestServer, lines: string[]): Promise<void> {
  for (let i = 0; i < lines.length; i += 5000) {
    const r = await post(`${s.url}/write?precision=ms`, lines.slice(i, i + 5000).join('\n'))
    expect(r.status, r.text).toBe(204)
  }
}

async function storage (s: TestServer): Promise<Record<string, any>> {
  return (await get(`${s.url}/stats`)).json().storage
}

/** Waits until the stats satisfy `done` (rollups run right after a checkpoint). */
async function until (s: TestServer, what: string, done: (st: Record<string, any>) => boolean): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const st = await storage(s)
    if (done(st)) return
    if (Date.now() > deadline) throw new Error(`${what}: not within 30 s: ${JSON.stringify(st)}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

type Matrix = Array<{ metric: Record<string, string>, values: Array<[number, string]> }>

async function range (s: TestServer, query: string, start: number, end: number, step: string, source: string): Promise<Matrix> {
  const q = new URLSearchParams({ query, start: String(start / 1000), end: String(end / 1000), step, max_source_resolution: source })
  const r = await get(`${s.url}/api/v1/query_range?${q.toString()}`)
  expect(r.status, r.text).toBe(200)
  const m = r.json().data.result as Matrix
  return m.sort((x, y) => JSON.stringify(x.metric).localeCompare(JSON.stringify(y.metric)))
}

/** The same series and times, values equal up to float rounding (avg: sum/count against Prometheus's running mean). */
function expectSame (got: Matrix, want: Matrix): void {
  expect(got.map((s) => s.metric)).toEqual(want.map((s) => s.metric))
  got.forEach((s, i) => {
    const w = want[i]!.values
    expect(s.values.map(([t]) => t)).toEqual(w.map(([t]) => t))
    s.values.forEach(([, v], j) => {
      const a = Number(v)
      const b = Number(w[j]![1])
      expect(Math.abs(a - b), `${JSON.stringify(s.metric)} at ${s.values[j]![0]}: ${v} vs ${w[j]![1]}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)))
    })
  })
}

const FUNCS = ['min_over_time', 'max_over_time', 'sum_over_time', 'count_over_time', 'avg_over_time', 'last_over_time']

describe('rollups on a server', () => {
  it('roll two days up, answer coarse queries as the raw samples do, recompute late blocks, and outlive raw retention', async () => {
    const rollups = { rollup5mRetention: 30 * DAY, rollup1hRetention: 30 * DAY }
    server = await startTestServer(rollups)
    const lines: string[] = []
    for (let k = 0; k < 2 * 24 * 60; k++) HOSTS.forEach((h, i) => lines.push(`g,host=${h} v=${value(i, k)} ${at(k)}`))
    await write(server, lines)
    // 24 blocks and 2 days for each of 3 series.
    await until(server, 'rollups', (st) => st.rollupRowsWritten >= 3 * (24 + 2) && st.rollupsThrough !== null && Date.parse(st.rollupsThrough) >= D + 2 * DAY)

    const start = D + 6 * HOUR
    const end = D + 2 * DAY
    const queries: Array<[string, string]> = []
    for (const f of FUNCS) {
      queries.push([`${f}(g_v[1h])`, '1h']) // 5-minute rollups (5 x 5 m <= 1 h)
      queries.push([`${f}(g_v[6h])`, '6h']) // 1-hour rollups (5 x 1 h <= 6 h)
    }
    queries.push(['sum by (host) (max_over_time(g_v[30m]))', '30m'])
    queries.push(['g_v', '30m']) // a plain selector: the last sample of each bucket
    queries.push(['max_over_time(g_v[10m])', '5m']) // raw while the raw samples are there; after retention, the finest rollup
    const raw = new Map<string, Matrix>()
    for (const [q, step] of queries) {
      const want = await range(server, q, start, end, step, 'raw')
      expect(want.length, q).toBeGreaterThan(0)
      raw.set(q, want)
      expectSame(await range(server, q, start, end, step, 'auto'), want)
    }

    // A new series back-fills an already rolled-up block: the block (and its day) is computed again.
    const rowsBefore = (await storage(server)).rollupRowsWritten as number
    const late: string[] = []
    for (let k = 60; k < 180; k++) late.push(`g,host=late v=${k} ${at(k)}`)
    await write(server, late)
    await until(server, 'recomputed', (st) => st.rollupRowsWritten >= rowsBefore + 3 * 2 + 1 + 1)
    for (const q of ['count_over_time(g_v[1h])', 'sum_over_time(g_v[6h])']) {
      const step = q.includes('6h') ? '6h' : '1h'
      const want = await range(server, q, start - 6 * HOUR, end, step, 'raw')
      expect(want.some((s) => s.metric.host === 'late'), q).toBe(true)
      expectSame(await range(server, q, start - 6 * HOUR, end, step, 'auto'), want)
    }

    // Raw retention of one day deletes every raw block of the data; the rollups still answer.
    const dir = server.dataDir
    await server.close('test')
    server = await startTestServer({ ...rollups, retention: DAY }, dir)
    await until(server, 'expired', (st) => st.chunksExpired > 0)
    expect(await range(server, 'max_over_time(g_v[1h])', start, end, '1h', 'raw')).toEqual([])
    for (const [q, step] of queries) {
      if (q.includes('host')) continue
      expectSame((await range(server, q, start, end, step, 'auto')).filter((s) => s.metric.host !== 'late'), raw.get(q)!)
    }
  }, 120_000)

  it('refuses a 1-hour rollup without 5-minute ones to build it from', async () => {
    const { loadConfig } = await import('../dist/src/config.js')
    expect(() => loadConfig(['--rollup-1h-retention', '365d'], {})).toThrow(/rollup5mRetention/)
    expect(loadConfig(['--rollup-1h-retention', '365d', '--rollup-5m-retention', '30d'], {}).rollup1hRetention).toBe(365 * DAY)
  })
})
