/**
 * A consumer much slower than its producer: the ring is full most of the time
 * and the producer spends its life waiting for space. Both finish; the
 * producer really slept (the ring's producerWaits counter), and it did not spin:
 * it asked for space at most once per release of the consumer.
 */
import { describe, expect, it } from 'vitest'
import { allocateRing, RingObserver } from '../dist/src/index.js'
import { ctlBytes } from './fixtures/records.mjs'
import { startWorker } from './helpers.js'
import type { ConsumerResult, ProducerResult } from './fixture-results.js'

const RECORDS = 3000
const WAIT_MS = 5000

describe.each([
  { mode: 'waitForSpace (Atomics.wait)', async: false },
  { mode: 'waitForSpaceAsync (Atomics.waitAsync)', async: true },
])('slow consumer, producer sleeping in $mode', ({ async }) => {
  it('finishes with every record intact, and the producer slept once per release at most', async () => {
    const ring = allocateRing(1024)
    const ctl = new SharedArrayBuffer(ctlBytes(1))
    const consumer = startWorker<ConsumerResult>('consumer.mjs', {
      rings: [ring], ctl, seed: 7, maxRead: 8, pauseMs: 1, async: false, waitMs: WAIT_MS, deadlineMs: 30_000, watermark: false, expected: [RECORDS],
    }, 40_000)
    const producer = startWorker<ProducerResult>('producer.mjs', {
      ring, ctl, id: 0, records: RECORDS, seed: 8, minSize: 1, maxSize: 120, maxBatch: 4, exactFitOdds: 50, pauseMs: 0, async, waitMs: WAIT_MS, deadlineMs: 30_000,
    }, 40_000)
    const [c, p] = await Promise.all([consumer.result, producer.result])

    expect(p.error).toBeUndefined()
    expect(c.error).toBeUndefined()
    expect(c.errors).toBe(0)
    expect(c.counts).toEqual([RECORDS])
    expect(p.stalls).toBe(0)

    const s = new RingObserver(ring).stats()
    // The ring was full most of the time: the producer was told "full" over and over...
    expect(s.fullCount).toBeGreaterThan(c.drains / 2)
    // ...and it slept, really (the consumer pauses 1 ms per batch, so every wait blocks)...
    expect(s.producerWaits).toBeGreaterThan(c.drains / 2)
    // ...but at most once per release (each drain ends with one release): every sleep is
    // ended by a release, since no wait ran its whole timeout. More would mean a busy spin.
    expect(s.fullCount).toBeLessThanOrEqual(c.drains + 1)
    expect(s.producerWaits).toBeLessThanOrEqual(c.drains + 1)
    expect(s.producerWaits).toBeLessThan(RECORDS)
    expect(s.highWater).toBeLessThanOrEqual(1024)
    expect(s.highWater).toBeGreaterThan(512)
  })
})
