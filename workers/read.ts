/**
 * Reading samples back: the one place that knows how samples are laid out
 * on disk for reads (chunks in the store, then the WAL generations not yet
 * checkpointed). Export and the query engine call it from any thread.
 */
import { chunkHeader, decodeChunkInto } from './chunk/codec.js'
import { bandOf, bandRanges, blockOf, checkpointGen, chunkKey, decodeSegment, listWalGens, openWal, parseChunkKey, segmentRange, type Store, type StoreOptions, type Wal } from './storage.js'

export interface SeriesSamples { ts: Float64Array, values: Float64Array }

export class SampleLimitError extends Error {
  constructor (readonly limit: number) { super(`more than ${limit} samples`) }
}

/** A reader's handles on the WAL generations, opened once and closed when checkpointed. */
export class WalReader {
  private readonly open = new Map<number, Wal>()
  constructor (private readonly dataDir: string, private readonly options: StoreOptions) {}

  /** The WAL generations after `after`, ascending, opened. */
  after (after: number): Wal[] {
    for (const [gen, w] of this.open) if (gen <= after) { void w.close(); this.open.delete(gen) }
    const out: Wal[] = []
    for (const gen of listWalGens(this.dataDir)) {
      if (gen <= after) continue
      let w = this.open.get(gen)
      // A fresh snapshot for each read (see workers/query.ts): the generation being written changes.
      if (w !== undefined) w.env.resetReadTxn()
      if (w === undefined) {
        try {
          w = openWal(this.dataDir, gen, this.options)
        } catch {
          continue // removed meanwhile: a checkpoint covers it, and the chunks read after the meta had it
        }
        this.open.set(gen, w)
      }
      out.push(w)
    }
    return out
  }
}

/**
 * The samples of the wanted series in [minMs, maxMs], sorted by time; for a
 * duplicate timestamp the value written last wins (as InfluxDB does). Throws
 * SampleLimitError once more than maxSamples would be gathered, so memory
 * stays bounded.
 *
 * Order matters for consistency with a checkpoint running meanwhile: the
 * checkpointed generation is read first, then chunks, then the WAL after it.
 * A checkpoint landing in between makes the same samples appear twice (in
 * chunks and in a WAL generation kept for a grace period); they merge away.
 */
export function readSamples (store: Store, wal: WalReader, wanted: ReadonlySet<number>, minMs: number, maxMs: number, maxSamples: number, pace?: () => void, decoded = new ReadArena()): Map<number, SeriesSamples> {
  const gathered = new Map<number, Gather>()
  if (wanted.size === 0) return new Map()
  let total = 0
  const gather = (id: number): Gather => {
    let g = gathered.get(id)
    if (g === undefined) gathered.set(id, g = new Gather())
    return g
  }
  const count = (n: number): void => {
    if ((total += n) > maxSamples) throw new SampleLimitError(maxSamples)
  }
  /**
   * A chunk's samples in [minMs, maxMs], decoded into the read's arena and
   * kept as views of it (a chunk's times ascend). `value` may be a view that
   * is valid during the call only: it is decoded at once.
   */
  let chunks = 0
  const addChunk = (id: number, value: Uint8Array): void => {
    if (pace !== undefined && (++chunks & 255) === 0) pace()
    const h = chunkHeader(value)
    if (h.maxTs < minMs || h.minTs > maxMs) return
    const c = decoded.take(h.count)
    decodeChunkInto(value, c.ts, c.values, 0)
    const lo = h.minTs >= minMs ? 0 : firstIndex(c.ts, minMs, false)
    const hi = h.maxTs <= maxMs ? c.ts.length : firstIndex(c.ts, maxMs, true)
    if (hi <= lo) return
    count(hi - lo)
    if (lo === 0 && hi === c.ts.length) gather(id).part(c.ts, c.values)
    else gather(id).part(c.ts.subarray(lo, hi), c.values.subarray(lo, hi))
  }
  const gen = checkpointGen(store)
  const ids = [...wanted].sort((a, b) => a - b)
  // A selection of many series reads the blocks whole; a few series are looked up one by one.
  const scanBlocks = ids.length > 64
  if (!Number.isFinite(minMs) || !Number.isFinite(maxMs)) {
    readAllChunks(store, wanted, addChunk)
  } else {
    for (let b = blockOf(minMs), last = blockOf(maxMs); b <= last; b++) {
      if (scanBlocks) {
        // Values as views of lmdb-js's read buffer (no copy per chunk), decoded at once by addChunk.
        for (const { key, value } of store.chunkViews.getRange({ start: chunkKey(b, 0, 0, 0), end: chunkKey(b + 1, 0, 0, 0), snapshot: false })) {
          const id = chunkKeyId(key)
          if (wanted.has(id)) addChunk(id, value)
        }
        continue
      }
      // Skip-scan the block's checkpoints (ascending: a later one wins a duplicate), then look each series up.
      for (let cp = 0; ;) {
        let found = -1
        for (const key of store.chunks.getKeys({ start: chunkKey(b, cp, 0, 0), end: chunkKey(b + 1, 0, 0, 0), limit: 1, snapshot: false })) found = parseChunkKey(key).checkpoint
        if (found < 0) break
        for (const id of ids) {
          for (const { value } of store.chunks.getRange({ start: chunkKey(b, found, id, 0), end: chunkKey(b, found, id + 1, 0), snapshot: false })) addChunk(id, value)
        }
        cp = found + 1
      }
    }
  }
  forEachWalSample(wal, gen, ids, wanted, minMs, maxMs, (id, t, v) => { count(1); gather(id).sample(t, v) }, pace)
  // Series made of several parts are joined into one shared pair of arrays (two allocations
  // for the whole read instead of two per series: with 10,000 series over two blocks, the
  // per-series ones cost about a quarter of the query in allocation and GC).
  let joined = 0
  for (const g of gathered.values()) joined += g.joinedLength()
  const arena: Arena = { ...decoded.take(joined), at: 0 }
  const out = new Map<number, SeriesSamples>()
  for (const [id, g] of gathered) out.set(id, g.finish(arena))
  return out
}

interface Arena { ts: Float64Array, values: Float64Array, at: number }

/**
 * The wanted series that have at least one sample in [minMs, maxMs] (either
 * bound may be infinite): what /api/v1/series and the label endpoints answer
 * when given start or end, as Prometheus does. Reads chunk headers, not
 * samples, and the WAL bands of the wanted series.
 */
export function seriesWithSamples (store: Store, wal: WalReader, wanted: ReadonlySet<number>, minMs: number, maxMs: number): Set<number> {
  const found = new Set<number>()
  if (wanted.size === 0) return found
  const range: { start?: Buffer, end?: Buffer, snapshot: false } = { snapshot: false }
  if (Number.isFinite(minMs)) range.start = chunkKey(blockOf(minMs), 0, 0, 0)
  if (Number.isFinite(maxMs)) range.end = chunkKey(blockOf(maxMs) + 1, 0, 0, 0)
  const gen = checkpointGen(store)
  for (const { key, value } of store.chunks.getRange(range)) {
    const id = parseChunkKey(key).id
    if (!wanted.has(id) || found.has(id)) continue
    const h = chunkHeader(value)
    if (h.maxTs >= minMs && h.minTs <= maxMs) found.add(id)
  }
  const ids = [...wanted].filter((id) => !found.has(id)).sort((a, b) => a - b)
  forEachWalSample(wal, gen, ids, wanted, minMs, maxMs, (id) => { found.add(id) })
  return found
}

/**
 * Each WAL sample of the wanted series in [minMs, maxMs], from the
 * generations after `gen`, in commit order: only the bands (runs of 4,096
 * series ids) of `ids` (ascending) are read. `pace` runs before each segment.
 */
function forEachWalSample (wal: WalReader, gen: number, ids: readonly number[], wanted: ReadonlySet<number>, minMs: number, maxMs: number, fn: (id: number, t: number, v: number) => void, pace?: () => void): void {
  const bands = bandsOf(ids)
  if (bands.length === 0) return
  for (const w of wal.after(gen)) {
    for (const range of bandRanges(w.segments, bands)) {
      for (const { value: raw } of w.segments.getRange(range)) {
        const h = segmentRange(raw)
        if (h.maxTs < minMs || h.minTs > maxMs) continue
        pace?.()
        const seg = decodeSegment(raw)
        for (let i = 0; i < seg.count; i++) {
          const id = seg.ids[i]!
          if (!wanted.has(id)) continue
          const t = seg.ts[i]!
          if (t >= minMs && t <= maxMs) fn(id, t, seg.values[i]!)
        }
      }
    }
  }
}

/** Runs of WAL bands [from, to) that hold the given ids (ascending). */
function bandsOf (ids: readonly number[]): Array<[number, number]> {
  const bands: Array<[number, number]> = []
  for (const id of ids) {
    const b = bandOf(id)
    const last = bands[bands.length - 1]
    if (last !== undefined && b <= last[1]) last[1] = b + 1
    else bands.push([b, b + 1])
  }
  return bands
}

/** The first index whose time is >= t, or > t if `after` (times ascending): a binary search. */
function firstIndex (ts: Float64Array, t: number, after: boolean): number {
  let lo = 0
  let hi = ts.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (ts[mid]! < t || (after && ts[mid] === t)) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * One series' samples as read, in write order: decoded chunks as they are
 * (typed-array views, no copy), then WAL samples appended to a growing tail.
 * finish() returns them sorted with the last write winning; when the parts
 * already follow each other in time (the usual case: one chunk per block and
 * checkpoint, then newer WAL samples) that is at most one copy, no sort.
 */
class Gather {
  private readonly parts: SeriesSamples[] = []
  private tailTs: Float64Array | undefined
  private tailVs: Float64Array | undefined
  private tailN = 0

  part (ts: Float64Array, values: Float64Array): void {
    this.flushTail()
    this.parts.push({ ts, values })
  }

  sample (t: number, v: number): void {
    if (this.tailTs === undefined || this.tailN === this.tailTs.length) {
      const size = this.tailTs === undefined ? 16 : this.tailTs.length * 2
      const ts = new Float64Array(size)
      const vs = new Float64Array(size)
      if (this.tailTs !== undefined) { ts.set(this.tailTs); vs.set(this.tailVs!) }
      this.tailTs = ts
      this.tailVs = vs
    }
    this.tailTs[this.tailN] = t
    this.tailVs![this.tailN++] = v
  }

  private flushTail (): void {
    if (this.tailN === 0) return
    this.parts.push({ ts: this.tailTs!.subarray(0, this.tailN), values: this.tailVs!.subarray(0, this.tailN) })
    this.tailTs = undefined
    this.tailVs = undefined
    this.tailN = 0
  }

  /** Samples finish() will copy into the arena: those of a series of several parts. */
  joinedLength (): number {
    this.flushTail()
    if (this.parts.length < 2) return 0
    let n = 0
    for (const p of this.parts) n += p.ts.length
    return n
  }

  /** Call joinedLength() first, for every series, to size the arena. */
  finish (arena: Arena): SeriesSamples {
    const parts = this.parts
    if (parts.length === 1) {
      const p = parts[0]!
      return strictlyAscending(p.ts) ? p : sortLastWins(p.ts, p.values)
    }
    let n = 0
    for (const p of parts) n += p.ts.length
    const ts = arena.ts.subarray(arena.at, arena.at + n)
    const values = arena.values.subarray(arena.at, arena.at + n)
    arena.at += n
    let at = 0
    let ordered = true
    for (const p of parts) {
      if (at > 0 && p.ts.length > 0 && p.ts[0]! <= ts[at - 1]!) ordered = false
      ts.set(p.ts, at)
      values.set(p.values, at)
      at += p.ts.length
    }
    if (ordered) {
      for (const p of parts) if (!strictlyAscending(p.ts)) { ordered = false; break }
    }
    return ordered ? { ts, values } : sortLastWins(ts, values)
  }
}

function strictlyAscending (ts: Float64Array): boolean {
  for (let i = 1; i < ts.length; i++) if (ts[i]! <= ts[i - 1]!) return false
  return true
}

/** An unbounded time range: every chunk, filtered by series. */
function readAllChunks (store: Store, wanted: ReadonlySet<number>, addChunk: (id: number, value: Uint8Array) => void): void {
  for (const { key, value } of store.chunkViews.getRange({ snapshot: false })) {
    const id = chunkKeyId(key)
    if (wanted.has(id)) addChunk(id, value)
  }
}

/** The series id of a chunk key (parseChunkKey's, without its DataView and object). */
const chunkKeyId = (key: Uint8Array): number => ((key[8]! << 24) | (key[9]! << 16) | (key[10]! << 8) | key[11]!) >>> 0

/**
 * Where reads decode their chunks and join a series' parts: large
 * Float64Arrays handed out in slices, a new one (larger) when full, the old
 * ones kept alive by the views into them. Two allocations per read instead
 * of two per chunk (a typed array of over 64 bytes is allocated outside V8's
 * heap, at a cost of about a microsecond each, and 10,000 series hold
 * 20,000 chunks). A query worker keeps one for all its tasks and resets it
 * at each: the slices of one task are not reused before the next, and the
 * next finds the buffer already there (a 10,000-series shard read about 40
 * MiB of fresh arrays per query, and V8 ran full GCs for that external
 * memory).
 */
export class ReadArena {
  private ts = new Float64Array(0)
  private values = new Float64Array(0)
  private at = 0

  /** @param retainSamples a buffer larger than this is dropped at reset() (16 bytes a sample; pages never written cost no RSS). */
  constructor (private readonly retainSamples = 4 * 1024 * 1024) {}

  /** Views of `n` samples (times, values), valid until reset(). */
  take (n: number): SeriesSamples {
    if (this.at + n > this.ts.length) {
      // Small first (a read of one series needs a few KiB: a 1 MiB arena per query made V8 count
      // enough external memory to run full GCs, 3 ms a query), then doubling, up to 4 Mi samples.
      const size = Math.max(n, Math.min(4 * 1024 * 1024, Math.max(16 * n, 2 * this.ts.length)))
      this.ts = new Float64Array(size)
      this.values = new Float64Array(size)
      this.at = 0
    }
    const at = this.at
    this.at += n
    return { ts: this.ts.subarray(at, at + n), values: this.values.subarray(at, at + n) }
  }

  /** Makes the buffer free for the next task: every view handed out before is invalid from now on. */
  reset (): void {
    this.at = 0
    if (this.ts.length > this.retainSamples) {
      this.ts = new Float64Array(0)
      this.values = new Float64Array(0)
    }
  }
}

/**
 * Sorts by time, stable (write order among equal timestamps), keeping the
 * last of each run of equal timestamps. Samples arrive as ascending runs (each
 * request's, each checkpoint's), so this is a natural merge sort of positions:
 * the runs as found, merged pairwise, a tie keeping the later run's sample.
 * It was a comparator sort over a JS array: a quarter of a checkpoint's time
 * on data resent by a load generator. `into`: arrays of at least ts.length
 * to write the result to (views of them are returned, valid until the next
 * call with them); without it, new arrays.
 */
export function sortLastWins (ts: Float64Array, values: Float64Array, into?: SeriesSamples): SeriesSamples {
  const n = ts.length
  let sorted = true
  for (let i = 1; i < n; i++) if (ts[i]! <= ts[i - 1]!) { sorted = false; break }
  if (sorted) {
    if (into === undefined) return { ts: ts.slice(), values: values.slice() }
    into.ts.set(ts)
    into.values.set(values)
    return { ts: into.ts.subarray(0, n), values: into.values.subarray(0, n) }
  }
  // Times and positions move together (no indirection in the inner loop), in scratch
  // arrays kept between calls (allocating four typed arrays cost more than merging 600 samples).
  const work = n <= SCRATCH_MAX ? scratchFor(n) : { t1: new Float64Array(n), t2: new Float64Array(n), p1: new Uint32Array(n), p2: new Uint32Array(n) }
  let tFrom = work.t1
  let tTo = work.t2
  let from = work.p1
  let to = work.p2
  for (let i = 0; i < n; i++) { tFrom[i] = ts[i]!; from[i] = i }
  // Run boundaries: a run is non-decreasing, so equal times inside it keep their write order.
  let bounds = [0]
  for (let i = 1; i < n; i++) if (ts[i]! < ts[i - 1]!) bounds.push(i)
  bounds.push(n)
  while (bounds.length > 2) {
    const next = [0]
    // Merged runs are written one after the other from position 0: a tie drops the left
    // sample (the right run was written later, so it wins), which shrinks resent data fast.
    let k = 0
    for (let r = 0; r + 1 < bounds.length; r += 2) {
      const mid = bounds[r + 1]!
      const hi = r + 2 < bounds.length ? bounds[r + 2]! : mid
      let i = bounds[r]!
      let j = mid
      while (i < mid && j < hi) {
        const a = tFrom[i]!
        const b = tFrom[j]!
        if (b < a) { tTo[k] = b; to[k++] = from[j++]! } else if (b === a) { i++ } else { tTo[k] = a; to[k++] = from[i++]! }
      }
      for (; i < mid; i++, k++) { tTo[k] = tFrom[i]!; to[k] = from[i]! }
      for (; j < hi; j++, k++) { tTo[k] = tFrom[j]!; to[k] = from[j]! }
      next.push(k)
    }
    let t = tFrom; tFrom = tTo; tTo = t
    const p = from; from = to; to = p
    bounds = next
  }
  // Keep the last of each run of equal times (equal times inside one written run are left).
  const len = bounds[bounds.length - 1]!
  let m = 0
  for (let k = 0; k < len; k++) {
    if (k + 1 < len && tFrom[k + 1] === tFrom[k]) continue
    tTo[m] = tFrom[k]!
    to[m++] = from[k]!
  }
  const outTs = into === undefined ? new Float64Array(m) : into.ts.subarray(0, m)
  const outValues = into === undefined ? new Float64Array(m) : into.values.subarray(0, m)
  outTs.set(tTo.subarray(0, m))
  for (let k = 0; k < m; k++) outValues[k] = values[to[k]!]!
  return { ts: outTs, values: outValues }
}

/** Work arrays for sorts of up to this many samples are kept between calls (24 bytes a sample). */
const SCRATCH_MAX = 64 * 1024
let scratch = { t1: new Float64Array(1024), t2: new Float64Array(1024), p1: new Uint32Array(1024), p2: new Uint32Array(1024) }
function scratchFor (n: number): typeof scratch {
  if (scratch.t1.length < n) {
    const size = Math.min(SCRATCH_MAX, Math.max(n, scratch.t1.length * 2))
    scratch = { t1: new Float64Array(size), t2: new Float64Array(size), p1: new Uint32Array(size), p2: new Uint32Array(size) }
  }
  return scratch
}
