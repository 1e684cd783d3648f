/**
 * Time parameters of the HTTP API (series selectors are parsed by src/promql).
 */
export class ParamError extends Error {}

/** Prometheus/VictoriaMetrics time parameter: unix seconds (fractions allowed) or RFC 3339. Returns ms. */
export function parseTimeParam (v: string | null, fallback: number, what: string): number {
  if (v === null || v === '') return fallback
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(v)) {
    const ms = Math.round(Number(v) * 1000)
    if (Number.isFinite(ms)) return ms
  }
  if (/^\d{4}-\d{2}-\d{2}T/.test(v)) {
    const ms = Date.parse(v)
    if (!Number.isNaN(ms)) return ms
  }
  throw new ParamError(`${what}=${JSON.stringify(v)} is neither unix seconds nor an RFC 3339 time`)
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 }

/** Prometheus's `step`/`timeout` parameter: float seconds, or a duration such as 15s, 1m30s. Returns ms. */
export function parseDurationParam (v: string): number {
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(v)) return Math.round(Number(v) * 1000)
  const re = /(\d+)(ms|s|m|h|d|w|y)/y
  let ms = 0
  let at = 0
  while (at < v.length) {
    re.lastIndex = at
    const m = re.exec(v)
    if (m === null) return NaN
    ms += Number(m[1]) * DURATION_UNITS[m[2]!]!
    at = re.lastIndex
  }
  return at === 0 ? NaN : ms
}
