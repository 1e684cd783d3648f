/**
 * Every wait returns false once its timeout has passed when nothing happens,
 * returns at once when its condition already holds, and rejects a bad timeout.
 * Elapsed time is checked only from below (at least the timeout) and against
 * a generous sanity bound: speed is the benchmark's business.
 */
import { describe, expect, it } from 'vitest'
import { allocateDoorbell, allocateRing, Doorbell, ErrorCodes, RING_FULL, RingConsumer, RingObserver, RingProducer } from '../dist/src/index.js'
import { startWorker } from './helpers.js'

const TIMEOUT_MS = 50
/** Timers may round down by up to a millisecond. */
const AT_LEAST = TIMEOUT_MS - 1
const SANITY_MS = 10_000

async function timed<T> (wait: () => Promise<T>): Promise<{ result: T, elapsed: number }> {
  const t0 = performance.now()
  const result = await wait()
  return { result, elapsed: performance.now() - t0 }
}

function fullProducer (): RingProducer {
  const p = new RingProducer(allocateRing(256))
  while (p.tryReserve(24) !== RING_FULL) { /* fill */ }
  p.commit()
  return p
}

describe('blocking waits time out (in a worker thread)', () => {
  it('waitForData, waitForSpace and Doorbell.wait return false after their timeout', async () => {
    const out = await startWorker<Array<{ name: string, result: unknown, elapsed?: number }>>('blocking-timeouts.mjs', { timeoutMs: TIMEOUT_MS }, SANITY_MS).result
    const byName = Object.fromEntries(out.map((r) => [r.name, r]))
    for (const name of ['waitForData', 'waitForSpace', 'Doorbell.wait']) {
      expect(byName[name]?.result, name).toBe(false)
      expect(byName[name]?.elapsed, name).toBeGreaterThanOrEqual(AT_LEAST)
      expect(byName[name]?.elapsed, name).toBeLessThan(SANITY_MS)
    }
    // Each of them really went to sleep once.
    expect(byName.counters?.result).toEqual({ consumerWaits: 1, producerWaits: 1, doorbellWaits: 1 })
  })
})

describe('async waits time out (on the main thread)', () => {
  it('waitForDataAsync returns false after its timeout', async () => {
    const c = new RingConsumer(allocateRing(256))
    const { result, elapsed } = await timed(() => c.waitForDataAsync(TIMEOUT_MS))
    expect(result).toBe(false)
    expect(elapsed).toBeGreaterThanOrEqual(AT_LEAST)
    expect(elapsed).toBeLessThan(SANITY_MS)
    expect(c.stats().consumerWaits).toBe(1)
  })

  it('waitForSpaceAsync returns false after its timeout', async () => {
    const p = fullProducer()
    const { result, elapsed } = await timed(() => p.waitForSpaceAsync(24, TIMEOUT_MS))
    expect(result).toBe(false)
    expect(elapsed).toBeGreaterThanOrEqual(AT_LEAST)
    expect(elapsed).toBeLessThan(SANITY_MS)
    // It slept. Maybe more than once: Node runs waitAsync timeouts on millisecond timers, so
    // the wait may time out a fraction of a millisecond early, and waitForSpaceAsync then
    // sleeps again for the remainder (which is why elapsed is still at least the timeout).
    expect(p.stats().producerWaits).toBeGreaterThanOrEqual(1)
  })

  it('waitForWatermark returns false after its timeout', async () => {
    const sab = allocateRing(256)
    const p = new RingProducer(sab)
    p.tryReserve(8)
    const end = p.commit()
    const { result, elapsed } = await timed(() => new RingObserver(sab).waitForWatermark(end, TIMEOUT_MS))
    expect(result).toBe(false)
    expect(elapsed).toBeGreaterThanOrEqual(AT_LEAST)
    expect(elapsed).toBeLessThan(SANITY_MS)
  })

  it('Doorbell.waitAsync returns false after its timeout', async () => {
    const bell = new Doorbell(allocateDoorbell())
    const { result, elapsed } = await timed(() => bell.waitAsync(() => false, TIMEOUT_MS))
    expect(result).toBe(false)
    expect(elapsed).toBeGreaterThanOrEqual(AT_LEAST)
    expect(elapsed).toBeLessThan(SANITY_MS)
    expect(bell.waits()).toBe(1)
  })
})

describe('waits whose condition holds, or with a zero timeout', () => {
  it('return at once, and a zero timeout is a poll that does not count as a sleep', async () => {
    const sab = allocateRing(256)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    expect(c.waitForData(0)).toBe(false)
    expect(await c.waitForDataAsync(0)).toBe(false)
    expect(p.waitForSpace(24, 0)).toBe(true)
    expect(await p.waitForSpaceAsync(24)).toBe(true)
    p.tryReserve(24)
    p.commit()
    expect(c.waitForData()).toBe(true) // no timeout: it must not block, data is there
    expect(await c.waitForDataAsync()).toBe(true)
    const full = fullProducer()
    expect(full.waitForSpace(24, 0)).toBe(false)
    expect(await full.waitForSpaceAsync(24, 0)).toBe(false)
    const bell = new Doorbell(allocateDoorbell())
    expect(bell.wait(() => true, 0)).toBe(true)
    expect(bell.wait(() => false, 0)).toBe(false)
    expect(c.stats().consumerWaits + full.stats().producerWaits + bell.waits()).toBe(0)
  })
})

describe('bad timeouts', () => {
  it('are rejected with ERR_RING_INVALID_ARG', async () => {
    const sab = allocateRing(256)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    const o = new RingObserver(sab)
    const bell = new Doorbell(allocateDoorbell())
    for (const bad of [-1, Number.NaN, '10' as unknown as number]) {
      expect(() => c.waitForData(bad)).toThrow(expect.objectContaining({ code: ErrorCodes.ERR_RING_INVALID_ARG }))
      expect(() => p.waitForSpace(8, bad)).toThrow(expect.objectContaining({ code: ErrorCodes.ERR_RING_INVALID_ARG }))
      await expect(c.waitForDataAsync(bad)).rejects.toMatchObject({ code: ErrorCodes.ERR_RING_INVALID_ARG })
      await expect(p.waitForSpaceAsync(8, bad)).rejects.toMatchObject({ code: ErrorCodes.ERR_RING_INVALID_ARG })
      await expect(o.waitForWatermark(8, bad)).rejects.toMatchObject({ code: ErrorCodes.ERR_RING_INVALID_ARG })
      // Atomics.wait would read NaN (or a missing timeout) as "forever".
      expect(() => bell.wait(() => false, bad)).toThrow(expect.objectContaining({ code: ErrorCodes.ERR_RING_INVALID_ARG }))
      await expect(bell.waitAsync(() => false, bad)).rejects.toMatchObject({ code: ErrorCodes.ERR_RING_INVALID_ARG })
    }
    expect(() => bell.wait(() => false, undefined as unknown as number)).toThrow(expect.objectContaining({ code: ErrorCodes.ERR_RING_INVALID_ARG }))
  })
})
