/**
 * The packed integer sequences of workers/chunk/intseq.ts at every group
 * width, up to the 52/53-bit edge where the decoder's division by
 * multiplication stops being exact and it falls back to % and /: bit-exact
 * round trips, and a group beyond its frame still refused.
 */
import { describe, expect, it } from 'vitest'
import { ChunkFormatError, TsEncoding, chunkHeader, decodeChunk, encodeChunk } from '../dist/workers/chunk/codec.js'
import { mulberry32 } from '../dist/bench/lib/bodies.js'

const T0 = 1_700_000_000_000

/** Timestamps whose deltas - 1 cover [0, range] (both ends present): DELTA_FOR packs them in groups of R = range + 1. */
function timestamps (rand: () => number, n: number, range: number): Float64Array {
  const ts = new Float64Array(n)
  ts[0] = T0
  for (let i = 1; i < n; i++) {
    const d = i === 1 ? 0 : i === 2 ? range : Math.floor(rand() * (range + 1))
    ts[i] = ts[i - 1]! + 1 + d
  }
  return ts
}

describe('mixed-radix packing', () => {
  // R from 2 up to about 2^26.5, where R^2 reaches 2^53 (a 53-bit group).
  const ranges = [1, 2, 6, 400, 401, 4095, 65_535, 1_000_000, 2 ** 24, 2 ** 26 - 1, 2 ** 26, 67_108_865, 94_906_264, 94_906_265]
  it.each(ranges)('round-trips timestamps with delta range %d at every count', (range) => {
    const rand = mulberry32(range)
    for (const n of [2, 3, 4, 5, 7, 9, 17, 100, 240, 511]) {
      const ts = timestamps(rand, n, range)
      const vs = new Float64Array(n).fill(1)
      const chunk = encodeChunk(ts, vs)
      const d = decodeChunk(chunk)
      expect(Array.from(d.timestamps)).toEqual(Array.from(ts))
      // Uniform deltas: the frame of reference is the smallest mode once there are a few.
      if (n >= 100) expect(chunkHeader(chunk).tsEncoding).toBe(TsEncoding.DELTA_FOR)
    }
  })

  it('round-trips 2-decimal gauges (values packed in groups of 401 and more)', () => {
    const rand = mulberry32(3)
    for (let c = 0; c < 300; c++) {
      const n = 2 + Math.floor(rand() * 500)
      const step = [1, 4, 100, 10_000][c % 4]!
      const ts = new Float64Array(n)
      const vs = new Float64Array(n)
      let v = Math.floor(rand() * 10_000) / 100
      for (let i = 0; i < n; i++) { ts[i] = T0 + i * 15_000; vs[i] = v; v = Math.round((v + Math.floor(rand() * step) / 100) * 100) / 100 }
      const d = decodeChunk(encodeChunk(ts, vs))
      expect(Array.from(d.values)).toEqual(Array.from(vs))
    }
  })

  it('refuses a packed group beyond its frame', () => {
    // Regular timestamps with deltas 1 or 3 (range 2, R = 3): set every payload bit, and some group exceeds 3^k - 1.
    const ts = timestamps(mulberry32(9), 200, 2)
    const chunk = encodeChunk(ts, new Float64Array(200).fill(1))
    const values = 8 // CONST value payload: its 8 bytes end the chunk
    const bad = chunk.slice()
    let changed = false
    for (let i = bad.length - values - 5; i < bad.length - values - 1; i++) { changed ||= bad[i] !== 255; bad[i] = 255 }
    expect(changed).toBe(true)
    expect(() => decodeChunk(bad)).toThrow(ChunkFormatError)
  })
})
