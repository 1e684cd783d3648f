/**
 * sortLastWins (workers/read.ts): the order every read and every checkpoint
 * relies on. Times ascending, and of samples with the same time the one
 * written last wins, checked against a plain reference on random inputs shaped
 * like real ones (ascending runs, resent bodies, stray out-of-order samples).
 */
import { describe, expect, it } from 'vitest'
import { sortLastWins } from '../dist/workers/read.js'
import { mulberry32 } from '../dist/bench/lib/bodies.js'

function reference (ts: number[], values: number[]): { ts: number[], values: number[] } {
  const order = ts.map((_, i) => i).sort((a, b) => ts[a]! - ts[b]! || a - b)
  const out = { ts: [] as number[], values: [] as number[] }
  order.forEach((i, k) => {
    if (k + 1 < order.length && ts[order[k + 1]!] === ts[i]) return
    out.ts.push(ts[i]!)
    out.values.push(values[i]!)
  })
  return out
}

function check (ts: number[]): void {
  const values = ts.map((_, i) => i + 0.5) // the value names the write position
  const got = sortLastWins(Float64Array.from(ts), Float64Array.from(values))
  const want = reference(ts, values)
  expect(Array.from(got.ts)).toEqual(want.ts)
  expect(Array.from(got.values)).toEqual(want.values)
}

describe('sortLastWins', () => {
  it('keeps sorted input and handles the small cases', () => {
    check([])
    check([5])
    check([1, 2, 3])
    check([3, 2, 1])
    check([1, 1, 1])
    check([2, 1, 2, 1])
  })

  it('equals the reference on runs, resends and strays', () => {
    const rand = mulberry32(7)
    for (let round = 0; round < 300; round++) {
      const ts: number[] = []
      const runs = 1 + Math.floor(rand() * 9)
      for (let r = 0; r < runs; r++) {
        // A run starts anywhere in a small range (so runs overlap and repeat times) and ascends, sometimes with equal steps.
        let t = Math.floor(rand() * 50)
        const len = Math.floor(rand() * 40)
        for (let i = 0; i < len; i++) { ts.push(t); t += Math.floor(rand() * 3) }
      }
      check(ts)
    }
  })

  it('returns new arrays, leaving its input as it was', () => {
    const ts = Float64Array.from([3, 1, 3, 2])
    const got = sortLastWins(ts, Float64Array.from([30, 10, 31, 20]))
    expect(Array.from(ts)).toEqual([3, 1, 3, 2])
    expect(Array.from(got.ts)).toEqual([1, 2, 3])
    expect(Array.from(got.values)).toEqual([10, 20, 31])
  })
})

describe('sortLastWins into given arrays', () => {
  it('writes the same result into them, sorted input or not, and big inputs too', () => {
    const into = { ts: new Float64Array(300_000), values: new Float64Array(300_000) }
    const rand = mulberry32(11)
    for (const n of [0, 1, 50, 1000, 200_000]) {
      const ts = Float64Array.from({ length: n }, () => Math.floor(rand() * n))
      const values = Float64Array.from({ length: n }, (_, i) => i)
      const want = sortLastWins(ts, values)
      const got = sortLastWins(ts, values, into)
      expect(Array.from(got.ts)).toEqual(Array.from(want.ts))
      expect(Array.from(got.values)).toEqual(Array.from(want.values))
      const ascending = Float64Array.from({ length: n }, (_, i) => i)
      expect(Array.from(sortLastWins(ascending, values, into).values)).toEqual(Array.from(values))
    }
  })
})
