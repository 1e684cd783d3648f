/**
 * The flush worker: the only LMDB writer. It drains every parse worker's ring,
 * maps each ring's local series ids to global ones (creating series as they
 * appear), and writes one segment per group commit. After each commit it
 * publishes each ring's watermark: with --ack durable it waits for the commit's
 * fsync (lmdb-js `flushed`), so the watermark means "on disk".
 *
 * Samples go first to the WAL (one segment per commit, in the current WAL
 * generation). A checkpoint later writes the older generations as
 * compressed per-series chunks and drops them (workers/storage.ts,
 * workers/checkpoint.ts). It starts between commits, once the WAL holds
 * --checkpoint-samples, after --checkpoint-idle-ms without samples, every
 * 15 minutes and at stop, and runs alongside the commits to the new
 * generation.
 *
 * It is a plain dedicated Worker (not a Piscina task). Its loop sleeps on the
 * doorbell (Atomics.waitAsync) when every ring is empty, so it costs nothing
 * when idle. Each commit writes the WAL segments in a synchronous transaction
 * (fsync'd before it returns with --ack durable) and new series in lmdb-js's
 * asynchronous batch; the event loop lets lmdb-js resolve those, and up to
 * MAX_COMMITS_IN_FLIGHT commits may wait for their series at once.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { Doorbell, RingConsumer } from 'native-free-ringbuffer'
import { COMMIT_BUCKETS, ControlSlot, FlushMessage, FlushStat, RECENT_COMMITS, RecordKind, SAMPLE_ROW_BYTES, TOO_OLD_LOG_ENTRIES, TooOldLog, type FlushWorkerData } from './shared.js'
import { BLOCK_MS, STORAGE_FORMAT, checkpointGen, bandOf, encodeSegment, idRange, segmentRange, listWalGens, openStore, openWal, removeWal, scanWal, walDir, segmentBytes, segmentKey, type Wal } from './storage.js'
import { deleteExpiredBlocks, deleteUnfinishedChunks, writeCheckpoint } from './checkpoint.js'
import { markDirty, rollupState, runRollups } from './rollup.js'
import { WalPrealloc } from './wal-prealloc.js'
import { join } from 'node:path'

const data = workerData as FlushWorkerData
const control = new Int32Array(data.control)
const stats = new Float64Array(data.stats)
const doorbell = new Doorbell(data.doorbell)
const consumers = data.rings.map((r) => new RingConsumer(r))
const store = openStore(data.dataDir, { mapSizeBytes: data.mapSizeBytes, sync: data.ack === 'durable', pageBytes: data.storePageBytes })

/** Rotated WAL generations waiting for the next checkpoint, and the closes of their write handles. */
const walsToCheckpoint: number[] = []
const walsClosing: Array<Promise<unknown>> = []
/**
 * A WAL generation holds this many samples at most (40 MiB): a checkpoint
 * reads the generations back one at a time and closes each, so the pages it
 * maps stay bounded by one generation (they count in RSS while mapped).
 */
const WAL_GENERATION_SAMPLES = 2 * 1024 * 1024
let walSamples = 0

// --- the series index (key -> global id), loaded whole at start ---
const seriesIds = new Map<string, number>()
let nextSeriesId = 1
for (const { key, value } of store.series.getRange()) {
  seriesIds.set(value, key)
  if (key >= nextSeriesId) nextSeriesId = key + 1
}
const format = store.meta.get('format')
if (format === undefined) store.meta.putSync('format', STORAGE_FORMAT)
else if (format !== STORAGE_FORMAT) throw new Error(`the store in ${data.dataDir} has format ${String(format)}; this ringest reads format ${STORAGE_FORMAT}`)
stats[FlushStat.SERIES_TOTAL] = seriesIds.size

// --- the WAL: count what is not checkpointed (a checkpoint reads it back from disk) ---
const storeOptions = { mapSizeBytes: data.mapSizeBytes, sync: data.ack === 'durable' }
/** Samples in the WAL generations not yet checkpointed, and since when (Date.now(), 0: none). */
let headSamples = 0
let headSince = 0
const checkpointed = checkpointGen(store)
const unfinished = deleteUnfinishedChunks(store, checkpointed)
if (unfinished.last !== undefined) await unfinished.last
const replayStarted = performance.now()
let lastGen = checkpointed
for (const gen of listWalGens(data.dataDir)) {
  if (gen <= checkpointed) { removeWal(data.dataDir, gen); continue }
  await scanWal(data.dataDir, gen, storeOptions, (segment) => { headSamples += segmentRange(segment).count })
  walsToCheckpoint.push(gen)
  lastGen = gen
}
if (headSamples > 0) headSince = Date.now()
const replayed = headSamples
const replayMs = performance.now() - replayStarted
// Writes always go to a fresh generation: the ones found are only read back by the next checkpoint.
let wal: Wal = openWal(data.dataDir, lastGen + 1, storeOptions)
let nextSeq = 1

/** Byte offset just past the WAL file's last page LMDB uses (its last committed meta's last page). */
const walEnd = (w: Wal): number => ((w.env as unknown as { env: { info (): { lastPageNumber: number } } }).env.info().lastPageNumber + 1) * walPageBytes
const walPageBytes = (wal.env.getStats() as { pageSize: number }).pageSize
/** Only fsync'd commits gain from a preallocated WAL file (see wal-prealloc.ts). */
const preallocFor = (w: Wal): WalPrealloc | undefined => {
  if (!storeOptions.sync) return undefined
  const p = new WalPrealloc(join(walDir(data.dataDir, w.gen), 'data.mdb'))
  p.advance(walEnd(w))
  return p
}
let prealloc = preallocFor(wal)

/** Starts a new WAL generation between commits; the old one is closed once its commits are done. */
function rotateWal (): void {
  const old = wal
  const oldPrealloc = prealloc
  const pending = inFlight.slice()
  wal = openWal(data.dataDir, old.gen + 1, storeOptions)
  prealloc = preallocFor(wal)
  nextSeq = 1
  walSamples = 0
  walsToCheckpoint.push(old.gen)
  // The old file is cut back to LMDB's end (no zeros left on disk) once its commits are done.
  walsClosing.push(Promise.all(pending).then(async () => { await oldPrealloc?.close(walEnd(old)); await old.close() }))
  stats[FlushStat.WAL_GENERATION] = wal.gen
}

/** Per ring: local series id -> global id (0 = unknown). */
const localToGlobal: Array<Uint32Array> = consumers.map(() => new Uint32Array(1024))

// --- the batch being built for the next commit ---
let cap = Math.max(1024, data.flushMaxSamples * 2)
let ids = new Uint32Array(cap)
let ts = new Float64Array(cap)
let vals = new Float64Array(cap)
let count = 0
let minTs = Infinity
let maxTs = -Infinity
let firstPendingAt = 0
const newSeries: Array<[number, string]> = []
let dirty = false
let corrupt = 0

function grow (): void {
  cap *= 2
  const i2 = new Uint32Array(cap); i2.set(ids); ids = i2
  const t2 = new Float64Array(cap); t2.set(ts); ts = t2
  const v2 = new Float64Array(cap); v2.set(vals); vals = v2
}

/** Per series id: the newest timestamp seen since start (-Infinity: none), for the out-of-order window. */
let newest = new Float64Array(1024).fill(-Infinity)
let tooOld = 0
function growNewest (id: number): void {
  const n = new Float64Array(Math.max(id + 1, newest.length * 2)).fill(-Infinity)
  n.set(newest)
  newest = n
}

const tooOldLogs = data.tooOld.map((b) => new Int32Array(b))
/** Records in the ring's too-old log that `end` (a record's end) dropped `n` samples (see TooOldLog). */
function logTooOld (ring: number, end: number, n: number): void {
  const log = tooOldLogs[ring]!
  const head = log[TooOldLog.HEAD]!
  const at = TooOldLog.ENTRIES + 2 * (head % TOO_OLD_LOG_ENTRIES)
  log[at] = end | 0
  log[at + 1] = n
  Atomics.store(log, TooOldLog.HEAD, (head + 1) | 0)
}

let ring = 0
let consumer = consumers[0]!
function visit (offset: number, length: number, tag: number, end: number): void {
  dirty = true
  switch (tag) {
    case RecordKind.RESET:
      localToGlobal[ring]!.fill(0)
      return
    case RecordKind.SERIES: {
      const local = consumer.u32[offset >> 2]!
      const len = consumer.u32[(offset >> 2) + 1]!
      const key = Buffer.from(consumer.buffer, offset + 8, len).toString('utf8')
      let id = seriesIds.get(key)
      if (id === undefined) {
        id = nextSeriesId++
        seriesIds.set(key, id)
        newSeries.push([id, key])
      }
      let map = localToGlobal[ring]!
      if (local >= map.length) {
        const m2 = new Uint32Array(Math.max(local + 1, map.length * 2))
        m2.set(map)
        map = localToGlobal[ring] = m2
      }
      map[local] = id
      return
    }
    case RecordKind.SAMPLES: {
      const rows = (length / SAMPLE_ROW_BYTES) | 0
      if (rows === 0) return
      if (firstPendingAt === 0) firstPendingAt = performance.now()
      lastSampleAt = Date.now()
      while (count + rows > cap) grow()
      const f64 = consumer.f64
      const map = localToGlobal[ring]!
      let o = offset >> 3
      let dropped = 0
      for (let i = 0; i < rows; i++, o += 3) {
        const gid = map[f64[o]!]
        if (gid === undefined || gid === 0) { corrupt++; continue }
        const t = f64[o + 1]!
        // Older than the window behind the series' newest sample: dropped, counted, and logged
        // for the request's answer (which refuses them).
        if (gid < newest.length) {
          const n = newest[gid]!
          if (t < n - data.oooWindowMs) { tooOld++; dropped++; continue }
          if (t > n) newest[gid] = t
        } else {
          growNewest(gid)
          newest[gid] = t
        }
        ids[count] = gid
        ts[count] = t
        vals[count] = f64[o + 2]!
        if (t < minTs) minTs = t
        if (t > maxTs) maxTs = t
        count++
      }
      if (dropped > 0) logTooOld(ring, end, dropped)
      return
    }
    default:
      corrupt++
  }
}

/** Ring positions read by the batch being built (published after its commit). */
const drainedTo = consumers.map((c) => c.readPosition)

/** Records read from one ring per pass: rings are drained round-robin in slices, so one busy ring cannot starve the others and a batch stays near flushMaxSamples. */
const RECORDS_PER_PASS = 8

function drain (): void {
  for (let progress = true; progress && count < data.flushMaxSamples;) {
    progress = false
    for (ring = 0; ring < consumers.length; ring++) {
      consumer = consumers[ring]!
      if (consumer.read(visit, RECORDS_PER_PASS) > 0 || consumer.readPosition !== drainedTo[ring]) {
        progress = true
        drainedTo[ring] = consumer.readPosition
        // The samples are copied into the batch: the ring space can be reused now.
        consumer.release()
      }
    }
  }
}

/**
 * Commits in flight at most (a commit is in flight until its new series are
 * durable too). Past this the worker stops draining and the rings hold the
 * backlog, as they do while a synchronous WAL commit runs: that is what turns
 * a slow disk into 503s instead of memory growth.
 */
const MAX_COMMITS_IN_FLIGHT = 2

/** Segment buffers, reused once their commit is done (a commit's buffer can be megabytes: garbage of that size would inflate RSS). */
const bufferPool: Buffer[] = []
function takeBuffer (size: number): Buffer {
  for (let i = 0; i < bufferPool.length; i++) {
    if (bufferPool[i]!.length >= size) return bufferPool.splice(i, 1)[0]!
  }
  if (bufferPool.length > MAX_COMMITS_IN_FLIGHT) bufferPool.shift()
  return Buffer.allocUnsafeSlow(Math.max(size, segmentsBytes(data.flushMaxSamples, bandOf(nextSeriesId) + 1)))
}
const inFlight: Array<Promise<unknown>> = []
let lastCommit: Promise<unknown> = Promise.resolve()
const durable = data.ack === 'durable'
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** The batch regrouped by band (stable), when it spans several. */
let byBand = { ids: new Uint32Array(0), ts: new Float64Array(0), vals: new Float64Array(0) }

/**
 * Encodes the batch as one segment per WAL band it touches (see
 * workers/storage.ts), laid out one after the other in `into`, and puts
 * them (call it inside the WAL's transaction); returns the bytes.
 */
function putSegments (into: Buffer, seq: number): number {
  const { minId, maxId } = idRange(ids, count)
  const first = bandOf(minId)
  const bands = bandOf(maxId) - first + 1
  if (bands === 1) {
    const segment = encodeSegment(ids, ts, vals, count, minTs, maxTs, into)
    wal.segments.putSync(segmentKey(first, seq), segment)
    return segment.length
  }
  // A counting sort by band keeps each band's samples in write order.
  if (byBand.ids.length < count) byBand = { ids: new Uint32Array(cap), ts: new Float64Array(cap), vals: new Float64Array(cap) }
  const at = new Uint32Array(bands + 1)
  const lo = new Float64Array(bands).fill(Infinity)
  const hi = new Float64Array(bands).fill(-Infinity)
  for (let i = 0; i < count; i++) { const b = bandOf(ids[i]!) - first + 1; at[b] = at[b]! + 1 }
  for (let b = 0; b < bands; b++) at[b + 1] = at[b + 1]! + at[b]!
  const fill = at.slice(0, bands)
  for (let i = 0; i < count; i++) {
    const b = bandOf(ids[i]!) - first
    const k = fill[b]!++
    const t = ts[i]!
    byBand.ids[k] = ids[i]!
    byBand.ts[k] = t
    byBand.vals[k] = vals[i]!
    if (t < lo[b]!) lo[b] = t
    if (t > hi[b]!) hi[b] = t
  }
  let bytes = 0
  for (let b = 0; b < bands; b++) {
    const a = at[b]!
    const n = at[b + 1]! - a
    if (n === 0) continue
    const segment = encodeSegment(byBand.ids.subarray(a), byBand.ts.subarray(a), byBand.vals.subarray(a), n, lo[b]!, hi[b]!, into.subarray(bytes))
    wal.segments.putSync(segmentKey(first + b, seq), segment)
    bytes += segment.length
  }
  return bytes
}

/** Bytes of the segments of a batch of `samples` samples over `bands` bands at most. */
const segmentsBytes = (samples: number, bands: number): number => segmentBytes(samples) + (bands - 1) * segmentBytes(1)

function commit (): void {
  const started = performance.now()
  const samples = count
  const created = newSeries.length
  const pooled = count > 0 ? takeBuffer(segmentsBytes(count, bandOf(nextSeriesId) + 1)) : undefined
  type Written = Promise<unknown> & { flushed?: Promise<unknown> }
  let seriesWritten: Written | undefined
  let segmentBytesWritten = 0
  // New series go to the store in lmdb-js's next asynchronous batch (one
  // transaction for all puts of this event turn); the segments go to the WAL
  // in a synchronous transaction, fsync'd before it returns with --ack
  // durable (see openWal for why). The watermark waits for both.
  for (const [id, key] of newSeries) seriesWritten = store.series.put(id, key)
  if (pooled !== undefined) {
    segmentBytesWritten = wal.env.transactionSync(() => putSegments(pooled, nextSeq++))
    walSamples += count
    if (headSamples === 0) headSince = Date.now()
    headSamples += count
  }
  const positions = drainedTo.slice()
  const settled = (w: Written | undefined): Promise<unknown> | undefined => w === undefined ? undefined : durable ? (w.flushed ?? w) : w
  const target = settled(seriesWritten)
  // Watermarks are published strictly in commit order.
  const done = lastCommit.then(() => target).then(() => {
    for (let r = 0; r < consumers.length; r++) consumers[r]!.publishWatermark(positions[r])
    const ms = performance.now() - started
    // Cumulative histogram buckets for /metrics (ringest_commit_duration_seconds).
    const sec = ms / 1000
    stats[FlushStat.COMMIT_SECONDS_SUM] = stats[FlushStat.COMMIT_SECONDS_SUM]! + sec
    for (let b = COMMIT_BUCKETS.length; b >= 0 && (b === COMMIT_BUCKETS.length || sec <= COMMIT_BUCKETS[b]!); b--) {
      stats[FlushStat.COMMIT_BUCKET_COUNTS + b] = stats[FlushStat.COMMIT_BUCKET_COUNTS + b]! + 1
    }
    const n = stats[FlushStat.RECENT_COUNT]! % RECENT_COMMITS
    stats[FlushStat.RECENT_LATENCY + n] = ms
    stats[FlushStat.RECENT_BATCH + n] = samples
    stats[FlushStat.RECENT_COUNT] = stats[FlushStat.RECENT_COUNT]! + 1
    stats[FlushStat.SAMPLES_COMMITTED] = stats[FlushStat.SAMPLES_COMMITTED]! + samples
    stats[FlushStat.COMMITS] = stats[FlushStat.COMMITS]! + 1
    stats[FlushStat.SERIES_CREATED] = stats[FlushStat.SERIES_CREATED]! + created
    stats[FlushStat.SERIES_TOTAL] = seriesIds.size
    stats[FlushStat.LAST_COMMIT_AT_MS] = Date.now()
    stats[FlushStat.BYTES_WRITTEN] = stats[FlushStat.BYTES_WRITTEN]! + segmentBytesWritten
    stats[FlushStat.CORRUPT_RECORDS] = corrupt
    stats[FlushStat.SAMPLES_TOO_OLD] = tooOld
    stats[FlushStat.HEAD_SAMPLES] = headSamples
  })
  lastCommit = done
  if (pooled !== undefined) void done.then(() => { bufferPool.push(pooled) }, () => {})
  inFlight.push(done)
  void done.finally(() => { inFlight.splice(inFlight.indexOf(done), 1) })
  count = 0
  minTs = Infinity
  maxTs = -Infinity
  firstPendingAt = 0
  newSeries.length = 0
  dirty = false
}

const stopping = (): boolean => Atomics.load(control, ControlSlot.STOP) !== 0
const hasWork = (): boolean => {
  if (stopping()) return true
  for (const c of consumers) if (c.available() > 0) return true
  return false
}

/** Checkpointed WAL generations are deleted this long after their checkpoint: a query that began before it may still read them. */
const WAL_GRACE_MS = 60_000
/** A non-empty WAL is checkpointed at least this often while samples keep coming. */
const MAX_HEAD_AGE_MS = 15 * 60_000
const walsToDelete: Array<{ gen: number, at: number }> = []
let lastSampleAt = 0
let lastRetentionAt = 0

function deleteOldWals (all: boolean): void {
  const now = Date.now()
  while (walsToDelete.length > 0 && (all || walsToDelete[0]!.at <= now)) removeWal(data.dataDir, walsToDelete.shift()!.gen)
}

function checkpointDue (): boolean {
  if (headSamples === 0) return false
  const now = Date.now()
  return headSamples >= data.checkpointSamples || now - headSince >= MAX_HEAD_AGE_MS || now - lastSampleAt >= data.checkpointIdleMs
}

/** The checkpoint running, if any (one at a time). */
let checkpointing: Promise<void> | undefined
let checkpointFailed: unknown

/**
 * Starts moving the WAL into chunks. Called between commits (the batch is
 * empty): new commits go to a new WAL generation from now on, while the
 * checkpoint waits for the commits in flight on the old ones, writes them
 * as chunks (the event loop turns between passes, so commits go on), records
 * the checkpoint once the chunks are durable, and schedules the old
 * generations for deletion.
 */
function startCheckpoint (): void {
  if (walSamples > 0) rotateWal()
  const gens = walsToCheckpoint.splice(0)
  const closing = walsClosing.splice(0)
  const gen = gens[gens.length - 1]!
  const samples = headSamples
  const since = headSince
  headSamples = 0
  headSince = 0
  stats[FlushStat.HEAD_SAMPLES] = 0
  checkpointing = (async () => {
    const started = performance.now()
    await Promise.all(closing)
    // At stop the checkpoint gives up at its next turn: its generations stay, for the next start.
    const checkpointTurn = async (): Promise<void> => {
      const slow = Atomics.load(control, ControlSlot.SLOW_CHECKPOINT_MS)
      await (slow > 0 ? sleep(slow) : turn())
      if (stopping()) {
        walsToCheckpoint.unshift(...gens)
        headSamples += samples
        headSince = since
        throw new CheckpointAbandoned()
      }
    }
    const r = await writeCheckpoint(store, data.dataDir, gens, storeOptions, gen, nextSeriesId - 1, checkpointTurn)
    // Rolled-up blocks this checkpoint wrote into are computed again (recorded before the checkpoint is).
    markDirty(store, r.blocks)
    if (r.last !== undefined) await (durable ? (r.last.flushed ?? r.last) : r.last)
    const recorded = store.meta.put('checkpointGen', gen) as Promise<unknown> & { flushed?: Promise<unknown> }
    await (durable ? (recorded.flushed ?? recorded) : recorded)
    for (const g of gens) walsToDelete.push({ gen: g, at: Date.now() + WAL_GRACE_MS })
    stats[FlushStat.CHECKPOINTS] = stats[FlushStat.CHECKPOINTS]! + 1
    stats[FlushStat.CHECKPOINT_SAMPLES] = stats[FlushStat.CHECKPOINT_SAMPLES]! + r.samples
    stats[FlushStat.LAST_CHECKPOINT_MS] = performance.now() - started
    stats[FlushStat.LAST_CHECKPOINT_AT_MS] = Date.now()
    stats[FlushStat.CHUNKS_WRITTEN] = stats[FlushStat.CHUNKS_WRITTEN]! + r.chunksWritten
    stats[FlushStat.CHUNK_BYTES_WRITTEN] = stats[FlushStat.CHUNK_BYTES_WRITTEN]! + r.bytes
    await applyRetention()
    await rollups(rollupTurn)
  })().catch((err: unknown) => { if (!(err instanceof CheckpointAbandoned)) checkpointFailed = err }).finally(() => { checkpointing = undefined })
}

const rollupsOn = data.rollupRetentionMs[0] > 0 || rollupState(store).block !== null
let lastRollupAt = 0

/**
 * Rollup work (workers/rollup.ts), after each checkpoint and once a minute
 * when idle: blocks completed or made dirty since the last run. It runs as
 * the background job (in place of a checkpoint), giving the event loop a
 * turn between passes.
 */
async function rollups (turnFn: () => Promise<void>): Promise<void> {
  if (!rollupsOn) return
  lastRollupAt = Date.now()
  const started = performance.now()
  const r = await runRollups(store, { retentionMs: data.rollupRetentionMs, oooWindowMs: data.oooWindowMs }, Date.now(), turnFn)
  if (r.last !== undefined) await r.last
  // Catching up on history: the next run comes at once (after a turn for commits), not a minute later.
  if (r.more) lastRollupAt = 0
  stats[FlushStat.ROLLUP_ROWS] = stats[FlushStat.ROLLUP_ROWS]! + r.rows
  const s = rollupState(store)
  stats[FlushStat.ROLLUP_THROUGH_MS] = s.block === null ? 0 : (s.block + 1) * BLOCK_MS
  if (r.blocks + r.days > 0) stats[FlushStat.LAST_ROLLUP_MS] = performance.now() - started
}

function rollupsDue (): boolean {
  return rollupsOn && Date.now() - lastRollupAt >= 60_000
}

/** A rollup run's turn: at stop it is given up (it is redone at the next start). */
async function rollupTurn (): Promise<void> {
  await turn()
  if (stopping()) throw new CheckpointAbandoned()
}

function startRollups (): void {
  checkpointing = rollups(rollupTurn).catch((err: unknown) => { if (!(err instanceof CheckpointAbandoned)) checkpointFailed = err }).finally(() => { checkpointing = undefined })
}

/** Thrown out of a checkpoint given up at stop. */
class CheckpointAbandoned extends Error {}

/** Deletes the blocks past --retention (at most once a minute). */
async function applyRetention (): Promise<void> {
  if (data.retentionMs <= 0 || Date.now() - lastRetentionAt < 60_000) return
  lastRetentionAt = Date.now()
  const r = deleteExpiredBlocks(store, Date.now() - data.retentionMs)
  if (r.last !== undefined) await r.last
  stats[FlushStat.EXPIRED_CHUNKS] = stats[FlushStat.EXPIRED_CHUNKS]! + r.removed
}

/**
 * The WAL may run this far ahead of a checkpoint in progress; past it the
 * flush worker stops draining the rings until the checkpoint is done, so the
 * rings fill and ingest gets 503s (loud, counted in checkpointStallMs) rather
 * than the WAL growing without bound on disk. A checkpoint costs about a
 * third of what ingest costs per sample, so at full load on 2 cores the
 * checkpoints fall behind by about a third of the ingest rate.
 */
const CHECKPOINT_BACKLOG_FACTOR = 3
let stalledSince = 0
let stallLoggedAt = -Infinity

let storeStatsAt = 0

/**
 * Publishes the store's page counts (at most once a second): pages in use
 * are the file's high-water mark; free ones are those no database's tree
 * holds (LMDB's free list, reused before the file grows).
 */
function publishStoreStats (): void {
  const now = Date.now()
  if (now - storeStatsAt < 1000) return
  storeStatsAt = now
  interface TreeStats { treeBranchPageCount: number, treeLeafPageCount: number, overflowPages: number }
  const pages = (st: TreeStats): number => st.treeBranchPageCount + st.treeLeafPageCount + st.overflowPages
  const env = store.env.getStats() as TreeStats & { pageSize: number, lastPageNumber: number, free?: TreeStats }
  let inTrees = pages(env) + (env.free === undefined ? 0 : pages(env.free)) + 2 // the two meta pages
  for (const db of [store.series, store.chunks, store.rollups, store.meta]) inTrees += pages(db.getStats() as TreeStats)
  const used = env.lastPageNumber + 1
  stats[FlushStat.STORE_PAGE_BYTES] = env.pageSize
  stats[FlushStat.STORE_USED_PAGES] = used
  stats[FlushStat.STORE_FREE_PAGES] = Math.max(0, used - inTrees)
}

async function loop (): Promise<void> {
  await applyRetention()
  for (;;) {
    if (checkpointFailed !== undefined) throw checkpointFailed
    deleteOldWals(false)
    publishStoreStats()
    // At the pipeline limit, wait for the oldest commit (this also lets the event loop run lmdb-js).
    if (inFlight.length >= MAX_COMMITS_IN_FLIGHT) { await inFlight[0]; continue }
    const stop = stopping()
    if (!stop && !dirty && checkpointing !== undefined && headSamples >= CHECKPOINT_BACKLOG_FACTOR * data.checkpointSamples) {
      if (stalledSince === 0) stalledSince = performance.now()
      if (stalledSince - stallLoggedAt >= 60_000) { // one line a minute at most
        stallLoggedAt = stalledSince
        parentPort!.postMessage({ type: FlushMessage.WARN, message: 'ingest held back: the WAL is too far ahead of the checkpoint in progress (see checkpointStallMs)', headSamples })
      }
      await Promise.race([checkpointing, doorbell.waitAsync(stopping, 100)])
      continue
    }
    if (stalledSince !== 0) {
      stats[FlushStat.CHECKPOINT_STALL_MS] = stats[FlushStat.CHECKPOINT_STALL_MS]! + performance.now() - stalledSince
      stalledSince = 0
    }
    drain()
    if (dirty) {
      const due = count >= data.flushMaxSamples || count === 0 || stop ||
        performance.now() - firstPendingAt >= data.flushDelayMs
      if (due) {
        const slow = Atomics.load(control, ControlSlot.SLOW_COMMIT_MS)
        if (slow > 0) await sleep(slow)
        // The commit must not grow the WAL file into a region being zero-filled.
        if (prealloc?.mustWait(walEnd(wal), count * SAMPLE_ROW_BYTES) === true) await prealloc.pending
        commit()
        prealloc?.advance(walEnd(wal))
        stats[FlushStat.WAL_ZERO_BYTES] = WalPrealloc.zeroBytes
        // Let lmdb-js start the transaction (it begins writing on the next turn).
        await turn()
        if (checkpointing === undefined && checkpointDue()) startCheckpoint()
        else if (walSamples >= WAL_GENERATION_SAMPLES) rotateWal()
        continue
      }
      await doorbell.waitAsync(hasWork, Math.max(0, data.flushDelayMs - (performance.now() - firstPendingAt)))
      continue
    }
    if (stop) {
      await Promise.all(inFlight)
      await checkpointing
      if (headSamples > 0 && headSamples <= data.stopCheckpointSamples) { startCheckpoint(); await checkpointing }
      // An abandoned checkpoint (or a big WAL) leaves samples for the next start.
      stats[FlushStat.HEAD_SAMPLES] = headSamples
      if (checkpointFailed !== undefined) throw checkpointFailed
      deleteOldWals(true)
      break
    }
    if (checkpointing === undefined && checkpointDue()) { startCheckpoint(); continue }
    if (checkpointing === undefined && rollupsDue()) { startRollups(); continue }
    await doorbell.waitAsync(hasWork, headSamples > 0 ? Math.min(1000, data.checkpointIdleMs) : 1000)
  }
}

stats[FlushStat.REPLAYED_SAMPLES] = replayed
stats[FlushStat.REPLAY_MS] = replayMs
stats[FlushStat.HEAD_SAMPLES] = headSamples
stats[FlushStat.WAL_GENERATION] = wal.gen
parentPort!.postMessage({ type: FlushMessage.READY, series: seriesIds.size, replayed, replayMs, walGen: wal.gen, unfinishedChunks: unfinished.removed })
try {
  await loop()
  await prealloc?.close(walEnd(wal))
  await wal.close()
  await store.close()
  parentPort!.postMessage({ type: FlushMessage.STOPPED, walSamples: headSamples })
} catch (err) {
  parentPort!.postMessage({ type: FlushMessage.FATAL, message: (err as Error).stack ?? String(err) })
  process.exit(1)
}
