/**
 * The evaluator. Like Prometheus's, it evaluates every node over all steps of
 * the query at once (start, start+interval, ... <= end): an instant-vector
 * node yields one vector per step, a scalar one number per step, a range
 * vector its raw samples plus the window (range, offset) that functions slide
 * over the steps. Subqueries evaluate their expression with their own aligned
 * steps. Each selector calls Querier.select once, for the widest range needed.
 */
import {
  isComparison, type Aggregate, type Binary, type Call, type Expr, type MatrixSelector, type SubqueryExpr, type VectorSelector,
} from './ast.js'
import {
  arithmetic, avgOverTime, compare, counterResets, extrapolatedRate, extrapolatedRateSteps, IncrementalMean, instantValue, maxOverTime, minOverTime,
  quantile, quantileOverTime, round, selectK, sumOverTime, weightedAvgOverTime, type Window,
} from './functions.js'
import { compareStrings, LabelInterner, sortByString, type LSet } from './labels.js'
import { isStaleNaN } from './stale.js'
import { PromQLError, type Labels, type MatrixSeriesResult, type Querier, type QueryLimits, type RollupColumn, type RollupInfo } from './types.js'

export const LOOKBACK_DELTA_MS = 5 * 60_000
/** Prometheus's default evaluation interval, the step of a subquery written without one. */
export const DEFAULT_SUBQUERY_STEP_MS = 60_000
const DEADLINE_CHECK_EVERY = 1024 // iterations between Date.now() calls

export interface Sample { m: LSet, v: number }
export interface RawSeries { m: LSet, ts: ArrayLike<number>, vs: ArrayLike<number>, ws?: ArrayLike<number> }

export type Value =
  | { type: 'scalar', v: Float64Array }
  | { type: 'vector', steps: Sample[][] }
  | { type: 'matrix', series: RawSeries[], rangeMs: number, offsetMs: number }
  | { type: 'string', s: string }

/** The steps a node is evaluated at. */
export interface Steps { start: number, end: number, interval: number, n: number }

export const makeSteps = (start: number, end: number, interval: number): Steps =>
  ({ start, end, interval, n: end < start ? 0 : Math.floor((end - start) / interval) + 1 })

const execution = (msg: string, limit?: string): PromQLError => new PromQLError('execution', msg, limit)

/** Functions of a range vector (rangeKernel). */
const RANGE_FUNCTIONS = new Set(['rate', 'increase', 'delta', 'irate', 'avg_over_time', 'sum_over_time', 'min_over_time', 'max_over_time', 'count_over_time', 'last_over_time', 'quantile_over_time'])
/** Range functions a rollup answers, and the column each reads (Querier.selectRollup). */
const ROLLUP_COLUMNS: Partial<Record<string, RollupColumn>> = {
  min_over_time: 'min', max_over_time: 'max', sum_over_time: 'sum', count_over_time: 'count', avg_over_time: 'avg', last_over_time: 'last',
}
/**
 * A rollup of resolution r serves a query whose step (or range) is at least
 * ROLLUP_MIN_FACTOR * r: Thanos's rule, so that a step never spans fewer than
 * 5 buckets and the answer is as smooth as the raw one.
 */
const ROLLUP_MIN_FACTOR = 5
/** Aggregations evalAggregateOverRange computes without the intermediate vector. */
const FUSABLE_AGGREGATES = new Set(['sum', 'avg', 'count', 'min', 'max'])

export class Evaluator {
  readonly labels = new LabelInterner()
  private seriesLoaded = 0
  private samplesLoaded = 0
  private ticks = 0
  private rollupInfo: RollupInfo | undefined

  constructor (private readonly q: Querier, private readonly limits: QueryLimits) {}

  checkDeadline (): void {
    if (Date.now() > this.limits.deadlineMs) throw new PromQLError('timeout', 'query timed out in expression evaluation')
    this.limits.pace?.()
  }

  /** Cheap enough for inner loops: looks at the clock every DEADLINE_CHECK_EVERY calls. */
  private tick (): void {
    if (++this.ticks % DEADLINE_CHECK_EVERY === 0) this.checkDeadline()
  }

  addSamples (n: number): void {
    this.samplesLoaded += n
    if (this.samplesLoaded > this.limits.maxSamples) {
      throw execution(`query processing would load too many samples into memory in query execution (limit maxSamples=${this.limits.maxSamples})`, 'maxSamples')
    }
  }

  /**
   * The rollup resolution a selector reads (0: raw samples): the coarsest
   * whose ROLLUP_MIN_FACTOR buckets fit in the step or the range (range
   * functions: and at most the range); or, when the raw samples the query
   * needs are past retention, the finest there is. Never coarser than
   * limits.maxSourceResolutionMs.
   */
  private rollupFor (stepMs: number, rangeMs: number, minT: number): number {
    this.rollupInfo ??= this.q.rollups?.() ?? { resolutionsMs: [], rawFromMs: -Infinity }
    if (this.q.selectRollup === undefined) return 0
    const cap = this.limits.maxSourceResolutionMs ?? Infinity
    const usable = this.rollupInfo.resolutionsMs.filter((r) => r <= cap)
    let chosen = 0
    for (const r of usable) if (ROLLUP_MIN_FACTOR * r <= Math.max(stepMs, rangeMs) && (rangeMs === 0 || r <= rangeMs)) chosen = Math.max(chosen, r)
    if (chosen === 0 && minT < this.rollupInfo.rawFromMs && usable.length > 0) chosen = Math.min(...usable)
    return chosen
  }

  async select (vs: VectorSelector, minT: number, maxT: number, rollup?: { resMs: number, column: RollupColumn }): Promise<RawSeries[]> {
    this.checkDeadline()
    const data = rollup === undefined ? await this.q.select(vs.matchers, minT, maxT) : await this.q.selectRollup!(vs.matchers, minT, maxT, rollup.resMs, rollup.column)
    this.checkDeadline()
    this.seriesLoaded += data.length
    if (this.seriesLoaded > this.limits.maxSeries) {
      throw execution(`query selects too many series (limit maxSeries=${this.limits.maxSeries})`, 'maxSeries')
    }
    let samples = 0
    for (const s of data) samples += s.timestamps.length
    this.addSamples(samples)
    // Prometheus's series sets are sorted by labels, and some results (topk ties) depend on that order.
    const series = data.map((s): RawSeries => {
      const m = s.interned !== undefined ? this.labels.adopt(s.interned) : s.key === undefined ? this.labels.intern(s.labels) : this.labels.intern(s.labels, s.key)
      // Object literals, not a spread (one per series per query).
      return s.weights === undefined ? { m, ts: s.timestamps, vs: s.values } : { m, ts: s.timestamps, vs: s.values, ws: s.weights }
    })
    return sortByString(series, (s) => s.m.key)
  }

  async eval (e: Expr, st: Steps): Promise<Value> {
    this.checkDeadline()
    switch (e.kind) {
      case 'number': return { type: 'scalar', v: new Float64Array(st.n).fill(e.value) }
      case 'string': return { type: 'string', s: e.value }
      case 'paren': return this.eval(e.expr, st)
      case 'vector': return this.evalVectorSelector(e, st)
      case 'matrix': return this.evalMatrixSelector(e, st)
      case 'subquery': return this.evalSubquery(e, st)
      case 'call': return this.evalCall(e, st)
      case 'aggregate': return this.evalAggregate(e, st)
      case 'binary': return this.evalBinary(e, st)
      case 'unary': {
        const v = await this.eval(e.expr, st)
        if (e.op === '+') return v
        if (v.type === 'scalar') return { type: 'scalar', v: v.v.map((x) => -x) }
        if (v.type !== 'vector') throw execution('unary minus on a non-numeric value')
        const steps = v.steps.map((vec) => vec.map((s) => ({ m: this.labels.dropName(s.m), v: -s.v })))
        this.checkSameLabelsetAcrossSteps(v.steps, steps)
        return { type: 'vector', steps }
      }
    }
  }

  private async evalVectorSelector (e: VectorSelector, st: Steps): Promise<Value> {
    const steps: Sample[][] = Array.from({ length: st.n }, () => [])
    if (st.n === 0) return { type: 'vector', steps }
    // From a rollup, the series as sampled once per bucket (its last value), looked back at over a bucket at least.
    const res = this.rollupFor(st.n > 1 ? st.interval : 0, 0, st.start - e.offsetMs - LOOKBACK_DELTA_MS)
    const lookback = Math.max(LOOKBACK_DELTA_MS, res)
    const series = await this.select(e, st.start - e.offsetMs - lookback, st.end - e.offsetMs, res > 0 ? { resMs: res, column: 'last' } : undefined)
    for (const s of series) {
      const { ts, vs } = s
      let j = 0 // first sample after the reference time
      for (let k = 0; k < st.n; k++) {
        this.tick()
        const ref = st.start + k * st.interval - e.offsetMs
        while (j < ts.length && ts[j]! <= ref) j++
        if (j === 0) continue
        const t = ts[j - 1]!
        if (t < ref - lookback) continue
        const v = vs[j - 1]!
        if (isStaleNaN(v)) continue
        steps[k]!.push({ m: s.m, v })
      }
    }
    return { type: 'vector', steps }
  }

  private async evalMatrixSelector (e: MatrixSelector, st: Steps, rollup?: { resMs: number, column: RollupColumn }): Promise<Value> {
    const off = e.vector.offsetMs
    const series = st.n === 0 ? [] : await this.select(e.vector, st.start - off - e.rangeMs, st.end - off, rollup)
    return { type: 'matrix', series, rangeMs: e.rangeMs, offsetMs: off }
  }

  private async evalSubquery (e: SubqueryExpr, st: Steps): Promise<Value> {
    const interval = e.stepMs === 0 ? DEFAULT_SUBQUERY_STEP_MS : e.stepMs
    const from = st.start - e.offsetMs - e.rangeMs
    // The first multiple of the step at or after `from` (Go's integer division truncates toward zero).
    let start = interval * Math.trunc(from / interval)
    if (start < from) start += interval
    const inner = makeSteps(start, st.end - e.offsetMs, interval)
    const v = await this.eval(e.expr, inner)
    if (v.type !== 'vector') throw execution('subquery is only allowed on instant vector')
    const byKey = new Map<string, { m: LSet, ts: number[], vs: number[] }>()
    let points = 0
    v.steps.forEach((vec, k) => {
      const t = inner.start + k * inner.interval
      for (const s of vec) {
        let out = byKey.get(s.m.key)
        if (out === undefined) { out = { m: s.m, ts: [], vs: [] }; byKey.set(s.m.key, out) }
        out.ts.push(t)
        out.vs.push(s.v)
        points++
      }
    })
    this.addSamples(points)
    return { type: 'matrix', series: [...byKey.values()], rangeMs: e.rangeMs, offsetMs: e.offsetMs }
  }

  private async scalarArg (e: Expr, st: Steps): Promise<Float64Array> {
    const v = await this.eval(e, st)
    if (v.type !== 'scalar') throw execution('expected a scalar argument')
    return v.v
  }

  /**
   * A range query whose expression is a range function (`rate(x[5m])`, the
   * shape of most panels) as the API returns it, series by series: each
   * output series' points go straight into its arrays, without the vector
   * of every step (5,760 arrays and a sample object per point for 24 h at a
   * 15 s step). Same values as evalCall's. Undefined for other expressions.
   */
  async rangeCallSeries (e: Expr, st: Steps): Promise<MatrixSeriesResult[] | undefined> {
    while (e.kind === 'paren') e = e.expr
    if (e.kind !== 'call' || !RANGE_FUNCTIONS.has(e.func)) return undefined
    const out: MatrixSeriesResult[] = []
    await this.forEachRangeResult(e, st, (m) => {
      const r: MatrixSeriesResult = { metric: m.labels, timestamps: [], values: [] }
      out.push(r)
      return r
    }, (r, k, v) => { r.timestamps.push(st.start + k * st.interval); r.values.push(v) }, (r, values, present) => {
      // rate, increase and delta hand all steps of a series at once: one loop, no call per step,
      // into arrays of the final length (a series is handed over once).
      let n = 0
      for (let k = 0; k < present.length; k++) n += present[k]!
      const timestamps = new Array<number>(n)
      const vs = new Array<number>(n)
      for (let k = 0, j = 0; k < present.length; k++) {
        if (present[k] === 1) { timestamps[j] = st.start + k * st.interval; vs[j++] = values[k]! }
      }
      r.timestamps = timestamps
      r.values = vs
    })
    return out.filter((r) => r.timestamps.length > 0)
  }

  private async evalCall (e: Call, st: Steps): Promise<Value> {
    const f = e.func
    switch (f) {
      case 'abs': case 'ceil': case 'floor': case 'round': case 'clamp_min': case 'clamp_max': {
        const arg = await this.eval(e.args[0]!, st)
        if (arg.type !== 'vector') throw execution(`${f}: expected an instant vector`)
        const p = e.args[1] !== undefined ? await this.scalarArg(e.args[1], st) : undefined
        const fn: (v: number, k: number) => number =
          f === 'abs' ? Math.abs
            : f === 'ceil' ? Math.ceil
              : f === 'floor' ? Math.floor
                : f === 'round' ? (v, k) => round(v, p === undefined ? 1 : p[k]!)
                  : f === 'clamp_min' ? (v, k) => Math.max(p![k]!, v)
                    : (v, k) => Math.min(p![k]!, v)
        const steps = arg.steps.map((vec, k) => {
          const out = vec.map((s) => ({ m: this.labels.dropName(s.m), v: fn(s.v, k) }))
          this.checkSameLabelset(out)
          return out
        })
        return { type: 'vector', steps }
      }
    }
    const steps: Sample[][] = Array.from({ length: st.n }, () => [])
    await this.forEachRangeResult(e, st, (m) => m, (m, k, v) => { steps[k]!.push({ m, v }) })
    return { type: 'vector', steps }
  }

  /**
   * Evaluates a function over a range vector, series by series: `target`
   * maps each output series' labels once to what `emit` receives for each of
   * its steps with a value. Checks that no two series end up with the same
   * labels, as Prometheus does.
   */
  private async forEachRangeResult<G> (e: Call, st: Steps, target: (m: LSet) => G, emit: (g: G, k: number, v: number, m: LSet) => void,
    emitSteps?: (g: G, values: Float64Array, present: Uint8Array) => void): Promise<void> {
    const f = e.func
    const matIdx = f === 'quantile_over_time' ? 1 : 0
    const q = matIdx === 1 ? await this.scalarArg(e.args[0]!, st) : undefined
    const arg = e.args[matIdx]!
    const column = ROLLUP_COLUMNS[f]
    const res = column !== undefined && arg.kind === 'matrix'
      ? this.rollupFor(st.n > 1 ? st.interval : 0, arg.rangeMs, st.start - arg.vector.offsetMs - arg.rangeMs)
      : 0
    const mat = res > 0 ? await this.evalMatrixSelector(arg as MatrixSelector, st, { resMs: res, column: column! }) : await this.eval(arg, st)
    if (mat.type !== 'matrix') throw execution(`${f}: expected a range vector`)
    // Over rollup buckets, a count is a sum of counts and an average a weighted one.
    const kernel = res > 0 && f === 'count_over_time' ? sumOverTime
      : res > 0 && f === 'avg_over_time' ? weightedAvgOverTime
        : this.rangeKernel(f, mat.rangeMs, q)
    const sources = new Map<string, string>()
    // Prometheus 2.42 keeps the metric name for last_over_time only.
    const keepName = f === 'last_over_time'
    const w: Window = { ts: [], vs: [], lo: 0, hi: 0, resets: undefined }
    const counter = f === 'rate' || f === 'increase'
    // rate, increase and delta over stored samples: all steps of a series in one loop (extrapolatedRateSteps).
    const extrapolated = res === 0 && (counter || f === 'delta')
    const stepValues = extrapolated ? new Float64Array(st.n) : undefined
    const stepPresent = extrapolated ? new Uint8Array(st.n) : undefined
    let resetsWork = new Int32Array(0)
    for (const s of mat.series) {
      const out = keepName ? s.m : this.labels.dropName(s.m)
      const g = target(out)
      let lo = 0
      let hi = 0
      let any = false
      w.ts = s.ts
      w.vs = s.vs
      w.ws = s.ws
      // Counter resets counted once per series, not once per window (a 5 m window at a 15 s step overlaps 19 others).
      // Into a work array kept for the call (one allocation outside V8's heap per series cost more than the count).
      if (counter && resetsWork.length < s.ts.length) resetsWork = new Int32Array(Math.max(s.ts.length, 2 * resetsWork.length))
      w.resets = counter && s.ts.length > 2 ? counterResets(s.vs, resetsWork) : undefined
      if (stepValues !== undefined && s.ts instanceof Float64Array && s.vs instanceof Float64Array) {
        this.ticks += st.n - 1
        this.tick()
        any = extrapolatedRateSteps(s.ts, s.vs, w.resets, st.start, st.interval, st.n, mat.offsetMs, mat.rangeMs, counter, f === 'rate', stepValues, stepPresent!) > 0
        if (emitSteps !== undefined) emitSteps(g, stepValues, stepPresent!)
        else for (let k = 0; k < st.n; k++) if (stepPresent![k] === 1) emit(g, k, stepValues[k]!, out)
      } else {
        for (let k = 0; k < st.n; k++) {
          this.tick()
          const t = st.start + k * st.interval
          const maxT = t - mat.offsetMs
          const minT = maxT - mat.rangeMs
          while (lo < s.ts.length && s.ts[lo]! < minT) lo++
          if (hi < lo) hi = lo
          while (hi < s.ts.length && s.ts[hi]! <= maxT) hi++
          if (hi === lo) continue
          w.lo = lo
          w.hi = hi
          const v = kernel(w, minT, maxT, k)
          if (v === undefined) continue
          emit(g, k, v, out)
          any = true
        }
      }
      if (any) {
        const prev = sources.get(out.key)
        if (prev !== undefined && prev !== s.m.key) throw execution('vector cannot contain metrics with the same labelset')
        sources.set(out.key, s.m.key)
      }
    }
  }

  /**
   * sum, avg, count, min or max of a range function (`sum by (region)
   * (rate(x[5m]))`, the shape of most dashboard panels) without building the
   * function's vector: each series' value at each step goes straight into its
   * group's per-step accumulators, in the order the general path would add
   * them (series sorted by labels), so the floating-point results are the same.
   * At 10,000 series x 240 steps this saves 2.4 M intermediate samples.
   */
  private async evalAggregateOverRange (e: Aggregate, call: Call, st: Steps): Promise<Value> {
    const list = await this.accumulateOverRange(e, call, st)
    const op = e.op
    // Per step, groups in the order their first sample came (as the general path's map fills).
    const steps: Sample[][] = Array.from({ length: st.n }, (_, k) => {
      this.tick()
      const present = list.filter((g) => g.count[k]! > 0)
      if (present.length > 1) present.sort((a, b) => a.first[k]! - b.first[k]!)
      return present.map((g) => ({ m: g.m, v: op === 'count' ? g.count[k]! : g.acc[k]! }))
    })
    return { type: 'vector', steps }
  }

  /**
   * One shard's part of a shardable aggregation (see shardableAggregate):
   * each group's per-step accumulator and count over the series the
   * Querier hands this evaluator (a share of them); mergePartialAggregates
   * combines the parts.
   */
  async partialAggregate (e: Expr, st: Steps): Promise<AggregatePart> {
    const agg = shardableAggregate(e)
    if (agg === undefined) throw new PromQLError('execution', 'not a shardable aggregation')
    const list = await this.accumulateOverRange(agg.aggregate, agg.call, st)
    return { op: agg.aggregate.op as AggregatePart['op'], groups: list.map((g) => ({ labels: g.m.labels, key: g.m.key, acc: g.acc, count: g.count })) }
  }

  private async accumulateOverRange (e: Aggregate, call: Call, st: Steps): Promise<Array<{ m: LSet, acc: Float64Array, count: Float64Array, first: Int32Array }>> {
    const grouping = e.without ? [...e.grouping, '__name__'] : e.grouping
    const by = e.without ? undefined : grouping.join('\u0000')
    interface Group { m: LSet, acc: Float64Array, count: Float64Array, first: Int32Array }
    const groups = new Map<string, Group>()
    const list: Group[] = []
    let order = 0
    const op = e.op
    await this.forEachRangeResult(call, st, (m) => {
      const gm = e.without ? this.labels.remove(m, grouping) : this.labels.keep(m, grouping, by)
      let g = groups.get(gm.key)
      if (g === undefined) {
        g = { m: gm, acc: new Float64Array(st.n), count: new Float64Array(st.n), first: new Int32Array(st.n) }
        groups.set(gm.key, g)
        list.push(g)
      }
      order++
      return g
    }, (g, k, v) => {
      const c = ++g.count[k]!
      if (c === 1) { g.acc[k] = v; g.first[k] = order; return }
      const a = g.acc[k]!
      switch (op) {
        case 'sum': g.acc[k] = a + v; break
        case 'min': if (a > v || Number.isNaN(a)) g.acc[k] = v; break
        case 'max': if (a < v || Number.isNaN(a)) g.acc[k] = v; break
        case 'avg': // IncrementalMean, step by step
          if (!Number.isFinite(a) && !Number.isNaN(a)) {
            if (!Number.isFinite(v) && !Number.isNaN(v) && (a > 0) === (v > 0)) break
            if (Number.isFinite(v)) break
          }
          g.acc[k] = a + (v / c - a / c)
          break
      }
    }, op === 'avg' ? undefined : op === 'sum' || op === 'count' ? (g, values, present) => {
      // The same as the per-step callback above, one loop per series (rate, increase and delta
      // hand all their steps at once), one loop per operation: no call and no test of the
      // operation per step (a 10,000-series shard spent 10 ms here testing it, 1.2 M times).
      // count ignores acc; sum keeps it.
      const { acc, count, first } = g
      for (let k = 0; k < present.length; k++) {
        if (present[k] !== 1) continue
        const c = count[k]! + 1
        count[k] = c
        if (c === 1) { acc[k] = values[k]!; first[k] = order } else acc[k] = acc[k]! + values[k]!
      }
    } : (g, values, present) => {
      const { acc, count, first } = g
      const isMin = op === 'min'
      for (let k = 0; k < present.length; k++) {
        if (present[k] !== 1) continue
        const v = values[k]!
        if (++count[k]! === 1) { acc[k] = v; first[k] = order; continue }
        const a = acc[k]!
        if (isMin) { if (a > v || Number.isNaN(a)) acc[k] = v } else if (a < v || Number.isNaN(a)) acc[k] = v
      }
    })
    return list
  }

  private rangeKernel (f: string, rangeMs: number, q: Float64Array | undefined): (w: Window, minT: number, maxT: number, k: number) => number | undefined {
    switch (f) {
      case 'rate': return (w, minT, maxT) => extrapolatedRate(w, minT, maxT, rangeMs, true, true)
      case 'increase': return (w, minT, maxT) => extrapolatedRate(w, minT, maxT, rangeMs, true, false)
      case 'delta': return (w, minT, maxT) => extrapolatedRate(w, minT, maxT, rangeMs, false, false)
      case 'irate': return (w) => instantValue(w, true)
      case 'avg_over_time': return avgOverTime
      case 'sum_over_time': return sumOverTime
      case 'min_over_time': return minOverTime
      case 'max_over_time': return maxOverTime
      case 'count_over_time': return (w) => w.hi - w.lo
      case 'last_over_time': return (w) => w.vs[w.hi - 1]!
      case 'quantile_over_time': return (w, _a, _b, k) => quantileOverTime(q![k]!, w)
      default: throw new PromQLError('bad_data', `unsupported function "${f}"`)
    }
  }

  private async evalAggregate (e: Aggregate, st: Steps): Promise<Value> {
    let inner = e.expr
    while (inner.kind === 'paren') inner = inner.expr
    if (inner.kind === 'call' && RANGE_FUNCTIONS.has(inner.func) && FUSABLE_AGGREGATES.has(e.op)) return this.evalAggregateOverRange(e, inner, st)
    const param = e.param !== undefined ? await this.scalarArg(e.param, st) : undefined
    const arg = await this.eval(e.expr, st)
    if (arg.type !== 'vector') throw execution('aggregation over a non-vector')
    const groupOf = new Map<LSet, LSet>()
    const grouping = e.without ? [...e.grouping, '__name__'] : e.grouping
    const group = (m: LSet): LSet => {
      let g = groupOf.get(m)
      if (g === undefined) {
        g = e.without ? this.labels.remove(m, grouping) : this.labels.keep(m, grouping)
        groupOf.set(m, g)
      }
      return g
    }
    const steps = arg.steps.map((vec, k) => {
      this.tick()
      const groups = new Map<string, { m: LSet, samples: Sample[] }>()
      for (const s of vec) {
        const g = group(s.m)
        let entry = groups.get(g.key)
        if (entry === undefined) { entry = { m: g, samples: [] }; groups.set(g.key, entry) }
        entry.samples.push(s)
      }
      const out: Sample[] = []
      for (const { m, samples } of groups.values()) {
        switch (e.op) {
          case 'sum': { let v = samples[0]!.v; for (let i = 1; i < samples.length; i++) v += samples[i]!.v; out.push({ m, v }); break }
          case 'avg': { const mean = new IncrementalMean(); for (const s of samples) mean.add(s.v); out.push({ m, v: mean.mean }); break }
          case 'count': out.push({ m, v: samples.length }); break
          case 'min': case 'max': {
            let v = samples[0]!.v
            for (const s of samples) {
              if ((e.op === 'min' ? v > s.v : v < s.v) || Number.isNaN(v)) v = s.v
            }
            out.push({ m, v })
            break
          }
          case 'quantile': out.push({ m, v: quantile(param![k]!, samples.map((s) => s.v)) }); break
          case 'topk': case 'bottomk': {
            const kf = param![k]!
            if (!(kf >= -9223372036854775808 && kf <= 9223372036854775807)) throw execution(`Scalar value ${kf} overflows int64`)
            const n = Math.trunc(kf)
            if (n < 1) return []
            for (const s of selectK(samples, n, e.op === 'topk')) out.push(s)
            break
          }
        }
      }
      return out
    })
    return { type: 'vector', steps }
  }

  private async evalBinary (e: Binary, st: Steps): Promise<Value> {
    const l = await this.eval(e.lhs, st)
    const r = await this.eval(e.rhs, st)
    const op = e.op
    const cmp = isComparison(op)
    if (l.type === 'scalar' && r.type === 'scalar') {
      const v = new Float64Array(st.n)
      for (let k = 0; k < st.n; k++) {
        v[k] = isComparison(op) ? (compare(op, l.v[k]!, r.v[k]!) ? 1 : 0) : arithmetic(op, l.v[k]!, r.v[k]!)
      }
      return { type: 'scalar', v }
    }
    if (l.type === 'vector' && r.type === 'scalar') return this.vectorScalar(e, l.steps, r.v, false)
    if (l.type === 'scalar' && r.type === 'vector') return this.vectorScalar(e, r.steps, l.v, true)
    if (l.type !== 'vector' || r.type !== 'vector') throw execution('binary expression must contain only scalar and instant vector types')
    const matching = e.matching ?? { on: false, labels: [] }
    const sigNames = matching.on ? matching.labels : [...matching.labels, '__name__']
    const sigCache = new Map<LSet, string>()
    const sig = (m: LSet): string => {
      let s = sigCache.get(m)
      if (s === undefined) {
        s = (matching.on ? this.labels.keep(m, sigNames) : this.labels.remove(m, sigNames)).key
        sigCache.set(m, s)
      }
      return s
    }
    const dropName = !cmp || e.returnBool
    const steps = l.steps.map((lvec, k) => {
      this.tick()
      if (lvec.length === 0 || r.steps[k]!.length === 0) return [] // nothing can match
      const right = new Map<string, Sample>()
      for (const rs of r.steps[k]!) {
        const s = sig(rs.m)
        const dup = right.get(s)
        if (dup !== undefined) {
          throw execution(`found duplicate series for the match group ${fmtLabels(this.labels.keep(rs.m, matching.on ? matching.labels : []).labels)} on the right hand-side of the operation: [${fmtLabels(rs.m.labels)}, ${fmtLabels(dup.m.labels)}];many-to-many matching not allowed: matching labels must be unique on one side`)
        }
        right.set(s, rs)
      }
      const matched = new Set<string>()
      const out: Sample[] = []
      for (const ls of lvec) {
        const s = sig(ls.m)
        const rs = right.get(s)
        if (rs === undefined) continue
        let v: number
        let keep = true
        if (isComparison(op)) {
          keep = compare(op, ls.v, rs.v)
          v = e.returnBool ? (keep ? 1 : 0) : ls.v
          if (e.returnBool) keep = true
        } else {
          v = arithmetic(op, ls.v, rs.v)
        }
        if (!keep) continue
        let m = dropName ? this.labels.dropName(ls.m) : ls.m
        m = matching.on ? this.labels.keep(m, matching.labels) : matching.labels.length > 0 ? this.labels.remove(m, matching.labels) : m
        if (matched.has(s)) throw execution('multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)')
        matched.add(s)
        out.push({ m, v })
      }
      this.checkSameLabelset(out)
      return out
    })
    return { type: 'vector', steps }
  }

  private vectorScalar (e: Binary, vecs: Sample[][], scalar: Float64Array, scalarOnLeft: boolean): Value {
    const op = e.op
    const steps = vecs.map((vec, k) => {
      this.tick()
      const sv = scalar[k]!
      const out: Sample[] = []
      for (const s of vec) {
        const [lv, rv] = scalarOnLeft ? [sv, s.v] : [s.v, sv]
        if (isComparison(op)) {
          const keep = compare(op, lv, rv)
          if (e.returnBool) out.push({ m: this.labels.dropName(s.m), v: keep ? 1 : 0 })
          else if (keep) out.push(s)
        } else {
          out.push({ m: this.labels.dropName(s.m), v: arithmetic(op, lv, rv) })
        }
      }
      this.checkSameLabelset(out)
      return out
    })
    return { type: 'vector', steps }
  }

  private checkSameLabelset (vec: Sample[]): void {
    if (vec.length < 2) return
    const seen = new Set<string>()
    for (const s of vec) {
      if (seen.has(s.m.key)) throw execution('vector cannot contain metrics with the same labelset')
      seen.add(s.m.key)
    }
  }

  /** After a name-dropping map over a whole range: two inputs must not become one series. */
  private checkSameLabelsetAcrossSteps (inputs: Sample[][], outputs: Sample[][]): void {
    const sources = new Map<string, string>()
    inputs.forEach((vec, k) => vec.forEach((s, i) => {
      const out = outputs[k]![i]!.m.key
      const prev = sources.get(out)
      if (prev !== undefined && prev !== s.m.key) throw execution('vector cannot contain metrics with the same labelset')
      sources.set(out, s.m.key)
    }))
  }
}

export const fmtLabels = (l: Record<string, string>): string =>
  `{${Object.entries(l).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`

/** Aggregations whose per-shard parts combine exactly as one pass would (avg's incremental mean does not). */
const SHARDABLE_OPS = new Set(['sum', 'count', 'min', 'max'])

/** A shard's part of `sum|count|min|max by (...) (f(x[r]))`: per group, an accumulator and a count per step. */
export interface AggregatePart {
  op: 'sum' | 'count' | 'min' | 'max'
  groups: Array<{ labels: Labels, key: string, acc: Float64Array, count: Float64Array }>
}

/**
 * The aggregation and its range function when `e` can be evaluated in
 * shards, each over a share of the series, and merged: sum, count, min or
 * max (no parameter) of a range function (not quantile_over_time) of one
 * selector that names its metric (`__name__` equality): so no two of its
 * series differ only in the name that the function drops, and the
 * duplicate-series check needs no other shard's series.
 */
export function shardableAggregate (e: Expr): { aggregate: Aggregate, call: Call } | undefined {
  while (e.kind === 'paren') e = e.expr
  if (e.kind !== 'aggregate' || !SHARDABLE_OPS.has(e.op) || e.param !== undefined) return undefined
  let call = e.expr
  while (call.kind === 'paren') call = call.expr
  if (call.kind !== 'call' || !RANGE_FUNCTIONS.has(call.func) || call.func === 'quantile_over_time' || call.args.length !== 1) return undefined
  const arg = call.args[0]!
  if (arg.kind !== 'matrix' || !arg.vector.matchers.some((m) => m.name === '__name__' && m.type === '=')) return undefined
  return { aggregate: e, call }
}

/**
 * Combines shards' parts into the range query's result: a group's value at
 * a step comes from the shards that have one there (sum: added, count:
 * added, min/max: as the single pass compares them, NaN losing).
 */
export function mergePartialAggregates (parts: AggregatePart[], st: Steps): MatrixSeriesResult[] {
  const merged = new Map<string, { labels: Labels, acc: Float64Array, count: Float64Array }>()
  for (const part of parts) {
    for (const g of part.groups) {
      const m = merged.get(g.key)
      if (m === undefined) { merged.set(g.key, { labels: g.labels, acc: g.acc.slice(), count: g.count.slice() }); continue }
      for (let k = 0; k < st.n; k++) {
        const c = g.count[k]!
        if (c === 0) continue
        const v = g.acc[k]!
        if (m.count[k] === 0) { m.acc[k] = v; m.count[k] = c; continue }
        const a = m.acc[k]!
        switch (part.op) {
          case 'sum': m.acc[k] = a + v; break
          case 'min': if (a > v || Number.isNaN(a)) m.acc[k] = v; break
          case 'max': if (a < v || Number.isNaN(a)) m.acc[k] = v; break
          case 'count': break
        }
        m.count[k] = m.count[k]! + c
      }
    }
  }
  const op = parts[0]?.op
  const out: MatrixSeriesResult[] = []
  for (const m of merged.values()) {
    const r: MatrixSeriesResult = { metric: m.labels, timestamps: [], values: [] }
    for (let k = 0; k < st.n; k++) {
      if (m.count[k] === 0) continue
      r.timestamps.push(st.start + k * st.interval)
      r.values.push(op === 'count' ? m.count[k]! : m.acc[k]!)
    }
    if (r.timestamps.length > 0) out.push(r)
  }
  return out
}
