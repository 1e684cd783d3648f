/**
 * Keeps the WAL file's end allocated ahead of LMDB's writes, as databases
 * pre-zero their log files: an fdatasync of writes that extend a file must
 * also journal the file's new size and blocks, one that only overwrites does
 * not. Measured here (ext4 on the VM's disk, 2026-11-25): an fsync'd lmdb-js
 * `transactionSync` of a 3 KB value took 0.42 ms at the median (p90
 * 0.58-0.68) in a growing file and 0.31 ms (p90 0.41-0.43) in a file
 * zero-filled ahead; ringest at 1-line bodies answered 1.15x the requests (6
 * alternating pairs).
 *
 * The flush worker is the WAL's only writer and commits synchronously, so
 * LMDB's end (its last page) only moves inside a commit. Zeros are written
 * by libuv's thread pool (asynchronous fs calls: the flush worker's thread
 * does not wait for them) and only past LMDB's end; a commit that could grow
 * into a region being zeroed waits for it first (`mustWait`). Zeros are
 * written, then fdatasync'd, before LMDB may use them. At rotation and stop
 * the file is cut back to LMDB's end, so the zeros never count on disk
 * beyond the generation in use.
 */
import { close, closeSync, fdatasync, fstatSync, ftruncateSync, openSync, write } from 'node:fs'
import { promisify } from 'node:util'

const writeAsync = promisify(write)
const fdatasyncAsync = promisify(fdatasync)
const closeAsync = promisify(close)

/** The file is kept zeroed this far past LMDB's end... */
export const WAL_ZERO_AHEAD_BYTES = 8 * 1024 * 1024
/** ...in steps of this. */
const STEP_BYTES = 2 * 1024 * 1024
const ZEROS = new Uint8Array(STEP_BYTES)

/**
 * Zeros are written only while the WAL grows slower than this (measured over
 * the last second): small commits are where the journal's share of an
 * fdatasync is large, and the zeros then cost little disk bandwidth. At
 * 100-line bodies (about 30 MB/s of WAL) zero-filling as well took 7-11 %
 * of the requests/s (2 alternating pairs), so fast ingest leaves the file to
 * LMDB.
 */
export const WAL_ZERO_MAX_BYTES_PER_S = 8 * 1024 * 1024

/** How far a commit can move LMDB's end beyond its values' bytes (copied branch and leaf pages, the free list). */
export const COMMIT_PAGE_SLACK_BYTES = 256 * 1024

export class WalPrealloc {
  private readonly fd: number
  /** File offset up to which the file is zeroed and fdatasync'd (or written by LMDB). */
  private ready: number
  /** The region being zeroed, [ready, zeroingEnd), while `zeroing` is set. */
  private zeroingEnd = 0
  private zeroing: Promise<void> | undefined
  private failed: Error | undefined
  /** Bytes of zeros written since start (for stats). */
  static zeroBytes = 0

  constructor (path: string) {
    this.fd = openSync(path, 'r+')
    this.ready = fstatSync(this.fd).size
  }

  /** True if a commit that moves LMDB's end from `lmdbEnd` by up to `bytes` could reach the region being zeroed: await `pending` first. */
  mustWait (lmdbEnd: number, bytes: number): boolean {
    return this.zeroing !== undefined && lmdbEnd + bytes + COMMIT_PAGE_SLACK_BYTES > this.ready
  }

  get pending (): Promise<void> | undefined { return this.zeroing }

  /**
   * The WAL's growth over the last whole second, bytes/s, across generations
   * (a new generation must not start zeroing before it knows the rate):
   * Infinity until a second has passed, so a fast start zeroes nothing.
   */
  private static rate = Infinity
  private static windowAt = performance.now()
  private static grown = 0
  private static windowGrown = 0
  /** LMDB's end at the last advance() on this file. */
  private lastEnd = -1

  /**
   * After a commit: zero the next step if LMDB's end came within
   * WAL_ZERO_AHEAD_BYTES of the zeroed end and the WAL grows slower than
   * WAL_ZERO_MAX_BYTES_PER_S.
   */
  advance (lmdbEnd: number): void {
    if (lmdbEnd > this.ready) this.ready = lmdbEnd // a big commit outran the zeros: LMDB extended the file itself
    const W = WalPrealloc
    if (this.lastEnd >= 0) W.grown += lmdbEnd - this.lastEnd
    this.lastEnd = lmdbEnd
    const now = performance.now()
    if (now - W.windowAt >= 1000) {
      W.rate = (W.grown - W.windowGrown) * 1000 / (now - W.windowAt)
      W.windowAt = now
      W.windowGrown = W.grown
    }
    if (this.zeroing !== undefined || this.failed !== undefined || this.ready - lmdbEnd >= WAL_ZERO_AHEAD_BYTES) return
    if (W.rate > WAL_ZERO_MAX_BYTES_PER_S) return
    const from = this.ready
    this.zeroingEnd = from + STEP_BYTES
    this.zeroing = (async () => {
      try {
        let at = from
        while (at < this.zeroingEnd) at += await writeAsync(this.fd, ZEROS, 0, this.zeroingEnd - at, at).then((w) => w.bytesWritten)
        await fdatasyncAsync(this.fd)
        WalPrealloc.zeroBytes += STEP_BYTES
        this.ready = this.zeroingEnd
      } catch (err) {
        // Only speed is lost: LMDB extends the file itself from here on.
        this.failed = err as Error
      } finally {
        this.zeroing = undefined
      }
    })()
  }

  /** Waits for zeroing in flight, cuts the file back to LMDB's end and closes it. */
  async close (lmdbEnd: number): Promise<void> {
    await this.zeroing
    try {
      if (fstatSync(this.fd).size > lmdbEnd) ftruncateSync(this.fd, lmdbEnd)
    } finally {
      await closeAsync(this.fd)
    }
  }

  /** As close(), for a worker that is exiting (no zeroing may be in flight). */
  closeSync (lmdbEnd: number): void {
    try {
      if (fstatSync(this.fd).size > lmdbEnd) ftruncateSync(this.fd, lmdbEnd)
    } finally {
      closeSync(this.fd)
    }
  }
}
