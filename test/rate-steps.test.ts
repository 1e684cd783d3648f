/**
 * extrapolatedRateSteps (all steps of a series in one loop) against
 * extrapolatedRate (one window at a time, the reference written after
 * Prometheus's): the same bits at every step, on random counters with
 * resets, gaps, jitter, negative starts and windows holding 0, 1 or many
 * samples.
 */
import { describe, expect, it } from 'vitest'
import { counterResets, extrapolatedRate, extrapolatedRateSteps } from '../dist/src/promql/functions.js'

function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('extrapolatedRateSteps', () => {
  for (const [isCounter, isRate] of [[true, true], [true, false], [false, false]] as const) {
    it(`equals extrapolatedRate bit for bit (${isCounter ? (isRate ? 'rate' : 'increase') : 'delta'})`, () => {
      for (let trial = 0; trial < 200; trial++) {
        const r = rng(trial + 1)
        const n = Math.floor(r() * 300)
        const ts: number[] = []
        const vs: number[] = []
        let t = 1_700_000_000_000 + Math.floor(r() * 1e6)
        let v = r() < 0.2 ? -r() * 100 : r() * 1000
        for (let i = 0; i < n; i++) {
          t += r() < 0.05 ? Math.floor(r() * 600_000) : 5_000 + Math.floor(r() * 20_000)
          v = r() < 0.05 ? r() * 10 : v + r() * 50
          ts.push(t)
          vs.push(v)
        }
        const T = Float64Array.from(ts)
        const V = Float64Array.from(vs)
        const resets = isCounter && n > 2 ? counterResets(V) : undefined
        const start = (ts[0] ?? 1_700_000_000_000) - 60_000 + Math.floor(r() * 120_000)
        const interval = 1_000 + Math.floor(r() * 60_000)
        const steps = 1 + Math.floor(r() * 400)
        const offset = r() < 0.3 ? Math.floor(r() * 600_000) : 0
        const range = 10_000 + Math.floor(r() * 900_000)
        const out = new Float64Array(steps)
        const present = new Uint8Array(steps)
        const found = extrapolatedRateSteps(T, V, resets, start, interval, steps, offset, range, isCounter, isRate, out, present)
        let lo = 0
        let hi = 0
        let want = 0
        for (let k = 0; k < steps; k++) {
          const maxT = start + k * interval - offset
          const minT = maxT - range
          while (lo < n && ts[lo]! < minT) lo++
          if (hi < lo) hi = lo
          while (hi < n && ts[hi]! <= maxT) hi++
          const ref = hi === lo ? undefined : extrapolatedRate({ ts: T, vs: V, lo, hi, resets }, minT, maxT, range, isCounter, isRate)
          expect(present[k], `trial ${trial} step ${k}`).toBe(ref === undefined ? 0 : 1)
          if (ref !== undefined) { want++; expect(Object.is(out[k], ref), `trial ${trial} step ${k}: ${out[k]} vs ${ref}`).toBe(true) }
        }
        expect(found).toBe(want)
      }
    })
  }
})
