/**
 * ringest's LMDB layout (format 1). The flush worker is the only writer; any
 * thread may read.
 *
 * Databases in one environment (`<dataDir>/data.mdb`):
 * - `series`:   uint32 series id -> series key (string: name, then NUL name NUL value per label)
 * - `segments`: 8-byte big-endian commit sequence number -> one segment: every
 *               sample of one group commit, columnar (see encodeSegment).
 * - `meta`:     'format' -> STORAGE_FORMAT.
 *
 * Why one segment per commit: a group commit carries samples of tens of
 * thousands of series; one LMDB put for all of them writes sequential keys
 * and whole pages, where a put per series (or per sample) would cost a B-tree
 * insert and a half-empty page each (REFERENCE.md 4.3 measured 35-67 bytes a
 * row). Compressed per-series chunks (the storage issue) are built from these
 * segments later; segments are the cheapest durable form of the open part.
 */
import { open, type Database, type RootDatabase } from 'lmdb'
import { SERIES_KEY_SEPARATOR } from './shared.js'

export const STORAGE_FORMAT = 1
/** 'SEG1' */
export const SEGMENT_MAGIC = 0x31474553
/** Segment header: magic u32, count u32, minTs f64, maxTs f64. */
export const SEGMENT_HEADER_BYTES = 24

export interface Store {
  env: RootDatabase
  series: Database<string, number>
  segments: Database<Buffer, Buffer>
  meta: Database<unknown, string>
  close (): Promise<void>
}

export interface StoreOptions {
  mapSizeBytes: number
  /** fsync on commit (ack durable); otherwise the OS writes pages back when it likes. */
  sync: boolean
}

export function openStore (dataDir: string, options: StoreOptions): Store {
  const env = open({
    path: dataDir,
    mapSize: options.mapSizeBytes,
    maxDbs: 8,
    // overlappingSync: the fsync of commit N runs after its write lock is
    // released, so commit N+1 proceeds meanwhile; separateFlushed: a write's
    // promise resolves at commit and its `.flushed` once fsync'd. The flush
    // worker publishes the durable watermark on `.flushed`.
    overlappingSync: options.sync,
    separateFlushed: true,
    noSync: !options.sync,
    cache: false,
  })
  const series = env.openDB<string, number>({ name: 'series', keyEncoding: 'uint32', encoding: 'string', cache: false })
  const segments = env.openDB<Buffer, Buffer>({ name: 'segments', keyEncoding: 'binary', encoding: 'binary', cache: false })
  const meta = env.openDB<unknown, string>({ name: 'meta', cache: false })
  return {
    env,
    series,
    segments,
    meta,
    close: async () => { await env.close() },
  }
}

export function segmentKey (seq: number): Buffer {
  const b = Buffer.allocUnsafe(8)
  b.writeUInt32BE(Math.floor(seq / 2 ** 32), 0)
  b.writeUInt32BE(seq >>> 0, 4)
  return b
}

export function segmentSeq (key: Uint8Array): number {
  const dv = new DataView(key.buffer, key.byteOffset, key.byteLength)
  return dv.getUint32(0) * 2 ** 32 + dv.getUint32(4)
}

/**
 * Layout of a segment (little-endian):
 *
 * ```
 *  +-------+-------+--------+--------+---------------------+-----+--------------+------------------+
 *  | magic | count | min ts | max ts | series ids u32*count| pad | ts f64*count | values f64*count |
 *  +-------+-------+--------+--------+---------------------+-----+--------------+------------------+
 *    u32     u32     f64      f64                     (to 8)
 * ```
 */
export function segmentBytes (count: number): number {
  return SEGMENT_HEADER_BYTES + ((count * 4 + 7) & ~7) + count * 16
}

/** Encodes into `into` (8-aligned, at least segmentBytes(count) long) or a new buffer; returns the exact-length view. */
export function encodeSegment (ids: Uint32Array, ts: Float64Array, values: Float64Array, count: number, minTs: number, maxTs: number, into?: Buffer): Buffer {
  const size = segmentBytes(count)
  const buf = into === undefined ? Buffer.allocUnsafeSlow(size) : into.subarray(0, size)
  const dv = new DataView(buf.buffer, buf.byteOffset, size)
  dv.setUint32(0, SEGMENT_MAGIC, true)
  dv.setUint32(4, count, true)
  dv.setFloat64(8, minTs, true)
  dv.setFloat64(16, maxTs, true)
  const idsAt = SEGMENT_HEADER_BYTES
  const tsAt = idsAt + ((count * 4 + 7) & ~7)
  const valAt = tsAt + count * 8
  new Uint32Array(buf.buffer, buf.byteOffset + idsAt, count).set(ids.subarray(0, count))
  new Float64Array(buf.buffer, buf.byteOffset + tsAt, count).set(ts.subarray(0, count))
  new Float64Array(buf.buffer, buf.byteOffset + valAt, count).set(values.subarray(0, count))
  return buf
}

export interface Segment {
  count: number
  minTs: number
  maxTs: number
  ids: Uint32Array
  ts: Float64Array
  values: Float64Array
}

/** Reads a segment's header only (cheap range filter). */
export function segmentRange (buf: Uint8Array): { count: number, minTs: number, maxTs: number } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  if (buf.byteLength < SEGMENT_HEADER_BYTES || dv.getUint32(0, true) !== SEGMENT_MAGIC) throw new Error('corrupt segment: bad magic')
  return { count: dv.getUint32(4, true), minTs: dv.getFloat64(8, true), maxTs: dv.getFloat64(16, true) }
}

export function decodeSegment (raw: Uint8Array): Segment {
  const { count, minTs, maxTs } = segmentRange(raw)
  if (raw.byteLength !== segmentBytes(count)) throw new Error(`corrupt segment: ${raw.byteLength} bytes for ${count} samples`)
  // Typed arrays need aligned offsets: copy when LMDB hands us an unaligned view.
  const buf = raw.byteOffset % 8 === 0 ? raw : new Uint8Array(raw)
  const idsAt = buf.byteOffset + SEGMENT_HEADER_BYTES
  const tsAt = idsAt + ((count * 4 + 7) & ~7)
  const valAt = tsAt + count * 8
  return {
    count,
    minTs,
    maxTs,
    ids: new Uint32Array(buf.buffer, idsAt, count),
    ts: new Float64Array(buf.buffer, tsAt, count),
    values: new Float64Array(buf.buffer, valAt, count),
  }
}

export interface SeriesLabels {
  name: string
  labels: Array<[string, string]>
}

export function parseSeriesKey (key: string): SeriesLabels {
  const parts = key.split(SERIES_KEY_SEPARATOR)
  const labels: Array<[string, string]> = []
  for (let i = 1; i + 1 < parts.length; i += 2) labels.push([parts[i]!, parts[i + 1]!])
  return { name: parts[0]!, labels }
}
