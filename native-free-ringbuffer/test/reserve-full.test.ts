/** tryReserve answers RING_FULL at once when a record does not fit, changes nothing, and succeeds once space is released. */
import { describe, expect, it } from 'vitest'
import { allocateRing, RING_FULL, RingConsumer, RingProducer } from '../dist/src/index.js'

describe('tryReserve on a full ring', () => {
  it('returns RING_FULL, counts it, and succeeds after the consumer releases', () => {
    const sab = allocateRing(256)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    for (let i = 0; i < 8; i++) expect(p.tryReserve(24, i)).not.toBe(RING_FULL) // 8 x 32 B = 256 B
    p.commit()
    expect(p.free()).toBe(0)
    expect(p.tryReserve(24)).toBe(RING_FULL)
    expect(p.tryReserve(0)).toBe(RING_FULL) // even an empty record needs its 8-byte header
    expect(p.stats().fullCount).toBe(2)
    expect(p.pending).toBe(false) // a refusal reserves nothing
    expect(codeOfCommit(p)).toBe('ERR_RING_COMMIT_WITHOUT_RESERVE')

    // Read everything, release only the first record: exactly one 32-byte slot frees up.
    const ends: number[] = []
    expect(c.read((_o, _l, _t, end) => { ends.push(end) })).toBe(8)
    c.release(ends[0])
    expect(p.free()).toBe(32)
    expect(p.tryReserve(32)).toBe(RING_FULL) // 40 B: still too big
    const off = p.tryReserve(24, 99)
    expect(off).not.toBe(RING_FULL)
    p.commit()
    expect(p.tryReserve(1)).toBe(RING_FULL)
    expect(p.stats().fullCount).toBe(4)

    c.release()
    const tags: number[] = []
    c.read((_o, _l, tag) => { tags.push(tag) })
    expect(tags).toEqual([99])
  })

  it('counts records reserved but not yet committed as taking space', () => {
    const p = new RingProducer(allocateRing(64))
    expect(p.tryReserve(24)).not.toBe(RING_FULL)
    expect(p.tryReserve(24)).not.toBe(RING_FULL)
    expect(p.tryReserve(0)).toBe(RING_FULL)
    expect(p.used()).toBe(0) // nothing committed yet
    p.commit()
    expect(p.used()).toBe(64)
  })
})

function codeOfCommit (p: RingProducer): string | undefined {
  try { p.commit() } catch (err) { return (err as { code?: string }).code }
  return undefined
}
