/**
 * Records start on 8-byte boundaries, so Float64Array and BigInt64Array views
 * over a payload work; and the ring writes nothing outside the record headers
 * (canary bytes around every payload survive).
 */
import { describe, expect, it } from 'vitest'
import { allocateRing, HEADER_BYTES, RECORD_HEADER_BYTES, RING_FULL, RingConsumer, RingProducer, recordBytes } from '../dist/src/index.js'
import { between, prng } from './fixtures/records.mjs'

const CANARY = 0xa5

describe('record alignment', () => {
  it('puts every payload at a multiple of 8; float64 and int64 values round-trip in place', () => {
    const sab = allocateRing(1024, { startIndex: 2 ** 32 - 512 })
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    const next = prng(42)
    let checked = 0
    for (let round = 0; round < 200; round++) {
      const sizes: number[] = []
      for (let k = between(next, 1, 6); k > 0; k--) {
        const n = 8 * between(next, 1, 12) // room for n / 8 float64s
        const off = p.tryReserve(n, sizes.length)
        if (off < 0) break
        expect(off % 8).toBe(0)
        for (let j = 0; j < n / 8; j++) p.f64[(off >> 3) + j] = round + j / 8
        p.i64[(off >> 3)] = BigInt(round) * 0x1_0000_0001n
        sizes.push(n)
      }
      if (sizes.length === 0) continue
      p.commit()
      c.read((off, len, tag) => {
        expect(off % 8).toBe(0)
        expect(len).toBe(sizes[tag])
        const f = new Float64Array(c.buffer, off, len / 8)
        for (let j = 1; j < f.length; j++) expect(f[j]).toBe(round + j / 8)
        expect(new BigInt64Array(c.buffer, off, 1)[0]).toBe(BigInt(round) * 0x1_0000_0001n)
        checked++
      })
      c.release()
    }
    expect(checked).toBeGreaterThan(300)
  })

  it('writes only record headers and wrap markers: canary bytes in padding and free space survive', () => {
    const capacity = 512
    const sab = allocateRing(capacity)
    const data = new Uint8Array(sab, HEADER_BYTES, capacity)
    data.fill(CANARY)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    const next = prng(7)
    /** Bytes of the data area that the ring or the test may have written since the last check. */
    const written = new Uint8Array(capacity)
    let pos = 0 // data index where the next record starts if it fits before the end
    let checks = 0
    for (let i = 0; i < 2000; i++) {
      const n = between(next, 1, 100)
      const off = p.tryReserve(n)
      if (off === RING_FULL) {
        p.commit()
        c.read(() => {})
        c.release()
        for (let b = 0; b < capacity; b++) if (written[b] === 0) expect(data[b], `byte ${b}`).toBe(CANARY)
        checks++
        written.fill(0)
        data.fill(CANARY)
        continue
      }
      const start = off - HEADER_BYTES - RECORD_HEADER_BYTES
      if (start !== pos) {
        expect(start).toBe(0) // it did not fit before the end: wrap marker at pos, record at 0
        written.fill(1, pos, pos + 4)
      }
      written.fill(1, start, start + RECORD_HEADER_BYTES) // the header
      p.u8.fill(i & 0xff, off, off + n) // the payload, and not one byte more
      written.fill(1, start + RECORD_HEADER_BYTES, start + RECORD_HEADER_BYTES + n)
      pos = (start + recordBytes(n)) & (capacity - 1)
    }
    expect(checks).toBeGreaterThan(100)
  })
})
