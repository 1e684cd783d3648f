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
 * Sample values as text: formatValue, with the common case first (a finite
 * value that JavaScript writes without an exponent, which is Go's text too).
 */
const valueText = (v: number): string =>
  (v >= 1e-6 && v < 1e21) || (v <= -1e-6 && v > -1e21) ? String(v) : formatValue(v)

/** Text is handed to the sink in pieces of about this many characters (see prometheusSuccessBytes). */
const PIECE_CHARS = 4096

/**
 * The whole success response, `{"status":"success","data":...}`, the same
 * text as JSON.stringify of toPrometheusData's object, handed to `put` in
 * pieces of about PIECE_CHARS. Each point is appended to a short piece (a
 * 24 h range at a 15 s step has 5,761 points per series): no string or array
 * per point to keep, and no join of the whole answer. Values need no
 * escaping: formatValue writes digits, '.', '-', NaN and Inf.
 */
function writeSuccess (r: PromResult, put: (piece: string) => void): void {
  let c = `{"status":"success","data":{"resultType":"${r.resultType}","result":`
  switch (r.resultType) {
    case 'matrix':
      c += '['
      for (let j = 0; j < r.result.length; j++) {
        const s = r.result[j]!
        c += `${j === 0 ? '' : ','}{"metric":${JSON.stringify(s.metric)},"values":[`
        const ts = s.timestamps
        const vs = s.values
        for (let i = 0; i < ts.length; i++) {
          c += (i === 0 ? '[' : ',[') + formatTime(ts[i]!) + ',"' + valueText(vs[i]!) + '"]'
          if (c.length > PIECE_CHARS) { put(c); c = '' }
        }
        c += ']}'
      }
      c += ']'
      break
    case 'vector':
      c += '['
      for (let j = 0; j < r.result.length; j++) {
        const s = r.result[j]!
        c += `${j === 0 ? '' : ','}{"metric":${JSON.stringify(s.metric)},"value":[` + formatTime(s.timestamp) + ',"' + valueText(s.value) + '"]}'
        if (c.length > PIECE_CHARS) { put(c); c = '' }
      }
      c += ']'
      break
    case 'scalar':
      c += `[${formatTime(r.result.timestamp)},"${valueText(r.result.value)}"]`
      break
    case 'string':
      c += `[${formatTime(r.result.timestamp)},${JSON.stringify(r.result.value)}]`
      break
  }
  put(c + '}}')
}

/** The success response as text (see writeSuccess). */
export function prometheusSuccessJson (r: PromResult): string {
  const pieces: string[] = []
  writeSuccess(r, (piece) => { pieces.push(piece) })
  return pieces.join('')
}

/**
 * Where prometheusSuccessBytes encodes, kept between calls (one per
 * thread); dropped after a call that grew it past SCRATCH_KEEP_BYTES.
 */
let scratch = Buffer.allocUnsafeSlow(64 * 1024)
const SCRATCH_KEEP_BYTES = 4 * 1024 * 1024 // 4 MiB

/**
 * The success response as UTF-8 bytes, in a buffer of its own (its
 * ArrayBuffer holds exactly these bytes, so it can be transferred to another
 * thread). Pieces are encoded as they come into a buffer kept between calls
 * and copied out once: no string of the whole answer to build and encode
 * (a 5,761-point series took 1.6 ms through prometheusSuccessJson and
 * Buffer.from, 0.85 ms here).
 */
export function prometheusSuccessBytes (r: PromResult): Uint8Array {
  let buf = scratch
  let at = 0
  writeSuccess(r, (piece) => {
    // At most 3 bytes of UTF-8 per UTF-16 code unit.
    if (at + 3 * piece.length > buf.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(2 * buf.length, at + 3 * piece.length))
      buf.copy(bigger, 0, 0, at)
      buf = bigger
    }
    at += buf.write(piece, at)
  })
  const out = Buffer.allocUnsafeSlow(at)
  buf.copy(out, 0, 0, at)
  scratch = buf.length > SCRATCH_KEEP_BYTES ? Buffer.allocUnsafeSlow(64 * 1024) : buf
  return out
}
