/**
 * Misuse is a RingError with a documented code, thrown before anything is
 * written, so the ring stays usable afterwards.
 */
import { describe, expect, it } from 'vitest'
import {
  allocateDoorbell, allocateRing, bufferBytesFor, Doorbell, ErrorCodes, HEADER_BYTES, RingConsumer, RingError, RingObserver,
  RingProducer, Slot, MAX_CAPACITY,
} from '../dist/src/index.js'
import type { ErrorCode } from '../dist/src/index.js'

function codeOf (fn: () => unknown): ErrorCode | string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(RingError)
    expect((err as Error).name).toBe('RingError')
    return (err as RingError).code
  }
  return 'did not throw'
}

const attachers = [
  ['RingObserver', (sab: SharedArrayBuffer) => new RingObserver(sab)],
  ['RingProducer', (sab: SharedArrayBuffer) => new RingProducer(sab)],
  ['RingConsumer', (sab: SharedArrayBuffer) => new RingConsumer(sab)],
] as const

describe('allocateRing', () => {
  it('rejects a capacity that is not a power of two from 64 B to 1 GiB with ERR_RING_SIZE', () => {
    for (const bad of [0, 32, 63, 100, 1000, 65.5, -64, MAX_CAPACITY * 2, Number.NaN, Infinity, '1024' as unknown as number]) {
      expect(codeOf(() => allocateRing(bad)), String(bad)).toBe(ErrorCodes.ERR_RING_SIZE)
    }
    expect(new RingObserver(allocateRing(64)).capacity).toBe(64)
  })

  it('rejects a startIndex that is not a multiple of 8 in [0, 2^32) with ERR_RING_INVALID_ARG', () => {
    for (const bad of [-8, 4, 2 ** 32, 1.5]) {
      expect(codeOf(() => allocateRing(64, { startIndex: bad })), String(bad)).toBe(ErrorCodes.ERR_RING_INVALID_ARG)
    }
    expect(new RingObserver(allocateRing(64, { startIndex: 2 ** 32 - 8 })).writeIndex()).toBe(2 ** 32 - 8)
  })
})

describe.each(attachers)('attaching a %s', (_name, attach) => {
  it('to something that is not a ring: ERR_RING_NOT_A_RING', () => {
    expect(codeOf(() => attach(new ArrayBuffer(bufferBytesFor(64)) as unknown as SharedArrayBuffer))).toBe(ErrorCodes.ERR_RING_NOT_A_RING)
    expect(codeOf(() => attach(new SharedArrayBuffer(bufferBytesFor(64))))).toBe(ErrorCodes.ERR_RING_NOT_A_RING) // zeros: no magic
    expect(codeOf(() => attach(new SharedArrayBuffer(16)))).toBe(ErrorCodes.ERR_RING_NOT_A_RING) // too small
    expect(codeOf(() => attach(allocateDoorbell()))).toBe(ErrorCodes.ERR_RING_NOT_A_RING)
  })

  it('to a ring with a wrong magic word: ERR_RING_NOT_A_RING', () => {
    const sab = allocateRing(64)
    const head = new Int32Array(sab)
    head[Slot.MAGIC] = head[Slot.MAGIC]! ^ 1
    expect(codeOf(() => attach(sab))).toBe(ErrorCodes.ERR_RING_NOT_A_RING)
  })

  it('to a ring of another layout version: ERR_RING_VERSION', () => {
    const sab = allocateRing(64)
    const head = new Int32Array(sab)
    head[Slot.VERSION] = head[Slot.VERSION]! + 1
    expect(codeOf(() => attach(sab))).toBe(ErrorCodes.ERR_RING_VERSION)
  })

  it('to a buffer whose size does not match its header: ERR_RING_SIZE', () => {
    // A ring header copied into a buffer twice as large.
    const big = new SharedArrayBuffer(bufferBytesFor(128))
    new Uint8Array(big).set(new Uint8Array(allocateRing(64), 0, HEADER_BYTES))
    expect(codeOf(() => attach(big))).toBe(ErrorCodes.ERR_RING_SIZE)
    // A capacity word that is not a power of two, or out of range.
    for (const capacity of [96, 32, 0, -64]) {
      const sab = allocateRing(64)
      new Int32Array(sab)[Slot.CAPACITY] = capacity
      expect(codeOf(() => attach(sab)), String(capacity)).toBe(ErrorCodes.ERR_RING_SIZE)
    }
  })
})

describe('Doorbell', () => {
  it('rejects a buffer that is not a doorbell with ERR_RING_NOT_A_RING', () => {
    expect(codeOf(() => new Doorbell(new SharedArrayBuffer(16)))).toBe(ErrorCodes.ERR_RING_NOT_A_RING)
    expect(codeOf(() => new Doorbell(allocateRing(64)))).toBe(ErrorCodes.ERR_RING_NOT_A_RING)
  })
})

describe('RingProducer misuse', () => {
  it('a record larger than maxPayload: ERR_RING_RECORD_TOO_LARGE, and the ring still works', () => {
    const sab = allocateRing(256)
    const p = new RingProducer(sab)
    expect(p.maxPayload).toBe(256 / 2 - 8)
    expect(codeOf(() => p.tryReserve(p.maxPayload + 1))).toBe(ErrorCodes.ERR_RING_RECORD_TOO_LARGE)
    expect(codeOf(() => p.tryReserve(4096))).toBe(ErrorCodes.ERR_RING_RECORD_TOO_LARGE)
    expect(codeOf(() => p.waitForSpace(p.maxPayload + 1, 0))).toBe(ErrorCodes.ERR_RING_RECORD_TOO_LARGE)
    expect(p.pending).toBe(false)
    expect(p.tryReserve(p.maxPayload)).toBeGreaterThan(0)
    p.commit()
    const lengths: number[] = []
    new RingConsumer(sab).read((_o, len) => { lengths.push(len) })
    expect(lengths).toEqual([p.maxPayload])
  })

  it('a size that is not an integer >= 0: ERR_RING_INVALID_ARG', () => {
    const p = new RingProducer(allocateRing(256))
    for (const bad of [-1, 1.5, Number.NaN, '8' as unknown as number]) {
      expect(codeOf(() => p.tryReserve(bad)), String(bad)).toBe(ErrorCodes.ERR_RING_INVALID_ARG)
    }
    expect(p.pending).toBe(false)
  })

  it('commit or shrink with nothing reserved since the last commit: ERR_RING_COMMIT_WITHOUT_RESERVE', () => {
    const sab = allocateRing(256)
    const p = new RingProducer(sab)
    expect(codeOf(() => p.commit())).toBe(ErrorCodes.ERR_RING_COMMIT_WITHOUT_RESERVE)
    expect(codeOf(() => p.shrink(0))).toBe(ErrorCodes.ERR_RING_COMMIT_WITHOUT_RESERVE)
    p.tryReserve(8)
    p.commit()
    expect(codeOf(() => p.commit())).toBe(ErrorCodes.ERR_RING_COMMIT_WITHOUT_RESERVE)
    expect(new RingObserver(sab).used()).toBe(16)
  })

  it('shrink to more than was reserved, or to a bad size: ERR_RING_BAD_SHRINK', () => {
    const p = new RingProducer(allocateRing(256))
    p.tryReserve(40)
    for (const bad of [41, -1, 1.5, Number.NaN]) {
      expect(codeOf(() => p.shrink(bad)), String(bad)).toBe(ErrorCodes.ERR_RING_BAD_SHRINK)
    }
    p.shrink(20)
    expect(codeOf(() => p.shrink(21))).toBe(ErrorCodes.ERR_RING_BAD_SHRINK) // cannot grow back
    expect(p.commit()).toBe(8 + 24)
  })
})

describe('RingConsumer misuse', () => {
  function twoRecords (): { c: RingConsumer, ends: number[] } {
    const sab = allocateRing(256, { startIndex: 2 ** 32 - 16 })
    const p = new RingProducer(sab)
    const ends: number[] = []
    for (let i = 0; i < 2; i++) { p.tryReserve(8); ends.push(p.commit()) }
    return { c: new RingConsumer(sab), ends }
  }

  it('release past what was read, or backwards: ERR_RING_RELEASE_EXCEEDS_READ', () => {
    const { c, ends } = twoRecords()
    expect(codeOf(() => c.release(ends[0]))).toBe(ErrorCodes.ERR_RING_RELEASE_EXCEEDS_READ) // nothing read yet
    expect(c.read(() => {}, 1)).toBe(1)
    expect(codeOf(() => c.release(ends[1]))).toBe(ErrorCodes.ERR_RING_RELEASE_EXCEEDS_READ)
    expect(codeOf(() => c.release((ends[0]! + 8) >>> 0))).toBe(ErrorCodes.ERR_RING_RELEASE_EXCEEDS_READ)
    c.release(ends[0])
    expect(codeOf(() => c.release((ends[0]! - 8) >>> 0))).toBe(ErrorCodes.ERR_RING_RELEASE_EXCEEDS_READ)
    expect(codeOf(() => c.release(Number.NaN))).toBe(ErrorCodes.ERR_RING_RELEASE_EXCEEDS_READ)
    expect(c.readIndex()).toBe(ends[0])
  })

  it('watermark backwards or past what was read: ERR_RING_WATERMARK_RANGE', () => {
    const { c, ends } = twoRecords()
    expect(codeOf(() => c.publishWatermark(ends[0]))).toBe(ErrorCodes.ERR_RING_WATERMARK_RANGE) // nothing read yet
    c.read(() => {}, 1)
    expect(codeOf(() => c.publishWatermark(ends[1]))).toBe(ErrorCodes.ERR_RING_WATERMARK_RANGE)
    c.publishWatermark(ends[0])
    c.read(() => {})
    expect(codeOf(() => c.publishWatermark((ends[0]! - 8) >>> 0))).toBe(ErrorCodes.ERR_RING_WATERMARK_RANGE)
    expect(codeOf(() => c.publishWatermark(1.5))).toBe(ErrorCodes.ERR_RING_WATERMARK_RANGE)
    expect(c.watermark()).toBe(ends[0])
    c.publishWatermark(ends[1])
    expect(c.watermark()).toBe(ends[1])
  })
})
