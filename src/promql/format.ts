/** Prometheus's JSON encoding of query results. */
import type { PromResult } from './types.js'

/**
 * A float as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it, which
 * Prometheus uses for sample values: shortest round-trip digits, never an
 * exponent ("1e+21" is "1000000000000000000000"), and "NaN", "+Inf", "-Inf".
 */
export function formatValue (v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  if (Object.is(v, -0)) return '-0'
  const s = String(v)
  // JavaScript writes an exponent only below 1e-6 and from 1e21 on: most values have none.
  if (s.indexOf('e') === -1) return s
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s)
  if (m === null) return s
  const sign = m[1]!
  const digits = m[2]! + (m[3] ?? '')
  const exp = Number(m[4])
  // digits is d.ddd x 10^exp: the decimal point sits after position exp + 1.
  const point = exp + 1
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`
}

/** Unix seconds as Prometheus writes them (a JSON number with up to 3 decimals). */
export const formatTime = (ms: number): number => ms / 1000

/** The `data` object of Prometheus's query API response. */
export function toPrometheusData (r: PromResult): unknown {
  switch (r.resultType) {
    case 'matrix':
      return {
        resultType: 'matrix',
        result: r.result.map((s) => ({ metric: s.metric, values: s.timestamps.map((t, i) => [formatTime(t), formatValue(s.values[i]!)]) })),
      }
    case 'vector':
      return { resultType: 'vector', result: r.result.map((s) => ({ metric: s.metric, value: [formatTime(s.timestamp), formatValue(s.value)] })) }
    case 'scalar':
      return { resultType: 'scalar', result: [formatTime(r.result.timestamp), formatValue(r.result.value)] }
    case 'string':
      return { resultType: 'string', result: [formatTime(r.result.timestamp), r.result.value] }
  }
}

/**
 * The whole success response, `{"status":"success","data":...}`, as JSON
 * text written directly: the same text as JSON.stringify of
 * toPrometheusData's object, without building an array and a string per
 * point first (a 24 h range at a 15 s step has 5,761 points per series).
 * Values need no escaping: formatValue writes digits, '.', '-', NaN and Inf.
 */
export function prometheusSuccessJson (r: PromResult): string {
  const pair = (ms: number, v: number): string => `[${formatTime(ms)},"${formatValue(v)}"]`
  let out = `{"status":"success","data":{"resultType":"${r.resultType}","result":`
  switch (r.resultType) {
    case 'matrix': {
      const parts: string[] = []
      for (const s of r.result) {
        const points: string[] = new Array(s.timestamps.length)
        for (let i = 0; i < s.timestamps.length; i++) points[i] = pair(s.timestamps[i]!, s.values[i]!)
        parts.push(`{"metric":${JSON.stringify(s.metric)},"values":[${points.join(',')}]}`)
      }
      out += `[${parts.join(',')}]`
      break
    }
    case 'vector':
      out += `[${r.result.map((s) => `{"metric":${JSON.stringify(s.metric)},"value":${pair(s.timestamp, s.value)}}`).join(',')}]`
      break
    case 'scalar':
      out += pair(r.result.timestamp, r.result.value)
      break
    case 'string':
      out += `[${formatTime(r.result.timestamp)},${JSON.stringify(r.result.value)}]`
      break
  }
  return out + '}}'
}
