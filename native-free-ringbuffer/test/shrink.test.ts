/** shrink() trims the last reserved record before commit; the next record follows the trimmed one. */
import { describe, expect, it } from 'vitest'
import { allocateRing, HEADER_BYTES, RECORD_HEADER_BYTES, RingConsumer, RingProducer } from '../dist/src/index.js'

describe('shrink', () => {
  it('trims the last reserved record, and the next record starts right after the trimmed one', () => {
    const sab = allocateRing(1024)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    const a = p.tryReserve(100, 1)
    p.u8.fill(0xaa, a, a + 10)
    p.shrink(10)
    const b = p.tryReserve(8, 2)
    expect(b).toBe(a + 16 + RECORD_HEADER_BYTES) // 10 bytes padded to 16
    p.u8.fill(0xbb, b, b + 8)
    expect(p.commit()).toBe(24 + 16)
    const seen: Array<[number, number, number]> = []
    c.read((off, len, tag) => { seen.push([tag, len, c.u8[off + len - 1]!]) })
    expect(seen).toEqual([[1, 10, 0xaa], [2, 8, 0xbb]])
  })

  it('only trims the last record, can trim again, can trim to 0, cannot grow back', () => {
    const sab = allocateRing(1024)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    p.tryReserve(40, 1)
    p.tryReserve(100, 2)
    p.shrink(50)
    p.shrink(0)
    expect(() => p.shrink(1)).toThrow(expect.objectContaining({ code: 'ERR_RING_BAD_SHRINK' }))
    expect(p.commit()).toBe(48 + 8)
    const lens: number[] = []
    c.read((_o, len) => { lens.push(len) })
    expect(lens).toEqual([40, 0])
  })

  it('a shrunk record that had wrapped stays at 0, after its wrap marker', () => {
    const sab = allocateRing(256)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    p.tryReserve(120) // data index 0..128
    p.tryReserve(64) // 128..200
    p.commit()
    c.read(() => {})
    c.release()
    const off = p.tryReserve(100, 5) // 56 left: wraps to 0
    expect(off).toBe(HEADER_BYTES + RECORD_HEADER_BYTES)
    p.shrink(4) // would have fitted before the end now, but stays where it is
    expect(p.commit()).toBe(256 + 16)
    const seen: Array<[number, number, number]> = []
    c.read((o, len, tag) => { seen.push([o, len, tag]) })
    expect(seen).toEqual([[off, 4, 5]])
    expect(p.tryReserve(8)).toBe(off + 8 + RECORD_HEADER_BYTES)
  })
})
