/**
 * Body lanes, the main thread's side (the layout and the worker's side are
 * described at LaneSlot in workers/shared.ts and drainLane in
 * workers/parse.ts). A small body is copied into a lane's inbox, and its
 * outcome comes back through the lane's outbox, in order: no Piscina task,
 * structured clone or message per body, and no waiting for the event-loop
 * turn that would have batched it.
 */
import { RING_FULL, RingConsumer, RingProducer } from 'native-free-ringbuffer'
import {
  BODY_FORMATS, INBOX_HEADER_BYTES, INBOX_TAG, LANE_SLOTS, LaneSlot, LaneState, NO_DB, NO_PRECISION, OUTBOX_HEADER_BYTES,
  type BodyJob, type BodyOutcome, type BodyStatus,
} from '../workers/shared.js'

export interface LaneResult { ring: number, outcome: BodyOutcome }
interface Waiter { resolve: (r: LaneResult) => void, reject: (err: unknown) => void }

const FORMAT_CODE = new Map(BODY_FORMATS.map((f, i) => [f, i]))
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Small strings (precision, db) encoded once: requests repeat the same few. Bounded. */
class Utf8Cache {
  private readonly map = new Map<string, Uint8Array>()
  get (s: string): Uint8Array {
    let b = this.map.get(s)
    if (b === undefined) {
      b = encoder.encode(s)
      if (this.map.size >= 64) this.map.clear()
      this.map.set(s, b)
    }
    return b
  }
}

export class BodyLane {
  readonly inbox: RingProducer
  private readonly outbox: RingConsumer
  private readonly states: Int32Array
  private readonly stateSlot: number
  private readonly waiters: Waiter[] = []
  private head = 0
  private pumping = false
  private readonly strings = new Utf8Cache()
  /** Drain tasks posted since start. */
  drainTasks = 0
  /** Bodies that went through this lane since start. */
  bodies = 0

  constructor (
    readonly index: number,
    inbox: SharedArrayBuffer,
    outbox: SharedArrayBuffer,
    states: Int32Array,
    /** Posts the Piscina task that drains this lane. */
    private readonly post: (task: { lane: number }) => Promise<unknown>,
    private readonly onDrainError: (lane: number, err: unknown) => void,
  ) {
    this.inbox = new RingProducer(inbox)
    this.outbox = new RingConsumer(outbox)
    this.states = states
    this.stateSlot = index * LANE_SLOTS + LaneSlot.STATE
  }

  /** Bodies in this lane whose outcome has not come back yet. */
  get queued (): number { return this.waiters.length - this.head }

  /** Inbox bytes not yet parsed. */
  get unparsedBytes (): number { return this.inbox.used() }

  /**
   * Copies the body into the inbox and resolves with its outcome; undefined
   * (nothing done) if it does not fit now: the caller sends it another way.
   */
  tryPush (job: BodyJob): Promise<LaneResult> | undefined {
    const precision = job.precision === undefined ? undefined : this.strings.get(job.precision)
    const db = job.db === undefined ? undefined : this.strings.get(job.db)
    if ((precision !== undefined && precision.byteLength >= NO_PRECISION) || (db !== undefined && db.byteLength >= NO_DB)) return undefined
    const body = job.body
    const n = INBOX_HEADER_BYTES + (precision?.byteLength ?? 0) + (db?.byteLength ?? 0) + body.byteLength
    if (n > this.inbox.maxPayload) return undefined
    const inbox = this.inbox
    const at = inbox.tryReserve(n, INBOX_TAG)
    if (at === RING_FULL) return undefined
    const u8 = inbox.u8
    const dv = inbox.dv
    inbox.f64[at >> 3] = job.nowMs
    dv.setUint32(at + 8, body.byteLength, true)
    u8[at + 12] = FORMAT_CODE.get(job.format)!
    u8[at + 13] = job.gzip ? 1 : 0
    u8[at + 14] = precision === undefined ? NO_PRECISION : precision.byteLength
    dv.setUint16(at + 16, db === undefined ? NO_DB : db.byteLength, true)
    let p = at + INBOX_HEADER_BYTES
    if (precision !== undefined) { u8.set(precision, p); p += precision.byteLength }
    if (db !== undefined) { u8.set(db, p); p += db.byteLength }
    u8.set(body, p)
    // Published once per event-loop turn: one store, and at most one wake-up of a sleeping worker
    // (a futex syscall each), for all the bodies the turn read.
    if (!this.publishing) { this.publishing = true; setImmediate(this.publish) }
    this.bodies++
    const done = new Promise<LaneResult>((resolve, reject) => { this.waiters.push({ resolve, reject }) })
    if (!this.pumping) void this.pump()
    return done
  }

  private publishing = false
  private readonly publish = (): void => {
    this.publishing = false
    this.inbox.commit()
    this.schedule()
  }

  /** Posts a drain task unless a worker drains the lane or one is posted. */
  private schedule (): void {
    const states = this.states
    if (Atomics.load(states, this.stateSlot) !== LaneState.IDLE) return
    if (Atomics.compareExchange(states, this.stateSlot, LaneState.IDLE, LaneState.SCHEDULED) !== LaneState.IDLE) return
    this.drainTasks++
    this.post({ lane: this.index }).then(() => {
      // A task that stopped at LANE_MAX_DRAIN_MS may leave bodies behind.
      if (this.inbox.used() > 0) this.schedule()
    }, (err: unknown) => {
      this.fail(err)
    })
  }

  /** Reads outcomes as they come while bodies wait for them. */
  private async pump (): Promise<void> {
    this.pumping = true
    try {
      while (this.head < this.waiters.length) {
        if (this.outbox.available() === 0) await this.outbox.waitForDataAsync(1000)
        this.take()
      }
    } finally {
      this.pumping = false
    }
  }

  private take (): void {
    if (this.outbox.read(this.visit) > 0) this.outbox.release()
    if (this.head > 1024 && this.head * 2 > this.waiters.length) {
      this.waiters.splice(0, this.head)
      this.head = 0
    }
  }

  private readonly visit = (offset: number, length: number, tag: number): void => {
    const o = this.outbox
    const w = (offset + 16) >> 2
    const extraLen = o.i32[w + 4]!
    const outcome: BodyOutcome = {
      status: tag as BodyStatus,
      accepted: o.i32[w + 1]!,
      rejected: o.i32[w + 2]!,
      skipped: o.i32[w + 3]!,
      errors: [],
      end: o.f64[offset >> 3]!,
      start: o.f64[(offset >> 3) + 1]!,
    }
    if (extraLen > 0 && OUTBOX_HEADER_BYTES + extraLen <= length) {
      const extra = JSON.parse(decoder.decode(o.u8.subarray(offset + OUTBOX_HEADER_BYTES, offset + OUTBOX_HEADER_BYTES + extraLen))) as { errors: BodyOutcome['errors'], detail?: string }
      outcome.errors = extra.errors
      if (extra.detail !== undefined) outcome.detail = extra.detail
    }
    const waiter = this.waiters[this.head]
    if (waiter === undefined) throw new Error(`lane ${this.index}: an outcome came with no body waiting for it`)
    this.waiters[this.head++] = undefined as unknown as Waiter
    waiter.resolve({ ring: o.i32[w]!, outcome })
  }

  /**
   * The drain task failed (its worker died, or a bug): hand out the outcomes
   * that did come, fail the other bodies, and skip what is left in the inbox
   * so the next body lines up with the next outcome again.
   */
  private fail (err: unknown): void {
    this.take()
    if (this.inbox.pending) this.inbox.abort() // bodies of this turn, not yet published: failed below too
    const skip = new RingConsumer(this.inbox.u8.buffer as SharedArrayBuffer)
    skip.read(() => {})
    skip.release()
    while (this.head < this.waiters.length) {
      const w = this.waiters[this.head]!
      this.waiters[this.head++] = undefined as unknown as Waiter
      w.reject(err)
    }
    Atomics.store(this.states, this.stateSlot, LaneState.IDLE)
    this.onDrainError(this.index, err)
  }
}
