/**
 * GET /api/v1/export: VictoriaMetrics' JSON-lines export, one line per series:
 * {"metric":{"__name__":...,labels},"values":[...],"timestamps":[...]}.
 * Samples come out sorted by time; for a duplicate timestamp the last written
 * value wins (as InfluxDB does).
 *
 * Limit: the segments of this storage format are scanned whole and the
 * matching samples gathered in memory, so an export is capped at
 * maxSamples (ERR_EXPORT_TOO_LARGE beyond) to keep memory bounded.
 */
import type { Store } from '../workers/storage.js'
import { decodeSegment, parseSeriesKey, segmentRange } from '../workers/storage.js'
import { matchesSeries, type Matcher } from './selector.js'
import { HttpError } from './errors.js'

interface Gathered { metric: Record<string, string>, ts: number[], values: number[] }

export function exportSeries (store: Store, selectors: Matcher[][], startMs: number, endMs: number, maxSamples: number): Gathered[] {
  const series = new Map<number, Gathered>()
  for (const { key, value } of store.series.getRange({ snapshot: false })) {
    const { name, labels } = parseSeriesKey(value)
    if (!selectors.some((m) => matchesSeries(m, name, labels))) continue
    const metric: Record<string, string> = { __name__: name }
    for (const [k, v] of labels) metric[k] = v
    series.set(key, { metric, ts: [], values: [] })
  }
  if (series.size === 0) return []
  let total = 0
  for (const { value: raw } of store.segments.getRange({ snapshot: false })) {
    const range = segmentRange(raw)
    if (range.maxTs < startMs || range.minTs > endMs) continue
    const seg = decodeSegment(raw)
    for (let i = 0; i < seg.count; i++) {
      const g = series.get(seg.ids[i]!)
      if (g === undefined) continue
      const t = seg.ts[i]!
      if (t < startMs || t > endMs) continue
      g.ts.push(t)
      g.values.push(seg.values[i]!)
      if (++total > maxSamples) {
        throw new HttpError('ERR_EXPORT_TOO_LARGE', `export would return more than ${maxSamples} samples; narrow match[] or start/end`)
      }
    }
  }
  const out: Gathered[] = []
  for (const g of series.values()) {
    if (g.ts.length === 0) continue
    const order = g.ts.map((_, i) => i)
    // Stable sort by time keeps write order among equal timestamps; keep the last of each run.
    order.sort((a, b) => g.ts[a]! - g.ts[b]! || a - b)
    const ts: number[] = []
    const values: number[] = []
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!
      const next = order[k + 1]
      if (next !== undefined && g.ts[next] === g.ts[i]) continue
      ts.push(g.ts[i]!)
      values.push(g.values[i]!)
    }
    out.push({ metric: g.metric, ts, values })
  }
  out.sort((a, b) => (JSON.stringify(a.metric) < JSON.stringify(b.metric) ? -1 : 1))
  return out
}

export function exportLine (g: Gathered): string {
  return `{"metric":${JSON.stringify(g.metric)},"values":[${g.values.map(formatValue).join(',')}],"timestamps":[${g.ts.join(',')}]}\n`
}

/** Exact float64 in JSON: -0 keeps its sign; JSON has no NaN or Infinity, so they are written as strings, as VictoriaMetrics does. */
function formatValue (v: number): string {
  if (Number.isFinite(v)) return Object.is(v, -0) ? '-0' : String(v)
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Inf"' : '"-Inf"'
}
