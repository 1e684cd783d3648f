/**
 * A record never straddles the end of the data area: one that ends exactly on
 * the end needs no marker and the next starts at 0; one that does not fit
 * leaves a wrap marker and starts at 0, and the padding counts as used.
 */
import { describe, expect, it } from 'vitest'
import { allocateRing, HEADER_BYTES, RECORD_HEADER_BYTES, RING_FULL, RingConsumer, RingProducer, WRAP_MARKER } from '../dist/src/index.js'

const CAP = 256
const FIRST = HEADER_BYTES + RECORD_HEADER_BYTES // payload offset of a record at data index 0

interface Seen { off: number, len: number, tag: number, end: number }
function readAll (c: RingConsumer): Seen[] {
  const seen: Seen[] = []
  c.read((off, len, tag, end) => { seen.push({ off, len, tag, end }) })
  return seen
}

/** A ring whose next record starts at data index `at` (the consumer has released everything before it). */
function ringAt (at: number, startIndex = 0): { p: RingProducer, c: RingConsumer, sab: SharedArrayBuffer } {
  const sab = allocateRing(CAP, { startIndex })
  const p = new RingProducer(sab)
  const c = new RingConsumer(sab)
  for (let left = at; left > 0;) {
    const step = Math.min(left, CAP / 2) // the largest record is CAP / 2 bytes
    p.tryReserve(step - RECORD_HEADER_BYTES)
    p.commit()
    c.read(() => {})
    c.release()
    left -= step
  }
  return { p, c, sab }
}

describe('wrap of records at the end of the data area', () => {
  it.each([17, 20, 24])('a %i-byte record in the last 32 bytes ends exactly on the end: no marker, next at 0', (n) => {
    const { p, c } = ringAt(CAP - 32 - 64)
    p.tryReserve(56) // data index 160..224
    const off = p.tryReserve(n, 1) // 224..256: exact fit
    expect(off).toBe(HEADER_BYTES + CAP - 32 + RECORD_HEADER_BYTES)
    const end = p.commit()
    expect(end).toBe(CAP)
    const seen = readAll(c)
    expect(seen.map((r) => r.len)).toEqual([56, n])
    expect(seen[1]).toMatchObject({ off, tag: 1, end: CAP })
    c.release()
    expect(p.tryReserve(8, 2)).toBe(FIRST)
    p.commit()
    expect(readAll(c)).toEqual([{ off: FIRST, len: 8, tag: 2, end: CAP + 16 }])
  })

  it('a record one slot too big for the room left leaves a wrap marker and starts at 0', () => {
    const { p, c, sab } = ringAt(CAP - 32)
    const off = p.tryReserve(25, 7) // 40 bytes, 32 left before the end
    expect(off).toBe(FIRST)
    expect(new Int32Array(sab)[(HEADER_BYTES + CAP - 32) >> 2]).toBe(WRAP_MARKER)
    const end = p.commit()
    expect(end).toBe(CAP + 40) // the 32 bytes of padding are part of the stream
    expect(c.used()).toBe(32 + 40)
    expect(readAll(c)).toEqual([{ off: FIRST, len: 25, tag: 7, end: CAP + 40 }])
    expect(c.readPosition).toBe(end)
  })

  it('the padding counts when deciding whether a record fits', () => {
    // Released up to 96, a record held at 96..224: 128 bytes free, 96 at the start and 32 at the end.
    const { p, c } = ringAt(96)
    p.tryReserve(120)
    p.commit()
    expect(p.free()).toBe(128)
    expect(p.tryReserve(120)).toBe(RING_FULL) // 128 bytes: 32 of padding + 128 > 128 free
    expect(p.tryReserve(88, 1)).toBe(FIRST) // 96 bytes: 32 of padding + 96 = 128, exactly
    p.commit()
    expect(p.free()).toBe(0)
    expect(p.tryReserve(0)).toBe(RING_FULL)
    expect(readAll(c).map((r) => r.len)).toEqual([120, 88])
  })

  it('the largest record (capacity / 2 - 8) always fits in an empty ring, wherever the indexes are', () => {
    for (let at = 0; at < CAP; at += 8) {
      const { p, c } = ringAt(at, 2 ** 32 - 64)
      expect(p.tryReserve(p.maxPayload), `at ${at}`).not.toBe(RING_FULL)
      p.commit()
      expect(readAll(c).map((r) => r.len)).toEqual([p.maxPayload])
    }
  })
})
