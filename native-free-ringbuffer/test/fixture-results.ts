/** Shapes of what the worker fixtures (producer.mjs, consumer.mjs) post back. */
import type { RingObserver } from '../dist/src/index.js'

export interface ProducerResult {
  id: number
  records: number
  commits: number
  /** Records that ended exactly on the end of the data area (no wrap marker). */
  exactFits: number
  /** Records one 8-byte slot too big for the room left, so placed at 0 after a wrap marker. */
  markerWraps: number
  /** Every record placed at 0 after a wrap marker. */
  wraps: number
  /** Calls to waitForSpace / waitForSpaceAsync. */
  waitCalls: number
  /** Waits for space that ran their whole timeout (a lost wake-up, when the consumer is at work). */
  stalls: number
  error?: string
}

export interface ConsumerResult {
  /** Records read per ring. */
  counts: number[]
  /** Per ring: times the free-running index passed 2^32 during the run. */
  counterWraps: number[]
  /** Records that failed verification (lost, duplicated, reordered, torn). */
  errors: number
  firstError?: { ring: number, seq: number, len: number, tag: number, end: number, reason: string }
  /** Drain passes that found records. */
  drains: number
  /** Times the consumer found nothing and waited. */
  idle: number
  /** Waits that returned with nothing to read (a producer rang for data already read). */
  emptyWakeups: number
  /** Waits that ran their whole timeout (a lost wake-up, when producers are at work). */
  stalls: number
  doorbellWaits: number
  stats: Array<ReturnType<RingObserver['stats']>>
  error?: string
}
