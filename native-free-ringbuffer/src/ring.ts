/**
 * A single-producer single-consumer ring of variable-length records in one
 * SharedArrayBuffer, indexed with Atomics. No lock, no copy.
 *
 * Contract (who may call what, from which thread):
 * - Exactly one RingProducer per ring at a time, in one thread. It reserves
 *   space, writes the payload in place through its typed-array views, and
 *   publishes every record reserved since the last commit with one
 *   Atomics.store (commit). Publishing per record is correct but ~10x slower.
 * - Exactly one RingConsumer per ring at a time, in one thread (usually
 *   another one). It reads committed records in place and releases them with
 *   one Atomics.store, and it publishes the durable watermark.
 * - Any number of RingObservers in any thread: capacity, bytes in use,
 *   counters, and waiting for the watermark.
 * - Waiting: the consumer may block (Atomics.wait, not on a main thread) or
 *   await (Atomics.waitAsync) until data arrives; the producer may do the same
 *   for free space. A side notifies the other only when that side has said it
 *   is asleep (the *_SLEEPING words), so the steady state makes no syscall.
 *
 * Why the sleep flags are race-free: the sleeper stores its flag, then reloads
 * the index it waits on; the waker stores the index, then loads the flag. All
 * four are sequentially consistent Atomics, so at least one side sees the
 * other's store (Dekker's argument): either the sleeper sees the new index and
 * does not sleep, or the waker sees the flag and notifies. Atomics.wait itself
 * compares the index with the value the sleeper last saw, so a store that
 * lands in between makes it return at once.
 */
import {
  HEADER_BYTES, LAYOUT_VERSION, MAGIC_VALUE, MAX_CAPACITY, MIN_CAPACITY,
  RECORD_HEADER_BYTES, Slot, WRAP_MARKER, bufferBytesFor, recordBytes,
} from './layout.js'
import { ErrorCodes, RingError } from './errors.js'
import { Doorbell } from './doorbell.js'
import { checkTimeout, waitAsync } from './wait.js'

/** tryReserve's answer when the record does not fit now. */
export const RING_FULL = -1

export interface AllocateOptions {
  /**
   * Initial value of the free-running indexes (default 0). Tests start near
   * 2^32 to exercise the wrap of the counters.
   */
  startIndex?: number
}

/** Allocates and initialises a ring of `capacity` data bytes (a power of two, 64 B to 1 GiB). */
export function allocateRing (capacity: number, options: AllocateOptions = {}): SharedArrayBuffer {
  if (!Number.isInteger(capacity) || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
    throw new RingError(ErrorCodes.ERR_RING_SIZE, `capacity must be a power of two between ${MIN_CAPACITY} and ${MAX_CAPACITY} bytes, got ${capacity}`)
  }
  const start = options.startIndex ?? 0
  if (!Number.isInteger(start) || start < 0 || start > 0xffffffff || start % 8 !== 0) {
    throw new RingError(ErrorCodes.ERR_RING_INVALID_ARG, `startIndex must be a multiple of 8 in [0, 2^32), got ${start}`)
  }
  const sab = new SharedArrayBuffer(bufferBytesFor(capacity))
  const i32 = new Int32Array(sab, 0, HEADER_BYTES >> 2)
  i32[Slot.MAGIC] = MAGIC_VALUE
  i32[Slot.VERSION] = LAYOUT_VERSION
  i32[Slot.CAPACITY] = capacity
  i32[Slot.WRITE] = start | 0
  i32[Slot.READ] = start | 0
  i32[Slot.WATERMARK] = start | 0
  return sab
}

/** Checks that `sab` is a ring of this layout and returns its capacity. */
function validate (sab: SharedArrayBuffer): number {
  if (!(sab instanceof SharedArrayBuffer)) {
    throw new RingError(ErrorCodes.ERR_RING_NOT_A_RING, 'a ring is attached with a SharedArrayBuffer')
  }
  if (sab.byteLength < HEADER_BYTES + MIN_CAPACITY) {
    throw new RingError(ErrorCodes.ERR_RING_NOT_A_RING, `buffer of ${sab.byteLength} bytes is too small to be a ring`)
  }
  const i32 = new Int32Array(sab, 0, 4)
  if (Atomics.load(i32, Slot.MAGIC) !== MAGIC_VALUE) {
    throw new RingError(ErrorCodes.ERR_RING_NOT_A_RING, 'buffer does not start with the ring magic word (was it made by allocateRing?)')
  }
  const version = Atomics.load(i32, Slot.VERSION)
  if (version !== LAYOUT_VERSION) {
    throw new RingError(ErrorCodes.ERR_RING_VERSION, `ring layout version ${version}, this code reads version ${LAYOUT_VERSION}`)
  }
  const capacity = Atomics.load(i32, Slot.CAPACITY)
  if (capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || (capacity & (capacity - 1)) !== 0 || sab.byteLength !== bufferBytesFor(capacity)) {
    throw new RingError(ErrorCodes.ERR_RING_SIZE, `ring header says capacity ${capacity} but the buffer has ${sab.byteLength} bytes`)
  }
  return capacity
}

/** True when the record ending at free-running index `end` is covered by `watermark` (comparison modulo 2^32). */
export function isCovered (watermark: number, end: number): boolean {
  return ((watermark - end) | 0) >= 0
}

/**
 * Read-only view of a ring, usable from any thread: sizes, counters, and
 * waiting for the durable watermark.
 */
export class RingObserver {
  readonly buffer: SharedArrayBuffer
  readonly capacity: number
  protected readonly ctl: Int32Array

  constructor (sab: SharedArrayBuffer) {
    this.capacity = validate(sab)
    this.buffer = sab
    this.ctl = new Int32Array(sab, 0, HEADER_BYTES >> 2)
  }

  /** Bytes committed by the producer and not yet released by the consumer (includes wrap padding). */
  used (): number {
    return (Atomics.load(this.ctl, Slot.WRITE) - Atomics.load(this.ctl, Slot.READ)) >>> 0
  }

  /** The free-running committed write index. */
  writeIndex (): number { return Atomics.load(this.ctl, Slot.WRITE) >>> 0 }
  /** The free-running released read index. */
  readIndex (): number { return Atomics.load(this.ctl, Slot.READ) >>> 0 }
  /** The free-running durable watermark. */
  watermark (): number { return Atomics.load(this.ctl, Slot.WATERMARK) >>> 0 }

  /** Counters for monitoring. */
  stats (): { used: number, capacity: number, highWater: number, fullCount: number, producerWaits: number, consumerWaits: number } {
    return {
      used: this.used(),
      capacity: this.capacity,
      highWater: Atomics.load(this.ctl, Slot.HIGH_WATER),
      fullCount: Atomics.load(this.ctl, Slot.FULL_COUNT) >>> 0,
      producerWaits: Atomics.load(this.ctl, Slot.PRODUCER_WAITS) >>> 0,
      consumerWaits: Atomics.load(this.ctl, Slot.CONSUMER_WAITS) >>> 0,
    }
  }

  /** True when the record ending at `end` (as returned by commit) is covered by the watermark. */
  isSafe (end: number): boolean {
    return isCovered(Atomics.load(this.ctl, Slot.WATERMARK), end)
  }

  /**
   * Resolves true once the watermark covers `end` (the value commit returned
   * for the record), false if `timeoutMs` passes first. Uses Atomics.waitAsync,
   * so it is safe on an event loop. Comparison is modulo 2^32: valid while the
   * watermark is less than 2^31 bytes behind `end`.
   */
  async waitForWatermark (end: number, timeoutMs = Infinity): Promise<boolean> {
    checkTimeout(timeoutMs)
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs
    const ctl = this.ctl
    for (;;) {
      const w = Atomics.load(ctl, Slot.WATERMARK)
      if (isCovered(w, end)) return true
      const left = deadline - performance.now()
      if (left <= 0) return false
      Atomics.add(ctl, Slot.WATERMARK_WAITERS, 1)
      try {
        await waitAsync(ctl, Slot.WATERMARK, w, left)
      } finally {
        Atomics.sub(ctl, Slot.WATERMARK_WAITERS, 1)
      }
    }
  }
}

/**
 * The writing side. Typed-array views (`u8`, `i32`, `u32`, `f64`, `i64`, `dv`)
 * cover the whole SharedArrayBuffer; tryReserve returns an absolute byte offset
 * into it, aligned to 8, so `f64[offset >> 3]` is the payload's first float64.
 */
export class RingProducer extends RingObserver {
  readonly u8: Uint8Array
  readonly i32: Int32Array
  readonly u32: Uint32Array
  readonly f64: Float64Array
  readonly i64: BigInt64Array
  readonly dv: DataView
  /** Largest payload a single record can have: capacity / 2 - 8. */
  readonly maxPayload: number

  private readonly mask: number
  private readonly doorbell: Doorbell | undefined
  /** Free-running index where the next record goes (reserved, maybe not committed). */
  private wpos: number
  /** Last READ we loaded; refreshed only when the cached value says "full". */
  private cachedRead: number
  /** Free-running index of the last reserved record's header, or -1 if none since commit. */
  private lastRecord = -1
  private lastReserved = 0
  private fullCount: number
  private highWater: number

  constructor (sab: SharedArrayBuffer, options: { doorbell?: Doorbell } = {}) {
    super(sab)
    this.u8 = new Uint8Array(sab)
    this.i32 = new Int32Array(sab)
    this.u32 = new Uint32Array(sab)
    this.f64 = new Float64Array(sab)
    this.i64 = new BigInt64Array(sab)
    this.dv = new DataView(sab)
    this.mask = this.capacity - 1
    this.maxPayload = this.capacity / 2 - RECORD_HEADER_BYTES
    this.doorbell = options.doorbell
    this.wpos = Atomics.load(this.ctl, Slot.WRITE) >>> 0
    this.cachedRead = Atomics.load(this.ctl, Slot.READ) >>> 0
    this.fullCount = Atomics.load(this.ctl, Slot.FULL_COUNT) >>> 0
    this.highWater = Atomics.load(this.ctl, Slot.HIGH_WATER)
  }

  /** Free-running index just past the last committed record: where the next commit's records begin. */
  get committed (): number { return Atomics.load(this.ctl, Slot.WRITE) >>> 0 }

  /** Bytes a record of `n` payload bytes needs at the current position, counting wrap padding. */
  private need (total: number): number {
    const toEnd = this.capacity - (this.wpos & this.mask)
    return total <= toEnd ? total : toEnd + total
  }

  /**
   * Reserves a record of `n` payload bytes and returns the byte offset of its
   * payload in the buffer, or RING_FULL (-1) at once if it does not fit now.
   * The record is published by the next commit(). Throws
   * ERR_RING_RECORD_TOO_LARGE if it could never fit.
   */
  tryReserve (n: number, tag = 0): number {
    if (!(n >= 0 && n <= this.maxPayload) || (n | 0) !== n) this.badSize(n)
    const total = recordBytes(n)
    let pos = this.wpos
    let idx = pos & this.mask
    const toEnd = this.capacity - idx
    const need = total <= toEnd ? total : toEnd + total
    if (((pos - this.cachedRead) >>> 0) + need > this.capacity) {
      this.cachedRead = Atomics.load(this.ctl, Slot.READ) >>> 0
      if (((pos - this.cachedRead) >>> 0) + need > this.capacity) {
        this.fullCount = (this.fullCount + 1) >>> 0
        Atomics.store(this.ctl, Slot.FULL_COUNT, this.fullCount | 0)
        return RING_FULL
      }
    }
    const i32 = this.i32
    if (total > toEnd) {
      i32[(HEADER_BYTES + idx) >> 2] = WRAP_MARKER
      pos = (pos + toEnd) >>> 0
      idx = 0
    }
    const at = HEADER_BYTES + idx
    i32[at >> 2] = n
    i32[(at >> 2) + 1] = tag
    this.lastRecord = pos
    this.lastReserved = n
    this.wpos = (pos + total) >>> 0
    return at + RECORD_HEADER_BYTES
  }

  private badSize (n: number): never {
    if (typeof n === 'number' && Number.isInteger(n) && n > this.maxPayload) {
      throw new RingError(ErrorCodes.ERR_RING_RECORD_TOO_LARGE, `record of ${n} bytes is larger than this ring can hold (${this.maxPayload} bytes of payload at most for capacity ${this.capacity})`)
    }
    throw new RingError(ErrorCodes.ERR_RING_INVALID_ARG, `record size must be an integer >= 0, got ${String(n)}`)
  }

  /**
   * Shrinks the last reserved (not yet committed) record to `n` payload bytes,
   * for writers that reserve a bound and learn the real size while writing.
   */
  shrink (n: number): void {
    if (this.lastRecord < 0) {
      throw new RingError(ErrorCodes.ERR_RING_COMMIT_WITHOUT_RESERVE, 'shrink() with no record reserved since the last commit')
    }
    if (!(n >= 0 && n <= this.lastReserved) || (n | 0) !== n) {
      throw new RingError(ErrorCodes.ERR_RING_BAD_SHRINK, `shrink(${String(n)}) but the last record reserved ${this.lastReserved} bytes`)
    }
    this.i32[(HEADER_BYTES + (this.lastRecord & this.mask)) >> 2] = n
    this.lastReserved = n
    this.wpos = (this.lastRecord + recordBytes(n)) >>> 0
  }

  /** True if a record of `n` payload bytes has been reserved since the last commit. */
  get pending (): boolean { return this.lastRecord >= 0 }

  /**
   * Publishes every record reserved since the last commit with one
   * Atomics.store, wakes the consumer if it said it sleeps, and returns the
   * free-running index just past the last record (what waitForWatermark takes).
   */
  commit (): number {
    if (this.lastRecord < 0) {
      throw new RingError(ErrorCodes.ERR_RING_COMMIT_WITHOUT_RESERVE, 'commit() with no record reserved since the last commit')
    }
    const end = this.wpos
    const ctl = this.ctl
    Atomics.store(ctl, Slot.WRITE, end | 0)
    this.lastRecord = -1
    const inUse = (end - this.cachedRead) >>> 0
    if (inUse > this.highWater) {
      this.highWater = inUse
      Atomics.store(ctl, Slot.HIGH_WATER, inUse)
    }
    if (Atomics.load(ctl, Slot.CONSUMER_SLEEPING) !== 0) Atomics.notify(ctl, Slot.WRITE)
    if (this.doorbell !== undefined) this.doorbell.ring()
    return end
  }

  /**
   * Discards every record reserved since the last commit: the consumer never
   * sees them and their space is free again. For writers that must publish a
   * batch whole or not at all.
   */
  abort (): void {
    this.wpos = Atomics.load(this.ctl, Slot.WRITE) >>> 0
    this.lastRecord = -1
  }

  /** Bytes reserved since the last commit (not yet visible to the consumer). */
  uncommitted (): number {
    return (this.wpos - (Atomics.load(this.ctl, Slot.WRITE) >>> 0)) >>> 0
  }

  /** Free bytes now (reloads the read index). */
  free (): number {
    this.cachedRead = Atomics.load(this.ctl, Slot.READ) >>> 0
    return this.capacity - ((this.wpos - this.cachedRead) >>> 0)
  }

  private fits (total: number): boolean {
    this.cachedRead = Atomics.load(this.ctl, Slot.READ) >>> 0
    return ((this.wpos - this.cachedRead) >>> 0) + this.need(total) <= this.capacity
  }

  private checkWaitSize (n: number): number {
    if (!(n >= 0 && n <= this.maxPayload) || (n | 0) !== n) this.badSize(n)
    return recordBytes(n)
  }

  /**
   * Blocks (Atomics.wait: not on a main thread) until a record of `n` payload
   * bytes fits, or `timeoutMs` passes. Returns true if it fits.
   */
  waitForSpace (n: number, timeoutMs = Infinity): boolean {
    checkTimeout(timeoutMs)
    const total = this.checkWaitSize(n)
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs
    const ctl = this.ctl
    for (;;) {
      if (this.fits(total)) return true
      Atomics.store(ctl, Slot.PRODUCER_SLEEPING, 1)
      const r = Atomics.load(ctl, Slot.READ)
      this.cachedRead = r >>> 0
      if (((this.wpos - this.cachedRead) >>> 0) + this.need(total) <= this.capacity) {
        Atomics.store(ctl, Slot.PRODUCER_SLEEPING, 0)
        return true
      }
      const left = deadline - performance.now()
      if (left <= 0) { Atomics.store(ctl, Slot.PRODUCER_SLEEPING, 0); return false }
      Atomics.add(ctl, Slot.PRODUCER_WAITS, 1)
      Atomics.wait(ctl, Slot.READ, r, left)
      Atomics.store(ctl, Slot.PRODUCER_SLEEPING, 0)
    }
  }

  /** As waitForSpace, with Atomics.waitAsync (safe on an event loop). */
  async waitForSpaceAsync (n: number, timeoutMs = Infinity): Promise<boolean> {
    checkTimeout(timeoutMs)
    const total = this.checkWaitSize(n)
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs
    const ctl = this.ctl
    for (;;) {
      if (this.fits(total)) return true
      Atomics.store(ctl, Slot.PRODUCER_SLEEPING, 1)
      const r = Atomics.load(ctl, Slot.READ)
      this.cachedRead = r >>> 0
      if (((this.wpos - this.cachedRead) >>> 0) + this.need(total) <= this.capacity) {
        Atomics.store(ctl, Slot.PRODUCER_SLEEPING, 0)
        return true
      }
      const left = deadline - performance.now()
      if (left <= 0) { Atomics.store(ctl, Slot.PRODUCER_SLEEPING, 0); return false }
      Atomics.add(ctl, Slot.PRODUCER_WAITS, 1)
      await waitAsync(ctl, Slot.READ, r, left)
      Atomics.store(ctl, Slot.PRODUCER_SLEEPING, 0)
    }
  }
}

/** Called for each record read in place: payload offset in the buffer, payload length, tag, and the free-running index just past the record. */
export type RecordVisitor = (offset: number, length: number, tag: number, end: number) => void

/**
 * The reading side. Reads committed records in place (the same views as the
 * producer), releases them in bulk, and publishes the durable watermark.
 */
export class RingConsumer extends RingObserver {
  readonly u8: Uint8Array
  readonly i32: Int32Array
  readonly u32: Uint32Array
  readonly f64: Float64Array
  readonly i64: BigInt64Array
  readonly dv: DataView

  private readonly mask: number
  /** Free-running index of the next record to read (ahead of READ until release). */
  private rpos: number
  /** Free-running index released so far (our copy of READ). */
  private released: number
  private published: number

  constructor (sab: SharedArrayBuffer) {
    super(sab)
    this.u8 = new Uint8Array(sab)
    this.i32 = new Int32Array(sab)
    this.u32 = new Uint32Array(sab)
    this.f64 = new Float64Array(sab)
    this.i64 = new BigInt64Array(sab)
    this.dv = new DataView(sab)
    this.mask = this.capacity - 1
    this.rpos = Atomics.load(this.ctl, Slot.READ) >>> 0
    this.released = this.rpos
    this.published = Atomics.load(this.ctl, Slot.WATERMARK) >>> 0
  }

  /** Bytes committed and not yet read by this consumer. */
  available (): number {
    return (Atomics.load(this.ctl, Slot.WRITE) - this.rpos) >>> 0
  }

  /** Free-running index up to which records have been read (what release() defaults to). */
  get readPosition (): number { return this.rpos }

  /**
   * Calls `visit` for each committed record not yet read, in order, at most
   * `maxRecords` of them, and returns how many it visited. The payload stays
   * valid until it is released.
   */
  read (visit: RecordVisitor, maxRecords = Infinity): number {
    const write = Atomics.load(this.ctl, Slot.WRITE) >>> 0
    const i32 = this.i32
    const mask = this.mask
    let pos = this.rpos
    let count = 0
    while (pos !== write && count < maxRecords) {
      const idx = pos & mask
      const at = HEADER_BYTES + idx
      const len = i32[at >> 2]!
      if (len === WRAP_MARKER) {
        pos = (pos + (this.capacity - idx)) >>> 0
        continue
      }
      const end = (pos + RECORD_HEADER_BYTES + ((len + 7) & ~7)) >>> 0
      visit(at + RECORD_HEADER_BYTES, len, i32[(at >> 2) + 1]!, end)
      pos = end
      count++
    }
    // Skip a trailing wrap marker so readPosition equals WRITE when all is read.
    if (pos !== write && i32[(HEADER_BYTES + (pos & mask)) >> 2] === WRAP_MARKER) {
      pos = (pos + (this.capacity - (pos & mask))) >>> 0
    }
    this.rpos = pos
    return count
  }

  /**
   * Frees every record read up to free-running index `upTo` (default: all that
   * were read) with one Atomics.store, and wakes the producer if it sleeps.
   */
  release (upTo: number = this.rpos): void {
    const ahead = (upTo - this.released) >>> 0
    if (ahead > ((this.rpos - this.released) >>> 0) || !Number.isInteger(upTo)) {
      throw new RingError(ErrorCodes.ERR_RING_RELEASE_EXCEEDS_READ, `release(${upTo}) is past what was read (read up to ${this.rpos}, released up to ${this.released})`)
    }
    this.released = upTo >>> 0
    const ctl = this.ctl
    Atomics.store(ctl, Slot.READ, upTo | 0)
    if (Atomics.load(ctl, Slot.PRODUCER_SLEEPING) !== 0) Atomics.notify(ctl, Slot.READ)
  }

  /**
   * Publishes "every record ending at or before `upTo` is safe": moves the
   * watermark forward (never back, never past what was read) and wakes the
   * threads waiting on it.
   */
  publishWatermark (upTo: number = this.rpos): void {
    if (!Number.isInteger(upTo) || ((upTo - this.published) | 0) < 0 || ((this.rpos - upTo) | 0) < 0) {
      throw new RingError(ErrorCodes.ERR_RING_WATERMARK_RANGE, `watermark ${upTo} must lie between the last published ${this.published} and the read position ${this.rpos}`)
    }
    this.published = upTo >>> 0
    const ctl = this.ctl
    Atomics.store(ctl, Slot.WATERMARK, upTo | 0)
    if (Atomics.load(ctl, Slot.WATERMARK_WAITERS) !== 0) Atomics.notify(ctl, Slot.WATERMARK)
  }

  /**
   * Blocks (Atomics.wait: only in a worker) until a committed record is
   * unread or `timeoutMs` passes. Returns true if data is available.
   */
  waitForData (timeoutMs = Infinity): boolean {
    checkTimeout(timeoutMs)
    const ctl = this.ctl
    const mine = this.rpos | 0
    if (Atomics.load(ctl, Slot.WRITE) !== mine) return true
    if (timeoutMs === 0) return false // a poll: do not raise the flag or count a sleep
    Atomics.store(ctl, Slot.CONSUMER_SLEEPING, 1)
    const w = Atomics.load(ctl, Slot.WRITE)
    if (w === mine) {
      Atomics.add(ctl, Slot.CONSUMER_WAITS, 1)
      Atomics.wait(ctl, Slot.WRITE, w, timeoutMs)
    }
    Atomics.store(ctl, Slot.CONSUMER_SLEEPING, 0)
    return Atomics.load(ctl, Slot.WRITE) !== mine
  }

  /** As waitForData, with Atomics.waitAsync (safe on an event loop). */
  async waitForDataAsync (timeoutMs = Infinity): Promise<boolean> {
    checkTimeout(timeoutMs)
    const ctl = this.ctl
    const mine = this.rpos | 0
    if (Atomics.load(ctl, Slot.WRITE) !== mine) return true
    if (timeoutMs === 0) return false // a poll: do not raise the flag or count a sleep
    Atomics.store(ctl, Slot.CONSUMER_SLEEPING, 1)
    const w = Atomics.load(ctl, Slot.WRITE)
    if (w === mine) {
      Atomics.add(ctl, Slot.CONSUMER_WAITS, 1)
      await waitAsync(ctl, Slot.WRITE, w, timeoutMs)
    }
    Atomics.store(ctl, Slot.CONSUMER_SLEEPING, 0)
    return Atomics.load(ctl, Slot.WRITE) !== mine
  }
}
