/**
 * The sleep protocol's one dangerous moment, forced deterministically: a
 * producer commits after the consumer's last check for work and before it
 * sleeps. The consumer raised its flag before that check, so the producer
 * rings and the consumer does not sleep through the commit (no lost wake-up).
 * Doorbell's hasWork callback is what lets a test put the commit in that window.
 */
import { describe, expect, it } from 'vitest'
import { allocateDoorbell, allocateRing, Doorbell, RingConsumer, RingProducer } from '../dist/src/index.js'
import { settledWithin, startWorker } from './helpers.js'

/** A lost wake-up sleeps this long; a caught one returns at once. */
const TIMEOUT_MS = 5000

describe('a commit between the last check and the sleep', () => {
  it('wakes Doorbell.wait (blocking, in a worker)', async () => {
    const r = await startWorker<{ woke: boolean, elapsed: number, checks: number }>('doorbell-race.mjs', { timeoutMs: TIMEOUT_MS }, TIMEOUT_MS * 3).result
    expect(r.checks).toBe(3) // first check, the last check (with the commit), the check after waking
    expect(r.woke).toBe(true)
    expect(r.elapsed, 'slept its whole timeout: the wake-up was lost').toBeLessThan(TIMEOUT_MS)
  })

  it('wakes Doorbell.waitAsync (on the main thread)', async () => {
    const bell = new Doorbell(allocateDoorbell())
    const ring = allocateRing(256)
    const p = new RingProducer(ring, { doorbell: bell })
    const c = new RingConsumer(ring)
    let checks = 0
    const hasWork = (): boolean => {
      checks++
      if (checks === 2) {
        const nothing = c.available() > 0
        p.tryReserve(8)
        p.commit()
        return nothing
      }
      return c.available() > 0
    }
    const woke = await settledWithin(bell.waitAsync(hasWork, TIMEOUT_MS), TIMEOUT_MS / 2, 'still asleep: the wake-up was lost')
    expect(woke).toBe(true)
    expect(checks).toBe(3)
  })
})
