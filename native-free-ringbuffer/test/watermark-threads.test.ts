/**
 * The watermark between threads, with indexes that wrap past 2^32 during the
 * test: a worker awaits a record's end while the main thread publishes, and
 * the main thread awaits while a worker publishes end after end.
 */
import { describe, expect, it } from 'vitest'
import { allocateRing, RingConsumer, RingObserver, RingProducer, Slot } from '../dist/src/index.js'
import { settledWithin, startWorker } from './helpers.js'

const PENDING = 'pending' as const
const TIMEOUT_MS = 10_000

describe('watermark across threads', () => {
  it('a worker awaiting an end resolves when the main thread publishes it, not before', async () => {
    const ring = allocateRing(256, { startIndex: 2 ** 32 - 64 })
    const p = new RingProducer(ring)
    const c = new RingConsumer(ring)
    const head = new Int32Array(ring, 0, 64)
    let end = 0
    for (let i = 0; i < 3; i++) { p.tryReserve(24); end = p.commit() } // ends 2^32 - 32, 0, 32
    expect(end).toBe(32)
    c.read(() => {})

    const ctl = new SharedArrayBuffer(4)
    const waiter = startWorker<{ ok: boolean, watermark: number, safe: boolean }>('watermark-waiter.mjs', { ring, ctl, end, timeoutMs: TIMEOUT_MS }, TIMEOUT_MS + 5000)
    const ready = Atomics.waitAsync(new Int32Array(ctl), 0, 0, TIMEOUT_MS)
    expect(ready.async ? await ready.value : ready.value).not.toBe('timed-out')
    expect(Atomics.load(head, Slot.WATERMARK_WAITERS)).toBe(1)

    // Past 2^32 but short of the end: the worker wakes, sees it is not covered, and waits again.
    c.publishWatermark(0)
    c.publishWatermark(24)
    expect(await settledWithin(waiter.result, 100, PENDING)).toBe(PENDING)
    expect(Atomics.load(head, Slot.WATERMARK_WAITERS)).toBe(1)

    c.publishWatermark(32)
    expect(await waiter.result).toEqual({ ok: true, watermark: 32, safe: true })
    expect(Atomics.load(head, Slot.WATERMARK_WAITERS)).toBe(0)
  })

  it('the main thread awaiting each end resolves as a worker publishes exactly that end', async () => {
    const records = 20
    const ring = allocateRing(1024, { startIndex: 2 ** 32 - 256 })
    const p = new RingProducer(ring)
    const o = new RingObserver(ring)
    const ends: number[] = []
    for (let i = 0; i < records; i++) { p.tryReserve(24); ends.push(p.commit()) } // crosses 2^32 at the 8th

    const ctlBuf = new SharedArrayBuffer(4)
    const ctl = new Int32Array(ctlBuf)
    const publisher = startWorker<{ ends: number[], error?: string }>('watermark-publisher.mjs', { ring, ctl: ctlBuf, records, timeoutMs: TIMEOUT_MS }, TIMEOUT_MS * 2)
    try {
      for (let k = 0; k < records; k++) {
        const waiting = o.waitForWatermark(ends[k]!, TIMEOUT_MS)
        expect(o.isSafe(ends[k]!)).toBe(false)
        Atomics.store(ctl, 0, k + 1)
        Atomics.notify(ctl, 0)
        expect(await waiting).toBe(true)
        // The worker publishes one end per step, so the watermark is exactly this end.
        expect(o.watermark()).toBe(ends[k])
        if (k + 1 < records) expect(o.isSafe(ends[k + 1]!)).toBe(false)
      }
    } finally {
      Atomics.store(ctl, 0, records)
      Atomics.notify(ctl, 0)
    }
    const result = await publisher.result
    expect(result.error).toBeUndefined()
    expect(result.ends).toEqual(ends)
    expect(ends.some((e) => e < ends[0]!)).toBe(true) // the indexes wrapped
    expect(o.used()).toBe(0)
  })
})
