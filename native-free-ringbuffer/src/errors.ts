/**
 * Every error this package throws is a RingError with a stable `code`: match on
 * the code, not on the message (the message may be reworded).
 */
export const ErrorCodes = {
  /** The SharedArrayBuffer does not start with the ring magic word: it is not a ring. */
  ERR_RING_NOT_A_RING: 'ERR_RING_NOT_A_RING',
  /** The buffer is a ring of another layout version. */
  ERR_RING_VERSION: 'ERR_RING_VERSION',
  /** The buffer's byte length does not match the capacity in its header, or a capacity is not a power of two in range. */
  ERR_RING_SIZE: 'ERR_RING_SIZE',
  /** A record larger than the largest the ring can ever hold (capacity / 2 - 8 bytes of payload). */
  ERR_RING_RECORD_TOO_LARGE: 'ERR_RING_RECORD_TOO_LARGE',
  /** commit() or shrink() with no record reserved since the last commit. */
  ERR_RING_COMMIT_WITHOUT_RESERVE: 'ERR_RING_COMMIT_WITHOUT_RESERVE',
  /** shrink() to a length larger than was reserved, or negative. */
  ERR_RING_BAD_SHRINK: 'ERR_RING_BAD_SHRINK',
  /** release() past the records that were read. */
  ERR_RING_RELEASE_EXCEEDS_READ: 'ERR_RING_RELEASE_EXCEEDS_READ',
  /** publishWatermark() backwards, or past the records that were read. */
  ERR_RING_WATERMARK_RANGE: 'ERR_RING_WATERMARK_RANGE',
  /** An argument of the wrong type or range (timeouts, sizes, indexes). */
  ERR_RING_INVALID_ARG: 'ERR_RING_INVALID_ARG',
} as const

export type ErrorCode = typeof ErrorCodes[keyof typeof ErrorCodes]

export class RingError extends Error {
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string) {
    super(message)
    this.name = 'RingError'
    this.code = code
  }
}
