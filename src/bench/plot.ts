/**
 * --plot FILE: one SVG, drawn here (no dependency), with two panels sharing
 * the time axis (seconds into the measured phase):
 *   top     latency of the 2xx answers of each second: p50 dashed, p99 solid,
 *           max dotted, on a log scale (a stall and the normal case both show)
 *   bottom  2xx answers per second, and errors (non-2xx and socket) per second
 * One colour per run when several targets ran.
 */
import type { RunResult } from './report.js'

const W = 960
const LEFT = 72
const RIGHT = 24
const TOP = 56
const LAT_H = 300
const GAP = 56
const RATE_H = 180
const BOTTOM = 44
const H = TOP + LAT_H + GAP + RATE_H + BOTTOM
/** The last "second" ends with the last answer and may last a few ms: too short for a rate worth drawing. */
const MIN_RATE_S = 0.25
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf'] as const

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
const r1 = (v: number): string => (Math.round(v * 10) / 10).toString()

/** Round axis steps: 1, 2 or 5 times a power of ten, about `n` of them over `max`. */
function niceStep (max: number, n: number): number {
  const raw = max / n
  const p = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p
}

/** A step path: one level per second, from x0 to x1, broken where a value is missing (null). */
function path (steps: Array<[number, number, number] | null>): string {
  let d = ''
  let pen = false
  for (const p of steps) {
    if (p === null) { pen = false; continue }
    d += `${pen ? 'L' : 'M'}${r1(p[0])},${r1(p[2])}L${r1(p[1])},${r1(p[2])}`
    pen = true
  }
  return d
}

export function plotSvg (runs: RunResult[], title: string): string {
  const plotW = W - LEFT - RIGHT
  const tMax = Math.max(1, ...runs.flatMap((r) => r.perSecond.map((s) => s.t)))
  const x = (t: number): number => LEFT + (t / tMax) * plotW
  const lat = runs.flatMap((r) => r.perSecond.flatMap((s) => [s.p50, s.p99, s.max])).filter((v) => v > 0)
  const lo = 10 ** Math.floor(Math.log10(Math.min(...lat, 1)))
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...lat, lo * 10)))
  const yLat = (ms: number): number => TOP + LAT_H - (Math.log10(ms / lo) / Math.log10(hi / lo)) * LAT_H
  const perS = (n: number, s: { seconds: number }): number => (s.seconds > 0 ? n / s.seconds : 0)
  const rateMax = Math.max(1, ...runs.flatMap((r) => r.perSecond.filter((s) => s.seconds >= MIN_RATE_S).map((s) => perS(s.ok + s.non2xx + s.errors, s))))
  const rateStep = niceStep(rateMax, 4)
  const rateTop = Math.ceil(rateMax / rateStep) * rateStep
  const rateY0 = TOP + LAT_H + GAP
  const yRate = (v: number): number => rateY0 + RATE_H - (v / rateTop) * RATE_H

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${LEFT}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${LEFT}" y="${TOP - 8}">latency of 2xx answers per second, ms (log scale): p50 dashed, p99 solid, max dotted</text>`,
    `<text x="${LEFT}" y="${rateY0 - 8}">answers per second: 2xx solid, errors and non-2xx dashed</text>`,
  ]
  // Grids and axes.
  for (let v = lo; v <= hi * 1.0001; v *= 10) {
    out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${r1(yLat(v))}" y2="${r1(yLat(v))}" stroke="#ddd"/>`,
      `<text x="${LEFT - 6}" y="${r1(yLat(v) + 4)}" text-anchor="end">${v >= 1 ? v.toLocaleString('en-US') : v}</text>`)
  }
  for (let v = 0; v <= rateTop; v += rateStep) {
    out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${r1(yRate(v))}" y2="${r1(yRate(v))}" stroke="#ddd"/>`,
      `<text x="${LEFT - 6}" y="${r1(yRate(v) + 4)}" text-anchor="end">${v.toLocaleString('en-US')}</text>`)
  }
  const tStep = niceStep(tMax, 10)
  for (let k = 0; k * tStep <= tMax; k++) {
    const t = Number((k * tStep).toPrecision(6)) // 0.6, not 0.6000000000000001
    out.push(`<line x1="${r1(x(t))}" x2="${r1(x(t))}" y1="${TOP}" y2="${TOP + LAT_H}" stroke="#eee"/>`,
      `<line x1="${r1(x(t))}" x2="${r1(x(t))}" y1="${rateY0}" y2="${rateY0 + RATE_H}" stroke="#eee"/>`,
      `<text x="${r1(x(t))}" y="${rateY0 + RATE_H + 16}" text-anchor="middle">${t}</text>`)
  }
  out.push(`<text x="${LEFT + plotW / 2}" y="${H - 8}" text-anchor="middle">seconds into the measured phase</text>`,
    `<rect x="${LEFT}" y="${TOP}" width="${plotW}" height="${LAT_H}" fill="none" stroke="#888"/>`,
    `<rect x="${LEFT}" y="${rateY0}" width="${plotW}" height="${RATE_H}" fill="none" stroke="#888"/>`)
  // One colour per run.
  runs.forEach((r, i) => {
    const c = COLORS[i % COLORS.length]!
    type Row = RunResult['perSecond'][number]
    const span = (s: Row, y: number): [number, number, number] => [x(Math.max(0, s.t - s.seconds)), x(s.t), y]
    const pts = (f: (s: Row) => number): Array<[number, number, number] | null> => r.perSecond.map((s) => (f(s) > 0 ? span(s, yLat(f(s))) : null))
    out.push(`<path d="${path(pts((s) => s.p50))}" fill="none" stroke="${c}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      `<path d="${path(pts((s) => s.p99))}" fill="none" stroke="${c}" stroke-width="2"/>`,
      `<path d="${path(pts((s) => s.max))}" fill="none" stroke="${c}" stroke-width="1" stroke-dasharray="1 3"/>`,
      `<path d="${path(r.perSecond.map((s) => (s.seconds >= MIN_RATE_S ? span(s, yRate(perS(s.ok, s))) : null)))}" fill="none" stroke="${c}" stroke-width="2"/>`)
    if (r.perSecond.some((s) => s.errors + s.non2xx > 0)) {
      out.push(`<path d="${path(r.perSecond.map((s) => (s.seconds >= MIN_RATE_S ? span(s, yRate(perS(s.errors + s.non2xx, s))) : null)))}" fill="none" stroke="${c}" stroke-width="1.5" stroke-dasharray="4 3"/>`)
    }
    out.push(`<rect x="${LEFT + 8}" y="${TOP + 10 + i * 16}" width="12" height="3" fill="${c}"/>`,
      `<text x="${LEFT + 26}" y="${TOP + 15 + i * 16}">${esc(`${r.url.replace(/\/$/, '')}${r.path} (${r.kind}, ${r.mode === 'open' ? 'open' : 'closed'} loop): ${Math.round(r.requestsPerSecond).toLocaleString('en-US')} req/s, p99 ${r.latencyMs.p99} ms`)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n')
}
