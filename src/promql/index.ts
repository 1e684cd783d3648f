/**
 * ringest's PromQL engine: a subset of PromQL with Prometheus 2.42's
 * semantics, evaluated over any storage that implements Querier.
 *
 *   const r = await queryRange(querier, 'sum by (job) (rate(x[5m]))', startMs, endMs, stepMs, limits)
 *   res.end(JSON.stringify({ status: 'success', data: toPrometheusData(r) }))
 *
 * Errors are PromQLError: errorType bad_data (HTTP 400), execution (422,
 * `limit` names a limit that was hit), timeout (503).
 */
import { TYPE_NAMES, typeOf } from './ast.js'
import { Evaluator, makeSteps, mergePartialAggregates, shardableAggregate, type AggregatePart, type Sample } from './eval.js'
import { compareLabels } from './labels.js'
import { parseExpr } from './parser.js'
import { badData, PromQLError, type MatrixSeriesResult, type PromResult, type Querier, type QueryLimits } from './types.js'

export type { Expr } from './ast.js'
export type { AggregatePart } from './eval.js'
export { compileMatcher } from './matchers.js'
export { parseExpr, parseMatchers } from './parser.js'
export { translateRegex } from './regex.js'
export { formatValue, prometheusSuccessBytes, prometheusSuccessJson, toPrometheusData } from './format.js'
export { canonicalLSet, labelsKey, type LSet } from './labels.js'
export { PromQLError } from './types.js'
export type { Labels, Matcher, MatrixSeriesResult, PromResult, Querier, QueryLimits, RollupColumn, RollupInfo, SeriesData, VectorSampleResult } from './types.js'

/** Prometheus refuses range queries with more points per series than this. */
export const MAX_POINTS_PER_SERIES = 11_000

const checkTime = (name: string, v: number): void => {
  if (!Number.isFinite(v)) throw badData(`invalid parameter "${name}": not a finite time`)
}

/** Wraps anything unexpected so callers only ever see PromQLError. */
async function guarded<T> (f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (err) {
    if (err instanceof PromQLError) throw err
    if (err instanceof RangeError) throw new PromQLError('execution', `query too large: ${err.message}`)
    throw err
  }
}

export async function queryRange (q: Querier, expr: string, startMs: number, endMs: number, stepMs: number, limits: QueryLimits): Promise<PromResult> {
  checkTime('start', startMs)
  checkTime('end', endMs)
  if (endMs < startMs) throw badData('invalid parameter "end": end timestamp must not be before start time')
  if (!(stepMs > 0)) throw badData('invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer')
  if ((endMs - startMs) / stepMs > MAX_POINTS_PER_SERIES) {
    throw badData('exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)')
  }
  const e = parseExpr(expr)
  const ty = typeOf(e)
  if (ty !== 'scalar' && ty !== 'vector') throw badData(`invalid expression type "${TYPE_NAMES[ty]}" for range query, must be Scalar or instant Vector`)
  return guarded(async () => {
    const ev = new Evaluator(q, limits)
    const st = makeSteps(startMs, endMs, stepMs)
    const direct = await ev.rangeCallSeries(e, st)
    if (direct !== undefined) {
      ev.checkDeadline()
      return { resultType: 'matrix', result: direct.sort((a, b) => compareLabels(a.metric, b.metric)) }
    }
    const v = await ev.eval(e, st)
    const stepTime = (k: number): number => st.start + k * st.interval
    if (v.type === 'scalar') {
      return { resultType: 'matrix', result: [{ metric: {}, timestamps: Array.from({ length: st.n }, (_, k) => stepTime(k)), values: Array.from(v.v) }] }
    }
    if (v.type !== 'vector') throw new PromQLError('execution', `unexpected ${v.type} result`)
    const series = new Map<string, MatrixSeriesResult>()
    v.steps.forEach((vec: Sample[], k) => {
      const t = stepTime(k)
      for (const s of vec) {
        let out = series.get(s.m.key)
        if (out === undefined) { out = { metric: s.m.labels, timestamps: [], values: [] }; series.set(s.m.key, out) }
        out.timestamps.push(t)
        out.values.push(s.v)
      }
    })
    ev.checkDeadline()
    return { resultType: 'matrix', result: [...series.values()].sort((a, b) => compareLabels(a.metric, b.metric)) }
  })
}

/**
 * Whether a range query can be evaluated in shards (a share of the series
 * each, in parallel) and merged: see shardableAggregate. False for an
 * expression that does not parse (the whole query reports the error).
 */
export function isShardable (expr: string): boolean {
  try {
    return shardableAggregate(parseExpr(expr)) !== undefined
  } catch {
    return false
  }
}

/** One shard's part of a shardable range query, over the series `q` hands it. */
export async function queryRangePart (q: Querier, expr: string, startMs: number, endMs: number, stepMs: number, limits: QueryLimits): Promise<AggregatePart> {
  const e = parseExpr(expr)
  return guarded(async () => {
    const ev = new Evaluator(q, limits)
    const part = await ev.partialAggregate(e, makeSteps(startMs, endMs, stepMs))
    ev.checkDeadline()
    return part
  })
}

/** The range query's result from its shards' parts. */
export function mergeRangeParts (parts: AggregatePart[], startMs: number, endMs: number, stepMs: number): PromResult {
  const result = mergePartialAggregates(parts, makeSteps(startMs, endMs, stepMs))
  return { resultType: 'matrix', result: result.sort((a, b) => compareLabels(a.metric, b.metric)) }
}

export async function queryInstant (q: Querier, expr: string, timeMs: number, limits: QueryLimits): Promise<PromResult> {
  checkTime('time', timeMs)
  const e = parseExpr(expr)
  return guarded(async () => {
    const ev = new Evaluator(q, limits)
    const st = makeSteps(timeMs, timeMs, 1)
    const v = await ev.eval(e, st)
    switch (v.type) {
      case 'scalar': return { resultType: 'scalar', result: { timestamp: timeMs, value: v.v[0]! } }
      case 'string': return { resultType: 'string', result: { timestamp: timeMs, value: v.s } }
      case 'vector': return { resultType: 'vector', result: v.steps[0]!.map((s) => ({ metric: s.m.labels, timestamp: timeMs, value: s.v })) }
      case 'matrix': {
        const maxT = timeMs - v.offsetMs
        const minT = maxT - v.rangeMs
        const result: MatrixSeriesResult[] = []
        for (const s of v.series) {
          const timestamps: number[] = []
          const values: number[] = []
          for (let i = 0; i < s.ts.length; i++) {
            const t = s.ts[i]!
            if (t >= minT && t <= maxT) { timestamps.push(t); values.push(s.vs[i]!) }
          }
          if (timestamps.length > 0) result.push({ metric: s.m.labels, timestamps, values })
        }
        return { resultType: 'matrix', result: result.sort((a, b) => compareLabels(a.metric, b.metric)) }
      }
    }
  })
}
