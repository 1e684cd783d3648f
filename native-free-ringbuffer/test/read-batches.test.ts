/** read() visits committed records in order, at most maxRecords at a time, and release() frees exactly what it is told. */
import { describe, expect, it } from 'vitest'
import { allocateRing, RingConsumer, RingProducer, recordBytes } from '../dist/src/index.js'

describe('read with maxRecords, and partial release', () => {
  it('reads in slices, and only committed records', () => {
    const sab = allocateRing(1024)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    for (let i = 0; i < 10; i++) p.tryReserve(8 + i, i)
    p.commit()
    p.tryReserve(8, 99) // reserved, not committed: invisible
    const tags: number[] = []
    const visit = (_o: number, _l: number, tag: number): void => { tags.push(tag) }
    expect(c.read(visit, 3)).toBe(3)
    expect(c.read(visit, 0)).toBe(0)
    expect(c.read(visit, 4)).toBe(4)
    expect(c.read(visit)).toBe(3)
    expect(c.read(visit)).toBe(0)
    expect(tags).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(c.available()).toBe(0)
    p.commit()
    expect(c.read(visit)).toBe(1)
    expect(tags.at(-1)).toBe(99)
  })

  it('release(upTo) frees the records up to a record end and no more', () => {
    const sab = allocateRing(1024)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    for (let i = 0; i < 4; i++) p.tryReserve(24)
    p.commit()
    const ends: number[] = []
    c.read((_o, _l, _t, end) => { ends.push(end) })
    c.release(ends[1])
    expect(c.used()).toBe(2 * recordBytes(24))
    expect(c.readPosition).toBe(ends[3])
    c.release()
    expect(c.used()).toBe(0)
  })

  it('a read that stops just before a wrap marker skips the marker', () => {
    const sab = allocateRing(256)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    p.tryReserve(56, 9) // data index 0..64, read and released first
    p.commit()
    c.read(() => {})
    c.release()
    for (let i = 0; i < 5; i++) p.tryReserve(24, i) // 64..224
    p.tryReserve(32, 5) // 40 bytes do not fit in the last 32: marker at 224, record at 0
    const end = p.commit()
    expect(end).toBe(256 + 40)
    const tags: number[] = []
    expect(c.read((_o, _l, tag) => { tags.push(tag) }, 5)).toBe(5)
    expect(c.readPosition).toBe(256) // past the marker
    c.release()
    expect(c.used()).toBe(40)
    expect(c.read((_o, _l, tag) => { tags.push(tag) })).toBe(1)
    expect(tags).toEqual([0, 1, 2, 3, 4, 5])
    expect(c.readPosition).toBe(end)
  })
})
