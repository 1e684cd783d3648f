/** abort() drops every record reserved since the last commit; uncommitted() says how many bytes that is. */
import { describe, expect, it } from 'vitest'
import { allocateRing, RING_FULL, RingConsumer, RingProducer, recordBytes } from '../dist/src/index.js'

describe('abort and uncommitted', () => {
  it('drops the reserved batch: the consumer never sees it and its space is free again', () => {
    const sab = allocateRing(256)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    p.tryReserve(8, 1)
    const end = p.commit()
    expect(p.uncommitted()).toBe(0)
    const first = p.tryReserve(24, 2)
    p.tryReserve(24, 3)
    expect(p.uncommitted()).toBe(2 * recordBytes(24))
    p.abort()
    expect(p.pending).toBe(false)
    expect(p.uncommitted()).toBe(0)
    expect(() => p.commit()).toThrow(expect.objectContaining({ code: 'ERR_RING_COMMIT_WITHOUT_RESERVE' }))
    expect(p.tryReserve(24, 4)).toBe(first) // the same place again
    expect(p.commit()).toBe(end + recordBytes(24))
    const tags: number[] = []
    c.read((_o, _l, tag) => { tags.push(tag) })
    expect(tags).toEqual([1, 4])
  })

  it('drops a batch that wrapped (its wrap marker lies beyond what was committed)', () => {
    const sab = allocateRing(256)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    p.tryReserve(120, 1) // 0..128
    p.tryReserve(88, 2) // 128..224
    p.commit()
    c.read(() => {})
    c.release()
    p.tryReserve(40, 3) // 48 bytes: marker at 224, record at 0
    expect(p.uncommitted()).toBe(32 + 48)
    p.abort()
    expect(p.tryReserve(24, 4)).not.toBe(RING_FULL) // 32 bytes: fits exactly at 224
    p.commit()
    const tags: number[] = []
    c.read((_o, _l, tag) => { tags.push(tag) })
    expect(tags).toEqual([4])
    expect(c.used()).toBe(32)
  })
})
