/**
 * The test records themselves (fixtures/records.mjs): the checks the stress
 * test relies on do catch a lost, duplicated, reordered, misrouted or torn
 * record. Without this, a verifier that accepts anything would pass the stress test.
 */
import { describe, expect, it } from 'vitest'
import { Bad, prng, tagOf, verifyRecord, writeRecord } from './fixtures/records.mjs'

const buf = new SharedArrayBuffer(8192)
const i32 = new Int32Array(buf)
const u8 = new Uint8Array(buf)
const OFF = 64

describe('record codec', () => {
  it.each([1, 2, 3, 4, 5, 7, 8, 9, 13, 64, 4096])('a %i-byte record verifies, and any damage is caught', (n) => {
    writeRecord(i32, u8, OFF, n, 2, 1234)
    const tag = tagOf(2, 1234)
    expect(verifyRecord(i32, u8, OFF, n, tag, 2, 1234)).toBe(Bad.OK)
    expect(verifyRecord(i32, u8, OFF, n, tag, 1, 1234)).toBe(Bad.PRODUCER) // another ring's record
    expect(verifyRecord(i32, u8, OFF, n, tag, 2, 1235)).toBe(Bad.SEQUENCE) // lost or duplicated
    expect(verifyRecord(i32, u8, OFF, n, tagOf(2, 1235), 2, 1235)).toBe(Bad.CHECKSUM) // header right, payload of another record
    expect(verifyRecord(i32, u8, OFF, n, tagOf(2, 1234 + 2 ** 24), 2, 1234 + 2 ** 24)).toBe(Bad.CHECKSUM) // a lap of 2^24 records
    for (const at of new Set([0, n >> 1, n - 1])) {
      u8[OFF + at]! ^= 0x10 // one torn byte
      expect(verifyRecord(i32, u8, OFF, n, tag, 2, 1234), `byte ${at}`).toBe(Bad.CHECKSUM)
      u8[OFF + at]! ^= 0x10
    }
    expect(verifyRecord(i32, u8, OFF, n, tag, 2, 1234)).toBe(Bad.OK)
  })

  it('stale bytes of an earlier record at the same place do not pass for a new one', () => {
    writeRecord(i32, u8, OFF, 100, 0, 5)
    expect(verifyRecord(i32, u8, OFF, 100, tagOf(0, 6), 0, 6)).toBe(Bad.CHECKSUM)
  })

  it('the generator is seeded: same seed, same numbers', () => {
    const a = prng(99)
    const b = prng(99)
    const c = prng(100)
    const xs = Array.from({ length: 5 }, () => a())
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs)
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(xs)
  })
})
