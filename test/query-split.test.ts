/**
 * Range queries split over the query workers (src/query.ts evaluateSplit):
 * the same data on a server with two query workers (splits) and one with a
 * single worker (never splits) must give the same answers, for every
 * aggregation and range function that splits; the shapes that do not split
 * must not; a shard's failure (a limit) is the query's answer; and nothing
 * splits while ingest is committing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { get, post, startTestServer, type TestServer } from './helpers/server.js'

const STEP = 15_000
const POINTS = 80
const start = Math.floor(Date.now() / 60_000) * 60_000 - 40 * 60_000
let split: TestServer
let single: TestServer
let limited: TestServer

/** 240 counters with resets and gaps, 240 gauges with negative values, over 20 minutes. */
function body (): string {
  const lines: string[] = []
  let x = 7
  const rnd = (): number => { x = (x * 1103515245 + 12345) % 2147483648; return x / 2147483648 }
  for (let h = 0; h < 240; h++) {
    let c = 0
    for (let i = 0; i < POINTS; i++) {
      if (rnd() < 0.05) continue // a gap
      c = rnd() < 0.03 ? rnd() * 10 : c + rnd() * 100 // a reset now and then
      const t = start + i * STEP + (h % 7) * 1000
      lines.push(`req,host=h${h},region=r${h % 4},code=${h % 3 === 0 ? 500 : 200} total=${c} ${t}`)
      lines.push(`temp,host=h${h},region=r${h % 4} celsius=${(rnd() - 0.5) * 80} ${t}`)
    }
  }
  return lines.join('\n')
}

const idle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 400)) // past INGEST_ACTIVE_MS

beforeAll(async () => {
  split = await startTestServer({ queryWorkers: 2 })
  single = await startTestServer({ queryWorkers: 1 })
  limited = await startTestServer({ queryWorkers: 2, queryMaxSeries: 100 })
  const b = body()
  for (const s of [split, single, limited]) expect((await post(`${s.url}/write?precision=ms`, b)).status).toBe(204)
  await idle()
})
afterAll(async () => { await split.stop(); await single.stop(); await limited.stop() })

async function range (s: TestServer, query: string): Promise<{ status: number, body: any }> {
  const params = new URLSearchParams({ query, start: String((start + 5 * 60_000) / 1000), end: String((start + POINTS * STEP) / 1000), step: '30' })
  const r = await get(`${s.url}/api/v1/query_range?${params.toString()}`)
  return { status: r.status, body: r.json() }
}

const splits = async (s: TestServer): Promise<number> => (await get(`${s.url}/stats`)).json().queries.split as number

/** Same series, same times; values equal but for float summation order (1e-12 relative); NaN equals NaN. */
function expectSame (a: any, b: any, query: string): void {
  expect(a.status, query).toBe('success')
  expect(a.data.result.map((r: any) => r.metric), query).toEqual(b.data.result.map((r: any) => r.metric))
  a.data.result.forEach((r: any, i: number) => {
    const other = b.data.result[i]
    expect(r.values.map((p: any) => p[0]), query).toEqual(other.values.map((p: any) => p[0]))
    r.values.forEach((p: any, k: number) => {
      const x = Number(p[1])
      const y = Number(other.values[k][1])
      if (Number.isNaN(x) || Number.isNaN(y)) { expect(p[1], query).toBe(other.values[k][1]); return }
      expect(Math.abs(x - y) <= 1e-12 * Math.max(Math.abs(x), Math.abs(y)), `${query} at ${String(p[0])}: ${x} vs ${y}`).toBe(true)
    })
  })
}

describe('range queries split over query workers', () => {
  it('answer as one worker does, for every aggregation and range function that splits', async () => {
    const queries = [
      'sum by (region) (rate(req_total[5m]))',
      'sum(increase(req_total[2m]))',
      'count by (code) (irate(req_total[1m]))',
      'min by (region) (delta(temp_celsius[5m]))',
      'max without (host) (max_over_time(temp_celsius[3m]))',
      'sum by (region) (count_over_time(temp_celsius[5m]))',
      'min(min_over_time(temp_celsius[10m]))',
      'max by (region, code) (last_over_time(req_total[2m]))',
      'sum by (region) (sum_over_time(temp_celsius[4m] offset 3m))',
      '(sum by (host) (avg_over_time(temp_celsius[5m])))',
    ]
    const before = await splits(split)
    for (const query of queries) {
      const a = await range(split, query)
      const b = await range(single, query)
      expect(a.status, query).toBe(200)
      expect(b.status, query).toBe(200)
      expect(a.body.data.result.length, query).toBeGreaterThan(0)
      expectSame(a.body, b.body, query)
    }
    expect(await splits(split) - before).toBe(queries.length)
    expect(await splits(single)).toBe(0)
  })

  it('leaves whole what has no exact merge or may hold series differing only in name', async () => {
    const before = await splits(split)
    for (const query of ['avg by (region) (rate(req_total[5m]))', 'quantile by (region) (0.9, rate(req_total[5m]))',
      'sum by (region) (quantile_over_time(0.5, temp_celsius[5m]))', 'sum by (region) (rate({__name__=~"req_total|temp_celsius"}[5m]))',
      'sum by (region) (rate(req_total[5m])) * 2', 'rate(req_total[5m])']) {
      const r = await range(split, query)
      expect(r.status, query).toBe(200)
    }
    expect(await splits(split)).toBe(before)
  })

  it('answers with a shard\'s failure: the series limit counts every shard\'s series', async () => {
    const r = await range(limited, 'sum by (region) (rate(req_total[5m]))')
    expect(r.status).toBe(422)
    expect(r.body).toMatchObject({ status: 'error', errorType: 'execution' })
    expect(r.body.error).toContain('--query-max-series')
    expect(await splits(limited)).toBe(1)
  })

  it('does not split while ingest is committing', async () => {
    const before = await splits(split)
    let writing = true
    const writer = (async () => {
      for (let i = 0; writing; i++) await post(`${split.url}/write?precision=ms`, `busy,host=h v=${i} ${Date.now()}`)
    })()
    try {
      await new Promise((resolve) => setTimeout(resolve, 50))
      for (let i = 0; i < 3; i++) expect((await range(split, 'sum by (region) (rate(req_total[5m]))')).status).toBe(200)
    } finally {
      writing = false
      await writer
    }
    expect(await splits(split)).toBe(before)
    await idle()
    await range(split, 'sum by (region) (rate(req_total[5m]))')
    expect(await splits(split)).toBe(before + 1)
  })
})
