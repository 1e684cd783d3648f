/**
 * Corrupt and truncated chunks (workers/chunk/codec.ts): decodeChunk and
 * chunkHeader either return something or throw ChunkFormatError
 * (ERR_CHUNK_FORMAT); never another error, never a hang (the test timeout
 * would catch one), never more samples than MAX_CHUNK_SAMPLES. Every strict
 * prefix of a chunk must throw: each byte of a chunk is needed.
 */
import { describe, expect, it } from 'vitest'
import { MAX_CHUNK_SAMPLES, chunkHeader, decodeChunk, encodeChunk } from '../dist/workers/chunk/codec.js'
import { mulberry32 } from '../dist/bench/lib/bodies.js'

const T0 = 1_700_000_000_000

/** Chunks covering every encoding: decimal (FOR and varbit), XOR, CONST, RAW values; regular, jittered, irregular and RAW timestamps. */
function corpus (): Uint8Array[] {
  const rand = mulberry32(99)
  const out: Uint8Array[] = []
  for (const n of [1, 2, 3, 17, 120, 250]) {
    const regular = Float64Array.from({ length: n }, (_, i) => T0 + i * 10_000)
    const jitter = Float64Array.from({ length: n }, (_, i) => T0 + i * 10_000 + Math.floor(rand() * 9))
    const irregular = new Float64Array(n)
    let t = -1e12
    for (let i = 0; i < n; i++) { irregular[i] = t; t += 1 + Math.floor(rand() ** 4 * 1e9) }
    let s = 50
    const gauge = Float64Array.from({ length: n }, () => { s = Math.min(100, Math.max(0, s + (rand() - 0.5) * 4)); return Number(s.toFixed(2)) })
    let c = 0
    const counter = Float64Array.from({ length: n }, () => (c = rand() < 0.05 ? 0 : c + Math.floor(rand() * 3000)))
    const floats = Float64Array.from({ length: n }, () => rand() * 3)
    const noise = new Float64Array(n)
    new Uint32Array(noise.buffer).forEach((_, i, a) => { a[i] = Math.floor(rand() * 2 ** 32) })
    const stale = gauge.slice()
    new DataView(stale.buffer).setBigUint64(8 * (n - 1), 0x7ff0000000000002n, true)
    for (const ts of [regular, jitter, irregular]) {
      for (const vs of [gauge, counter, floats, noise, stale, new Float64Array(n).fill(-0)]) out.push(encodeChunk(ts, vs))
    }
  }
  out.push(encodeChunk(Float64Array.of(-(2 ** 53), 0, 2 ** 53), Float64Array.of(1, 2, 3)))
  return out
}

/** Decoding returned (sane shape) or threw ChunkFormatError; anything else fails the test. */
function expectContained (chunk: Uint8Array, what: string): 'ok' | 'error' {
  let header
  try {
    header = chunkHeader(chunk)
  } catch (err) {
    expect((err as { code?: string }).code, `${what}: chunkHeader threw ${String(err)}`).toBe('ERR_CHUNK_FORMAT')
  }
  try {
    const d = decodeChunk(chunk)
    expect(d.timestamps.length).toBe(d.values.length)
    expect(d.values.length).toBeLessThanOrEqual(MAX_CHUNK_SAMPLES)
    expect(header?.count, `${what}: header count`).toBe(d.values.length)
    return 'ok'
  } catch (err) {
    expect((err as { code?: string }).code, `${what}: decodeChunk threw ${String(err)}`).toBe('ERR_CHUNK_FORMAT')
    return 'error'
  }
}

describe('corrupt chunks', () => {
  const chunks = corpus()

  it('every strict prefix throws ChunkFormatError', () => {
    for (const [k, chunk] of chunks.entries()) {
      for (let len = 0; len < chunk.length; len++) {
        expect(expectContained(chunk.subarray(0, len), `chunk ${k} cut to ${len}`)).toBe('error')
      }
    }
  })

  it('trailing bytes throw ChunkFormatError', () => {
    for (const chunk of chunks) {
      const longer = new Uint8Array(chunk.length + 1)
      longer.set(chunk)
      expect(() => decodeChunk(longer)).toThrow(expect.objectContaining({ code: 'ERR_CHUNK_FORMAT' }))
    }
  })

  it('random bit flips and byte changes decode or throw ChunkFormatError', () => {
    const rand = mulberry32(2024)
    let errors = 0
    let runs = 0
    for (let round = 0; round < 60; round++) {
      for (const [k, chunk] of chunks.entries()) {
        const bad = chunk.slice()
        const edits = 1 + Math.floor(rand() * 3)
        for (let e = 0; e < edits; e++) {
          const at = Math.floor(rand() * bad.length)
          if (rand() < 0.7) bad[at]! ^= 1 << Math.floor(rand() * 8)
          else bad[at] = Math.floor(rand() * 256)
        }
        runs++
        if (expectContained(bad, `chunk ${k}, round ${round}`) === 'error') errors++
      }
    }
    // Most damage is detected (ascending timestamps, frames, padding, exact end).
    expect(errors / runs).toBeGreaterThan(0.5)
  })

  it('random bytes decode or throw ChunkFormatError', () => {
    const rand = mulberry32(5)
    for (let i = 0; i < 20_000; i++) {
      const len = Math.floor(rand() * 64)
      const bytes = Uint8Array.from({ length: len }, () => Math.floor(rand() * 256))
      if (len > 0 && rand() < 0.8) bytes[0] = 1 // get past the version byte
      expectContained(bytes, `random ${i}`)
    }
  })

  it('an unknown version throws ChunkFormatError', () => {
    const chunk = chunks[0]!.slice()
    chunk[0] = 2
    expect(() => chunkHeader(chunk)).toThrow(expect.objectContaining({ code: 'ERR_CHUNK_FORMAT' }))
    expect(() => decodeChunk(chunk)).toThrow(expect.objectContaining({ code: 'ERR_CHUNK_FORMAT' }))
  })
})
