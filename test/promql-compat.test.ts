/**
 * PromQL compatibility: the same generated data in a real Prometheus 2.42 and
 * in ringest; every query's API answer must be the same (values within a
 * relative 1e-9 where float summation order may differ; NaN equals NaN;
 * series compared sorted by labels; errors compared by errorType).
 *
 * Which ringest is compared is chosen by makeTarget (one function):
 * makeRingestTarget (the default) writes line protocol to a real ringest and
 * queries its HTTP API; makeMemoryTarget (PROMQL_COMPAT_TARGET=memory) runs
 * the engine directly over an in-memory Querier.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compileMatcher, PromQLError, queryInstant, queryRange, toPrometheusData } from '../dist/src/promql/index.js'
import { MemoryQuerier } from './fixtures/promql/memory-querier.js'
import { generateDataset, PROBE_VALUES, prng, rows, toLineProtocol, toOpenMetrics, type Dataset } from './fixtures/promql/dataset.js'
import { apiQuery, startPrometheus, type ApiAnswer, type RunningPrometheus } from './helpers/prometheus.js'

const MIN = 60_000
const LIMITS = { maxSeries: 100_000, maxSamples: 50_000_000 }
type Path = '/api/v1/query' | '/api/v1/query_range'

interface Target {
  name: string
  query (path: Path, params: Record<string, string>): Promise<ApiAnswer>
  close (): Promise<void>
  /** ringest's count of range queries split over its query workers (src/query.ts), if the target is a server. */
  splits?: () => Promise<number>
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3)
const parseTimeParam = (s: string): number => Math.round(Number(s) * 1000)

async function makeMemoryTarget (ds: Dataset, shuffleSeed?: number): Promise<Target> {
  const q = new MemoryQuerier()
  for (const [labels, t, v] of rows(ds, shuffleSeed === undefined ? undefined : prng(shuffleSeed))) q.append(labels, t, v)
  return {
    name: shuffleSeed === undefined ? 'engine over an in-memory Querier' : 'engine over an in-memory Querier, loaded shuffled',
    async query (path, p) {
      const limits = { ...LIMITS, deadlineMs: Date.now() + 30_000 }
      try {
        const r = path === '/api/v1/query'
          ? await queryInstant(q, p.query!, parseTimeParam(p.time!), limits)
          : await queryRange(q, p.query!, parseTimeParam(p.start!), parseTimeParam(p.end!), parseTimeParam(p.step!), limits)
        return { status: 'success', data: JSON.parse(JSON.stringify(toPrometheusData(r))) }
      } catch (err) {
        if (err instanceof PromQLError) return { status: 'error', errorType: err.errorType, error: err.message }
        throw err
      }
    },
    async close () {},
  }
}

/** Needs /api/v1/query and /api/v1/query_range in src/server.ts. */
async function makeRingestTarget (ds: Dataset, shuffleSeed?: number): Promise<Target> {
  const { startTestServer, post, get } = await import('./helpers/server.js')
  // The data spans 4 h and the shuffled checks write it in random order: the out-of-order window must cover it.
  // Two query workers (the default; the test fixture has one), so that range queries of the shapes that split are split.
  const s = await startTestServer({ oooWindowMs: 24 * 3_600_000, queryWorkers: 2 })
  const lines = toLineProtocol(ds, shuffleSeed === undefined ? undefined : prng(shuffleSeed))
  for (let i = 0; i < lines.length; i += 5000) {
    const r = await post(`${s.url}/write?precision=ms`, lines.slice(i, i + 5000).join('\n'))
    if (r.status !== 204) throw new Error(`write: ${r.status} ${r.text}`)
  }
  return {
    name: shuffleSeed === undefined ? 'ringest HTTP API' : 'ringest HTTP API, written shuffled',
    query: async (path, p) => await apiQuery(s.url, path, p),
    close: async () => { await s.stop() },
    splits: async () => (await get(`${s.url}/stats`)).json().queries.split as number,
  }
}

/**
 * The one switch between the two ringest sides (see the header comment).
 * ringest serves the query API now, so the suite compares its HTTP answers;
 * PROMQL_COMPAT_TARGET=memory runs the engine directly instead.
 */
const makeTarget: (ds: Dataset, shuffleSeed?: number) => Promise<Target> = process.env.PROMQL_COMPAT_TARGET === 'memory' ? makeMemoryTarget : makeRingestTarget

// ---- comparison --------------------------------------------------------------------------------

const labelKey = (m: Record<string, string>): string => JSON.stringify(Object.entries(m).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))

const sameValue = (a: string, b: string): boolean => {
  if (a === b) return true
  const x = Number(a === '+Inf' ? Infinity : a === '-Inf' ? -Infinity : a)
  const y = Number(b === '+Inf' ? Infinity : b === '-Inf' ? -Infinity : b)
  if (Number.isNaN(x) && Number.isNaN(y)) return true
  if (!Number.isFinite(x) || !Number.isFinite(y)) return x === y
  return Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y))
}

const samePoint = (a: [number, string], b: [number, string]): boolean => a[0] === b[0] && sameValue(a[1], b[1])

/** Undefined when equal, else the first difference. */
function diff (want: ApiAnswer, got: ApiAnswer): string | undefined {
  if (want.status !== got.status) return `status: Prometheus ${want.status} (${JSON.stringify(want)}), ringest ${got.status} (${JSON.stringify(got).slice(0, 300)})`
  if (want.status === 'error' || got.status === 'error') {
    return (want as { errorType: string }).errorType === (got as { errorType: string }).errorType
      ? undefined
      : `errorType: Prometheus ${JSON.stringify(want)}, ringest ${JSON.stringify(got)}`
  }
  const w = want.data
  const g = got.data
  if (w.resultType !== g.resultType) return `resultType: Prometheus ${w.resultType}, ringest ${g.resultType}`
  if (w.resultType === 'scalar' || w.resultType === 'string') {
    return samePoint(w.result, g.result) ? undefined : `Prometheus ${JSON.stringify(w.result)}, ringest ${JSON.stringify(g.result)}`
  }
  const sortIt = (list: any[]): any[] => [...list].sort((a, b) => labelKey(a.metric) < labelKey(b.metric) ? -1 : 1)
  const ws = sortIt(w.result)
  const gs = sortIt(g.result)
  const wk = ws.map((s) => labelKey(s.metric))
  const gk = gs.map((s) => labelKey(s.metric))
  if (wk.join('\n') !== gk.join('\n')) {
    return `series: only in Prometheus ${JSON.stringify(wk.filter((k) => !gk.includes(k)))}, only in ringest ${JSON.stringify(gk.filter((k) => !wk.includes(k)))} (${ws.length} vs ${gs.length})`
  }
  for (let i = 0; i < ws.length; i++) {
    const a = w.resultType === 'vector' ? [ws[i].value] : ws[i].values
    const b = w.resultType === 'vector' ? [gs[i].value] : gs[i].values
    for (let j = 0; j < Math.max(a.length, b.length); j++) {
      if (a[j] === undefined || b[j] === undefined || !samePoint(a[j], b[j])) {
        return `series ${wk[i]} point ${j}: Prometheus ${JSON.stringify(a[j])}, ringest ${JSON.stringify(b[j])} (${a.length} vs ${b.length} points)`
      }
    }
  }
  return undefined
}

// ---- the queries -------------------------------------------------------------------------------

type Mode = 'both' | 'instant' | 'range'
const Q = (expr: string, mode: Mode = 'both'): { expr: string, mode: Mode } => ({ expr, mode })

const QUERIES = [
  // selectors and matchers
  Q('http_requests_total'),
  Q('http_requests_total{job="api"}'),
  Q('http_requests_total{method!="get"}'),
  Q('http_requests_total{instance=~"i[12]"}'),
  Q('http_requests_total{instance!~"i1|i3", job=~"a.*"}'),
  Q('{__name__=~"http_requests_total|queue_depth", job="api"}'),
  Q('{__name__=~".*_total", instance=~"(?i)N1|I1"}'),
  Q('temperature_celsius{region=~"eu-(west|north)"}'),
  Q('temperature_celsius{region!~"us-.*|"}'),
  Q('queue_depth{instance=~"i\\\\d", job!~"x?"}'),
  Q('temperature_celsius'),
  Q('temperature_celsius offset 10m'),
  Q('queue_depth offset 1h5m'),
  Q('http_requests_total[5m]', 'instant'),
  Q('temperature_celsius[2m] offset 1m', 'instant'),
  // rates and counters
  Q('rate(http_requests_total[5m])'),
  Q('rate(http_requests_total[1m])'),
  Q('irate(http_requests_total[5m])'),
  Q('increase(http_requests_total[10m])'),
  Q('increase(node_cpu_seconds_total[7m] offset 3m)'),
  Q('rate(node_cpu_seconds_total{mode="idle"}[90s])'),
  Q('delta(temperature_celsius[15m])'),
  Q('delta(queue_depth[2m])'),
  Q('irate(temperature_celsius[3m])'),
  Q('increase(http_requests_total[1h30m])'),
  // _over_time
  Q('avg_over_time(temperature_celsius[10m])'),
  Q('min_over_time(queue_depth[5m])'),
  Q('max_over_time(temperature_celsius[20m])'),
  Q('sum_over_time(queue_depth[3m])'),
  Q('count_over_time(temperature_celsius[5m])'),
  Q('last_over_time(temperature_celsius[10m])'),
  Q('quantile_over_time(0.9, temperature_celsius[30m])'),
  Q('quantile_over_time(0.25, queue_depth[10m])'),
  // subqueries
  Q('max_over_time(rate(http_requests_total[5m])[30m:1m])'),
  Q('avg_over_time(temperature_celsius[10m:45s])'),
  Q('min_over_time(sum by (job) (rate(http_requests_total[2m]))[15m:])'),
  Q('rate(http_requests_total[5m:30s] offset 2m)'),
  Q('sum_over_time(queue_depth[10m:1m] offset 5m)'),
  Q('max_over_time(max_over_time(temperature_celsius[5m:20s])[20m:2m])'),
  Q('max_over_time(queue_depth offset 5m [10m:1m])'),
  Q('sum_over_time(count by (job) (queue_depth)[1h:5m] offset 10m)'),
  Q('rate(http_requests_total{instance="i2"}[5m])[20m:2m]', 'instant'),
  // aggregations
  Q('sum(rate(http_requests_total[5m]))'),
  Q('sum by (job) (rate(http_requests_total[5m]))'),
  Q('sum(rate(http_requests_total[5m])) by (job, method)'),
  Q('avg without (instance) (temperature_celsius)'),
  Q('avg(memory_usage_bytes)'),
  Q('min by (region) (temperature_celsius)'),
  Q('max(node_cpu_seconds_total) without (mode)'),
  Q('count by (job) (http_requests_total)'),
  Q('count(temperature_celsius)'),
  Q('sum without () (queue_depth)'),
  Q('topk(3, rate(http_requests_total[5m]))'),
  Q('bottomk(2, queue_depth)'),
  Q('topk(3, queue_depth)'),
  Q('topk by (job) (1, http_requests_total)'),
  Q('bottomk without (method, code) (1, http_requests_total)'),
  Q('quantile(0.75, temperature_celsius)'),
  Q('quantile by (mode) (0.5, rate(node_cpu_seconds_total[5m]))'),
  // aggregations of range functions (evaluated without the intermediate vector)
  Q('avg by (job) (rate(http_requests_total[5m]))'),
  Q('min without (instance) (irate(http_requests_total[3m]))'),
  Q('max by (region) (max_over_time(temperature_celsius[10m]))'),
  Q('count without (code) (increase(http_requests_total[10m]))'),
  Q('sum by (__name__, job) (last_over_time(http_requests_total[10m]))'),
  Q('avg((delta(temperature_celsius[15m])))'),
  Q('min(avg_over_time(queue_depth[5m] offset 5m))'),
  Q('max by (job) (quantile_over_time(0.5, queue_depth[10m]))'),
  Q('sum(count_over_time(temperature_celsius[5m])) by (region)'),
  Q('avg by (instance) (sum_over_time(memory_usage_bytes[3m]))'),
  // arithmetic and comparisons
  Q('http_requests_total * 2 + 1'),
  Q('2 ^ queue_depth'),
  Q('queue_depth % 3'),
  Q('-queue_depth % -4'),
  Q('queue_depth / 0'),
  Q('-temperature_celsius'),
  Q('http_requests_total > 500'),
  Q('500 < http_requests_total'),
  Q('queue_depth >= bool 5'),
  Q('temperature_celsius == bool temperature_celsius'),
  Q('rate(http_requests_total[5m]) / on(job, instance, method, code) rate(http_requests_total[10m])'),
  Q('sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m])) / ignoring(mode) sum by (instance) (rate(node_cpu_seconds_total[5m]))'),
  Q('sum by (instance) (rate(node_cpu_seconds_total{mode="user"}[5m])) / on(instance) sum by (instance, region) (rate(node_cpu_seconds_total[5m]))'),
  Q('node_cpu_seconds_total{mode="user"} > ignoring(mode) node_cpu_seconds_total{mode="system"}'),
  Q('node_cpu_seconds_total{mode="user"} < bool ignoring(mode) node_cpu_seconds_total{mode="system"}'),
  Q('(http_requests_total offset 1h) - http_requests_total'),
  Q('queue_depth - queue_depth{job="api"}'),
  // functions
  Q('abs(delta(temperature_celsius[10m]))'),
  Q('ceil(temperature_celsius)'),
  Q('floor(-temperature_celsius)'),
  Q('round(temperature_celsius)'),
  Q('round(temperature_celsius, 0.5)'),
  Q('round(memory_usage_bytes, 1e6)'),
  Q('clamp_min(queue_depth, 2)'),
  Q('clamp_max(temperature_celsius, 20)'),
  Q('clamp_max(queue_depth, Inf) + clamp_min(queue_depth, -Inf)'),
  // scalars, literals, syntax
  Q('1 + 2 * 3'),
  Q('2 ^ 3 ^ 2'),
  Q('-2 ^ 2'),
  Q('(1 + 2) * 3 - 10 % 3'),
  Q('1 > bool 2'),
  Q('0x10 + 1e2 + .5 + 010'),
  Q('queue_depth * 0x10 + 1e-1'),
  Q('"a string"', 'instant'),
  Q('sum(queue_depth) # a comment'),
  Q('SUM BY (job) (queue_depth)'),
  Q('sum(\n  rate(http_requests_total[5m]) # per second\n) without (instance, method, code)'),
  // NaN and infinities through aggregations and functions
  // Instant only: with ties (+Inf, +Inf) Prometheus's range-query answer depends on Go's random map
  // order (rangeEval collects a binary operation's output series in a map), so it is not deterministic.
  Q('topk(2, queue_depth / 0)', 'instant'),
  Q('bottomk(3, queue_depth / 0)', 'instant'),
  Q('quantile(0.5, queue_depth / 0)'),
  Q('max by (job) (queue_depth / 0)'),
  Q('min(queue_depth / 0)'),
  Q('avg(queue_depth / 0)'),
  Q('avg_over_time((queue_depth / 0)[10m:1m])'),
  Q('max_over_time((queue_depth / 0)[5m:30s])'),
  Q('clamp_min(queue_depth, NaN)'),
  Q('topk(2.9, queue_depth)'),
  Q('quantile(-1, queue_depth)'),
  Q('quantile(NaN, queue_depth)'),
  // more windows around resets and gaps
  Q('increase(http_requests_total{instance="i2"}[3m])'),
  Q('delta(node_cpu_seconds_total[1m])'),
  Q('count_over_time(temperature_celsius[30m:5m])'),
  Q('last_over_time(queue_depth[7m:1m] offset 30s)'),
  Q('rate(http_requests_total[5m] offset 30m)'),
  Q('round(-temperature_celsius, 0.01)'),
  Q('sum by (instance) (http_requests_total) > bool 1000'),
  // errors Prometheus reports at execution time
  Q('http_requests_total + on(job) http_requests_total'),
  Q('abs({__name__=~"queue_depth|http_requests_total", job="api", instance="i1"} offset 30m) * 0 + abs(queue_depth{job="api", instance="i1"})'),
]

// ---- the suite ---------------------------------------------------------------------------------

let ds: Dataset
let prom: RunningPrometheus
let target: Target
let instants: number[]
let ranges: Array<{ start: number, end: number, step: number }>

beforeAll(async () => {
  // Prometheus deletes blocks older than its retention: the data ends a little before now.
  const endMs = Math.floor(Date.now() / 1000) * 1000 - 2 * MIN
  ds = generateDataset(42, endMs)
  const [g0, g1] = [ds.gaps[0]!, ds.gaps[1]!]
  instants = [
    ds.endMs - 30_000,
    ds.resetMs + 15_000,
    ds.resetMs + 65_000,
    g0[0] + 3 * MIN,
    g0[0] + 10 * MIN,
    g0[1] + 5_000,
    g1[0] + 6 * MIN,
    ds.startMs + 90_000,
    ds.startMs + 2 * 60 * MIN + 12_345,
    ds.endMs + 4 * MIN,
  ]
  ranges = [
    { start: ds.startMs + 17_000, end: ds.endMs + 6 * MIN, step: MIN },
    { start: ds.resetMs - 20 * MIN + 3_500, end: ds.resetMs + 20 * MIN, step: 15_000 },
    { start: g0[0] - 10 * MIN, end: g0[1] + 10 * MIN, step: 7_000 },
    // From before the first sample, a step longer than most windows, an end the steps do not reach.
    { start: ds.startMs - 10 * MIN, end: ds.endMs, step: 307_000 },
  ]
  ;[prom, target] = await Promise.all([startPrometheus(toOpenMetrics(ds)), makeTarget(ds)])
}, 120_000)

afterAll(async () => {
  await prom?.stop()
  await target?.close()
})

async function compareOne (t: Target, expr: string, mode: Mode): Promise<string[]> {
  const problems: string[] = []
  const check = async (path: Path, params: Record<string, string>): Promise<void> => {
    const [want, got] = await Promise.all([apiQuery(prom.url, path, params), t.query(path, params)])
    const d = diff(want, got)
    if (d !== undefined) problems.push(`${path} ${JSON.stringify(params)}: ${d}`)
  }
  if (mode !== 'range') for (const time of instants) await check('/api/v1/query', { query: expr, time: seconds(time) })
  if (mode !== 'instant') {
    for (const r of ranges) await check('/api/v1/query_range', { query: expr, start: seconds(r.start), end: seconds(r.end), step: String(r.step / 1000) })
  }
  return problems
}

describe('PromQL answers equal Prometheus 2.42', () => {
  it('the comparison runs on non-trivial data', async () => {
    const r = await apiQuery(prom.url, '/api/v1/query', { query: 'count(count_over_time({__name__=~".+", __name__!="regex_probe"}[1d]))', time: seconds(ds.endMs) })
    expect(r).toMatchObject({ status: 'success', data: { result: [{ value: [ds.endMs / 1000, String(ds.series.length)] }] } })
    const rr = await apiQuery(prom.url, '/api/v1/query', { query: 'sum(count_over_time({__name__=~".+", __name__!="regex_probe"}[1d]))', time: seconds(ds.endMs) })
    const samples = ds.series.reduce((n, s) => n + s.ts.length, 0)
    expect(rr).toMatchObject({ status: 'success', data: { result: [{ value: [ds.endMs / 1000, String(samples)] }] } })
  })

  it.each(QUERIES)('$expr', async ({ expr, mode }) => {
    const problems = await compareOne(target, expr, mode)
    expect(problems, `${target.name}:\n${problems.slice(0, 3).join('\n')}`).toEqual([])
  })
})

describe('out-of-order writes give the same answers', () => {
  let shuffled: Target
  beforeAll(async () => { shuffled = await makeTarget(ds, 7) })
  afterAll(async () => { await shuffled?.close() })

  it.each([
    'http_requests_total',
    'rate(http_requests_total[5m])',
    'temperature_celsius',
    'max_over_time(rate(http_requests_total[5m])[30m:1m])',
    'sum by (job) (queue_depth)',
    'irate(temperature_celsius[3m])',
  ])('%s', async (expr) => {
    const problems = await compareOne(shuffled, expr, 'both')
    expect(problems, `${shuffled.name}:\n${problems.slice(0, 3).join('\n')}`).toEqual([])
  })
})

describe('label regexes match what Go\'s regexp matches', () => {
  // Every pattern is run by Prometheus over label values with newlines, Unicode
  // case-folding corners and class boundaries, and by the engine's translation.
  it.each([
    'a', 'a|b', '.', 'a.b', '(?s)a.b', '(?s:.).', '.*', '.+b', '\\s', '\\S', '\\w', '\\W', '\\d', '\\D', '\\w+\\W\\w+',
    '(?i)a', '(?i)k', '(?i)s', '(?i)é', '(?i)\\W', '(?i)[^k]', '(?i)[[:^lower:]]', '(?i)[[:upper:]]', '(?i)ß', '(?i)ǅ', '(?is)A.B',
    '[[:alpha:]]+', '[[:^alpha:]]', '[[:space:]]', '[[:punct:]]', '[[:word:]]+', '\\pL+', '\\p{Greek}+', '\\PL', '\\p{Lu}', '\\pN', '\\p{Zs}', '\\pC',
    '[^a]', '[]x]+', '\\[x\\]', 'x{', 'x\\{', '\\.', 'a\\.b', '(ab)+', '(?:ab){2}', 'a{2,3}', 'a{2,}', '(?U)a+', '(?U)a+?',
    '(?m)a$', '(?m)^b', '(?m)a$\\n^b', '^a$', '\\Aa\\z', 'a\\b', '\\bb', '\\Bb', '\\x41', '\\x{212a}', '\\101', '\\0',
    '(?P<n>a)b', 'a\\\\b', '[a-c]+', '[\\d\\s]', '[^\\w]', '[^\\W]', '\\t|\\v', '[\\x{1F600}-\\x{1F64F}]', '[-a]', '[a-]', '-',
  ])('%s', async (re) => {
    const query = `regex_probe{v=~${JSON.stringify(re)}}`
    const r = await apiQuery(prom.url, '/api/v1/query', { query, time: seconds(ds.endMs - 30_000) })
    expect(r.status, JSON.stringify(r)).toBe('success')
    const want = (r as { data: { result: Array<{ metric: { v: string } }> } }).data.result.map((s) => s.metric.v).sort()
    const f = compileMatcher({ name: 'v', type: '=~', value: re })
    const got = PROBE_VALUES.filter((v) => f(v)).sort()
    expect(got).toEqual(want)
  })

  it.each(['(a)\\1', '(?=a)', '(?<n>a)', 'a++', '\\Z', '(?x)a', 'a{1001}', '[z-a]', '\\8', '\\C'])('%s is rejected by both', async (re) => {
    const query = `regex_probe{v=~${JSON.stringify(re)}}`
    const r = await apiQuery(prom.url, '/api/v1/query', { query, time: seconds(ds.endMs - 30_000) })
    expect(r).toMatchObject({ status: 'error', errorType: 'bad_data' })
    expect(() => compileMatcher({ name: 'v', type: '=~', value: re })).toThrow(PromQLError)
  })
})

describe('expressions outside the subset are bad_data', () => {
  const time = (): string => seconds(ds.endMs)
  it.each([
    ['histogram_quantile(0.9, rate(http_requests_total[5m]))', 'histogram_quantile'],
    ['http_requests_total and queue_depth', 'and'],
    ['http_requests_total or queue_depth', 'or'],
    ['queue_depth * on(job) group_left(instance) sum by (job) (queue_depth)', 'group_left'],
    ['stddev(queue_depth)', 'stddev'],
    ['queue_depth @ 1700000000', '@'],
    ['label_replace(queue_depth, "a", "$1", "job", "(.*)")', 'label_replace'],
  ])('%s', async (expr, named) => {
    const got = await target.query('/api/v1/query', { query: expr, time: time() })
    expect(got).toMatchObject({ status: 'error', errorType: 'bad_data' })
    expect((got as { error: string }).error).toContain(named)
  })

  it.each([
    'queue_depth{job=~"(?=a)"}',
    'queue_depth{job=~"(a)\\\\1"}',
    'queue_depth{job=~"a++"}',
    '{job=""}',
    'rate(queue_depth)',
    'sum(queue_depth',
    'queue_depth[5m] + 1',
    '1 > 2',
    'foo{__name__="bar"}',
  ])('%s (Prometheus rejects it too)', async (expr) => {
    const [want, got] = await Promise.all([apiQuery(prom.url, '/api/v1/query', { query: expr, time: time() }), target.query('/api/v1/query', { query: expr, time: time() })])
    expect(want).toMatchObject({ status: 'error', errorType: 'bad_data' })
    expect(got).toMatchObject({ status: 'error', errorType: 'bad_data' })
  })

  it('the range queries of the shapes that split were split (so the comparisons above cover the merge)', async () => {
    // Ingest is idle once the data is written; sum/count/min/max of a range function of one named metric split.
    if (target.splits !== undefined) expect(await target.splits()).toBeGreaterThan(0)
  })

  it('a range query over more than 11,000 points per series is bad_data, as in Prometheus', async () => {
    const params = { query: 'queue_depth', start: seconds(ds.startMs), end: seconds(ds.endMs), step: '1' }
    const [want, got] = await Promise.all([apiQuery(prom.url, '/api/v1/query_range', params), target.query('/api/v1/query_range', params)])
    expect(want).toMatchObject({ status: 'error', errorType: 'bad_data' })
    expect(got).toMatchObject({ status: 'error', errorType: 'bad_data' })
  })
})
