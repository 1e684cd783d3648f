/**
 * Rollups: downsampled copies of every series, computed by the flush worker
 * from data already in chunks, kept longer than the raw samples, and read by
 * queries whose step (or range) is coarse enough (src/promql/eval.ts).
 *
 * Two levels, as Thanos has them: 5-minute buckets and 1-hour buckets. A
 * bucket is [start, start + resolution) and holds five numbers of the
 * samples in it: count, sum, min, max and last (the value at the largest
 * timestamp). Those are what InfluxDB continuous queries and VictoriaMetrics
 * downsampling keep, and they answer count/sum/min/max/avg/last_over_time
 * exactly when windows fall on bucket edges (avg = sum of sums / sum of
 * counts), and plain selectors as a series sampled once per bucket.
 *
 * Layout, in the store's `rollups` database:
 *   [level u8][row u32 BE, biased][series id u32 BE] -> one row: the buckets
 *   of one series in one row span (level 0: one 2-hour block, 24 buckets of 5
 *   minutes; level 1: one day, 24 buckets of 1 hour), encoded as
 *   u8 version, then per column (count, sum, min, max, last) a u16 LE length
 *   and a chunk (workers/chunk/codec.ts) whose timestamps are the bucket
 *   indexes 0..23 of the buckets that have samples.
 * Level 0 rows are computed from a whole raw block once the block can get
 * no more samples in the normal course (its end is --ooo-window-ms in the
 * past); level 1 rows from the day's 12 level-0 rows once all of them are
 * done. A checkpoint that still writes into a rolled-up block (a new series
 * back-filling, an import) marks it dirty and it is computed again, whole:
 * rows are always recomputed from the merged raw samples (a duplicate
 * timestamp counts once, its last value), never patched.
 *
 * State, in `meta` under 'rollups': the last block (level 0) and day (level
 * 1) rolled up, and the dirty blocks and days. Each row computation deletes
 * the row span's old rows and writes the new ones; it is redone whole if a
 * crash or a stop cuts it, so a half-written span never counts as done.
 */
import { chunkHeader, decodeChunk, decodeChunkInto, encodeChunk } from './chunk/codec.js'
import { BLOCK_MS, blockOf, chunkKey, parseChunkKey, type Store } from './storage.js'
import { SampleLimitError, readSamples, sortLastWins, type WalReader } from './read.js'
import { isStaleNaN } from '../src/promql/stale.js'

export const ROLLUP_FORMAT = 1
export const BUCKETS_PER_ROW = 24
export const DAY_MS = 24 * 3600 * 1000
export interface RollupLevel { level: number, resMs: number, rowMs: number }
export const ROLLUP_LEVELS: readonly RollupLevel[] = [
  { level: 0, resMs: 5 * 60_000, rowMs: BLOCK_MS },
  { level: 1, resMs: 3600_000, rowMs: DAY_MS },
]
const BLOCKS_PER_DAY = DAY_MS / BLOCK_MS
/** The columns of a row, in their order. */
export const COLUMNS = ['count', 'sum', 'min', 'max', 'last'] as const
export type RollupColumn = typeof COLUMNS[number]

const ROW_BIAS = 2 ** 31

export function rollupKey (level: number, row: number, id: number): Buffer {
  const b = Buffer.allocUnsafe(9)
  b.writeUInt8(level, 0)
  b.writeUInt32BE(row + ROW_BIAS, 1)
  b.writeUInt32BE(id, 5)
  return b
}

export function parseRollupKey (key: Uint8Array): { level: number, row: number, id: number } {
  const dv = new DataView(key.buffer, key.byteOffset, key.byteLength)
  return { level: dv.getUint8(0), row: dv.getUint32(1) - ROW_BIAS, id: dv.getUint32(5) }
}

/** The buckets of one series in one row span, being filled. */
export class Buckets {
  readonly count = new Float64Array(BUCKETS_PER_ROW)
  readonly sum = new Float64Array(BUCKETS_PER_ROW)
  readonly min = new Float64Array(BUCKETS_PER_ROW)
  readonly max = new Float64Array(BUCKETS_PER_ROW)
  readonly last = new Float64Array(BUCKETS_PER_ROW)

  clear (): void { this.count.fill(0) }

  /** Adds a bucket's worth (a raw sample is count 1 and its value four times); calls in time order. */
  add (i: number, count: number, sum: number, min: number, max: number, last: number): void {
    if (this.count[i] === 0) {
      this.count[i] = count
      this.sum[i] = sum
      this.min[i] = min
      this.max[i] = max
    } else {
      this.count[i] = this.count[i]! + count
      this.sum[i] = this.sum[i]! + sum
      // As Prometheus's min/max_over_time: NaN only if every value is NaN.
      const m = this.min[i]!
      if (min < m || Number.isNaN(m)) this.min[i] = min
      const x = this.max[i]!
      if (max > x || Number.isNaN(x)) this.max[i] = max
    }
    this.last[i] = last
  }

  /** The row's bytes, or undefined if no bucket has samples. */
  encode (): Buffer | undefined {
    const idx: number[] = []
    for (let i = 0; i < BUCKETS_PER_ROW; i++) if (this.count[i]! > 0) idx.push(i)
    if (idx.length === 0) return undefined
    for (const i of idx) this.sum[i] = snapSum(this.sum[i]!, this.count[i]!, Math.max(Math.abs(this.min[i]!), Math.abs(this.max[i]!)))
    const ts = Float64Array.from(idx)
    const parts: Uint8Array[] = []
    let size = 1
    for (const col of COLUMNS) {
      const src = this[col]
      const chunk = encodeChunk(ts, Float64Array.from(idx, (i) => src[i]!))
      parts.push(chunk)
      size += 2 + chunk.length
    }
    const out = Buffer.allocUnsafe(size)
    out[0] = ROLLUP_FORMAT
    let at = 1
    for (const p of parts) {
      out.writeUInt16LE(p.length, at)
      out.set(p, at + 2)
      at += 2 + p.length
    }
    return out
  }
}

/**
 * A sum of decimals (0.1 + 0.2) is rarely a decimal in float64
 * (0.30000000000000004), and the codec then stores it as XOR bits: half of
 * a 5-minute row's bytes. This rounds a sum to the fewest decimals (0 to 9)
 * that move it by no more than the rounding error its own computation may
 * carry (count^2 x 2^-52 x the largest |value|: a bound on the error of
 * summing `count` terms), so only float noise is removed, and returns it
 * unchanged otherwise.
 */
export function snapSum (sum: number, count: number, maxAbs: number): number {
  if (!Number.isFinite(sum) || !Number.isFinite(maxAbs)) return sum
  const bound = count * count * 2 ** -52 * maxAbs
  for (let e = 0; e <= 9; e++) {
    const p = 10 ** e
    const r = Math.round(sum * p) / p
    if (Math.abs(r - sum) <= bound) return r
  }
  return sum
}

export interface Row {
  /** Bucket indexes within the row (ascending). */
  idx: Float64Array
  count: Float64Array
  sum: Float64Array
  min: Float64Array
  max: Float64Array
  last: Float64Array
}

/** Timestamps (bucket indexes) of a row's columns after the first, decoded and dropped. */
const ROW_TS = new Float64Array(BUCKETS_PER_ROW)

/**
 * Decodes a row into one Float64Array of 6 x its bucket count (`into` if
 * big enough: the row's arrays are then views of it, valid until it is
 * reused). One allocation a row instead of ten (see decodeChunkInto).
 * `only`: decode just these columns (the others come back empty); a query
 * reads one or two of the five.
 */
export function decodeRow (bytes: Uint8Array, into?: Float64Array, only?: ReadonlySet<RollupColumn>): Row {
  if (bytes.length < 1 || bytes[0] !== ROLLUP_FORMAT) throw new Error(`corrupt rollup row: format ${bytes[0]}`)
  let at = 1
  let n = -1
  let buf: Float64Array | undefined
  let first = true
  const row: Partial<Row> = {}
  for (let c = 0; c < COLUMNS.length; c++) {
    if (at + 2 > bytes.length) throw new Error('corrupt rollup row: truncated')
    const len = bytes[at]! | (bytes[at + 1]! << 8)
    if (at + 2 + len > bytes.length) throw new Error('corrupt rollup row: truncated')
    const col = COLUMNS[c]!
    // Skipped unless wanted (the last column is decoded anyway if none was: the bucket indexes come with one).
    if (only !== undefined && !only.has(col) && !(buf === undefined && c === COLUMNS.length - 1)) {
      row[col] = EMPTY
      at += 2 + len
      continue
    }
    // A plain view (a Buffer's subarray would make a Buffer, which costs more).
    const chunk = new Uint8Array(bytes.buffer, bytes.byteOffset + at + 2, len)
    const count = chunkHeader(chunk).count
    if (buf === undefined) {
      n = count
      if (n > BUCKETS_PER_ROW) throw new Error(`corrupt rollup row: ${n} buckets`)
      buf = into !== undefined && into.length >= 6 * n ? into : new Float64Array(6 * n)
      row.idx = buf.subarray(0, n)
    } else if (count !== n) {
      throw new Error('corrupt rollup row: columns of different lengths')
    }
    const values = buf.subarray((c + 1) * n, (c + 2) * n)
    decodeChunkInto(chunk, first ? row.idx! : ROW_TS, values, 0)
    first = false
    row[col] = values
    at += 2 + len
  }
  if (at !== bytes.length) throw new Error('corrupt rollup row: bytes after the last column')
  return row as Row
}
const EMPTY = new Float64Array(0)

/** Series ids per pass of a row computation: bounds memory to a pass's decoded samples. */
const PASS_IDS = 2048

/** The checkpoints that wrote chunks into `block`, ascending (a skip-scan). */
function checkpointsOf (store: Store, block: number): number[] {
  const out: number[] = []
  for (let cp = 0; ;) {
    let found = -1
    for (const key of store.chunks.getKeys({ start: chunkKey(block, cp, 0, 0), end: chunkKey(block + 1, 0, 0, 0), limit: 1, snapshot: false })) found = parseChunkKey(key).checkpoint
    if (found < 0) return out
    out.push(found)
    cp = found + 1
  }
}

/** The smallest series id >= from among the given key ranges' next keys (Infinity: none). */
function nextId (starts: Array<(from: number) => number>, from: number): number {
  let next = Infinity
  for (const s of starts) next = Math.min(next, s(from))
  return next
}

/** Deletes the rows of one row span (before it is computed again); returns the last write. */
function removeRows (store: Store, level: number, row: number): Promise<unknown> | undefined {
  let last: Promise<unknown> | undefined
  for (const key of store.rollups.getKeys({ start: rollupKey(level, row, 0), end: rollupKey(level, row + 1, 0), snapshot: false })) {
    last = store.rollups.remove(Buffer.from(key))
  }
  return last
}

export interface RollResult { rows: number, last: Promise<unknown> | undefined }

/** Computes the level-0 rows of raw block `block` from its chunks (every checkpoint's, merged). */
export async function rollBlock (store: Store, block: number, yieldTurn: () => Promise<void>): Promise<RollResult> {
  const result: RollResult = { rows: 0, last: removeRows(store, 0, block) }
  const cps = checkpointsOf(store, block)
  const starts = cps.map((cp) => (from: number): number => {
    for (const key of store.chunks.getKeys({ start: chunkKey(block, cp, from, 0), end: chunkKey(block, cp + 1, 0, 0), limit: 1, snapshot: false })) return parseChunkKey(key).id
    return Infinity
  })
  const rowStart = block * BLOCK_MS
  const res = ROLLUP_LEVELS[0]!.resMs
  const b = new Buckets()
  for (let from = nextId(starts, 0); from !== Infinity; from = nextId(starts, from)) {
    const to = from + PASS_IDS
    const parts = new Map<number, Array<{ ts: Float64Array, values: Float64Array }>>()
    for (const cp of cps) {
      for (const { key, value } of store.chunks.getRange({ start: chunkKey(block, cp, from, 0), end: chunkKey(block, cp, to, 0), snapshot: false })) {
        const id = parseChunkKey(key).id
        const c = decodeChunk(value)
        let list = parts.get(id)
        if (list === undefined) parts.set(id, list = [])
        list.push({ ts: c.timestamps, values: c.values })
      }
    }
    for (const id of [...parts.keys()].sort((x, y) => x - y)) {
      const list = parts.get(id)!
      let ts = list[0]!.ts
      let values = list[0]!.values
      if (list.length > 1) {
        let n = 0
        for (const p of list) n += p.ts.length
        ts = new Float64Array(n)
        values = new Float64Array(n)
        n = 0
        for (const p of list) { ts.set(p.ts, n); values.set(p.values, n); n += p.ts.length }
        ;({ ts, values } = sortLastWins(ts, values))
      }
      b.clear()
      for (let i = 0; i < ts.length; i++) {
        const v = values[i]!
        if (isStaleNaN(v)) continue // range functions never see stale markers
        b.add(Math.floor((ts[i]! - rowStart) / res), 1, v, v, v, v)
      }
      const row = b.encode()
      if (row !== undefined) { result.last = store.rollups.put(rollupKey(0, block, id), row); result.rows++ }
    }
    await yieldTurn()
    from = to
  }
  return result
}

/** Computes the level-1 rows of day `day` from its level-0 rows. */
export async function rollDay (store: Store, day: number, yieldTurn: () => Promise<void>): Promise<RollResult> {
  const result: RollResult = { rows: 0, last: removeRows(store, 1, day) }
  const firstBlock = day * BLOCKS_PER_DAY
  const dayStart = day * DAY_MS
  const res0 = ROLLUP_LEVELS[0]!.resMs
  const res1 = ROLLUP_LEVELS[1]!.resMs
  const start = (from: number): number => {
    let next = Infinity
    for (let rb = firstBlock; rb < firstBlock + BLOCKS_PER_DAY; rb++) {
      for (const key of store.rollups.getKeys({ start: rollupKey(0, rb, from), end: rollupKey(0, rb + 1, 0), limit: 1, snapshot: false })) next = Math.min(next, parseRollupKey(key).id)
    }
    return next
  }
  const b = new Buckets()
  for (let from = start(0); from !== Infinity; from = start(from)) {
    const to = from + PASS_IDS
    const rows = new Map<number, Array<{ rb: number, row: Row }>>()
    for (let rb = firstBlock; rb < firstBlock + BLOCKS_PER_DAY; rb++) {
      for (const { key, value } of store.rollups.getRange({ start: rollupKey(0, rb, from), end: rollupKey(0, rb, to), snapshot: false })) {
        const id = parseRollupKey(key).id
        let list = rows.get(id)
        if (list === undefined) rows.set(id, list = [])
        list.push({ rb, row: decodeRow(value) })
      }
    }
    for (const id of [...rows.keys()].sort((x, y) => x - y)) {
      b.clear()
      for (const { rb, row } of rows.get(id)!) { // blocks ascending, buckets ascending: time order
        for (let k = 0; k < row.idx.length; k++) {
          const t = rb * BLOCK_MS + row.idx[k]! * res0
          b.add(Math.floor((t - dayStart) / res1), row.count[k]!, row.sum[k]!, row.min[k]!, row.max[k]!, row.last[k]!)
        }
      }
      const out = b.encode()
      if (out !== undefined) { result.last = store.rollups.put(rollupKey(1, day, id), out); result.rows++ }
    }
    await yieldTurn()
    from = to
  }
  return result
}

/** What the flush worker keeps in meta 'rollups'. */
export interface RollupState {
  /** Last raw block whose level-0 rows are done (null: none yet). */
  block: number | null
  /** Last day whose level-1 rows are done (null: none yet). */
  day: number | null
  /** Rolled-up blocks a later checkpoint wrote into: to compute again. */
  dirtyBlocks: number[]
  /** Rolled-up days one of whose blocks changed. */
  dirtyDays: number[]
}

export function rollupState (store: Store): RollupState {
  const s = store.meta.get('rollups') as RollupState | undefined
  return s ?? { block: null, day: null, dirtyBlocks: [], dirtyDays: [] }
}

/**
 * Called by a checkpoint before it is recorded: the blocks it wrote that are
 * already rolled up become dirty. Returns the write, or undefined if nothing changed.
 */
export function markDirty (store: Store, blocks: Iterable<number>): Promise<unknown> | undefined {
  const s = rollupState(store)
  if (s.block === null) return undefined
  const dirty = new Set(s.dirtyBlocks)
  const before = dirty.size
  for (const b of blocks) if (b <= s.block) dirty.add(b)
  if (dirty.size === before) return undefined
  return store.meta.put('rollups', { ...s, dirtyBlocks: [...dirty].sort((a, b) => a - b) })
}

export interface RollupConfig {
  /** Retention of level 0 (5 m) and level 1 (1 h) rows in ms; 0 turns a level off (and deletes its rows). */
  retentionMs: readonly [number, number]
  oooWindowMs: number
}

export interface RollupRun {
  rows: number
  blocks: number
  days: number
  expired: number
  /** Work was left for the next run (a run does at most BLOCKS_PER_RUN blocks and DAYS_PER_RUN days). */
  more: boolean
  last: Promise<unknown> | undefined
}

/** Raw blocks (and days) rolled up per run at most: a store full of history is caught up over several runs. */
const BLOCKS_PER_RUN = 12
const DAYS_PER_RUN = 2

/**
 * One round of rollup work: dirty blocks and days first, then the blocks
 * (and days) completed since the last run, at most BLOCKS_PER_RUN and
 * DAYS_PER_RUN, then retention of each level. The state is recorded after
 * each row span, so a stop between turns (yieldTurn throws) loses at most
 * one span's work.
 */
export async function runRollups (store: Store, config: RollupConfig, now: number, yieldTurn: () => Promise<void>): Promise<RollupRun> {
  const run: RollupRun = { rows: 0, blocks: 0, days: 0, expired: 0, more: false, last: undefined }
  const [keep0, keep1] = config.retentionMs
  const s = rollupState(store)
  const save = (): void => { run.last = store.meta.put('rollups', { ...s }) }
  if (keep0 <= 0) {
    run.expired += deleteRows(store, 0, Infinity, run) + deleteRows(store, 1, Infinity, run)
    if (s.block !== null || s.day !== null) { s.block = s.day = null; s.dirtyBlocks = []; s.dirtyDays = []; save() }
    return run
  }
  // A block is complete once its end is --ooo-window-ms in the past.
  const lastComplete = blockOf(now - config.oooWindowMs) - 1
  const floor0 = blockOf(now - keep0) // blocks before it would be deleted at once
  if (s.block === null) {
    const first = firstChunkBlock(store)
    if (first === undefined) return run
    s.block = first - 1
  }
  if (s.block < floor0 - 1) s.block = floor0 - 1
  const blocks = spansToRoll(s.dirtyBlocks, floor0, s.block, lastComplete, BLOCKS_PER_RUN)
  if (blocks.more) run.more = true
  for (const b of blocks.todo) {
    const r = await rollBlock(store, b, yieldTurn)
    run.rows += r.rows
    run.blocks++
    if (r.last !== undefined) run.last = r.last
    s.dirtyBlocks = s.dirtyBlocks.filter((d) => d !== b)
    const day = Math.floor(b / BLOCKS_PER_DAY)
    if (s.day !== null && day <= s.day && !s.dirtyDays.includes(day)) s.dirtyDays.push(day)
    if (b > s.block) s.block = b
    save()
  }
  s.dirtyBlocks = s.dirtyBlocks.filter((b) => b >= floor0)
  // Days are computed from level-0 rows read back: lmdb-js reads see committed writes only.
  if (run.last !== undefined) await run.last
  if (keep1 > 0) {
    const lastDay = Math.floor((s.block + 1) / BLOCKS_PER_DAY) - 1 // every block of it rolled up
    const floor1 = Math.floor((now - keep1) / DAY_MS)
    if (s.day === null) {
      const first = firstRowOf(store, 0)
      s.day = first === undefined ? lastDay : Math.floor(first / BLOCKS_PER_DAY) - 1
    }
    if (s.day < floor1 - 1) s.day = floor1 - 1
    const days = spansToRoll(s.dirtyDays, floor1, s.day, lastDay, DAYS_PER_RUN)
    if (days.more) run.more = true
    for (const d of days.todo) {
      const r = await rollDay(store, d, yieldTurn)
      run.rows += r.rows
      run.days++
      if (r.last !== undefined) run.last = r.last
      s.dirtyDays = s.dirtyDays.filter((x) => x !== d)
      if (d > s.day) s.day = d
      save()
    }
  } else if (s.day !== null) {
    s.day = null
    s.dirtyDays = []
    save()
  }
  run.expired += deleteRows(store, 0, Math.floor((now - keep0) / BLOCK_MS), run)
  run.expired += deleteRows(store, 1, keep1 > 0 ? Math.floor((now - keep1) / DAY_MS) : Infinity, run)
  return run
}

/**
 * The row spans (blocks or days) a run computes: the dirty ones that are
 * done already and not expired (below `floor`), then the next ones after
 * `done` up to `last`; at most `max`, `more` if some are left for the next run.
 */
function spansToRoll (dirty: readonly number[], floor: number, done: number, last: number, max: number): { todo: number[], more: boolean } {
  const todo = dirty.filter((x) => x >= floor && x <= done)
  for (let x = done + 1; x <= last && todo.length <= max; x++) todo.push(x)
  return { todo: todo.slice(0, max), more: todo.length > max }
}

/** Deletes the rows of `level` in row spans before `beforeRow`. */
function deleteRows (store: Store, level: number, beforeRow: number, run: RollupRun): number {
  let n = 0
  const end = beforeRow === Infinity ? rollupKey(level + 1, -ROW_BIAS, 0) : rollupKey(level, Math.max(-ROW_BIAS, Math.min(beforeRow, ROW_BIAS - 1)), 0)
  for (const key of store.rollups.getKeys({ start: rollupKey(level, -ROW_BIAS, 0), end, snapshot: false })) {
    run.last = store.rollups.remove(Buffer.from(key))
    n++
  }
  return n
}

function firstChunkBlock (store: Store): number | undefined {
  for (const key of store.chunks.getKeys({ limit: 1, snapshot: false })) return parseChunkKey(key).block
  return undefined
}

function firstRowOf (store: Store, level: number): number | undefined {
  for (const key of store.rollups.getKeys({ start: rollupKey(level, -ROW_BIAS, 0), end: rollupKey(level + 1, -ROW_BIAS, 0), limit: 1, snapshot: false })) return parseRollupKey(key).row
  return undefined
}

const rowScratch = new Float64Array(6 * BUCKETS_PER_ROW)

/** What a rollup read returns per series: values of one column; for 'avg', sums with their counts as weights. */
export interface RollupSamples { ts: Float64Array, values: Float64Array, weights?: Float64Array }
export type RollupRead = RollupColumn | 'avg'

/** A time from which on raw samples answer (rollups do before it), per level: the end of the last row span done. */
export function rollupBoundaries (s: RollupState): [number, number] {
  return [s.block === null ? -Infinity : (s.block + 1) * BLOCK_MS, s.day === null ? -Infinity : (s.day + 1) * DAY_MS]
}

/**
 * The samples a query reads at rollup level `level` for the wanted series in
 * [minMs, maxMs]: each bucket is one sample at the bucket's last millisecond
 * (start + resolution - 1, so a window [t - range, t] with t and range on
 * bucket edges holds exactly the buckets inside it), valued by `column`.
 * Time not yet rolled up at that level is read from the finer level, and
 * time not rolled up at all from the raw samples, a raw sample counting as a
 * bucket of one: so a dashboard over the last 30 days sees hourly buckets,
 * then 5-minute ones, then the raw samples of the last hours.
 */
export function readRollup (store: Store, wal: WalReader, wanted: ReadonlySet<number>, minMs: number, maxMs: number, level: number, column: RollupRead, maxSamples: number, pace?: () => void): Map<number, RollupSamples> {
  const out = new Map<number, { ts: number[], values: number[], weights: number[] }>()
  if (wanted.size === 0) return new Map()
  let total = 0
  const series = (id: number): { ts: number[], values: number[], weights: number[] } => {
    let s = out.get(id)
    if (s === undefined) out.set(id, s = { ts: [], values: [], weights: [] })
    return s
  }
  const bounds = rollupBoundaries(rollupState(store))
  const needed = new Set<RollupColumn>(column === 'avg' ? ['sum', 'count'] : [column])
  const ids = [...wanted].sort((a, b) => a - b)
  let lo = -Infinity
  for (let l = Math.min(level, ROLLUP_LEVELS.length - 1); l >= 0; l--) {
    const { resMs, rowMs } = ROLLUP_LEVELS[l]!
    const hi = Math.max(lo, bounds[l]!)
    const a = Math.max(minMs, lo)
    const b = Math.min(maxMs, hi - 1)
    lo = hi
    if (a > b) continue
    const first = Math.floor(a / rowMs)
    const last = Math.floor(b / rowMs)
    const addRow = (id: number, row: number, bytes: Uint8Array): void => {
      const r = decodeRow(bytes, rowScratch, needed)
      const s = series(id)
      const src = column === 'avg' ? r.sum : r[column]
      for (let k = 0; k < r.idx.length; k++) {
        const t = row * rowMs + r.idx[k]! * resMs + resMs - 1
        if (t < a || t > b) continue
        if (++total > maxSamples) throw new SampleLimitError(maxSamples)
        s.ts.push(t)
        s.values.push(src[k]!)
        if (column === 'avg') s.weights.push(r.count[k]!)
      }
    }
    if (ids.length > 64) {
      let rows = 0
      // Values as views of lmdb-js's read buffer, decoded at once.
      for (const { key, value } of store.rollupViews.getRange({ start: rollupKey(l, first, 0), end: rollupKey(l, last + 1, 0), snapshot: false })) {
        if (pace !== undefined && (++rows & 255) === 0) pace()
        const k = parseRollupKey(key)
        if (wanted.has(k.id)) addRow(k.id, k.row, value)
      }
    } else {
      for (const id of ids) {
        for (let row = first; row <= last; row++) {
          const bytes = store.rollups.get(rollupKey(l, row, id))
          if (bytes !== undefined) addRow(id, row, bytes)
        }
      }
    }
  }
  const rawFrom = Math.max(minMs, lo)
  if (rawFrom <= maxMs) {
    const raw = readSamples(store, wal, wanted, rawFrom, maxMs, maxSamples - total, pace)
    for (const [id, r] of raw) {
      const s = series(id)
      for (let k = 0; k < r.ts.length; k++) {
        const v = r.values[k]!
        if (isStaleNaN(v)) continue
        s.ts.push(r.ts[k]!)
        s.values.push(column === 'count' ? 1 : v)
        s.weights.push(1)
      }
    }
  }
  const result = new Map<number, RollupSamples>()
  for (const [id, s] of out) {
    if (s.ts.length === 0) continue
    result.set(id, { ts: Float64Array.from(s.ts), values: Float64Array.from(s.values), ...(column === 'avg' ? { weights: Float64Array.from(s.weights) } : {}) })
  }
  return result
}
