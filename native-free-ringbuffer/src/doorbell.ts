/**
 * A doorbell lets one consumer that drains several rings sleep until any of
 * them gets data: Atomics.wait watches one word, so the producers of those
 * rings ring a shared word instead of each ring's own.
 *
 * Layout (Int32 slots of a 16-byte SharedArrayBuffer):
 */
import { ErrorCodes, RingError } from './errors.js'
import { checkTimeout, waitAsync } from './wait.js'

export const DoorbellSlot = {
  /** 'BEL1': identifies a doorbell buffer. Written once by allocateDoorbell. */
  MAGIC: 0,
  /** Bumped by a producer (Atomics.add) when it finds the consumer asleep; the consumer waits on it. */
  SEQ: 1,
  /** 1 while the consumer is (about to be) asleep; written by the consumer, read by producers after each commit. */
  SLEEPING: 2,
  /** How many times the consumer went to sleep (monitoring). Written by the consumer. */
  WAITS: 3,
} as const

export const DOORBELL_MAGIC = 0x42454c31
export const DOORBELL_BYTES = 16

export function allocateDoorbell (): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(DOORBELL_BYTES)
  new Int32Array(sab)[DoorbellSlot.MAGIC] = DOORBELL_MAGIC
  return sab
}

export class Doorbell {
  readonly buffer: SharedArrayBuffer
  private readonly ctl: Int32Array

  constructor (sab: SharedArrayBuffer) {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength !== DOORBELL_BYTES || new Int32Array(sab)[DoorbellSlot.MAGIC] !== DOORBELL_MAGIC) {
      throw new RingError(ErrorCodes.ERR_RING_NOT_A_RING, 'not a doorbell buffer (make one with allocateDoorbell)')
    }
    this.buffer = sab
    this.ctl = new Int32Array(sab)
  }

  /** Producer side, after publishing: wakes the consumer if (and only if) it said it sleeps. */
  ring (): void {
    const ctl = this.ctl
    if (Atomics.load(ctl, DoorbellSlot.SLEEPING) !== 0) {
      Atomics.add(ctl, DoorbellSlot.SEQ, 1)
      Atomics.notify(ctl, DoorbellSlot.SEQ)
    }
  }

  /** How many times the consumer slept. */
  waits (): number { return Atomics.load(this.ctl, DoorbellSlot.WAITS) >>> 0 }

  /**
   * Consumer side: blocks (Atomics.wait, only in a worker) until `hasWork()`
   * is true or `timeoutMs` passes; returns `hasWork()`. `hasWork` must read
   * the rings' indexes with Atomics (RingConsumer.available does).
   */
  wait (hasWork: () => boolean, timeoutMs: number): boolean {
    checkTimeout(timeoutMs)
    const ctl = this.ctl
    if (hasWork()) return true
    if (timeoutMs === 0) return false // a poll: do not raise the flag or count a sleep
    Atomics.store(ctl, DoorbellSlot.SLEEPING, 1)
    const seq = Atomics.load(ctl, DoorbellSlot.SEQ)
    if (!hasWork()) {
      Atomics.add(ctl, DoorbellSlot.WAITS, 1)
      Atomics.wait(ctl, DoorbellSlot.SEQ, seq, timeoutMs)
    }
    Atomics.store(ctl, DoorbellSlot.SLEEPING, 0)
    return hasWork()
  }

  /** As wait, with Atomics.waitAsync (safe on an event loop). */
  async waitAsync (hasWork: () => boolean, timeoutMs: number): Promise<boolean> {
    checkTimeout(timeoutMs)
    const ctl = this.ctl
    if (hasWork()) return true
    if (timeoutMs === 0) return false // a poll: do not raise the flag or count a sleep
    Atomics.store(ctl, DoorbellSlot.SLEEPING, 1)
    const seq = Atomics.load(ctl, DoorbellSlot.SEQ)
    if (!hasWork()) {
      Atomics.add(ctl, DoorbellSlot.WAITS, 1)
      await waitAsync(ctl, DoorbellSlot.SEQ, seq, timeoutMs)
    }
    Atomics.store(ctl, DoorbellSlot.SLEEPING, 0)
    return hasWork()
  }
}
