/**
 * A ring's state lives in the SharedArrayBuffer: a RingConsumer or
 * RingProducer attached after another one went away continues from the shared
 * indexes (unreleased records are read again, uncommitted ones are dropped).
 */
import { describe, expect, it } from 'vitest'
import { allocateRing, RING_FULL, RingConsumer, RingObserver, RingProducer } from '../dist/src/index.js'

function tagsOf (c: RingConsumer): number[] {
  const tags: number[] = []
  c.read((_o, _l, tag) => { tags.push(tag) })
  return tags
}

describe('attaching again to the same SharedArrayBuffer', () => {
  it('a second consumer starts at the released index and re-reads what was read but not released', () => {
    const sab = allocateRing(256, { startIndex: 2 ** 32 - 64 })
    const p = new RingProducer(sab)
    const ends: number[] = []
    for (let i = 0; i < 4; i++) { p.tryReserve(24, i); ends.push(p.commit()) }
    const first = new RingConsumer(sab)
    expect(first.read(() => {}, 3)).toBe(3)
    first.release(ends[0])
    first.publishWatermark(ends[1])

    const second = new RingConsumer(sab)
    expect(second.readPosition).toBe(ends[0])
    expect(second.watermark()).toBe(ends[1])
    expect(tagsOf(second)).toEqual([1, 2, 3])
    // The watermark never moves back, even for a new consumer.
    expect(() => second.publishWatermark(ends[0])).toThrow(expect.objectContaining({ code: 'ERR_RING_WATERMARK_RANGE' }))
    second.publishWatermark()
    second.release()
    expect(new RingObserver(sab).used()).toBe(0)
  })

  it('a second producer continues at the committed index, dropping what the first left uncommitted', () => {
    const sab = allocateRing(256)
    const c = new RingConsumer(sab)
    const first = new RingProducer(sab)
    first.tryReserve(24, 1)
    first.commit()
    first.tryReserve(24, 2) // never committed
    while (first.tryReserve(24) !== RING_FULL) { /* fill */ }
    expect(first.stats().fullCount).toBe(1)

    const second = new RingProducer(sab)
    expect(second.pending).toBe(false)
    expect(second.free()).toBe(256 - 32)
    second.tryReserve(24, 3)
    second.commit()
    expect(tagsOf(c)).toEqual([1, 3])
    // Counters live in the buffer too.
    while (second.tryReserve(24) !== RING_FULL) { /* fill */ }
    expect(second.stats().fullCount).toBe(2)
    expect(second.stats().highWater).toBe(64)
  })
})
