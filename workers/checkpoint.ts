/**
 * Checkpoints: WAL generations into compressed chunks, each chunk written
 * exactly once.
 *
 * A checkpoint numbered G takes every sample of the WAL generations up to G
 * and writes, per series and per block, the chunks keyed [block][G][series]
 * [part]. Nothing already in `chunks` is read or rewritten: a series that
 * gets samples in several checkpoints has one chunk per checkpoint in a block,
 * and reads merge them (a later checkpoint's sample wins a duplicate
 * timestamp, as a later write does). Writing each chunk once is what keeps
 * the LMDB file at the size of its data: LMDB reuses freed pages but never
 * gives them back, so rewriting chunks would leave the file as large as the
 * churn.
 *
 * The WAL generations are immutable once rotated, so a checkpoint
 * interrupted (by a crash, or given up at stop) is simply done again after
 * the restart; the chunks it had written are deleted first
 * (deleteUnfinishedChunks), since the next checkpoint may have another number.
 *
 * Memory stays bounded: the samples are read from the WAL (memory-mapped) in
 * passes over ranges of series ids of at most PASS_SAMPLES samples each, and
 * the flush worker's event loop turns between passes so commits continue.
 */
import { encodeChunk } from './chunk/codec.js'
import { BLOCK_MS, SAMPLES_PER_CHUNK, blockOf, chunkKey, bandOf, decodeSegment, parseChunkKey, scanWal, segmentRange, type Segment, type Store, type StoreOptions } from './storage.js'
import { sortLastWins } from './read.js'

/** Samples gathered per pass at most (20 bytes each). */
const PASS_SAMPLES = 1024 * 1024
/**
 * Series per pass at most: each series gives at least one chunk put, and
 * lmdb-js holds a put's key, value and promise on the flush worker's heap
 * until its transaction is written. A checkpoint of 200,000 series of one
 * sample each issued 200,000 puts in one pass and ran the flush worker out
 * of its 96 MiB heap (the process then stopped ingesting). With at most
 * this many per pass, and the puts written once PENDING_PUTS are pending,
 * they stay bounded whatever the cardinality.
 */
const PASS_SERIES = 16 * 1024
/** Chunk puts issued before the checkpoint waits for them to be written (see PASS_SERIES). */
const PENDING_PUTS = 64 * 1024
/** Samples encoded between two turns of the flush worker's event loop (about 10 ms of work). */
const YIELD_SAMPLES = 32 * 1024

export interface CheckpointResult {
  samples: number
  series: number
  chunksWritten: number
  bytes: number
  /** The blocks it wrote chunks into, ascending. */
  blocks: number[]
  /** The last write (its `.flushed` is when it is durable); undefined if nothing was written. */
  last: (Promise<unknown> & { flushed?: Promise<unknown> }) | undefined
}

/**
 * Every segment of the WAL generations that may hold series in [fromId, toId)
 * and times in [minTs, endTs), in order, as views valid during the call only;
 * each generation is opened for the scan and closed after, so its pages are
 * unmapped (they count in RSS while mapped).
 */
async function forEachSegment (dataDir: string, gens: number[], options: StoreOptions, fromId: number, toId: number, minTs: number, endTs: number, fn: (seg: Segment) => void): Promise<void> {
  for (const g of gens) {
    await scanWal(dataDir, g, options, (value) => {
      const h = segmentRange(value)
      if (h.maxId >= fromId && h.minId < toId && h.maxTs >= minTs && h.minTs < endTs) fn(decodeSegment(value))
    }, bandOf(fromId), bandOf(toId - 1) + 1)
  }
}

/**
 * Writes checkpoint `gen` from the WAL generations `gens` (ascending). `yieldTurn`
 * runs between passes. Returns once every put is issued; the caller waits
 * for `last` before recording the checkpoint.
 */
export async function writeCheckpoint (store: Store, dataDir: string, gens: number[], options: StoreOptions, gen: number, maxSeriesId: number, yieldTurn: () => Promise<void>): Promise<CheckpointResult> {
  const result: CheckpointResult = { samples: 0, series: 0, chunksWritten: 0, bytes: 0, blocks: [], last: undefined }
  // Block by block, so that the keys ([block][checkpoint][series][part]) go in ascending order and
  // pages fill one after the other: writing a series' blocks one after the other splits pages in
  // the middle of the tree and leaves them a third empty (measured 1.93 instead of 1.45 bytes a
  // sample on data spanning 4 blocks).
  // One scan counts each series' samples per block (4 bytes a series a block).
  const countsByBlock = new Map<number, Uint32Array>()
  await forEachSegment(dataDir, gens, options, 0, 0xffffffff, -Infinity, Infinity, (seg) => {
    let block = NaN
    let counts: Uint32Array | undefined
    for (let i = 0; i < seg.count; i++) {
      const b = blockOf(seg.ts[i]!)
      if (b !== block) {
        block = b
        counts = countsByBlock.get(b)
        if (counts === undefined) countsByBlock.set(b, counts = new Uint32Array(maxSeriesId + 1))
      }
      counts![seg.ids[i]!]!++
    }
    result.samples += seg.count
  })
  if (result.samples === 0) return result
  let ts = new Float64Array(0)
  let values = new Float64Array(0)
  let sorted = { ts: new Float64Array(1024), values: new Float64Array(1024) }
  let pending = 0
  result.blocks = [...countsByBlock.keys()].sort((a, b) => a - b)
  for (const block of result.blocks) {
    const lo = block * BLOCK_MS
    const hi = lo + BLOCK_MS
    const counts = countsByBlock.get(block)!
    countsByBlock.delete(block)
    for (let from = 1; from <= maxSeriesId;) {
      // The pass: ids [from, to) holding at most PASS_SAMPLES samples of this block (or one series, whatever its size).
      let to = from
      let n = 0
      let series = 0
      while (to <= maxSeriesId && (n === 0 || (n + counts[to]! <= PASS_SAMPLES && series < PASS_SERIES))) {
        if (counts[to]! > 0) series++
        n += counts[to++]!
      }
      if (n > 0) {
        if (ts.length < n) { ts = new Float64Array(n); values = new Float64Array(n) }
        // Offsets per series (counting sort), filled in WAL order: commit order within each series.
        const at = new Uint32Array(to - from + 1)
        for (let id = from; id < to; id++) at[id - from + 1] = at[id - from]! + counts[id]!
        const fill = at.slice(0, to - from)
        await forEachSegment(dataDir, gens, options, from, to, lo, hi, (seg) => {
          for (let i = 0; i < seg.count; i++) {
            const id = seg.ids[i]!
            const t = seg.ts[i]!
            if (id < from || id >= to || t < lo || t >= hi) continue
            const k = fill[id - from]!++
            ts[k] = t
            values[k] = seg.values[i]!
          }
        })
        let sinceTurn = 0
        // A pass's chunks are put in one turn, so they form one LMDB transaction.
        const puts: Array<[Buffer, Buffer]> = []
        for (let id = from; id < to; id++) {
          const a = at[id - from]!
          const b = at[id - from + 1]!
          if (a === b) continue
          // Let commits run between slices of about YIELD_SAMPLES encoded samples, so acknowledgements do not wait for a pass.
          if ((sinceTurn += b - a) >= YIELD_SAMPLES) { sinceTurn = 0; await yieldTurn() }
          result.series++
          if (sorted.ts.length < b - a) sorted = { ts: new Float64Array(b - a), values: new Float64Array(b - a) }
          const s = sortLastWins(ts.subarray(a, b), values.subarray(a, b), sorted)
          for (let part = 0, p = 0; p < s.ts.length; p += SAMPLES_PER_CHUNK, part++) {
            const chunk = encodeChunk(s.ts, s.values, p, Math.min(s.ts.length, p + SAMPLES_PER_CHUNK))
            puts.push([chunkKey(block, gen, id, part), Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)])
            result.chunksWritten++
            result.bytes += chunk.length
          }
        }
        for (const [key, value] of puts) result.last = store.chunks.put(key, value)
        // Past PENDING_PUTS puts issued, they are written (not yet fsync'd: the caller waits for that
        // once, at the end) before the next pass. Waiting after every pass slowed the checkpoint under
        // full ingest enough to hold ingest back (a 503 a round at 5,000-line bodies).
        if ((pending += puts.length) >= PENDING_PUTS) { pending = 0; await result.last }
        await yieldTurn()
      }
      from = to
    }
  }
  return result
}

/**
 * Deletes the chunks of checkpoints that never completed (numbered after
 * `checkpointed`): a checkpoint abandoned at stop or cut by a crash leaves
 * some, and the next one, numbered after the generation it ends with, writes
 * the same samples again under other keys. Reads would merge the copies, but
 * they would take space until retention. One skip-scan per block.
 */
export function deleteUnfinishedChunks (store: Store, checkpointed: number): { removed: number, last: Promise<unknown> | undefined } {
  let removed = 0
  let last: Promise<unknown> | undefined
  for (let from = chunkKey(-(2 ** 31), 0, 0, 0); ;) {
    let block: number | undefined
    for (const key of store.chunks.getKeys({ start: from, limit: 1, snapshot: false })) block = parseChunkKey(key).block
    if (block === undefined) break
    for (const key of store.chunks.getKeys({ start: chunkKey(block, checkpointed + 1, 0, 0), end: chunkKey(block + 1, 0, 0, 0), snapshot: false })) {
      last = store.chunks.remove(Buffer.from(key))
      removed++
    }
    from = chunkKey(block + 1, 0, 0, 0)
  }
  return { removed, last }
}

/** Deletes every chunk of the blocks that end before `cutoffMs`; returns how many (one transaction). */
export function deleteExpiredBlocks (store: Store, cutoffMs: number): { removed: number, last: Promise<unknown> | undefined } {
  const end = chunkKey(blockOf(cutoffMs), 0, 0, 0)
  let removed = 0
  let last: Promise<unknown> | undefined
  for (const key of store.chunks.getKeys({ end, snapshot: false })) {
    last = store.chunks.remove(Buffer.from(key))
    removed++
  }
  return { removed, last }
}
