/**
 * What the samples of `ringest bench` look like (--values): one generator per
 * run, with per-series state and per-series parameters drawn from the seed, so
 * series differ from each other and a run is reproducible.
 *
 * next(series, t) must be called in time order for each series (the body
 * stream walks every series at one timestamp, then the next timestamp); the
 * stateful kinds (counter, walk, spiky) advance their series by one sample per
 * call. Values carry at most 2 decimals, as agents send them.
 *
 *   constant  one value per series, forever
 *   counter   rises by rate x interval x (0.5..1.5), integer; resets to 0 about
 *             once in COUNTER_RESET_EVERY samples (a restarted process)
 *   walk      random walk in [WALK_MIN, WALK_MAX], at most WALK_STEP per sample
 *   sine      daily seasonality: base + amplitude x sin(2 pi t / SINE_PERIOD_MS +
 *             phase), plus noise of at most SINE_NOISE x amplitude
 *   spiky     a low noisy level, a spike of 5-15x about once in SPIKE_EVERY
 *             samples, and gaps (no sample at all for GAP_MIN..GAP_MAX
 *             samples) about once in GAP_EVERY samples: a host that goes quiet
 */
import { mulberry32 } from './random.js'

export const VALUE_KINDS = ['constant', 'counter', 'walk', 'sine', 'spiky'] as const
export type ValueKind = typeof VALUE_KINDS[number]

/** What next() returns when the series sends no sample at this time (spiky's gaps). Test with isGap. */
export const GAP = Number.NaN
export const isGap = (v: number): boolean => v !== v

export const COUNTER_RESET_EVERY = 20_000 // samples, on average
export const WALK_MIN = 0
export const WALK_MAX = 100
export const WALK_STEP = 2 // largest move between two samples
export const SINE_PERIOD_MS = 86_400_000 // 1 day
export const SINE_NOISE = 0.05 // of the amplitude, at most
export const SPIKE_EVERY = 100 // samples, on average
export const GAP_EVERY = 300 // samples, on average, between the starts of two gaps
export const GAP_MIN = 3 // samples
export const GAP_MAX = 30 // samples

export interface ValueGenerator {
  /** The value of `series` at `tMs` (epoch ms), or GAP. */
  next (series: number, tMs: number): number
}

const round2 = (v: number): number => Math.round(v * 100) / 100

/** A generator for `series` series whose samples are `intervalMs` apart. */
export function makeGenerator (kind: ValueKind, series: number, seed: number, intervalMs: number): ValueGenerator {
  const rand = mulberry32(seed)
  // Per-series parameters (a, b, c) and state (s), drawn once.
  const a = new Float64Array(series)
  const b = new Float64Array(series)
  const c = new Float64Array(series)
  const s = new Float64Array(series)
  switch (kind) {
    case 'constant':
      for (let i = 0; i < series; i++) a[i] = round2(rand() * 100)
      return { next: (i) => a[i]! }
    case 'counter': {
      const perSample = intervalMs / 1000
      for (let i = 0; i < series; i++) { a[i] = 1 + rand() * 999; s[i] = Math.floor(rand() * 1e6) } // rate per s, start
      return {
        next (i) {
          if (rand() * COUNTER_RESET_EVERY < 1) s[i] = 0
          const v = s[i]! + Math.round(a[i]! * perSample * (0.5 + rand()))
          s[i] = v
          return v
        },
      }
    }
    case 'walk':
      for (let i = 0; i < series; i++) s[i] = round2(WALK_MIN + rand() * (WALK_MAX - WALK_MIN))
      return {
        next (i) {
          let v = s[i]! + (rand() * 2 - 1) * WALK_STEP
          if (v > WALK_MAX) v = 2 * WALK_MAX - v // reflect, so the walk does not stick to a bound
          if (v < WALK_MIN) v = 2 * WALK_MIN - v
          v = Math.min(WALK_MAX, Math.max(WALK_MIN, round2(v)))
          s[i] = v
          return v
        },
      }
    case 'sine':
      for (let i = 0; i < series; i++) { a[i] = 30 + rand() * 40; b[i] = 10 + rand() * 20; c[i] = rand() * 2 * Math.PI } // base, amplitude, phase
      return {
        next (i, t) {
          const amp = b[i]!
          return round2(a[i]! + amp * Math.sin(2 * Math.PI * (t % SINE_PERIOD_MS) / SINE_PERIOD_MS + c[i]!) + (rand() * 2 - 1) * SINE_NOISE * amp)
        },
      }
    case 'spiky':
      for (let i = 0; i < series; i++) a[i] = 5 + rand() * 15 // level
      return {
        next (i) {
          if (s[i]! > 0) { s[i] = s[i]! - 1; return GAP } // s = samples of the gap still to skip
          if (rand() * GAP_EVERY < 1) { s[i] = GAP_MIN - 1 + Math.floor(rand() * (GAP_MAX - GAP_MIN + 1)); return GAP }
          const level = a[i]! * (0.9 + rand() * 0.2)
          return round2(rand() * SPIKE_EVERY < 1 ? level * (5 + rand() * 10) : level)
        },
      }
  }
}
