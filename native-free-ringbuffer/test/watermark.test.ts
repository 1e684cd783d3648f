/**
 * The durable-ack watermark in one thread: waitForWatermark(end) resolves when
 * the consumer publishes end or beyond, not before, with the free-running
 * indexes started just below 2^32 so they wrap during the test; and
 * isCovered's modulo-2^32 comparison with its 2^31 validity window.
 */
import { describe, expect, it } from 'vitest'
import { allocateRing, isCovered, RingConsumer, RingObserver, RingProducer } from '../dist/src/index.js'
import { settledWithin } from './helpers.js'

const PENDING = 'pending' as const
/** How long a waiter gets to (wrongly) resolve after a publish that does not cover it. */
const OBSERVE_MS = 20

function ringNearWrap (capacity: number, below: number): { p: RingProducer, c: RingConsumer, o: RingObserver } {
  const sab = allocateRing(capacity, { startIndex: 2 ** 32 - below })
  return { p: new RingProducer(sab), c: new RingConsumer(sab), o: new RingObserver(sab) }
}

describe('waitForWatermark', () => {
  it('resolves exactly when the watermark reaches the record end, across the 2^32 wrap', async () => {
    const { p, c, o } = ringNearWrap(256, 128)
    const ends: number[] = []
    for (let i = 0; i < 12; i++) {
      p.tryReserve(24) // 32 bytes a record: ends 2^32 - 96, - 64, - 32, 0, 32, ...
      const end = p.commit()
      ends.push(end)
      const waiting = o.waitForWatermark(end, 10_000)
      expect(c.read(() => {})).toBe(1)

      c.publishWatermark((end - 8) >>> 0)
      expect(o.isSafe(end)).toBe(false)
      expect(await settledWithin(waiting, OBSERVE_MS, PENDING)).toBe(PENDING)

      c.publishWatermark(end)
      expect(o.isSafe(end)).toBe(true)
      expect(await waiting).toBe(true)
      expect(o.watermark()).toBe(end)
      c.release()
    }
    // The ends really went through 2^32: from just below it to small numbers.
    expect(ends[0]).toBe(2 ** 32 - 96)
    expect(ends).toContain(0)
    expect(ends.at(-1)).toBe(32 * 8)
  })

  it('a watermark numerically above the end but before it modulo 2^32 does not cover it', async () => {
    const { p, c, o } = ringNearWrap(256, 32)
    p.tryReserve(24)
    const beforeWrap = p.commit() // 0 (2^32 mod 2^32)
    p.tryReserve(24)
    const afterWrap = p.commit() // 32
    expect([beforeWrap, afterWrap]).toEqual([0, 32])
    const waiting = o.waitForWatermark(afterWrap, 10_000)
    c.read(() => {})
    c.publishWatermark((2 ** 32 - 8) >>> 0) // 4294967288 > 32, but 40 bytes before it
    expect(o.isSafe(afterWrap)).toBe(false)
    expect(await settledWithin(waiting, OBSERVE_MS, PENDING)).toBe(PENDING)
    c.publishWatermark(24)
    expect(await settledWithin(waiting, OBSERVE_MS, PENDING)).toBe(PENDING)
    c.publishWatermark(afterWrap)
    expect(await waiting).toBe(true)
  })

  it('one publish past several ends resolves every waiter; a later end stays pending', async () => {
    const { p, c, o } = ringNearWrap(1024, 64)
    const ends: number[] = []
    for (let i = 0; i < 5; i++) { p.tryReserve(8); ends.push(p.commit()) }
    const waiters = ends.map((e) => o.waitForWatermark(e, 10_000))
    c.read(() => {})
    c.publishWatermark(ends[2])
    expect(await Promise.all(waiters.slice(0, 3))).toEqual([true, true, true])
    expect(await settledWithin(waiters[3]!, OBSERVE_MS, PENDING)).toBe(PENDING)
    c.publishWatermark()
    expect(await Promise.all(waiters.slice(3))).toEqual([true, true])
  })

  it('resolves at once when already covered', async () => {
    const { p, c, o } = ringNearWrap(256, 8)
    p.tryReserve(1)
    const end = p.commit()
    c.read(() => {})
    c.publishWatermark()
    expect(await o.waitForWatermark(end, 0)).toBe(true)
    expect(await o.waitForWatermark((end - 16) >>> 0)).toBe(true)
  })
})

describe('isCovered (modulo 2^32)', () => {
  it('compares free-running indexes across the wrap', () => {
    expect(isCovered(100, 100)).toBe(true)
    expect(isCovered(108, 100)).toBe(true)
    expect(isCovered(92, 100)).toBe(false)
    expect(isCovered(0, 2 ** 32 - 8)).toBe(true) // the watermark has wrapped past the end
    expect(isCovered(16, 2 ** 32 - 8)).toBe(true)
    expect(isCovered(2 ** 32 - 8, 0)).toBe(false) // the end has wrapped, the watermark not yet
    expect(isCovered(2 ** 32 - 8, 16)).toBe(false)
  })

  it('takes signed and unsigned forms of the same index alike', () => {
    expect(isCovered(-8, 2 ** 32 - 16)).toBe(true)
    expect(isCovered(2 ** 32 - 8, -16)).toBe(true)
    expect(isCovered(-16, 2 ** 32 - 8)).toBe(false)
  })

  it('is valid while the watermark is less than 2^31 bytes from the end (the documented window)', () => {
    for (const end of [0, 8, 2 ** 31, 2 ** 32 - 8]) {
      expect(isCovered((end + 2 ** 31 - 8) >>> 0, end)).toBe(true) // far ahead, still covered
      expect(isCovered((end - (2 ** 31 - 8)) >>> 0, end)).toBe(false) // far behind, still pending
      expect(isCovered((end + 2 ** 31) >>> 0, end)).toBe(false) // 2^31 ahead: the comparison flips
    }
  })
})
