/**
 * Three producer threads, one ring each, and one consumer thread draining all
 * three and sleeping on a shared Doorbell. Tens of millions of records of
 * random sizes (1 B to 4 KiB, with sizes that land exactly on the end of the
 * data area and sizes one slot too big for it), batch commits of random
 * length, small rings so records wrap all the time, and free-running indexes
 * started just below 2^32 on two rings so the counters wrap during the run.
 * The consumer checks every record's producer, sequence and checksum.
 *
 * RING_STRESS_RECORDS (records per producer, default 12_000_000) scales it.
 */
import { describe, expect, it } from 'vitest'
import { allocateDoorbell, allocateRing, RingObserver } from '../dist/src/index.js'
import { ctlBytes, Ctl } from './fixtures/records.mjs'
import { startWorker } from './helpers.js'
import type { ConsumerResult, ProducerResult } from './fixture-results.js'

const RECORDS = Number(process.env.RING_STRESS_RECORDS ?? 12_000_000)
const DEADLINE_MS = 150_000
const RINGS = [
  { capacity: 16 * 1024, startIndex: 2 ** 32 - 4096 }, // wraps the counter at once
  { capacity: 16 * 1024, startIndex: 2 ** 32 - 2 ** 24 }, // wraps it after 16 MiB, some 100 000 records in
  { capacity: 32 * 1024, startIndex: 0 },
]

describe('cross-thread stress: 3 producers, 1 consumer on a doorbell', () => {
  it(`moves ${RINGS.length} x ${RECORDS} records with nothing lost, duplicated, reordered or torn`, async () => {
    const rings = RINGS.map((r) => allocateRing(r.capacity, { startIndex: r.startIndex }))
    const ctlBuf = new SharedArrayBuffer(ctlBytes(RINGS.length))
    const doorbell = allocateDoorbell()
    const consumer = startWorker<ConsumerResult>('consumer.mjs', {
      rings, ctl: ctlBuf, doorbell, seed: 0xc0ffee, maxRead: 64, pauseMs: 0, async: false, waitMs: 5000, deadlineMs: DEADLINE_MS, watermark: true,
    }, DEADLINE_MS + 10_000)
    const producers = rings.map((ring, id) => startWorker<ProducerResult>('producer.mjs', {
      ring, ctl: ctlBuf, doorbell, id, records: RECORDS, seed: 1000 + id, minSize: 1, maxSize: 4096,
      maxBatch: 64, exactFitOdds: 60, pauseMs: 0, async: false, waitMs: 5000, deadlineMs: DEADLINE_MS,
    }, DEADLINE_MS + 10_000))

    let results: [ConsumerResult, ...ProducerResult[]]
    try {
      results = await Promise.all([consumer.result, ...producers.map((p) => p.result)]) as [ConsumerResult, ...ProducerResult[]]
    } catch (err) {
      Atomics.store(new Int32Array(ctlBuf), Ctl.ABORT, 1)
      throw err
    }
    const [c, ...ps] = results
    console.log(JSON.stringify({ consumer: { ...c, stats: undefined }, producers: ps }))
    for (const p of ps) {
      expect(p.error, `producer ${p.id}`).toBeUndefined()
      expect(p.records).toBe(RECORDS)
      // The boundary cases really happened, many times.
      expect(p.exactFits, `producer ${p.id} exact fits`).toBeGreaterThan(RECORDS / 1000)
      expect(p.markerWraps, `producer ${p.id} one-slot-too-big wraps`).toBeGreaterThan(RECORDS / 1000)
      expect(p.wraps, `producer ${p.id} wraps`).toBeGreaterThan(RECORDS / 500)
      expect(p.commits).toBeLessThan(p.records)
      expect(p.stalls, `producer ${p.id} waits that ran their whole 5 s timeout`).toBe(0)
    }
    expect(c.error).toBeUndefined()
    expect(c.firstError).toBeUndefined()
    expect(c.errors).toBe(0)
    expect(c.counts).toEqual(RINGS.map(() => RECORDS))
    expect(c.stalls, 'consumer waits that ran their whole 5 s timeout').toBe(0)
    // It slept on the doorbell, and far less often than once per record.
    expect(c.doorbellWaits).toBeGreaterThan(0)
    expect(c.doorbellWaits).toBeLessThan(RECORDS / 10)

    for (const [i, sab] of rings.entries()) {
      const o = new RingObserver(sab)
      expect(o.used()).toBe(0)
      expect(o.watermark()).toBe(o.writeIndex())
      expect(o.stats().highWater).toBeLessThanOrEqual(RINGS[i]!.capacity)
    }
    // The two rings started below 2^32 went past it during the run.
    expect(c.counterWraps[0]).toBeGreaterThanOrEqual(1)
    expect(c.counterWraps[1]).toBeGreaterThanOrEqual(1)
  }, DEADLINE_MS + 20_000)
})
