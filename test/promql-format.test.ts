/** The API's JSON written in pieces (prometheusSuccessBytes) is JSON.stringify's text of toPrometheusData, byte for byte. */
import { describe, expect, it } from 'vitest'
import { mulberry32 } from '../dist/src/bench/random.js'
import { prometheusSuccessBytes, prometheusSuccessJson, toPrometheusData, type PromResult } from '../dist/src/promql/index.js'

const reference = (r: PromResult): string => JSON.stringify({ status: 'success', data: toPrometheusData(r) })
const decode = (b: Uint8Array): string => new TextDecoder('utf-8', { fatal: true }).decode(b)


const SPECIAL = [0, -0, NaN, Infinity, -Infinity, 1e-7, -1e-7, 1e-6, 9.99e-7, 1e21, -1e21, 1e20, 5e-324, Number.MAX_VALUE, 0.1 + 0.2, -3]

describe('prometheusSuccessBytes', () => {
  it('matches JSON.stringify for matrices across piece boundaries, special values and non-ASCII labels', () => {
    const rand = mulberry32(7)
    for (const points of [0, 1, 100, 5761, 20_000]) {
      const series = Array.from({ length: 3 }, (_, j) => ({
        metric: { __name__: 'x', host: `h-${j}`, city: j === 1 ? 'Zürich ☃ 𝄞' : 'a"b\\c\n' },
        timestamps: Array.from({ length: points }, (_, i) => 1_700_000_000_123 + i * 15_000),
        values: Array.from({ length: points }, (_, i) => (i % 97 === 0 ? SPECIAL[i % SPECIAL.length]! : (rand() - 0.3) * 10 ** Math.floor(rand() * 30 - 10))),
      }))
      const r: PromResult = { resultType: 'matrix', result: series }
      expect(decode(prometheusSuccessBytes(r))).toBe(reference(r))
      expect(prometheusSuccessJson(r)).toBe(reference(r))
    }
  })

  it('matches for vectors (many series), scalars and strings', () => {
    const result = Array.from({ length: 3000 }, (_, i) => ({ metric: { i: String(i), u: 'ü' }, timestamp: 1_700_000_000_000 + i, value: SPECIAL[i % SPECIAL.length]! }))
    const cases: PromResult[] = [
      { resultType: 'vector', result },
      { resultType: 'vector', result: [] },
      { resultType: 'matrix', result: [] },
      { resultType: 'scalar', result: { timestamp: 1500, value: -0 } },
      { resultType: 'string', result: { timestamp: 2000, value: 'hé "there"' } },
    ]
    for (const r of cases) expect(decode(prometheusSuccessBytes(r))).toBe(reference(r))
  })

  it('returns a buffer of its own (transferable), also after a large answer', () => {
    const big: PromResult = { resultType: 'matrix', result: [{ metric: {}, timestamps: Array.from({ length: 300_000 }, (_, i) => i * 1000), values: Array.from({ length: 300_000 }, (_, i) => i / 7) }] }
    const a = prometheusSuccessBytes(big)
    expect(a.byteOffset).toBe(0)
    expect(a.buffer.byteLength).toBe(a.byteLength)
    const small: PromResult = { resultType: 'scalar', result: { timestamp: 1000, value: 1 } }
    const b = prometheusSuccessBytes(small)
    expect(decode(b)).toBe(reference(small))
    expect(decode(a)).toBe(reference(big)) // not overwritten by the next call
  })
})
