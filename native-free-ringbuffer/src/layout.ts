/**
 * Layout of a ring's SharedArrayBuffer. Every shared word has a name here, and
 * a comment saying which side writes it and who reads it.
 *
 * ```
 *  byte 0            64                 128                192            256        256 + capacity
 *  +-----------------+------------------+------------------+--------------+----------------------+
 *  | identity        | producer line    | consumer line    | watermark    | data (capacity bytes) |
 *  | MAGIC VERSION   | WRITE            | READ             | WATERMARK    | records, 8-aligned    |
 *  | CAPACITY        | PRODUCER_SLEEPING| CONSUMER_SLEEPING| WM_WAITERS   |                       |
 *  |                 | FULL_COUNT ...   | CONSUMER_WAITS   |              |                       |
 *  +-----------------+------------------+------------------+--------------+----------------------+
 * ```
 *
 * Each group of words lives on its own 64-byte cache line, so the producer's
 * stores to WRITE do not invalidate the line that holds READ (false sharing
 * would cost more than the atomics themselves).
 *
 * Indexes (WRITE, READ, WATERMARK) are free-running unsigned 32-bit byte
 * counters stored in Int32 slots; `index & (capacity - 1)` is the position in
 * the data area. They wrap from 2^32 - 1 to 0 with no special case: every
 * distance is computed as `(a - b) >>> 0` (or `| 0` when a sign is wanted), which
 * is exact because capacity <= 2^30 keeps any live distance below 2^31.
 *
 * A record is an 8-byte header followed by its payload, padded to a multiple of
 * 8 bytes so that Float64Array / BigInt64Array views over the payload work:
 *
 * ```
 *  +----------------+----------------+---------------------------+---------+
 *  | length (int32) | tag (int32)    | payload (length bytes)    | padding |
 *  +----------------+----------------+---------------------------+---------+
 * ```
 *
 * A record never straddles the end of the data area: when it does not fit in
 * the bytes left before the end, the producer writes WRAP_MARKER in the length
 * word there and the record starts again at position 0.
 */

/** 'RNG1' in ASCII: the first word of every ring. */
export const MAGIC_VALUE = 0x524e4731
/** Bumped whenever this layout changes; attaching to another version is an error. */
export const LAYOUT_VERSION = 1

/** Bytes before the data area (four 64-byte cache lines). */
export const HEADER_BYTES = 256
/** Bytes of a record header (length word + tag word). */
export const RECORD_HEADER_BYTES = 8
/** Every record starts at a multiple of this. */
export const RECORD_ALIGN = 8
/** Smallest and largest capacities accepted by allocateRing. */
export const MIN_CAPACITY = 64
export const MAX_CAPACITY = 2 ** 30

/** Length word meaning "no record here: continue at position 0". */
export const WRAP_MARKER = -1

/** Int32 slot numbers in the header. */
export const Slot = {
  // --- identity line (written once by allocateRing, read by every attach) ---
  /** MAGIC_VALUE. */
  MAGIC: 0,
  /** LAYOUT_VERSION. */
  VERSION: 1,
  /** Data area size in bytes, a power of two. */
  CAPACITY: 2,

  // --- producer line (written by the producer only) ---
  /** Free-running byte index up to which records are committed (published). Read by the consumer and observers; the consumer waits on it. */
  WRITE: 16,
  /** 1 while the producer is (about to be) waiting on READ for space; read by the consumer after each release to decide whether to notify. */
  PRODUCER_SLEEPING: 17,
  /** How many times tryReserve answered RING_FULL (wraps at 2^32). Read by observers. */
  FULL_COUNT: 18,
  /** Highest number of bytes seen in use at a commit (an upper bound: it counts with the producer's cached read index). Read by observers. */
  HIGH_WATER: 19,
  /** How many times the producer went to sleep waiting for space. Read by observers. */
  PRODUCER_WAITS: 20,

  // --- consumer line (written by the consumer only) ---
  /** Free-running byte index up to which records are released (free for the producer). Read by the producer, which waits on it. */
  READ: 32,
  /** 1 while the consumer is (about to be) waiting on WRITE for data; read by the producer after each commit to decide whether to notify. */
  CONSUMER_SLEEPING: 33,
  /** How many times the consumer went to sleep waiting for data. Read by observers. */
  CONSUMER_WAITS: 34,

  // --- watermark line ---
  /** Free-running byte index: every record ending at or before it is safe (durable). Written by the consumer, awaited by any thread. */
  WATERMARK: 48,
  /** Number of threads currently waiting on WATERMARK (Atomics.add/sub by the waiters); the consumer notifies only when it is non-zero. */
  WATERMARK_WAITERS: 49,
} as const

/** Total SharedArrayBuffer size for a ring of `capacity` data bytes. */
export function bufferBytesFor (capacity: number): number {
  return HEADER_BYTES + capacity
}

/** Bytes a record of `payloadBytes` occupies in the data area (header + padded payload). */
export function recordBytes (payloadBytes: number): number {
  return RECORD_HEADER_BYTES + ((payloadBytes + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1))
}
