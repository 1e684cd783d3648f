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
