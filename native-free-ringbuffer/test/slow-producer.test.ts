/**
 * A producer much slower than its consumer: the consumer is asleep most of the
 * time, on the ring itself or on a doorbell shared by two rings, blocking or
 * awaiting. Both finish; the consumer really slept (consumerWaits or
 * Doorbell.waits()), and it did not spin: it slept at most once per commit.
 */
import { describe, expect, it } from 'vitest'
import { allocateDoorbell, allocateRing, RingObserver } from '../dist/src/index.js'
import { ctlBytes } from './fixtures/records.mjs'
import { startWorker } from './helpers.js'
import type { ConsumerResult, ProducerResult } from './fixture-results.js'

const RECORDS = 400
const WAIT_MS = 5000

describe.each([
  { mode: 'waitForData (Atomics.wait)', rings: 1, doorbell: false, async: false },
  { mode: 'waitForDataAsync (Atomics.waitAsync)', rings: 1, doorbell: false, async: true },
  { mode: 'Doorbell.wait on two rings', rings: 2, doorbell: true, async: false },
  { mode: 'Doorbell.waitAsync on two rings', rings: 2, doorbell: true, async: true },
])('slow producer, consumer sleeping in $mode', ({ rings: n, doorbell: withDoorbell, async }) => {
  it('finishes with every record intact, and the consumer slept once per commit at most', async () => {
    const rings = Array.from({ length: n }, () => allocateRing(4096))
    const ctl = new SharedArrayBuffer(ctlBytes(n))
    const doorbell = withDoorbell ? allocateDoorbell() : undefined
    const consumer = startWorker<ConsumerResult>('consumer.mjs', {
      rings, ctl, doorbell, seed: 11, maxRead: 0, pauseMs: 0, async, waitMs: WAIT_MS, deadlineMs: 30_000, watermark: true, expected: rings.map(() => RECORDS),
    }, 40_000)
    const producers = rings.map((ring, id) => startWorker<ProducerResult>('producer.mjs', {
      ring, ctl, doorbell, id, records: RECORDS, seed: 12 + id, minSize: 1, maxSize: 1000, maxBatch: 3, exactFitOdds: 50, pauseMs: 2, async: false, waitMs: WAIT_MS, deadlineMs: 30_000,
    }, 40_000))
    const [c, ...ps] = await Promise.all([consumer.result, ...producers.map((p) => p.result)]) as [ConsumerResult, ...ProducerResult[]]

    for (const p of ps) expect(p.error).toBeUndefined()
    expect(c.error).toBeUndefined()
    expect(c.errors).toBe(0)
    expect(c.counts).toEqual(rings.map(() => RECORDS))
    // No wait ran its whole timeout: every sleep ended with a wake-up from a commit.
    expect(c.stalls).toBe(0)

    const commits = ps.reduce((sum, p) => sum + p.commits, 0)
    const slept = withDoorbell ? c.doorbellWaits : new RingObserver(rings[0]!).stats().consumerWaits
    // The producer pauses 2 ms after each commit, so the consumer sleeps between most of them...
    expect(slept).toBeGreaterThan(commits / 4)
    // ...and at most once per commit: every sleep is ended by a commit (or, on a doorbell,
    // by a producer's last ring, after its DONE). More would mean a busy spin.
    expect(slept).toBeLessThanOrEqual(commits + n)
    expect(c.idle).toBeLessThanOrEqual(commits + n)
    for (const ring of rings) {
      const o = new RingObserver(ring)
      expect(o.used()).toBe(0)
      expect(o.watermark()).toBe(o.writeIndex())
      // The ring's own sleep counter moves only when the consumer sleeps on the ring.
      if (withDoorbell) expect(o.stats().consumerWaits).toBe(0)
    }
  })
})
