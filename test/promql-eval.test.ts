/** Evaluation on small hand-built data, over an in-memory Querier. */
import { describe, expect, it } from 'vitest'
import { formatValue, PromQLError, queryInstant, queryRange, toPrometheusData, type Labels, type PromResult } from '../dist/src/promql/index.js'
import { MemoryQuerier } from './fixtures/promql/memory-querier.js'

const S = 1000
const M = 60 * S
const limits = (over: Partial<{ maxSeries: number, maxSamples: number, deadlineMs: number }> = {}) =>
  ({ maxSeries: 10_000, maxSamples: 1_000_000, deadlineMs: Date.now() + 10_000, ...over })

function querier (series: Array<[Labels, Array<[number, number]>]>): MemoryQuerier {
  const q = new MemoryQuerier()
  for (const [labels, points] of series) for (const [t, v] of points) q.append(labels, t, v)
  return q
}

/** Instant vector results as {labels-as-text: value}. */
async function instant (q: MemoryQuerier, expr: string, t: number): Promise<Record<string, number>> {
  const r = await queryInstant(q, expr, t, limits())
  if (r.resultType === 'scalar') return { scalar: r.result.value }
  if (r.resultType !== 'vector') throw new Error(r.resultType)
  return Object.fromEntries(r.result.map((s) => [JSON.stringify(s.metric), s.value]))
}

const x = (job: string, extra: Labels = {}): Labels => ({ __name__: 'x', job, ...extra })
const every = (stepMs: number, values: number[], from = 0): Array<[number, number]> => values.map((v, i) => [from + i * stepMs, v])

describe('instant vector selectors', () => {
  const q = querier([[x('a'), [[0, 1], [60 * S, 2]]]])
  it('looks back 5 minutes, both ends inclusive', async () => {
    expect(await instant(q, 'x', 60 * S)).toEqual({ '{"__name__":"x","job":"a"}': 2 })
    expect(await instant(q, 'x', 60 * S + 5 * M)).toEqual({ '{"__name__":"x","job":"a"}': 2 })
    expect(await instant(q, 'x', 60 * S + 5 * M + 1)).toEqual({})
    expect(await instant(q, 'x', 59 * S)).toEqual({ '{"__name__":"x","job":"a"}': 1 })
    expect(await instant(q, 'x', -1)).toEqual({})
  })
  it('applies offset', async () => {
    expect(await instant(q, 'x offset 1m', 60 * S)).toEqual({ '{"__name__":"x","job":"a"}': 1 })
  })
  it('selects once per selector, with the widest range needed', async () => {
    const calls: Array<[number, number]> = []
    const spy = { select: async (m: any, min: number, max: number) => { calls.push([min, max]); return await q.select(m, min, max) } }
    await queryRange(spy, 'rate(x[2m] offset 1m) + x', 10 * M, 20 * M, M, limits())
    expect(calls).toEqual([[10 * M - 3 * M, 20 * M - M], [10 * M - 5 * M, 20 * M]])
  })
})

describe('rate, increase, delta, irate', () => {
  // A counter scraped every 15 s that resets once.
  const q = querier([[x('a'), every(15 * S, [0, 10, 20, 30, 5, 15, 25, 35, 45])]])
  it('increase counts across the reset and extrapolates to the window', async () => {
    // window [15s, 135s]: samples 15..120s = 10,20,30,5,15,25,35,45 -> raw increase 35 + 30 = 65 over 105 s,
    // extrapolated by 7.5 s at each end (half the average interval): 65 * 120 / 105.
    const r = await instant(q, 'increase(x[2m])', 135 * S)
    expect(r['{"job":"a"}']).toBeCloseTo(65 * 120 / 105, 12)
    const rate = await instant(q, 'rate(x[2m])', 135 * S)
    expect(rate['{"job":"a"}']).toBeCloseTo(65 * 120 / 105 / 120, 12)
  })
  it('does not extrapolate a counter below zero', async () => {
    const c = querier([[x('a'), [[30 * S, 1], [45 * S, 2], [60 * S, 3]]]])
    // window [0, 60s]: zero point is 15 s before the first sample (< 30 s to the start).
    const r = await instant(c, 'increase(x[1m])', 60 * S)
    expect(r['{"job":"a"}']).toBeCloseTo(2 * 45 / 30, 12)
  })
  it('delta does not treat drops as resets', async () => {
    const r = await instant(q, 'delta(x[1m])', 75 * S) // samples at 15..75: 10,20,30,5,15
    expect(r['{"job":"a"}']).toBeCloseTo(5 * 60 / 60, 12)
  })
  it('irate uses the last two samples and the reset value', async () => {
    expect((await instant(q, 'irate(x[1m])', 60 * S))['{"job":"a"}']).toBeCloseTo(5 / 15, 12)
    expect((await instant(q, 'irate(x[1m])', 90 * S))['{"job":"a"}']).toBeCloseTo(10 / 15, 12)
  })
  it('needs two samples', async () => {
    expect(await instant(q, 'rate(x[10s])', 60 * S)).toEqual({})
  })
})

describe('_over_time and subqueries', () => {
  const q = querier([[x('a'), every(10 * S, [3, 1, 4, 1, 5, 9, 2, 6])]])
  it.each([
    ['avg_over_time(x[30s])', 70 * S, (9 + 2 + 6 + 5) / 4],
    ['sum_over_time(x[30s])', 70 * S, 22],
    ['min_over_time(x[30s])', 70 * S, 2],
    ['max_over_time(x[30s])', 70 * S, 9],
    ['count_over_time(x[30s])', 70 * S, 4],
    ['quantile_over_time(0.5, x[1m])', 60 * S, 3], // [0, 60 s] inclusive: 7 samples
    ['quantile_over_time(0.25, x[50s])', 60 * S, 1.25], // 1,1,2,4,5,9: rank 1.25
    ['quantile_over_time(2, x[1m])', 60 * S, Infinity],
  ])('%s', async (expr, t, want) => {
    const r = await instant(q, expr, t)
    expect(Object.values(r)).toEqual([want])
  })
  it('last_over_time keeps the metric name (as Prometheus 2.42 does)', async () => {
    expect(await instant(q, 'last_over_time(x[30s])', 65 * S)).toEqual({ '{"__name__":"x","job":"a"}': 2 })
  })
  it('aligns subquery steps to multiples of the step, not to the query time', async () => {
    const r = await queryInstant(q, 'x[30s:20s]', 75 * S, limits())
    expect(r).toMatchObject({ resultType: 'matrix', result: [{ timestamps: [60 * S], values: [2] }] })
    const r2 = await queryInstant(q, 'x[45s:20s]', 75 * S, limits())
    expect(r2).toMatchObject({ resultType: 'matrix', result: [{ timestamps: [40 * S, 60 * S] }] })
    const r3 = await queryInstant(q, 'x[1m:]', 70 * S, limits()) // default step: 1 m
    expect(r3).toMatchObject({ resultType: 'matrix', result: [{ timestamps: [60 * S] }] })
  })
})

describe('aggregations and binary operators', () => {
  const q = querier([
    [x('a', { i: '1' }), [[0, 1]]], [x('a', { i: '2' }), [[0, 5]]], [x('b', { i: '1' }), [[0, 5]]], [x('b', { i: '3' }), [[0, NaN]]],
    [{ __name__: 'y', job: 'a', i: '1' }, [[0, 10]]], [{ __name__: 'y', job: 'b', i: '1' }, [[0, 20]]],
  ])
  it('groups by and without', async () => {
    expect(await instant(q, 'sum by (job) (x)', 0)).toEqual({ '{"job":"a"}': 6, '{"job":"b"}': NaN })
    expect(await instant(q, 'count without (i) (x)', 0)).toEqual({ '{"job":"a"}': 2, '{"job":"b"}': 2 })
    expect(await instant(q, 'max(x) by (job)', 0)).toEqual({ '{"job":"a"}': 5, '{"job":"b"}': 5 })
    expect(await instant(q, 'avg by (job) (x)', 0)).toEqual({ '{"job":"a"}': 3, '{"job":"b"}': NaN })
    expect(await instant(q, 'quantile(0.5, x)', 0)).toEqual({ '{}': 3 }) // NaN sorts first: NaN,1,5,5
  })
  it('topk/bottomk keep the labels and never prefer NaN', async () => {
    // A tie: the first in label order wins, as with Prometheus's heap.
    expect(Object.keys(await instant(q, 'topk(1, x)', 0))).toEqual(['{"__name__":"x","i":"1","job":"b"}'])
    expect(Object.keys(await instant(q, 'bottomk by (job) (1, x)', 0)).sort()).toEqual(['{"__name__":"x","i":"1","job":"a"}', '{"__name__":"x","i":"1","job":"b"}'])
    expect(await instant(q, 'topk(0, x)', 0)).toEqual({})
  })
  it('drops the metric name for arithmetic and bool, keeps it for filters', async () => {
    expect(await instant(q, 'x{job="a"} * 2', 0)).toEqual({ '{"i":"1","job":"a"}': 2, '{"i":"2","job":"a"}': 10 })
    expect(await instant(q, 'x > 1', 0)).toEqual({ '{"__name__":"x","i":"2","job":"a"}': 5, '{"__name__":"x","i":"1","job":"b"}': 5 })
    expect(await instant(q, '2 < x', 0)).toEqual({ '{"__name__":"x","i":"2","job":"a"}': 5, '{"__name__":"x","i":"1","job":"b"}': 5 })
    expect(await instant(q, 'x{job="a"} >= bool 5', 0)).toEqual({ '{"i":"1","job":"a"}': 0, '{"i":"2","job":"a"}': 1 })
  })
  it('matches vectors one-to-one, with on and ignoring', async () => {
    expect(await instant(q, 'y / x', 0)).toEqual({ '{"i":"1","job":"a"}': 10, '{"i":"1","job":"b"}': 4 })
    expect(await instant(q, 'y - on(job, i) x', 0)).toEqual({ '{"i":"1","job":"a"}': 9, '{"i":"1","job":"b"}': 15 })
    expect(await instant(q, 'y > ignoring(i) sum by (job) (x)', 0)).toEqual({ '{"__name__":"y","job":"a"}': 10 })
  })
  it('refuses many-to-many and many-to-one matching (execution errors)', async () => {
    await expect(queryInstant(q, 'x + on(job) y', 0, limits())).rejects.toMatchObject({ errorType: 'execution', message: expect.stringContaining('multiple matches') })
    await expect(queryInstant(q, 'y + on(job) x', 0, limits())).rejects.toMatchObject({ errorType: 'execution', message: expect.stringContaining('duplicate series') })
    await expect(queryInstant(q, 'abs({job="a", i="1"})', 0, limits())).rejects.toMatchObject({ errorType: 'execution', message: expect.stringContaining('same labelset') })
  })
  it('computes scalars with Go\'s float semantics', async () => {
    expect(await instant(q, '2 ^ 3 ^ 2', 0)).toEqual({ scalar: 512 })
    expect(await instant(q, '-2 ^ 2', 0)).toEqual({ scalar: -4 })
    expect(await instant(q, '1 ^ NaN', 0)).toEqual({ scalar: 1 })
    expect(await instant(q, '-1 ^ Inf', 0)).toEqual({ scalar: -1 }) // -(1 ^ Inf)
    expect(await instant(q, '(-1) ^ Inf', 0)).toEqual({ scalar: 1 })
    expect(await instant(q, '-7 % 3', 0)).toEqual({ scalar: -1 })
    expect(await instant(q, '1 / 0', 0)).toEqual({ scalar: Infinity })
    expect(await instant(q, 'NaN == bool NaN', 0)).toEqual({ scalar: 0 })
  })
  it('round, clamp, abs, ceil, floor', async () => {
    const g = querier([[x('a'), [[0, -2.5]]], [x('b'), [[0, 2.5]]], [x('c'), [[0, 1.26]]]])
    expect(await instant(g, 'round(x)', 0)).toEqual({ '{"job":"a"}': -2, '{"job":"b"}': 3, '{"job":"c"}': 1 })
    expect(await instant(g, 'round(x, 0.1)', 0)).toEqual({ '{"job":"a"}': -2.5, '{"job":"b"}': 2.5, '{"job":"c"}': 1.3 })
    expect(await instant(g, 'clamp_min(x, 0)', 0)).toEqual({ '{"job":"a"}': 0, '{"job":"b"}': 2.5, '{"job":"c"}': 1.26 })
    expect(await instant(g, 'clamp_max(abs(x), 2)', 0)).toEqual({ '{"job":"a"}': 2, '{"job":"b"}': 2, '{"job":"c"}': 1.26 })
    expect(await instant(g, 'ceil(x) - floor(x)', 0)).toEqual({ '{"job":"a"}': 1, '{"job":"b"}': 1, '{"job":"c"}': 1 })
  })
})

describe('range queries', () => {
  const q = querier([[x('a'), every(10 * S, [1, 2, 3, 4, 5, 6, 7])]])
  it('evaluates at start, start+step, ... <= end, without aligning start', async () => {
    const r = await queryRange(q, 'x', 7 * S, 50 * S, 20 * S, limits())
    expect(r).toEqual({ resultType: 'matrix', result: [{ metric: { __name__: 'x', job: 'a' }, timestamps: [7 * S, 27 * S, 47 * S], values: [1, 3, 5] }] })
  })
  it('turns a scalar into one series without labels', async () => {
    const r = await queryRange(q, '1 + 1', 0, 20 * S, 10 * S, limits())
    expect(r).toEqual({ resultType: 'matrix', result: [{ metric: {}, timestamps: [0, 10 * S, 20 * S], values: [2, 2, 2] }] })
  })
  it.each([
    ['more than 11,000 points', 0, 11_001 * S, S, '11,000 points'],
    ['a zero step', 0, 10 * S, 0, 'step'],
    ['end before start', 10 * S, 0, S, 'end timestamp must not be before start time'],
  ])('rejects %s as bad_data', async (_what, start, end, step, named) => {
    await expect(queryRange(q, 'x', start, end, step, limits())).rejects.toMatchObject({ errorType: 'bad_data', message: expect.stringContaining(named) })
  })
  it('accepts exactly 11,000 points', async () => {
    await expect(queryRange(q, 'x', 0, 10_999 * S, S, limits())).resolves.toMatchObject({ resultType: 'matrix' })
  })
  it('rejects a range vector as a range query', async () => {
    await expect(queryRange(q, 'x[1m]', 0, 10 * S, S, limits())).rejects.toMatchObject({ errorType: 'bad_data', message: expect.stringContaining('range vector') })
  })
})

describe('limits and deadline', () => {
  const many = querier(Array.from({ length: 50 }, (_, i): [Labels, Array<[number, number]>] => [x(`j${i}`), every(10 * S, Array.from({ length: 400 }, (_, k) => k))]))
  it('maxSeries', async () => {
    const err = await queryInstant(many, 'x', 60 * S, limits({ maxSeries: 49 })).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PromQLError)
    expect(err).toMatchObject({ errorType: 'execution', limit: 'maxSeries' })
  })
  it('maxSamples', async () => {
    await expect(queryRange(many, 'rate(x[5m])', 0, 4000 * S, 10 * S, limits({ maxSamples: 10_000 }))).rejects.toMatchObject({ errorType: 'execution', limit: 'maxSamples' })
  })
  it('counts points materialised by subqueries as samples', async () => {
    await expect(queryInstant(many, 'max_over_time(x[1h:1s])', 4000 * S, limits({ maxSamples: 50_000 }))).rejects.toMatchObject({ errorType: 'execution', limit: 'maxSamples' })
  })
  it('a deadline already past is a timeout', async () => {
    await expect(queryInstant(many, 'x', 0, limits({ deadlineMs: Date.now() - 1 }))).rejects.toMatchObject({ errorType: 'timeout' })
  })
  it('a long evaluation stops soon after its deadline', async () => {
    const started = Date.now()
    const err = await queryRange(many, 'max_over_time(rate(x[1m])[10m:1s])', 0, 4000 * S, 1 * S, limits({ deadlineMs: Date.now() + 100 })).catch((e: unknown) => e)
    expect(err).toMatchObject({ errorType: 'timeout' })
    expect(Date.now() - started).toBeLessThan(3000)
  })
})

describe('toPrometheusData', () => {
  it('writes values as Go does and times in seconds', () => {
    const r: PromResult = { resultType: 'vector', result: [{ metric: { a: 'b' }, timestamp: 1700000000123, value: 1e21 }] }
    expect(toPrometheusData(r)).toEqual({ resultType: 'vector', result: [{ metric: { a: 'b' }, value: [1700000000.123, '1000000000000000000000'] }] })
    expect(toPrometheusData({ resultType: 'scalar', result: { timestamp: 1000, value: NaN } })).toEqual({ resultType: 'scalar', result: [1, 'NaN'] })
    expect(toPrometheusData({ resultType: 'matrix', result: [{ metric: {}, timestamps: [0, 1500], values: [Infinity, -Infinity] }] }))
      .toEqual({ resultType: 'matrix', result: [{ metric: {}, values: [[0, '+Inf'], [1.5, '-Inf']] }] })
    expect(toPrometheusData({ resultType: 'string', result: { timestamp: 2000, value: 'hi' } })).toEqual({ resultType: 'string', result: [2, 'hi'] })
  })
  it.each([
    [0.1, '0.1'], [-0, '-0'], [1e-7, '0.0000001'], [1.5e-10, '0.00000000015'], [123456789012345680000, '123456789012345680000'],
    [-2.5e25, '-25000000000000000000000000'], [5e-324, `0.${'0'.repeat(323)}5`], [0.30000000000000004, '0.30000000000000004'],
  ])('formatValue(%s)', (v, want) => {
    expect(formatValue(v)).toBe(want)
  })
})

describe('aggregations of range functions', () => {
  // Gauges with NaN, infinities and gaps, in 3 groups; the fused evaluation (aggregate straight
  // from the range function) must give exactly what the general path gives. `-(-f(...))` defeats
  // the fusion without changing any value, so it is the reference.
  const rand = (() => { let s = 7; return () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 } })()
  const special = [NaN, Infinity, -Infinity, 0, -0, 1e308, -1e308]
  const series: Array<[Labels, Array<[number, number]>]> = []
  for (let i = 0; i < 24; i++) {
    const points: Array<[number, number]> = []
    for (let t = 0; t < 60 * M; t += 15 * S) {
      if (rand() < 0.2) continue // gaps
      points.push([t, rand() < 0.05 ? special[Math.floor(rand() * special.length)]! : Math.round(rand() * 1e4) / 100])
    }
    series.push([x(`j${i % 3}`, { i: String(i), g: String(i % 4) }), points])
  }
  const q = querier(series)
  const same = (a: PromResult, b: PromResult): void => expect(JSON.stringify(toPrometheusData(a))).toBe(JSON.stringify(toPrometheusData(b)))
  for (const op of ['sum', 'avg', 'min', 'max', 'count']) {
    for (const f of ['rate(x[5m])', 'delta(x[10m])', 'avg_over_time(x[5m])', 'max_over_time(x[3m])', 'quantile_over_time(0.3, x[5m])', 'sum_over_time(x[2m])']) {
      for (const grouping of ['', ' by (job)', ' without (i)', ' by (g, job)']) {
        it(`${op}${grouping} (${f})`, async () => {
          const fused = `${op}${grouping} (${f})`
          const general = `${op}${grouping} (-(-${f}))`
          same(await queryRange(q, fused, 10 * M, 50 * M, 30 * S, limits()), await queryRange(q, general, 10 * M, 50 * M, 30 * S, limits()))
          same(await queryInstant(q, fused, 33 * M, limits()), await queryInstant(q, general, 33 * M, limits()))
        })
      }
    }
  }
  it('keeps the name for last_over_time and refuses two series with the same labels', async () => {
    expect(await instant(q, 'count by (__name__) (last_over_time(x[5m]))', 30 * M)).toEqual({ '{"__name__":"x"}': 24 })
    const dup = querier([[{ __name__: 'a', k: '1' }, [[0, 1]]], [{ __name__: 'b', k: '1' }, [[0, 2]]]])
    await expect(queryInstant(dup, 'sum(rate({k="1"}[5m]))', 60 * S, limits())).resolves.toBeDefined()
    await expect(queryInstant(dup, 'sum(max_over_time({k="1"}[5m]))', 60 * S, limits())).rejects.toThrow(/same labelset/)
  })
})
