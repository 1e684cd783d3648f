/**
 * Shared-memory layouts and message shapes used across ringest's threads.
 * Every Int32/Float64 slot has a name and says which thread writes it.
 *
 * Buffers (all allocated by the main thread, attached by the workers):
 * - one ring per parse worker (native-free-ringbuffer), records below;
 * - CLAIMS: which parse worker owns which ring;
 * - the flush doorbell (native-free-ringbuffer Doorbell);
 * - FLUSH_STATS: the flush worker's counters and recent commit samples;
 * - CONTROL: requests from the main thread to the flush worker.
 */
import type { AggregatePart } from '../src/promql/index.js'

/** Record tags in a parse worker's ring. */
export const RecordKind = {
  /** The producer (re)started: forget its local series ids. Empty payload. */
  RESET: 1,
  /** Defines local series id -> series key. Payload: u32 local id, u32 key byte length, UTF-8 key. */
  SERIES: 2,
  /** Samples. Payload: rows of three float64: local series id, timestamp ms, value. */
  SAMPLES: 3,
} as const

/** Bytes of one sample row in a SAMPLES record. */
export const SAMPLE_ROW_BYTES = 24
/** Samples per SAMPLES record at most (about 96 KiB a record). */
export const SAMPLES_PER_RECORD = 4096

/**
 * Series key: the metric name, then for each label (sorted by name) NUL, name,
 * NUL, value. Names and values never contain NUL (the parsers reject it).
 */
export const SERIES_KEY_SEPARATOR = '\u0000'

/**
 * CLAIMS: Int32Array with one slot per ring. 0 = free; otherwise the
 * threadId of the parse worker that owns the ring. Written by parse workers
 * (compareExchange 0 -> threadId when they start) and by the main thread
 * (back to 0 when Piscina reports the worker destroyed).
 */
export const CLAIM_FREE = 0

/** CONTROL: Int32 slots written by the main thread, read by the flush worker. */
export const ControlSlot = {
  /** 1 = drain every ring, commit, close LMDB and exit. */
  STOP: 0,
  /** Milliseconds the flush worker sleeps before each commit (tests use it to slow the flush; 0 in production). */
  SLOW_COMMIT_MS: 1,
  /** Milliseconds a checkpoint sleeps at each turn (tests use it to keep one running; 0 in production). */
  SLOW_CHECKPOINT_MS: 2,
} as const
export const CONTROL_SLOTS = 4

/** How many recent commits FLUSH_STATS keeps for percentiles. */
export const RECENT_COMMITS = 1024

/**
 * FLUSH_STATS: a Float64Array written only by the flush worker (plain stores;
 * readers tolerate a torn percentile window, every counter is one aligned
 * float64 store, which cannot tear on x86-64/arm64).
 */
export const FlushStat = {
  /** Samples committed to LMDB since start. */
  SAMPLES_COMMITTED: 0,
  /** Write transactions committed since start. */
  COMMITS: 1,
  /** Series created since start. */
  SERIES_CREATED: 2,
  /** Series known (in the index). */
  SERIES_TOTAL: 3,
  /** Date.now() of the last commit, 0 if none. */
  LAST_COMMIT_AT_MS: 4,
  /** Bytes of segment values written since start. */
  BYTES_WRITTEN: 5,
  /** Number of commit samples written into the RECENT arrays (index = count % RECENT_COMMITS). */
  RECENT_COUNT: 6,
  /** Samples dropped because they were malformed in the ring (must stay 0). */
  CORRUPT_RECORDS: 7,
  /** Samples dropped: older than --ooo-window-ms behind their series' newest sample. */
  SAMPLES_TOO_OLD: 8,
  /** Samples in the head (in the WAL, not yet in chunks). */
  HEAD_SAMPLES: 9,
  /** The WAL generation being written. */
  WAL_GENERATION: 10,
  /** Checkpoints since start. */
  CHECKPOINTS: 11,
  /** Samples moved into chunks since start. */
  CHECKPOINT_SAMPLES: 12,
  /** Duration of the last checkpoint in milliseconds. */
  LAST_CHECKPOINT_MS: 13,
  /** Date.now() of the last checkpoint, 0 if none. */
  LAST_CHECKPOINT_AT_MS: 14,
  /** Chunks written (rewritten included) since start. */
  CHUNKS_WRITTEN: 15,
  /** Bytes of chunks written since start. */
  CHUNK_BYTES_WRITTEN: 16,
  /** Samples replayed from the WAL at start. */
  REPLAYED_SAMPLES: 17,
  /** Milliseconds the WAL replay took at start. */
  REPLAY_MS: 18,
  /** Chunks deleted by retention since start. */
  EXPIRED_CHUNKS: 19,
  /** Milliseconds since start the flush worker stopped draining the rings because the WAL was too far ahead of the checkpoints. */
  CHECKPOINT_STALL_MS: 20,
  /** Rollup rows written since start (workers/rollup.ts). */
  ROLLUP_ROWS: 21,
  /** Time (Date.now() ms) before which every block has its 5-minute rollup rows; 0: none yet. */
  ROLLUP_THROUGH_MS: 22,
  /** Duration of the last rollup run that computed rows, in milliseconds. */
  LAST_ROLLUP_MS: 23,
  /** The store's page size, pages in use (the file's high-water mark) and pages of those free for reuse; updated about once a second. */
  STORE_PAGE_BYTES: 24,
  STORE_USED_PAGES: 25,
  STORE_FREE_PAGES: 26,
  /** Sum of all commit latencies since start, in seconds (the histogram's _sum). */
  COMMIT_SECONDS_SUM: 27,
  /** Bytes of zeros written ahead of LMDB's writes into WAL files since start (workers/wal-prealloc.ts). */
  WAL_ZERO_BYTES: 28,
  /** Start of COMMIT_BUCKETS.length + 1 cumulative counts: commits that took at most each bound (the last: all). */
  COMMIT_BUCKET_COUNTS: 32,
  /** Start of RECENT_COMMITS commit latencies in milliseconds. */
  RECENT_LATENCY: 64,
  /** Start of RECENT_COMMITS batch sizes in samples. */
  RECENT_BATCH: 64 + RECENT_COMMITS,
} as const
export const FLUSH_STATS_SLOTS = 64 + 2 * RECENT_COMMITS
/** Upper bounds in seconds of the commit latency histogram's buckets (ringest_commit_duration_seconds). */
export const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

/** What the main thread gives every parse worker (Piscina workerData). */
export interface ParseWorkerData {
  rings: SharedArrayBuffer[]
  claims: SharedArrayBuffer
  doorbell: SharedArrayBuffer
  maxBodyBytes: number
  admissionWaitMs: number
  /**
   * Float64 per ring: milliseconds its parse worker spent in tasks since start. Piscina's
   * workers wait for tasks in Atomics.wait, which the event-loop utilization counts as busy,
   * so a parse worker's utilization is measured from this instead.
   */
  busy: SharedArrayBuffer
  /** The body lanes (LANES below): per lane an inbox ring (main -> parse worker) and an outbox ring (parse worker -> main). */
  inboxes: SharedArrayBuffer[]
  outboxes: SharedArrayBuffer[]
  /** Int32 LANE_SLOTS per lane (LaneSlot). */
  lanes: SharedArrayBuffer
}

/**
 * Body lanes: how small bodies reach the parse workers without a Piscina
 * task each. The main thread copies a body into a lane's inbox (a
 * native-free-ringbuffer ring: the main thread produces, one parse worker at
 * a time consumes) and, if no worker is draining that lane, posts one
 * Piscina task `{ lane }`. The worker that runs it parses the lane's bodies
 * as they come, writes each body's outcome into the lane's outbox (the
 * worker produces, the main thread consumes), and returns once the inbox has
 * stayed empty for LANE_LINGER_MS or after LANE_MAX_DRAIN_MS (so Piscina
 * tasks of big bodies, which are transferred, not copied, get a worker).
 * Outcomes come out of a lane in the order its bodies went in.
 *
 * LANES: Int32Array, LANE_SLOTS per lane. STATE is written by the main
 * thread (IDLE -> SCHEDULED when it posts a task) and by the draining worker
 * (SCHEDULED -> DRAINING at the start, DRAINING -> IDLE at the end), always
 * with compareExchange or after one, so at most one worker drains a lane.
 */
export const LaneSlot = {
  STATE: 0,
} as const
export const LANE_SLOTS = 4
export const LaneState = {
  IDLE: 0,
  SCHEDULED: 1,
  DRAINING: 2,
} as const
/** A draining task waits this long for another body before it returns its worker to Piscina. */
export const LANE_LINGER_MS = 2
/** A draining task returns after this long even if bodies keep coming (the next task resumes the lane). */
export const LANE_MAX_DRAIN_MS = 20

/**
 * Inbox record (tag = INBOX_TAG): float64 nowMs, u32 body bytes, u8 format
 * (BODY_FORMATS index), u8 gzip, u8 precision bytes (255: none), u8 unused,
 * u16 db bytes (0xffff: none), u16 unused, then the precision and db as
 * UTF-8, then the body.
 */
export const INBOX_TAG = 1
export const INBOX_HEADER_BYTES = 20
export const NO_PRECISION = 255
export const NO_DB = 0xffff
/**
 * Outbox record (tag = the BodyStatus): float64 end (-1: nothing published),
 * float64 start, i32 ring, i32 accepted, i32 rejected, i32 skipped, u32
 * bytes of the JSON that follows (`{ errors, detail }`; 0: no errors, no detail).
 */
export const OUTBOX_HEADER_BYTES = 36

/** What the main thread gives the flush worker. */
export interface FlushWorkerData {
  rings: SharedArrayBuffer[]
  doorbell: SharedArrayBuffer
  control: SharedArrayBuffer
  stats: SharedArrayBuffer
  dataDir: string
  mapSizeBytes: number
  /** Page size of a new store (--store-page-bytes). */
  storePageBytes: number
  ack: 'durable' | 'committed' | 'received'
  flushMaxSamples: number
  flushDelayMs: number
  checkpointSamples: number
  checkpointIdleMs: number
  /** At stop, a WAL of more samples is left for the next start (src/engine.ts). */
  stopCheckpointSamples: number
  retentionMs: number
  oooWindowMs: number
  /** One too-old log per ring (TooOldLog), written by the flush worker, read by the main thread. */
  tooOld: SharedArrayBuffer[]
  /** Retention of the 5-minute and 1-hour rollups (0: off). */
  rollupRetentionMs: [number, number]
}

/**
 * A ring's too-old log (Int32Array): which records held samples further
 * than --ooo-window-ms behind their series' newest sample, which the flush
 * worker drops. Written by the flush worker only (entries, then HEAD with
 * Atomics.store), read by the main thread once a body's durable watermark
 * covers it, so the answer can refuse those samples instead of
 * acknowledging them (src/engine.ts tooOldIn). Entries are in ring order;
 * entry i is at ENTRIES + 2 * (i % TOO_OLD_LOG_ENTRIES).
 */
export const TooOldLog = {
  /** Entries written since start (free-running). */
  HEAD: 0,
  /** First entry: [record end (free-running ring index, as u32), samples dropped from that record]. */
  ENTRIES: 2,
} as const
export const TOO_OLD_LOG_ENTRIES = 4096
export const TOO_OLD_LOG_BYTES = 4 * (TooOldLog.ENTRIES + 2 * TOO_OLD_LOG_ENTRIES)

/** Messages from the flush worker to the main thread. */
export const FlushMessage = {
  READY: 'ready',
  FATAL: 'fatal',
  STOPPED: 'stopped',
  /** Something an operator should see in the log (the main thread logs it at warn, once per cause). */
  WARN: 'warn',
} as const

/** Body formats a parse task can carry. */
export const BodyFormat = {
  LINE_PROTOCOL: 'lp',
  JSON: 'json',
  NDJSON: 'ndjson',
  /** VictoriaMetrics' export lines (POST /api/v1/import). */
  IMPORT: 'import',
} as const
export type BodyFormat = typeof BodyFormat[keyof typeof BodyFormat]
/** Body formats by their code in an inbox record. */
export const BODY_FORMATS: readonly BodyFormat[] = [BodyFormat.LINE_PROTOCOL, BodyFormat.JSON, BodyFormat.NDJSON, BodyFormat.IMPORT]

/** One request body inside a parse task. */
export interface BodyJob {
  body: Uint8Array
  format: BodyFormat
  gzip: boolean
  precision: string | undefined
  db: string | undefined
  nowMs: number
}

/** Outcome codes of one body, decided by the parse worker. */
export const BodyStatus = {
  OK: 0,
  /** Some or all lines rejected (valid ones are in the ring). */
  PARTIAL: 1,
  /** Decompressed body over maxBodyBytes. */
  TOO_LARGE: 2,
  /** The ring stayed full past the admission wait: nothing of the body was published. */
  OVERLOAD: 3,
  /** Corrupt gzip stream. */
  BAD_ENCODING: 4,
  /** Unknown precision value. */
  BAD_PRECISION: 5,
} as const
export type BodyStatus = typeof BodyStatus[keyof typeof BodyStatus]

export interface BodyOutcome {
  status: BodyStatus
  accepted: number
  rejected: number
  skipped: number
  errors: Array<{ line: number, message: string }>
  /** Free-running ring index just past the body's last record (-1 if nothing was published). */
  end: number
  /** Free-running ring index where the body's first record begins. */
  start: number
  /** Human-readable detail for non-parse failures. */
  detail?: string
}

export interface TaskOutcome {
  ring: number
  bodies: BodyOutcome[]
}

// --- query workers (workers/query.ts) ---

/** sync must match the flush worker's: lmdb-js shares one environment per process and refuses a different setting. */
export interface QueryWorkerData {
  dataDir: string
  mapSizeBytes: number
  sync: boolean
  /** The flush worker's FLUSH_STATS (read only): a query slows itself down while commits are happening (workers/query.ts). */
  flushStats: SharedArrayBuffer
  /** --query-cpu-percent: the share of a core a query may use while commits are happening. */
  cpuPercent: number
  /** --retention: raw samples older than this are gone, and only rollups can answer for that time. */
  retentionMs: number
}

export interface QueryLimitsData {
  maxSeries: number
  maxSamples: number
  deadlineMs: number
}

/** A range query evaluated in shards: this task takes the series whose id hashes to `index` of `count` (workers/query.ts shardOf). */
export interface QueryShard { index: number, count: number }

export type QueryTask =
  | { kind: 'range', expr: string, startMs: number, endMs: number, stepMs: number, maxSourceResolutionMs?: number, shard?: QueryShard, limits: QueryLimitsData }
  | { kind: 'merge', parts: AggregatePart[], startMs: number, endMs: number, stepMs: number, limits: QueryLimitsData }
  | { kind: 'instant', expr: string, timeMs: number, maxSourceResolutionMs?: number, limits: QueryLimitsData }
  | { kind: 'series', match: string[], startMs?: number, endMs?: number, limits: QueryLimitsData }
  | { kind: 'labels', match: string[], startMs?: number, endMs?: number, limits: QueryLimitsData }
  | { kind: 'labelValues', name: string, match: string[], startMs?: number, endMs?: number, limits: QueryLimitsData }
  | { kind: 'export', match: string[], startMs: number, endMs: number, limits: QueryLimitsData }

/** What a shard's task returns: its part of the aggregation, or the failure. */
export type QueryPartOutcome =
  | { ok: true, part: AggregatePart, series: number, samples: number }
  | Extract<QueryOutcome, { ok: false }>

/**
 * A commit in the last this many milliseconds means ingest is running:
 * queries then pace themselves (workers/query.ts) and are not split over
 * several query workers (src/query.ts).
 */
export const INGEST_ACTIVE_MS = 250

/** Whether ingest is running: a commit in the last INGEST_ACTIVE_MS, read from the flush worker's stats (FLUSH_STATS). */
export const ingestActive = (flushStats: Float64Array): boolean => Date.now() - flushStats[FlushStat.LAST_COMMIT_AT_MS]! < INGEST_ACTIVE_MS

export type QueryOutcome =
  | { ok: true, body: Uint8Array, series: number, samples: number }
  | { ok: false, errorType: 'bad_data' | 'execution' | 'timeout' | 'unavailable', error: string, limit?: string }
