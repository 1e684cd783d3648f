/**
 * The head: every sample committed to the WAL generations that are not yet
 * checkpointed, held by the flush worker as one columnar log (series id,
 * timestamp, value; 20 bytes a sample) in commit order. A checkpoint groups
 * it by series (a counting sort: ids are dense) and merges each series into
 * its chunks. Reads do not use it: they read the WAL from LMDB.
 */
import { decodeChunk, encodeChunk } from './chunk/codec.js'
import { MAX_CHUNK_SAMPLES, blockOf, chunkKey, type Store } from './storage.js'
import { sortLastWins } from './read.js'

export class HeadLog {
  ids: Uint32Array
  ts: Float64Array
  values: Float64Array
  count = 0
  /** Date.now() when the first sample arrived (0: empty). */
  since = 0

  constructor (capacity: number) {
    this.ids = new Uint32Array(capacity)
    this.ts = new Float64Array(capacity)
    this.values = new Float64Array(capacity)
  }

  append (ids: Uint32Array, ts: Float64Array, values: Float64Array, n: number): void {
    if (n === 0) return
    if (this.count + n > this.ids.length) this.grow(this.count + n)
    this.ids.set(ids.subarray(0, n), this.count)
    this.ts.set(ts.subarray(0, n), this.count)
    this.values.set(values.subarray(0, n), this.count)
    if (this.count === 0) this.since = Date.now()
    this.count += n
  }

  private grow (need: number): void {
    const cap = Math.max(need, this.ids.length * 2)
    const ids = new Uint32Array(cap); ids.set(this.ids.subarray(0, this.count)); this.ids = ids
    const ts = new Float64Array(cap); ts.set(this.ts.subarray(0, this.count)); this.ts = ts
    const values = new Float64Array(cap); values.set(this.values.subarray(0, this.count)); this.values = values
  }

  reset (): void {
    this.count = 0
    this.since = 0
  }
}

export interface CheckpointResult {
  series: number
  chunksWritten: number
  chunksRemoved: number
  bytes: number
  /** The last write of the checkpoint (its `.flushed` is when it is durable). */
  last: Promise<unknown> & { flushed?: Promise<unknown> }
}

/**
 * Merges the head's samples into the store's chunks and records `gen` as
 * checkpointed, as one LMDB write transaction (every put is issued in this
 * turn). For each series and each block its samples fall in, the block's
 * existing chunks are read, merged with the new samples (a duplicate
 * timestamp keeps the value written last; the head is newer than any
 * chunk), and rewritten as chunks of at most MAX_CHUNK_SAMPLES. Keys are
 * written block by block in series order, so pages fill sequentially.
 */
export function writeCheckpoint (store: Store, head: HeadLog, gen: number, maxSeriesId: number): CheckpointResult {
  const n = head.count
  // Counting sort by series id; stable, so each series keeps commit order.
  const starts = new Uint32Array(maxSeriesId + 2)
  for (let i = 0; i < n; i++) starts[head.ids[i]! + 1]!++
  for (let id = 1; id < starts.length; id++) starts[id] = starts[id]! + starts[id - 1]!
  const fill = starts.slice()
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[fill[head.ids[i]!]!++] = i

  // (block, id) groups, to be written block-major.
  const groups: Array<{ block: number, id: number, ts: number[], values: number[] }> = []
  for (let id = 1; id <= maxSeriesId; id++) {
    const from = starts[id]!
    const to = starts[id + 1]!
    if (from === to) continue
    const byBlock = new Map<number, { block: number, id: number, ts: number[], values: number[] }>()
    for (let k = from; k < to; k++) {
      const i = order[k]!
      const t = head.ts[i]!
      const b = blockOf(t)
      let g = byBlock.get(b)
      if (g === undefined) { byBlock.set(b, g = { block: b, id, ts: [], values: [] }); groups.push(g) }
      g.ts.push(t)
      g.values.push(head.values[i]!)
    }
  }
  groups.sort((a, b) => a.block - b.block || a.id - b.id)

  let last: CheckpointResult['last'] = Promise.resolve()
  let chunksWritten = 0
  let chunksRemoved = 0
  let bytes = 0
  const series = new Set<number>()
  for (const g of groups) {
    series.add(g.id)
    const ts: number[] = []
    const values: number[] = []
    const oldKeys: Buffer[] = []
    for (const { key, value } of store.chunks.getRange({ start: chunkKey(g.block, g.id, 0), end: chunkKey(g.block, g.id + 1, 0), snapshot: false })) {
      oldKeys.push(Buffer.from(key))
      const c = decodeChunk(value)
      for (let i = 0; i < c.timestamps.length; i++) { ts.push(c.timestamps[i]!); values.push(c.values[i]!) }
    }
    for (let i = 0; i < g.ts.length; i++) { ts.push(g.ts[i]!); values.push(g.values[i]!) }
    const merged = sortLastWins(ts, values)
    let k = 0
    for (let at = 0; at < merged.ts.length; at += MAX_CHUNK_SAMPLES, k++) {
      const end = Math.min(merged.ts.length, at + MAX_CHUNK_SAMPLES)
      const chunk = encodeChunk(merged.ts, merged.values, at, end)
      bytes += chunk.length
      last = store.chunks.put(chunkKey(g.block, g.id, k), Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
      chunksWritten++
    }
    for (let j = k; j < oldKeys.length; j++) { last = store.chunks.remove(oldKeys[j]!); chunksRemoved++ }
  }
  last = store.meta.put('checkpointGen', gen)
  return { series: series.size, chunksWritten, chunksRemoved, bytes, last }
}

/** Deletes every chunk of the blocks that end before `cutoffMs`; returns how many (one transaction). */
export function deleteExpiredBlocks (store: Store, cutoffMs: number): { removed: number, last: Promise<unknown> | undefined } {
  const end = chunkKey(blockOf(cutoffMs), 0, 0)
  let removed = 0
  let last: Promise<unknown> | undefined
  for (const key of store.chunks.getKeys({ end, snapshot: false })) {
    last = store.chunks.remove(Buffer.from(key))
    removed++
  }
  return { removed, last }
}
