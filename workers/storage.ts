/**
 * ringest's on-disk layout (format 2). The flush worker is the only writer;
 * any thread may read.
 *
 * Two kinds of LMDB environment under the data directory:
 *
 * - `<dataDir>/data.mdb`, the store:
 *   - `series`: uint32 series id -> series key (name, then NUL name NUL value per label)
 *   - `chunks`: [block u32 BE][checkpoint u32 BE][series id u32 BE][part u16 BE]
 *     -> one compressed chunk (workers/chunk/codec.ts) of that series' samples
 *     in that block from that checkpoint (workers/checkpoint.ts). Checkpoint
 *     before series: each checkpoint appends one contiguous run of keys per
 *     block, so pages fill sequentially and are never split by a later
 *     insert (series-major keys had later checkpoints insert between full
 *     pages, halving them: 4.7 instead of 2.0 bytes a sample).
 *     Blocks are BLOCK_MS of time, time-major: a checkpoint writes one block's
 *     keys in series order (sequential pages), and retention deletes whole
 *     blocks as one key range.
 *   - `rollups`: downsampled rows, [level u8][row u32 BE][series id u32 BE]
 *     -> the 5-minute or 1-hour buckets of one series (workers/rollup.ts).
 *   - `meta`: 'format' -> STORAGE_FORMAT; 'checkpointGen' -> the last WAL
 *     generation whose samples are all in `chunks`.
 * - `<dataDir>/wal/<gen>/data.mdb`, the write-ahead part: `segments`,
 *   [band u32 BE][commit sequence number u64 BE] -> the samples of one group
 *   commit whose series ids fall in that band (ids >>> BAND_BITS), columnar
 *   (encodeSegment). A write is acknowledged when its commit is fsync'd: one
 *   put per band a commit touches, whatever the number of series. Band-major
 *   keys let a reader of some series (a checkpoint pass, a query) read only
 *   their bands, in commit order. Generations written before bands existed
 *   have 8-byte keys (the sequence number alone) and are read whole.
 *
 * A checkpoint moves generations' samples into chunks: the flush worker
 * starts a new generation, writes the old ones' samples as new chunks (never
 * rewriting one), records checkpointGen once they are durable, and deletes
 * the old generations' directories (after a grace period, for readers still
 * on them). Deleting a
 * file is how the WAL's space goes back to the file system; pages freed inside
 * one LMDB file are only reused, never returned.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { open, type Database, type RootDatabase } from 'lmdb'

export const STORAGE_FORMAT = 2
/** 'SEG2' */
export const SEGMENT_MAGIC = 0x32474553
/** Segment header: magic u32, count u32, minTs f64, maxTs f64, minId u32, maxId u32. */
export const SEGMENT_HEADER_BYTES = 32
/** Length of a block: 2 h, as Prometheus's head block. */
export const BLOCK_MS = 2 * 3600 * 1000
/** Samples per chunk written at most (a longer run of one series in one block is split; the format allows more). */
export const SAMPLES_PER_CHUNK = 512

export interface Store {
  env: RootDatabase
  series: Database<string, number>
  chunks: Database<Buffer, Buffer>
  /** The same database, values read as views valid until the iteration moves on (see segmentView): for scans that decode at once. */
  chunkViews: Database<Uint8Array, Buffer>
  /** Downsampled rows (workers/rollup.ts). */
  rollups: Database<Buffer, Buffer>
  /** The same, values as views (as chunkViews). */
  rollupViews: Database<Uint8Array, Buffer>
  meta: Database<unknown, string>
  close (): Promise<void>
}

export interface Wal {
  gen: number
  env: RootDatabase
  segments: Database<Buffer, Buffer>
  close (): Promise<void>
}

export interface StoreOptions {
  mapSizeBytes: number
  /** Page size if the store is created now (an existing one keeps its own); LMDB's default (4 KiB) if absent. */
  pageBytes?: number
  /** fsync on commit (ack durable); otherwise the OS writes pages back when it likes. */
  sync: boolean
}

function openEnv (path: string, options: StoreOptions, mapSizeBytes: number, pageSize?: number, overlappingSync = options.sync): RootDatabase {
  return open({
    path,
    ...(pageSize === undefined ? {} : { pageSize }),
    // A directory always (lmdb-js would take a name with a dot, such as mktemp's, for a file).
    noSubdir: false,
    mapSize: mapSizeBytes,
    maxDbs: 8,
    // overlappingSync (the store's asynchronous writes: new series, chunks,
    // rollups): the fsync of commit N runs after its write lock is released,
    // so commit N+1 proceeds meanwhile; separateFlushed: a write's promise
    // resolves at commit and its `.flushed` once fsync'd, which is what the
    // flush worker waits for. The WAL does without (see openWal).
    overlappingSync,
    separateFlushed: true,
    noSync: !options.sync,
    cache: false,
  })
}

/**
 * The page size (StoreOptions.pageBytes, --store-page-bytes, 16 KiB by
 * default). Chunks are a few hundred bytes, and a 4 KiB page holding a
 * handful of them leaves more of itself empty: `bench/disk.sh 20000000
 * 10000`, same code, 1.792 bytes a sample with 4 KiB pages, 1.609 with 16
 * KiB, 1.624 with 64 KiB (and a slower checkpoint). The 10,000-series query
 * over the same data read as fast from either (542-593 ms with 4 KiB, 576-605
 * with 16 KiB). The WAL keeps LMDB's default: its values are whole segments,
 * in overflow pages.
 */

export function openStore (dataDir: string, options: StoreOptions): Store {
  const env = openEnv(dataDir, options, options.mapSizeBytes, options.pageBytes)
  const series = env.openDB<string, number>({ name: 'series', keyEncoding: 'uint32', encoding: 'string', cache: false })
  const chunks = env.openDB<Buffer, Buffer>({ name: 'chunks', keyEncoding: 'binary', encoding: 'binary', cache: false })
  // `encoder` is an lmdb-js option its typings leave out.
  const viewOptions = { name: 'chunks', keyEncoding: 'binary' as const, encoder: segmentView, cache: false }
  const chunkViews = env.openDB<Uint8Array, Buffer>(viewOptions)
  const rollups = env.openDB<Buffer, Buffer>({ name: 'rollups', keyEncoding: 'binary', encoding: 'binary', cache: false })
  const rollupViews = env.openDB<Uint8Array, Buffer>({ ...viewOptions, name: 'rollups' })
  const meta = env.openDB<unknown, string>({ name: 'meta', cache: false })
  return { env, series, chunks, chunkViews, rollups, rollupViews, meta, close: async () => { await env.close() } }
}

/** A WAL generation's map: a generation holds at most a checkpoint's worth of segments. */
const WAL_MAP_BYTES = 16 * 1024 * 1024 * 1024

export function walDir (dataDir: string, gen: number): string {
  return join(dataDir, 'wal', String(gen).padStart(10, '0'))
}

/** A WAL generation's environment, with the same flags wherever it is opened (see openWal). */
const openWalEnv = (dataDir: string, gen: number, options: StoreOptions): RootDatabase =>
  openEnv(walDir(dataDir, gen), options, Math.min(WAL_MAP_BYTES, options.mapSizeBytes), undefined, false)

/**
 * The WAL is written in synchronous transactions that fsync before they
 * return (no overlappingSync): the flush worker commits, and the commit is
 * durable when the call returns, with no hop to lmdb-js's writer thread and
 * back. A serial fsync'd commit took 0.55-0.7 ms either way here, but the
 * hops cost the request more: A/B with 1-sample bodies, 64 connections,
 * alternating (2026-11-24, 23:45 UTC), 1.1-1.3x the requests/s in 4 pairs
 * of 5 and no loss at 100- or 5,000-sample bodies (bench/README.md).
 */
export function openWal (dataDir: string, gen: number, options: StoreOptions): Wal {
  const env = openWalEnv(dataDir, gen, options)
  const segments = env.openDB<Buffer, Buffer>({ name: 'segments', keyEncoding: 'binary', encoding: 'binary', cache: false })
  return { gen, env, segments, close: async () => { await env.close() } }
}

/**
 * With `encoding: 'binary'`, lmdb-js copies every value it reads into a new
 * Buffer (a 1 MiB segment: a 1 MiB malloc). This decoder hands out the bytes
 * where lmdb-js put them instead: its reusable read buffer (values under 16
 * MiB) or the memory map (larger ones). Both are overwritten or unmapped
 * later, so a value is valid only until the iteration moves on.
 */
const segmentView = {
  encode: (value: Uint8Array): Uint8Array => value,
  decode: (bytes: Uint8Array, size: number): Uint8Array => bytes.subarray(0, size),
}

/**
 * Calls `fn` with each segment of a WAL generation, as zero-copy views (see
 * segmentView) that are valid only during the call: only for a generation
 * nobody writes any more (rotated, or found at start). Only the bands
 * [fromBand, toBand) are read (see bandRanges). Measured on a 5,000-line
 * ingest run: the copies' mallocs held about 60 MiB of RSS in glibc arenas
 * that never shrank.
 */
export async function scanWal (dataDir: string, gen: number, options: StoreOptions, fn: (segment: Uint8Array) => void, fromBand = 0, toBand = Infinity): Promise<void> {
  const env = openWalEnv(dataDir, gen, options)
  try {
    // `encoder` is an lmdb-js option its typings leave out.
    const dbOptions = { name: 'segments', keyEncoding: 'binary' as const, encoder: segmentView, cache: false }
    const db = env.openDB<Uint8Array, Buffer>(dbOptions)
    for (const { value } of db.getRange(bandRanges(db, [[fromBand, toBand]])[0]!)) fn(value)
  } finally {
    await env.close()
  }
}

/** WAL generations present on disk, ascending. */
export function listWalGens (dataDir: string): number[] {
  const dir = join(dataDir, 'wal')
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter((d) => /^\d{10}$/.test(d)).map(Number).sort((a, b) => a - b)
}

export function removeWal (dataDir: string, gen: number): void {
  rmSync(walDir(dataDir, gen), { recursive: true, force: true })
}

/** The last WAL generation whose samples are in `chunks` (0: none). */
export function checkpointGen (store: Store): number {
  return (store.meta.get('checkpointGen') as number | undefined) ?? 0
}

const BLOCK_BIAS = 2 ** 31

export function blockOf (ts: number): number {
  return Math.floor(ts / BLOCK_MS)
}

export function chunkKey (block: number, checkpoint: number, id: number, part: number): Buffer {
  const b = Buffer.allocUnsafe(14)
  b.writeUInt32BE(block + BLOCK_BIAS, 0)
  b.writeUInt32BE(checkpoint, 4)
  b.writeUInt32BE(id, 8)
  b.writeUInt16BE(part, 12)
  return b
}

export function parseChunkKey (key: Uint8Array): { block: number, checkpoint: number, id: number, part: number } {
  const dv = new DataView(key.buffer, key.byteOffset, key.byteLength)
  return { block: dv.getUint32(0) - BLOCK_BIAS, checkpoint: dv.getUint32(4), id: dv.getUint32(8), part: dv.getUint16(12) }
}

/**
 * Series ids per WAL band: 4,096. Narrower bands make reads of a few series
 * cheaper and commits of many series split into more puts (a commit touching
 * 1 M series would write 245 segments).
 */
export const BAND_BITS = 12

export function bandOf (id: number): number {
  return id >>> BAND_BITS
}

export function segmentKey (band: number, seq: number): Buffer {
  const b = Buffer.allocUnsafe(12)
  b.writeUInt32BE(band, 0)
  b.writeUInt32BE(Math.floor(seq / 2 ** 32), 4)
  b.writeUInt32BE(seq >>> 0, 8)
  return b
}

/** A range bound: sorts before every segment key of `band` and after every key of the bands before it. */
function bandKey (band: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(band, 0)
  return b
}

/**
 * The range options that read the runs of bands [from, to) of a generation's
 * segments, in commit order within each band; one range over all of them for
 * a generation written before bands (8-byte keys, looked at once), whose
 * segments the caller filters by their headers.
 */
export function bandRanges (segments: Database<unknown, Buffer>, bands: ReadonlyArray<readonly [number, number]>): Array<{ start?: Buffer, end?: Buffer, snapshot: false }> {
  let legacy = false
  for (const key of segments.getKeys({ limit: 1, snapshot: false })) legacy = key.length === 8
  if (legacy) return [{ snapshot: false }]
  return bands.map(([from, to]) => from <= 0 && to > 0xfffff
    ? { snapshot: false as const }
    : { start: bandKey(from), end: bandKey(Math.min(to, 0x100000)), snapshot: false as const })
}

/**
 * Layout of a segment (little-endian):
 *
 * ```
 *  +-------+-------+--------+--------+--------+--------+---------------------+-----+--------------+------------------+
 *  | magic | count | min ts | max ts | min id | max id | series ids u32*count| pad | ts f64*count | values f64*count |
 *  +-------+-------+--------+--------+--------+--------+---------------------+-----+--------------+------------------+
 *    u32     u32     f64      f64      u32      u32                       (to 8)
 * ```
 *
 * The id range lets a checkpoint pass over a range of series skip the
 * segments (and the pages) that hold none of them.
 */
export function segmentBytes (count: number): number {
  return SEGMENT_HEADER_BYTES + ((count * 4 + 7) & ~7) + count * 16
}

/** The smallest and largest of the first `count` series ids. */
export function idRange (ids: Uint32Array, count: number): { minId: number, maxId: number } {
  let minId = 0xffffffff
  let maxId = 0
  for (let i = 0; i < count; i++) {
    const id = ids[i]!
    if (id < minId) minId = id
    if (id > maxId) maxId = id
  }
  return { minId, maxId }
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
  const { minId, maxId } = idRange(ids, count)
  dv.setUint32(24, count === 0 ? 0 : minId, true)
  dv.setUint32(28, maxId, true)
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
export function segmentRange (buf: Uint8Array): { count: number, minTs: number, maxTs: number, minId: number, maxId: number } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  if (buf.byteLength < SEGMENT_HEADER_BYTES || dv.getUint32(0, true) !== SEGMENT_MAGIC) throw new Error('corrupt segment: bad magic')
  return { count: dv.getUint32(4, true), minTs: dv.getFloat64(8, true), maxTs: dv.getFloat64(16, true), minId: dv.getUint32(24, true), maxId: dv.getUint32(28, true) }
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
