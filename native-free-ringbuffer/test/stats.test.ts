/** used(), stats() and the counters, read by an observer that only has the SharedArrayBuffer. */
import { describe, expect, it } from 'vitest'
import { allocateRing, RING_FULL, RingConsumer, RingObserver, RingProducer, recordBytes } from '../dist/src/index.js'

describe('used() and stats()', () => {
  it('count committed, unreleased bytes; highWater and fullCount follow', async () => {
    const sab = allocateRing(1024, { startIndex: 2 ** 32 - 200 })
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    const o = new RingObserver(sab)
    expect(o.stats()).toEqual({ used: 0, capacity: 1024, highWater: 0, fullCount: 0, producerWaits: 0, consumerWaits: 0 })

    p.tryReserve(10)
    p.tryReserve(100)
    expect(o.used()).toBe(0) // reserved is not committed
    p.commit()
    const first = recordBytes(10) + recordBytes(100)
    expect(o.used()).toBe(first)
    expect(o.stats().highWater).toBe(first)

    c.read(() => {}, 1)
    expect(o.used()).toBe(first) // read is not released
    c.release()
    expect(o.used()).toBe(recordBytes(100))
    expect(c.available()).toBe(recordBytes(100))

    // The next record starts at data index 960 (2^32 - 200 + 136, mod 1024): 64 bytes
    // before the end, too few for 112, so a wrap marker and 64 bytes of padding.
    let n = 0
    while (p.tryReserve(100) !== RING_FULL) n++
    p.commit()
    expect(n).toBe(7)
    expect(o.used()).toBe(recordBytes(100) * (n + 1) + 64)
    expect(o.stats().fullCount).toBe(1)
    expect(o.stats().highWater).toBe(o.used())
    expect(o.stats().highWater).toBeLessThanOrEqual(1024)

    c.read(() => {})
    c.release()
    expect(o.used()).toBe(0)
    expect(o.stats().highWater).toBeGreaterThan(1024 - recordBytes(100))

    // A wait that really sleeps is counted; one that need not sleep is not.
    expect(await c.waitForDataAsync(1)).toBe(false)
    expect(o.stats().consumerWaits).toBe(1)
    expect(await p.waitForSpaceAsync(100, 1)).toBe(true)
    expect(o.stats().producerWaits).toBe(0)
    expect(o.writeIndex()).toBe(o.readIndex())
    expect(o.capacity).toBe(1024)
  })
})
