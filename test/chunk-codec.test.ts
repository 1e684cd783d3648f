/**
 * The chunk codec on its own (workers/chunk/codec.ts): bit-exact round trips
 * for every kind of series and edge case, the encoding the encoder picks,
 * chunkHeader against decodeChunk, and the input contract. Corrupt input is
 * in chunk-fuzz.test.ts. Runs against the compiled code (npm test builds first).
 */
import { describe, expect, it } from 'vitest'
import {
  ChunkFormatError, ChunkInputError, MAX_CHUNK_SAMPLES, TsEncoding, ValueEncoding,
  chunkHeader, decodeChunk, encodeChunk,
} from '../dist/workers/chunk/codec.js'
import { mulberry32 } from '../dist/bench/lib/bodies.js'

const T0 = 1_700_000_000_000
const STEP = 10_000
const TWO_53 = 2 ** 53

/** A float64 from its 64 bits (keeps NaN payloads: the bits go through memory, not arithmetic). */
function fromBits (bits: bigint): number {
  const f = new Float64Array(1)
  new DataView(f.buffer).setBigUint64(0, bits, true)
  return f[0]!
}

const STALE_NAN = 0x7ff0000000000002n
/** Values given as bits, so their exact payload is what the test compares. */
const EDGE_BITS: readonly bigint[] = [
  STALE_NAN,
  0x7ff8000000000000n, // the canonical quiet NaN
  0xfff8000000000001n, // negative NaN with a payload
  0x7ff0000000000001n, // signalling NaN
  0x7fffffffffffffffn, // NaN, every payload bit
  0x8000000000000000n, // -0
  0x0000000000000000n, // +0
  0x0000000000000001n, // Number.MIN_VALUE (smallest subnormal)
  0x8000000000000001n, // -Number.MIN_VALUE
  0x000fffffffffffffn, // largest subnormal
  0x7fefffffffffffffn, // Number.MAX_VALUE
  0xffefffffffffffffn, // -Number.MAX_VALUE
  0x7ff0000000000000n, // Infinity
  0xfff0000000000000n, // -Infinity
]

/** Every byte of both arrays equal: -0, NaN payloads and all. */
function expectBitsEqual (actual: Float64Array, expected: Float64Array, what: string): void {
  expect(actual.length, `${what} length`).toBe(expected.length)
  const a = new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength)
  const e = new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength)
  if (Buffer.compare(a, e) !== 0) {
    const i = actual.findIndex((x, k) => !Object.is(x, expected[k]) || new Uint8Array(actual.buffer, actual.byteOffset + 8 * k, 8).some((b, j) => b !== e[8 * k + j]))
    expect.fail(`${what} differ at ${i}: ${actual[i]} vs ${expected[i]}`)
  }
}

/** Encode, decode, compare bit for bit, check the header; returns the chunk. */
function roundTrip (ts: Float64Array, vs: Float64Array): Uint8Array {
  const chunk = encodeChunk(ts, vs)
  const d = decodeChunk(chunk)
  expectBitsEqual(d.timestamps, ts, 'timestamps')
  expectBitsEqual(d.values, vs, 'values')
  const h = chunkHeader(chunk)
  expect(h.count).toBe(ts.length)
  expect(h.minTs).toBe(ts[0])
  expect(h.maxTs).toBe(ts[ts.length - 1])
  return chunk
}

// ---- series shapes ------------------------------------------------------------

type Rand = () => number

function regularTs (n: number, t0 = T0, step = STEP): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => t0 + i * step)
}

/** Scrape times off by a few ms, as real agents produce. */
function jitterTs (rand: Rand, n: number, jitter = 5): Float64Array {
  const ts = new Float64Array(n)
  let prev = -Infinity
  for (let i = 0; i < n; i++) {
    const t = T0 + i * STEP + Math.round((rand() - 0.5) * 2 * jitter)
    ts[i] = prev = Math.max(t, prev + 1)
  }
  return ts
}

/** Gaps from 1 ms to days: a series that comes and goes. */
function irregularTs (rand: Rand, n: number): Float64Array {
  const ts = new Float64Array(n)
  let t = T0 - Math.floor(rand() * 1e12)
  for (let i = 0; i < n; i++) {
    ts[i] = t
    t += 1 + Math.floor(rand() < 0.1 ? rand() * 1e9 : rand() * 20_000)
  }
  return ts
}

/** gen.js's gauges: a random walk in [0, 100] by up to ±2, rounded to 2 decimals (as parsed from text). */
function gauge (rand: Rand, n: number): Float64Array {
  let s = rand() * 100
  return Float64Array.from({ length: n }, () => {
    s = Math.min(100, Math.max(0, s + (rand() - 0.5) * 4))
    return Number(s.toFixed(2))
  })
}

/** A monotonic integer counter with an occasional reset to a small value. */
function counter (rand: Rand, n: number): Float64Array {
  let c = Math.floor(rand() * 1e9)
  return Float64Array.from({ length: n }, () => {
    c = rand() < 0.01 ? Math.floor(rand() * 100) : c + Math.floor(rand() * 5000)
    return c
  })
}

/** Full-precision floats (ratios, averages). */
function ratios (rand: Rand, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => rand() / (rand() + 0.5))
}

function constant (n: number, v: number): Float64Array {
  return new Float64Array(n).fill(v)
}

/** A copy of vs with some values replaced by edge values (given as bits). */
function sprinkle (rand: Rand, vs: Float64Array, every: number): Float64Array {
  const out = vs.slice()
  const view = new DataView(out.buffer)
  for (let i = 0; i < out.length; i++) {
    if (rand() * every < 1) view.setBigUint64(8 * i, EDGE_BITS[Math.floor(rand() * EDGE_BITS.length)]!, true)
  }
  return out
}

const SIZES = [1, 2, 3, 120, 250, 10_000]

describe('round trip, bit-exact', () => {
  const rand = mulberry32(7)
  const kinds: Record<string, (n: number) => Float64Array> = {
    'gauge (2 decimals)': n => gauge(rand, n),
    'counter with resets': n => counter(rand, n),
    'full-precision floats': n => ratios(rand, n),
    constant: n => constant(n, 42.5),
    'constant stale NaN': n => constant(n, fromBits(STALE_NAN)),
    'gauge ending in a stale marker': n => { const v = gauge(rand, n); v[n - 1] = fromBits(STALE_NAN); return v },
    'gauge with edge values': n => sprinkle(rand, gauge(rand, n), 20),
    'edge values only': n => sprinkle(rand, constant(n, 0), 1),
    'integers near 2^53': n => Float64Array.from({ length: n }, (_, i) => TWO_53 - 1 - (i % 7) * 1e15),
  }
  const timestamps: Record<string, (n: number) => Float64Array> = {
    regular: n => regularTs(n),
    jitter: n => jitterTs(rand, n),
    irregular: n => irregularTs(rand, n),
  }
  for (const [kind, makeValues] of Object.entries(kinds)) {
    it(kind, () => {
      for (const [tsKind, makeTs] of Object.entries(timestamps)) {
        for (const n of SIZES) {
          const ts = makeTs(n)
          const vs = makeValues(n)
          expect(() => roundTrip(ts, vs), `${tsKind} timestamps, ${n} samples`).not.toThrow()
        }
      }
    })
  }

  it('every edge value alone, in pairs and in runs', () => {
    const edges = EDGE_BITS.map(fromBits)
    for (const a of edges) {
      roundTrip(regularTs(1), Float64Array.of(a))
      for (const b of edges) {
        roundTrip(regularTs(3), Float64Array.of(a, b, a))
        roundTrip(regularTs(8), Float64Array.of(a, a, a, b, b, b, a, 1.5))
      }
    }
  })

  it('extreme timestamps: 0, negative, ±2^53, spans of 2^53-1 and beyond', () => {
    const cases: number[][] = [
      [0], [-1], [TWO_53], [-TWO_53], [TWO_53 - 1],
      [0, TWO_53 - 1],
      [-(TWO_53 - 1), 0],
      [-TWO_53, TWO_53],
      [-(TWO_53 - 1), 0, TWO_53 - 1],
      [-TWO_53, -TWO_53 + 1, TWO_53 - 1, TWO_53],
      [-5, -4, -2, 1, 1e15, 1e15 + 1],
      [1, 2, 3, 4, 5, TWO_53 - 3, TWO_53 - 2, TWO_53 - 1],
      Array.from({ length: 50 }, (_, i) => -TWO_53 + i * 2 ** 47), // huge regular deltas
      Array.from({ length: 50 }, (_, i) => (i % 2 ? 2 ** 46 : 0) + i * 2 ** 47), // huge irregular deltas
      Array.from({ length: 50 }, (_, i) => i * i * i * 1e10),
    ]
    for (const ts of cases) {
      const t = Float64Array.from(ts)
      roundTrip(t, gauge(mulberry32(ts.length), t.length))
      roundTrip(t, constant(t.length, -0))
    }
  })

  it('start and end select a window and give the same chunk as a copy of it', () => {
    const rand2 = mulberry32(3)
    const ts = jitterTs(rand2, 1000)
    const vs = gauge(rand2, 1000)
    for (const [s, e] of [[0, 1000], [0, 1], [999, 1000], [17, 517], [500, 620]] as const) {
      const chunk = encodeChunk(ts, vs, s, e)
      expect(chunk).toEqual(encodeChunk(ts.slice(s, e), vs.slice(s, e)))
      const d = decodeChunk(chunk)
      expectBitsEqual(d.timestamps, ts.slice(s, e), 'timestamps')
      expectBitsEqual(d.values, vs.slice(s, e), 'values')
    }
    // views with a byte offset
    const sub = encodeChunk(ts.subarray(100, 300), vs.subarray(100, 300), 10, 150)
    expectBitsEqual(decodeChunk(sub).values, vs.slice(110, 250), 'values of a subarray')
  })

  it('returns an exact-size copy, not a view of a larger buffer', () => {
    const chunk = encodeChunk(regularTs(120), gauge(mulberry32(1), 120))
    expect(chunk.byteOffset).toBe(0)
    expect(chunk.buffer.byteLength).toBe(chunk.length)
  })
})

describe('randomized property: mixed data, many seeds', () => {
  it('round-trips 400 random chunks bit for bit', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const rand = mulberry32(seed * 7919)
      const n = 1 + Math.floor(rand() ** 2 * 2000)
      const tsKind = Math.floor(rand() * 3)
      const ts = tsKind === 0 ? regularTs(n, T0, 1 + Math.floor(rand() * 60_000)) : tsKind === 1 ? jitterTs(rand, n, Math.floor(rand() * 50)) : irregularTs(rand, n)
      // values: segments of different shapes glued together, then a sprinkle of edge values
      const vs = new Float64Array(n)
      for (let i = 0; i < n;) {
        const len = Math.min(n - i, 1 + Math.floor(rand() * n))
        const shape = Math.floor(rand() * 5)
        const part = shape === 0 ? gauge(rand, len) : shape === 1 ? counter(rand, len) : shape === 2 ? ratios(rand, len) : shape === 3 ? constant(len, Math.floor(rand() * 10) / 4) : Float64Array.from({ length: len }, () => Math.round(rand() * 1e6) / 10 ** Math.floor(rand() * 12))
        vs.set(part, i)
        i += len
      }
      const mixed = rand() < 0.5 ? sprinkle(rand, vs, 10 + rand() * 500) : vs
      try {
        roundTrip(ts, mixed)
      } catch (err) {
        throw new Error(`seed ${seed} (n ${n}): ${(err as Error).message}`)
      }
    }
  })
})

describe('the encoding chosen', () => {
  it('regular timestamps cost a few bytes whatever the count', () => {
    const small = encodeChunk(regularTs(2), constant(2, 1)).length
    const big = encodeChunk(regularTs(10_000), constant(10_000, 1)).length
    expect(big - small).toBeLessThanOrEqual(4)
  })

  it('2-decimal gauges are decimal and stay well under 1.5 bytes a sample', () => {
    const rand = mulberry32(11)
    for (const n of [120, 250]) {
      const chunk = encodeChunk(regularTs(n), gauge(rand, n))
      expect(chunkHeader(chunk).valueEncoding).toBe(ValueEncoding.DECIMAL)
      expect(chunk.length / n).toBeLessThan(1.35)
    }
  })

  it('a stale marker at the end keeps a gauge decimal (stored as an exception)', () => {
    const rand = mulberry32(12)
    const vs = gauge(rand, 120)
    const plain = encodeChunk(regularTs(120), vs).length
    vs[119] = fromBits(STALE_NAN)
    const chunk = encodeChunk(regularTs(120), vs)
    expect(chunkHeader(chunk).valueEncoding).toBe(ValueEncoding.DECIMAL)
    expect(chunk.length - plain).toBeLessThanOrEqual(10)
  })

  it('full-precision floats use XOR, constants CONST, random bits RAW', () => {
    const rand = mulberry32(13)
    expect(chunkHeader(encodeChunk(regularTs(120), ratios(rand, 120))).valueEncoding).toBe(ValueEncoding.XOR)
    expect(chunkHeader(encodeChunk(regularTs(120), constant(120, Math.PI))).valueEncoding).toBe(ValueEncoding.CONST)
    const noise = new Float64Array(120)
    const u = new Uint32Array(noise.buffer)
    for (let i = 0; i < u.length; i++) u[i] = Math.floor(rand() * 2 ** 32)
    const chunk = encodeChunk(regularTs(120), noise)
    expect(chunkHeader(chunk).valueEncoding).toBe(ValueEncoding.RAW)
    expect(chunk.length).toBeLessThanOrEqual(120 * 8 + 16)
  })

  it('counters are decimal with e = 0', () => {
    const chunk = encodeChunk(regularTs(120), counter(mulberry32(14), 120))
    expect(chunkHeader(chunk).valueEncoding).toBe(ValueEncoding.DECIMAL)
  })

  it('a counter reset costs a few bytes, not a wider frame for every delta (PFOR)', () => {
    const rand = mulberry32(15)
    let c = 1e9
    const steady = Float64Array.from({ length: 120 }, () => (c += 1000 + Math.floor(rand() * 64)))
    const reset = steady.map((v, i) => i < 60 ? v : v - steady[59]! + 7)
    const a = encodeChunk(regularTs(120), steady).length
    const b = roundTrip(regularTs(120), reset).length
    expect(b - a).toBeLessThanOrEqual(8)
  })

  it('a missed scrape costs a few bytes of timestamps', () => {
    const ts = regularTs(121).filter((_, i) => i !== 50)
    const chunk = roundTrip(ts, constant(120, 1))
    expect(chunk.length - encodeChunk(regularTs(120), constant(120, 1)).length).toBeLessThanOrEqual(5)
    expect([TsEncoding.DELTA_PFOR, TsEncoding.DOD_VARBIT, TsEncoding.DELTA_VARBIT]).toContain(chunkHeader(chunk).tsEncoding)
  })

  it('timestamps too far apart for exact deltas fall back to RAW', () => {
    const chunk = encodeChunk(Float64Array.of(-TWO_53, 0, TWO_53), constant(3, 1))
    expect(chunkHeader(chunk).tsEncoding).toBe(TsEncoding.RAW)
  })
})

describe('input contract', () => {
  const bad = (ts: number[], vs?: number[], start?: number, end?: number): unknown => {
    try {
      encodeChunk(Float64Array.from(ts), Float64Array.from(vs ?? ts.map(() => 1)), start, end)
    } catch (err) { return err }
    return undefined
  }
  it('rejects with ChunkInputError (ERR_CHUNK_INPUT)', () => {
    const cases: Array<[number[], number[]?, number?, number?]> = [
      [[]], // empty
      [[2, 1]], // descending
      [[1, 1]], // duplicate
      [[1.5]], // not an integer
      [[Number.NaN]],
      [[TWO_53 + 2]],
      [[-Infinity]],
      [[1, 2], [1]], // values shorter than timestamps
      [[1, 2, 3], undefined, 2, 1],
      [[1, 2, 3], undefined, -1, 2],
      [[1, 2, 3], undefined, 0, 4],
    ]
    for (const [ts, vs, s, e] of cases) {
      const err = bad(ts, vs, s, e)
      expect(err, JSON.stringify([ts, vs, s, e])).toBeInstanceOf(ChunkInputError)
      expect((err as ChunkInputError).code).toBe('ERR_CHUNK_INPUT')
    }
  })

  it(`holds up to MAX_CHUNK_SAMPLES (${MAX_CHUNK_SAMPLES}) samples`, () => {
    const n = MAX_CHUNK_SAMPLES
    const chunk = roundTrip(regularTs(n), constant(n, 1))
    expect(chunk.length).toBeLessThan(64)
    expect(bad(Array.from({ length: n + 1 }, (_, i) => i))).toBeInstanceOf(ChunkInputError)
  })

  it('ChunkFormatError carries its code', () => {
    expect(new ChunkFormatError('x').code).toBe('ERR_CHUNK_FORMAT')
  })
})
