/**
 * The parse worker's side of its ring: a SampleSink that encodes series
 * definitions and sample rows straight into ring records (no intermediate
 * objects), and publishes a whole body with one commit.
 *
 * Whole or nothing: a body's records stay uncommitted (invisible to the
 * flush worker) until the body is parsed. If the ring stays full past the
 * admission wait, abortBody() discards them and the body is refused whole.
 * Only a body too big to fit in a quarter of the ring is published in parts
 * (it is then waited for, never refused half-way).
 */
import { RING_FULL, type RingProducer } from 'native-free-ringbuffer'
import type { Label, SampleSink } from './parsers/types.js'
import { RecordKind, SAMPLES_PER_RECORD, SAMPLE_ROW_BYTES, SERIES_KEY_SEPARATOR } from './shared.js'

/** Thrown out of the sink when the ring stays full past the allowed wait. */
export class RingFullError extends Error {
  readonly code = 'ERR_RING_FULL'
  constructor () { super('ring full past the admission wait') }
}

/** Limits on one series (VictoriaMetrics defaults to 40 labels; InfluxDB to 64 KiB keys). */
export const MAX_LABELS = 256
export const MAX_SERIES_KEY_CHARS = 16 * 1024

/** Thrown by seriesId() for a series over the limits; the parser rejects the line with its message. */
export class SeriesLimitError extends Error {
  readonly code = 'ERR_SERIES_LIMIT'
}

/** How long a body already published in part may wait for space before giving up. */
const PARTIAL_BODY_WAIT_MS = 30_000

const encoder = new TextEncoder()

export function seriesKey (name: string, labels: readonly Label[]): string {
  let key = name
  for (const [k, v] of labels) key += SERIES_KEY_SEPARATOR + k + SERIES_KEY_SEPARATOR + v
  return key
}

export class RingWriter implements SampleSink {
  private readonly p: RingProducer
  private readonly f64: Float64Array
  private readonly u32: Uint32Array
  /** series key -> local id */
  private readonly ids = new Map<string, number>()
  /** local id -> series key */
  private readonly keys: string[] = []
  /** local id -> 1 once its SERIES record is in a committed (or the current) batch */
  private defined = new Uint8Array(1024)
  /** ids whose SERIES record is reserved but not yet committed */
  private readonly uncommittedDefs: number[] = []
  /** payload offset of the open SAMPLES record, -1 if none */
  private rec = -1
  private rows = 0
  /** Rows per SAMPLES record: SAMPLES_PER_RECORD, fewer for small rings (a record may use 1/8 of the ring). */
  private readonly rowsPerRecord: number
  private deadline = 0
  private bodyPublished = false
  private lastEnd = -1
  /** Samples written for the current body. */
  bodySamples = 0

  constructor (producer: RingProducer) {
    this.p = producer
    this.f64 = producer.f64
    this.u32 = producer.u32
    this.rowsPerRecord = Math.max(1, Math.min(SAMPLES_PER_RECORD, Math.floor(producer.capacity / 8 / SAMPLE_ROW_BYTES)))
  }

  /** Publishes a RESET record: the flush worker forgets this ring's previous local ids. */
  reset (waitMs: number): void {
    this.ids.clear()
    this.keys.length = 0
    this.defined.fill(0)
    this.deadline = performance.now() + waitMs
    this.reserve(0, RecordKind.RESET)
    this.lastEnd = this.p.commit()
  }

  /** Free-running ring index where the current body's records begin. */
  bodyStart = 0

  beginBody (admissionWaitMs: number): void {
    this.deadline = performance.now() + admissionWaitMs
    this.bodyStart = this.p.committed
    this.bodyPublished = false
    this.bodySamples = 0
    this.lastEnd = -1
  }

  /** Publishes the body; returns the ring index just past its last record, or -1 if it wrote nothing. */
  finishBody (): number {
    this.closeSamples()
    if (this.p.pending) {
      this.lastEnd = this.p.commit()
      this.uncommittedDefs.length = 0
    }
    return this.lastEnd
  }

  /** Discards what the current body reserved and not yet published. */
  abortBody (): void {
    this.rec = -1
    this.rows = 0
    this.p.abort()
    for (const id of this.uncommittedDefs) this.defined[id] = 0
    this.uncommittedDefs.length = 0
  }

  get publishedPart (): boolean { return this.bodyPublished }

  seriesId (name: string, labels: readonly Label[]): number {
    const key = seriesKey(name, labels)
    if (key.length > MAX_SERIES_KEY_CHARS || labels.length > MAX_LABELS) {
      throw new SeriesLimitError(labels.length > MAX_LABELS
        ? `series has ${labels.length} labels, more than the limit of ${MAX_LABELS}`
        : `series key is ${key.length} characters, more than the limit of ${MAX_SERIES_KEY_CHARS}`)
    }
    let id = this.ids.get(key)
    if (id === undefined) {
      id = this.keys.length
      this.keys.push(key)
      this.ids.set(key, id)
      if (id >= this.defined.length) {
        const grown = new Uint8Array(this.defined.length * 2)
        grown.set(this.defined)
        this.defined = grown
      }
    }
    return id
  }

  sample (id: number, timestampMs: number, value: number): void {
    if (this.defined[id] === 0) this.define(id)
    if (this.rec < 0 || this.rows === this.rowsPerRecord) this.openSamples()
    const o = (this.rec >> 3) + this.rows * 3
    const f64 = this.f64
    f64[o] = id
    f64[o + 1] = timestampMs
    f64[o + 2] = value
    this.rows++
    this.bodySamples++
  }

  private define (id: number): void {
    this.closeSamples()
    const bytes = encoder.encode(this.keys[id]!)
    if (bytes.length + 8 > this.p.maxPayload) throw new SeriesLimitError(`series key of ${bytes.length} bytes does not fit in a ring record`)
    const off = this.reserve(8 + bytes.length, RecordKind.SERIES)
    this.u32[off >> 2] = id
    this.u32[(off >> 2) + 1] = bytes.length
    this.p.u8.set(bytes, off + 8)
    this.defined[id] = 1
    this.uncommittedDefs.push(id)
  }

  private openSamples (): void {
    this.closeSamples()
    this.rec = this.reserve(this.rowsPerRecord * SAMPLE_ROW_BYTES, RecordKind.SAMPLES)
    this.rows = 0
  }

  private closeSamples (): void {
    if (this.rec < 0) return
    this.p.shrink(this.rows * SAMPLE_ROW_BYTES)
    this.rec = -1
    this.rows = 0
  }

  /** Reserves a record, waiting for space within the body's deadline. */
  private reserve (n: number, kind: number): number {
    const p = this.p
    let off = p.tryReserve(n, kind)
    if (off !== RING_FULL) return off
    // A body bigger than a quarter of the ring is published in parts, so it can always make progress.
    if (p.pending && p.uncommitted() > p.capacity / 4) {
      this.lastEnd = p.commit()
      this.uncommittedDefs.length = 0
      this.bodyPublished = true
    }
    // Space only grows while we wait (we are the only producer), so one wait that succeeds is enough.
    const deadline = this.bodyPublished ? Math.max(this.deadline, performance.now() + PARTIAL_BODY_WAIT_MS) : this.deadline
    const left = deadline - performance.now()
    if (left <= 0 || !p.waitForSpace(n, left)) throw new RingFullError()
    off = p.tryReserve(n, kind)
    if (off === RING_FULL) throw new RingFullError()
    return off
  }
}
