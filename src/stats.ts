/**
 * Counters the main thread keeps itself (requests, samples, rejections per
 * endpoint and reason) and the views it renders: /stats (JSON) and /metrics
 * (Prometheus text). The flush worker's figures come from its shared
 * FLUSH_STATS buffer and the rings' from their headers: no message round trip
 * per scrape.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { createHistogram, performance, PerformanceObserver, type EventLoopUtilization, type RecordableHistogram } from 'node:perf_hooks'
import type { Worker } from 'node:worker_threads'
import { listWalGens, walDir } from '../workers/storage.js'
import { COMMIT_BUCKETS, FlushStat, RECENT_COMMITS } from '../workers/shared.js'
import type { Engine, ThreadProbe } from './engine.js'

export interface EndpointCounters {
  requests: Record<string, number>
  samplesAccepted: number
  linesRejected: number
  fieldsSkipped: number
  rejectedRequests: Record<string, number>
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))
  return sorted[i]!
}

/** Seconds of history kept for windowed rates (one reading a second). */
const HISTORY_SECONDS = 60

export interface Percentiles { count: number, p50: number, p90: number, p99: number, p999: number, max: number }

/**
 * Percentiles over a recent window, from HDR histograms (node:perf_hooks
 * createHistogram: HdrHistogram_c underneath, 3 significant digits, constant
 * memory whatever the count): the window being filled and the one before,
 * so a reading always covers between one and two windows. Recorded in
 * microseconds, reported in milliseconds.
 */
export class RecentHistogram {
  private cur: RecordableHistogram = createHistogram()
  private prev: RecordableHistogram = createHistogram()
  private since = performance.now()
  constructor (private readonly windowMs: number) {}

  private rotate (): void {
    const now = performance.now()
    if (now - this.since < this.windowMs) return
    const old = this.prev
    old.reset()
    this.prev = this.cur
    this.cur = old
    if (now - this.since >= 2 * this.windowMs) this.prev.reset() // idle for two windows: nothing recent
    this.since = now
  }

  record (ms: number): void {
    this.rotate()
    this.cur.record(Math.max(1, Math.round(ms * 1000)))
  }

  summary (): Percentiles {
    this.rotate()
    const h = createHistogram()
    h.add(this.prev)
    h.add(this.cur)
    if (h.count === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 }
    const ms = (us: number): number => us / 1000
    return { count: h.count, p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), p999: ms(h.percentile(99.9)), max: ms(h.max) }
  }
}

/** One reading a second of the counters rates are computed from. */
interface Reading { at: number, samples: number, requests: number, committed: number, commits: number, series: number }

/** The endpoints requests/s counts (the write endpoints' names in the stats). */
const WRITE_ENDPOINTS = ['/write', '/api/v2/write', '/api/v1/ingest', '/api/v1/import']

/** Upper bounds in seconds of the write latency histogram (ringest_write_request_duration_seconds). */
const WRITE_BUCKETS = COMMIT_BUCKETS

/** Prometheus histogram lines from cumulative bucket counts (counts[at + i] for bounds[i], counts[at + bounds.length] for +Inf). */
function histogram (out: string[], name: string, bounds: readonly number[], counts: ArrayLike<number>, at: number, sum: number): void {
  bounds.forEach((b, i) => out.push(`${name}_bucket{le="${b}"} ${counts[at + i]}`))
  const all = counts[at + bounds.length]!
  out.push(`${name}_bucket{le="+Inf"} ${all}`, `${name}_sum ${sum}`, `${name}_count ${all}`)
}

/** The query service's counters (src/query.ts QueryService.counters). */
export interface QueryCounters { running: number, queued: number, completed: number, failed: number, timedOut: number, split: number }

export class Stats {
  readonly startedAt = Date.now()
  /** The version reported in /metrics' ringest_build_info (set by the server). */
  version = 'unknown'
  readonly endpoints: Record<string, EndpointCounters> = {}
  inflightRequests = 0
  inflightBytes = 0
  /** Counter readings, one a second, oldest first (HISTORY_SECONDS + 1 of them). */
  private readonly history: Reading[] = []
  private timer: NodeJS.Timeout | undefined
  /** Latency of write requests, headers to answer. */
  readonly writeLatencies = new RecentHistogram(10_000)
  private readonly writeBuckets = new Float64Array(WRITE_BUCKETS.length + 1)
  private writeSecondsSum = 0
  /** Main-thread garbage collection pauses. */
  private readonly gcPauses = new RecentHistogram(60_000)
  private gcCount = 0
  private gcSeconds = 0
  private gcObserver: PerformanceObserver | undefined
  /** Event-loop utilization of each thread over the last second. */
  private utilization: Array<{ name: string, utilization: number }> = []
  private readonly eluBefore = new Map<Worker | 'main', EventLoopUtilization>()

  /**
   * Starts reading the counters once a second (windowed rates, new series per
   * minute, each thread's event-loop utilization) and observing the main
   * thread's GC pauses. Worker threads' utilization is read from the main
   * thread (worker.performance.eventLoopUtilization()): no message per read.
   */
  watch (engine: Engine, threads: () => ThreadProbe[] = () => engine.threads()): void {
    const tick = (): void => {
      this.history.push(this.reading(engine))
      if (this.history.length > HISTORY_SECONDS + 1) this.history.shift()
      const util: Array<{ name: string, utilization: number }> = [{ name: 'main', utilization: this.elu('main', () => performance.eventLoopUtilization()) }]
      for (const t of threads()) {
        util.push({ name: t.name, utilization: 'worker' in t ? this.elu(t.worker, () => t.worker.performance.eventLoopUtilization()) : this.busy(t.name, t.busyMs()) })
      }
      this.utilization = util
    }
    tick()
    this.timer = setInterval(tick, 1000).unref()
    this.gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        this.gcPauses.record(e.duration)
        this.gcCount++
        this.gcSeconds += e.duration / 1000
      }
    })
    this.gcObserver.observe({ entryTypes: ['gc'] })
  }

  unwatch (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.gcObserver?.disconnect()
  }

  private readonly busyBefore = new Map<string, { at: number, busyMs: number }>()

  /** The share of the wall time since the last call spent busy, from a busy-milliseconds counter. */
  private busy (name: string, busyMs: number): number {
    const now = { at: performance.now(), busyMs }
    const before = this.busyBefore.get(name)
    this.busyBefore.set(name, now)
    if (before === undefined || now.at <= before.at) return 0
    return Math.min(1, Math.max(0, (now.busyMs - before.busyMs) / (now.at - before.at)))
  }

  /** The share of the time since the last call that `key`'s event loop was busy (0 on the first call or a thread that is gone). */
  private elu (key: Worker | 'main', read: () => EventLoopUtilization): number {
    let now: EventLoopUtilization
    try { now = read() } catch { return 0 }
    const before = this.eluBefore.get(key)
    this.eluBefore.set(key, now)
    if (before === undefined) return 0
    const idle = now.idle - before.idle
    const active = now.active - before.active
    return idle + active > 0 ? active / (idle + active) : 0
  }

  private reading (engine: Engine): Reading {
    const f = engine.flushStats
    let samples = 0
    let requests = 0
    for (const e of Object.values(this.endpoints)) {
      samples += e.samplesAccepted
    }
    for (const name of WRITE_ENDPOINTS) for (const n of Object.values(this.endpoints[name]?.requests ?? {})) requests += n
    return { at: performance.now(), samples, requests, committed: f[FlushStat.SAMPLES_COMMITTED]!, commits: f[FlushStat.COMMITS]!, series: f[FlushStat.SERIES_CREATED]! }
  }

  /** Per-second rate of `key` over about the last `seconds` (since start if younger): now against the reading that old. */
  private rate (now: Reading, key: Exclude<keyof Reading, 'at'>, seconds: number): number {
    let then: Reading | undefined
    for (let i = this.history.length - 1; i >= 0; i--) {
      then = this.history[i]
      if (now.at - then!.at >= seconds * 1000 - 500) break
    }
    if (then === undefined || now.at - then.at <= 0) return 0
    return (now[key] - then[key]) / ((now.at - then.at) / 1000)
  }

  private rates (now: Reading, key: Exclude<keyof Reading, 'at'>): Record<'1s' | '10s' | '1m', number> {
    return { '1s': this.rate(now, key, 1), '10s': this.rate(now, key, 10), '1m': this.rate(now, key, 60) }
  }

  /** Records the latency of one answered write request. */
  writeLatency (ms: number): void {
    this.writeLatencies.record(ms)
    const sec = ms / 1000
    this.writeSecondsSum += sec
    for (let b = WRITE_BUCKETS.length; b >= 0 && (b === WRITE_BUCKETS.length || sec <= WRITE_BUCKETS[b]!); b--) this.writeBuckets[b]!++
  }

  /**
   * Series created in the last minute (since start if younger): the counter
   * now minus its reading about 60 s ago.
   */
  seriesCreatedLastMinute (engine: Engine): number {
    const now = engine.flushStats[FlushStat.SERIES_CREATED]!
    const oldest = this.history[0]
    return oldest === undefined ? now : now - oldest.series
  }

  endpoint (name: string): EndpointCounters {
    let e = this.endpoints[name]
    if (e === undefined) {
      e = { requests: {}, samplesAccepted: 0, linesRejected: 0, fieldsSkipped: 0, rejectedRequests: {} }
      this.endpoints[name] = e
    }
    return e
  }

  request (name: string, status: number): void {
    const e = this.endpoint(name)
    e.requests[status] = (e.requests[status] ?? 0) + 1
  }

  rejected (name: string, reason: string): void {
    const e = this.endpoint(name)
    e.rejectedRequests[reason] = (e.rejectedRequests[reason] ?? 0) + 1
  }

  snapshot (engine: Engine, dataDir: string, ack: string): Record<string, unknown> {
    const f = engine.flushStats
    const n = Math.min(f[FlushStat.RECENT_COUNT]!, RECENT_COMMITS)
    const lat: number[] = []
    const batch: number[] = []
    for (let i = 0; i < n; i++) { lat.push(f[FlushStat.RECENT_LATENCY + i]!); batch.push(f[FlushStat.RECENT_BATCH + i]!) }
    lat.sort((a, b) => a - b)
    batch.sort((a, b) => a - b)
    let lmdbFileBytes = 0
    try { lmdbFileBytes = statSync(join(dataDir, 'data.mdb')).blocks * 512 } catch { /* not created yet */ }
    let walBytes = 0
    for (const gen of listWalGens(dataDir)) {
      try { walBytes += statSync(join(walDir(dataDir, gen), 'data.mdb')).blocks * 512 } catch { /* removed meanwhile */ }
    }
    const lastCheckpoint = f[FlushStat.LAST_CHECKPOINT_AT_MS]!
    const lastCommit = f[FlushStat.LAST_COMMIT_AT_MS]!
    const now = this.reading(engine)
    const mem = process.memoryUsage()
    const pageBytes = f[FlushStat.STORE_PAGE_BYTES]!
    return {
      uptimeSeconds: (Date.now() - this.startedAt) / 1000,
      ack,
      ingest: {
        samplesPerSecond: this.rates(now, 'samples'),
        requestsPerSecond: this.rates(now, 'requests'),
        requestLatencyMs: this.writeLatencies.summary(),
      },
      threads: this.utilization,
      inflight: { requests: this.inflightRequests, bytes: this.inflightBytes, awaitingCommit: engine.watcher.pending(), parseQueue: engine.waitingTasks },
      endpoints: this.endpoints,
      rings: engine.rings.map((r, i) => ({ ring: i, ...r.stats() })),
      lanes: engine.lanes.map((l) => ({ lane: l.index, bodies: l.bodies, waiting: l.queued, inboxUsed: l.inbox.used(), inboxCapacity: l.inbox.capacity, drainTasks: l.drainTasks })),
      flush: {
        samplesCommitted: f[FlushStat.SAMPLES_COMMITTED],
        commits: f[FlushStat.COMMITS],
        secondsSinceLastCommit: lastCommit === 0 ? null : (Date.now() - lastCommit) / 1000,
        recentCommits: n,
        commitsPerSecond: this.rates(now, 'commits'),
        samplesPerSecond: this.rates(now, 'committed'),
        commitLatencyMs: { p50: percentile(lat, 0.5), p90: percentile(lat, 0.9), p99: percentile(lat, 0.99), max: lat[lat.length - 1] ?? 0 },
        batchSamples: { p50: percentile(batch, 0.5), p90: percentile(batch, 0.9), p99: percentile(batch, 0.99), max: batch[batch.length - 1] ?? 0 },
        corruptRecords: f[FlushStat.CORRUPT_RECORDS],
      },
      storage: {
        lmdbFileBytes,
        pageBytes,
        usedPages: f[FlushStat.STORE_USED_PAGES],
        freePages: f[FlushStat.STORE_FREE_PAGES],
        walBytes,
        walGeneration: f[FlushStat.WAL_GENERATION],
        walZeroBytes: f[FlushStat.WAL_ZERO_BYTES],
        segmentBytesWritten: f[FlushStat.BYTES_WRITTEN],
        headSamples: f[FlushStat.HEAD_SAMPLES],
        series: f[FlushStat.SERIES_TOTAL],
        seriesCreated: f[FlushStat.SERIES_CREATED],
        seriesCreatedLastMinute: this.seriesCreatedLastMinute(engine),
        samplesTooOld: f[FlushStat.SAMPLES_TOO_OLD],
        checkpoints: f[FlushStat.CHECKPOINTS],
        checkpointSamples: f[FlushStat.CHECKPOINT_SAMPLES],
        lastCheckpointMs: f[FlushStat.LAST_CHECKPOINT_MS],
        secondsSinceLastCheckpoint: lastCheckpoint === 0 ? null : (Date.now() - lastCheckpoint) / 1000,
        chunksWritten: f[FlushStat.CHUNKS_WRITTEN],
        chunkBytesWritten: f[FlushStat.CHUNK_BYTES_WRITTEN],
        chunksExpired: f[FlushStat.EXPIRED_CHUNKS],
        checkpointStallMs: f[FlushStat.CHECKPOINT_STALL_MS],
        rollupRowsWritten: f[FlushStat.ROLLUP_ROWS],
        rollupsThrough: f[FlushStat.ROLLUP_THROUGH_MS]! === 0 ? null : new Date(f[FlushStat.ROLLUP_THROUGH_MS]!).toISOString(),
        lastRollupMs: f[FlushStat.LAST_ROLLUP_MS],
        replayedSamples: f[FlushStat.REPLAYED_SAMPLES],
        replayMs: f[FlushStat.REPLAY_MS],
      },
      process: {
        pid: process.pid,
        nodeVersion: process.version,
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        heapTotalBytes: mem.heapTotal,
        externalBytes: mem.external,
        arrayBuffersBytes: mem.arrayBuffers,
        gcPauseMs: this.gcPauses.summary(),
        gcPausesTotal: this.gcCount,
        gcPauseSecondsTotal: this.gcSeconds,
      },
    }
  }

  metrics (engine: Engine, dataDir: string, queries?: QueryCounters): string {
    const s = this.snapshot(engine, dataDir, '') as { storage: { lmdbFileBytes: number, walBytes: number, series: number }, flush: { commitLatencyMs: Record<string, number> } }
    const f = engine.flushStats
    const out: string[] = []
    const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
    const family = (name: string, type: string, help: string): void => { out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`) }
    family('ringest_samples_ingested_total', 'counter', 'Samples accepted and acknowledged, by endpoint.')
    for (const [ep, c] of Object.entries(this.endpoints)) out.push(`ringest_samples_ingested_total{endpoint="${esc(ep)}"} ${c.samplesAccepted}`)
    family('ringest_lines_rejected_total', 'counter', 'Lines or JSON entries rejected by the parsers, by endpoint.')
    for (const [ep, c] of Object.entries(this.endpoints)) out.push(`ringest_lines_rejected_total{endpoint="${esc(ep)}"} ${c.linesRejected}`)
    family('ringest_requests_total', 'counter', 'HTTP requests answered, by endpoint and status code.')
    for (const [ep, c] of Object.entries(this.endpoints)) {
      for (const [code, v] of Object.entries(c.requests)) out.push(`ringest_requests_total{endpoint="${esc(ep)}",code="${code}"} ${v}`)
    }
    family('ringest_requests_rejected_total', 'counter', 'Requests refused, by endpoint and reason.')
    for (const [ep, c] of Object.entries(this.endpoints)) {
      for (const [reason, v] of Object.entries(c.rejectedRequests)) out.push(`ringest_requests_rejected_total{endpoint="${esc(ep)}",reason="${esc(reason)}"} ${v}`)
    }
    family('ringest_samples_committed_total', 'counter', 'Samples committed to LMDB by the flush worker.')
    out.push(`ringest_samples_committed_total ${f[FlushStat.SAMPLES_COMMITTED]}`)
    family('ringest_commits_total', 'counter', 'LMDB write transactions committed by the flush worker.')
    out.push(`ringest_commits_total ${f[FlushStat.COMMITS]}`)
    family('ringest_ring_used_bytes', 'gauge', 'Bytes in use in each parse worker ring.')
    engine.rings.forEach((r, i) => out.push(`ringest_ring_used_bytes{ring="${i}"} ${r.used()}`))
    family('ringest_ring_capacity_bytes', 'gauge', 'Capacity of each parse worker ring.')
    engine.rings.forEach((r, i) => out.push(`ringest_ring_capacity_bytes{ring="${i}"} ${r.capacity}`))
    family('ringest_inflight_requests', 'gauge', 'Requests being handled.')
    out.push(`ringest_inflight_requests ${this.inflightRequests}`)
    family('ringest_lmdb_file_bytes', 'gauge', 'Allocated size of the LMDB data file.')
    out.push(`ringest_lmdb_file_bytes ${s.storage.lmdbFileBytes}`)
    family('ringest_wal_bytes', 'gauge', 'Allocated size of the WAL generations not yet deleted.')
    out.push(`ringest_wal_bytes ${s.storage.walBytes}`)
    family('ringest_head_samples', 'gauge', 'Samples in the WAL not yet checkpointed into chunks.')
    out.push(`ringest_head_samples ${f[FlushStat.HEAD_SAMPLES]}`)
    family('ringest_checkpoints_total', 'counter', 'Checkpoints (WAL into chunks) since start.')
    out.push(`ringest_checkpoints_total ${f[FlushStat.CHECKPOINTS]}`)
    family('ringest_checkpoint_stall_seconds_total', 'counter', 'Time ingest was held back (rings not drained) because the WAL was --checkpoint-samples x 3 ahead of the checkpoints.')
    out.push(`ringest_checkpoint_stall_seconds_total ${f[FlushStat.CHECKPOINT_STALL_MS]! / 1000}`)
    family('ringest_samples_dropped_total', 'counter', 'Samples of admitted requests not stored, by reason (too_old: behind --ooo-window-ms; refused in the answer, ERR_TOO_OLD, except with --ack received).')
    out.push(`ringest_samples_dropped_total{reason="too_old"} ${f[FlushStat.SAMPLES_TOO_OLD]}`)
    family('ringest_rollup_rows_written_total', 'counter', 'Rollup rows (one series, one 2-hour block or day) written since start.')
    out.push(`ringest_rollup_rows_written_total ${f[FlushStat.ROLLUP_ROWS]}`)
    family('ringest_rollup_lag_seconds', 'gauge', 'How far behind now the 5-minute rollups are complete (0 when rollups are off or none is done yet); above 2 h plus --ooo-window-ms means they are falling behind.')
    out.push(`ringest_rollup_lag_seconds ${f[FlushStat.ROLLUP_THROUGH_MS]! === 0 ? 0 : (Date.now() - f[FlushStat.ROLLUP_THROUGH_MS]!) / 1000}`)
    family('ringest_series', 'gauge', 'Series in the index.')
    out.push(`ringest_series ${s.storage.series}`)
    family('ringest_series_created_total', 'counter', 'Series created since start (new series per minute: rate of this, or seriesCreatedLastMinute in /stats).')
    out.push(`ringest_series_created_total ${f[FlushStat.SERIES_CREATED]}`)
    family('ringest_commit_latency_p99_seconds', 'gauge', 'p99 of the recent LMDB commit latencies (last 1024 commits).')
    out.push(`ringest_commit_latency_p99_seconds ${(s.flush.commitLatencyMs.p99 ?? 0) / 1000}`)
    family('ringest_write_request_duration_seconds', 'histogram', 'Write requests, from their headers to the answer (body arrival, parse, durable commit).')
    histogram(out, 'ringest_write_request_duration_seconds', WRITE_BUCKETS, this.writeBuckets, 0, this.writeSecondsSum)
    family('ringest_commit_duration_seconds', 'histogram', 'LMDB group commits of the flush worker, from start to durable (fsync done with --ack durable).')
    histogram(out, 'ringest_commit_duration_seconds', COMMIT_BUCKETS, f, FlushStat.COMMIT_BUCKET_COUNTS, f[FlushStat.COMMIT_SECONDS_SUM]!)
    family('ringest_ring_high_water_bytes', 'gauge', 'Most bytes ever in use in each parse worker ring.')
    engine.rings.forEach((r, i) => out.push(`ringest_ring_high_water_bytes{ring="${i}"} ${r.stats().highWater}`))
    family('ringest_ring_full_total', 'counter', 'Times a parse worker found its ring full.')
    engine.rings.forEach((r, i) => out.push(`ringest_ring_full_total{ring="${i}"} ${r.stats().fullCount}`))
    family('ringest_lane_bodies_total', 'counter', 'Request bodies that went to the parse workers through each body lane (bodies up to 64 KiB).')
    for (const l of engine.lanes) out.push(`ringest_lane_bodies_total{lane="${l.index}"} ${l.bodies}`)
    family('ringest_lane_waiting_bodies', 'gauge', 'Bodies in each lane whose outcome has not come back from the parse worker.')
    for (const l of engine.lanes) out.push(`ringest_lane_waiting_bodies{lane="${l.index}"} ${l.queued}`)
    family('ringest_lane_inbox_used_bytes', 'gauge', 'Bytes of bodies not yet parsed in each lane inbox.')
    for (const l of engine.lanes) out.push(`ringest_lane_inbox_used_bytes{lane="${l.index}"} ${l.inbox.used()}`)
    family('ringest_lane_drain_tasks_total', 'counter', 'Piscina tasks that drained each lane.')
    for (const l of engine.lanes) out.push(`ringest_lane_drain_tasks_total{lane="${l.index}"} ${l.drainTasks}`)
    family('ringest_thread_utilization_ratio', 'gauge', 'Event-loop utilization of each thread over the last second (0 to 1).')
    for (const t of this.utilization) out.push(`ringest_thread_utilization_ratio{thread="${esc(t.name)}"} ${t.utilization}`)
    family('ringest_store_pages', 'gauge', 'LMDB store pages: used (the file\'s high-water mark) and free (of those, reusable).')
    out.push(`ringest_store_pages{state="used"} ${f[FlushStat.STORE_USED_PAGES]}`, `ringest_store_pages{state="free"} ${f[FlushStat.STORE_FREE_PAGES]}`)
    family('ringest_store_page_size_bytes', 'gauge', 'LMDB store page size.')
    out.push(`ringest_store_page_size_bytes ${f[FlushStat.STORE_PAGE_BYTES]}`)
    family('ringest_gc_pauses_total', 'counter', 'Garbage collection pauses of the main thread.')
    out.push(`ringest_gc_pauses_total ${this.gcCount}`)
    family('ringest_gc_pause_seconds_total', 'counter', 'Time the main thread spent paused in garbage collection.')
    out.push(`ringest_gc_pause_seconds_total ${this.gcSeconds}`)
    family('ringest_process_heap_bytes', 'gauge', 'V8 heap of the main thread: used and total.')
    const mem = process.memoryUsage()
    out.push(`ringest_process_heap_bytes{state="used"} ${mem.heapUsed}`, `ringest_process_heap_bytes{state="total"} ${mem.heapTotal}`)
    family('ringest_build_info', 'gauge', 'Always 1; the version and runtime as labels.')
    out.push(`ringest_build_info{version="${esc(this.version)}",node="${esc(process.version)}"} 1`)
    family('ringest_process_resident_memory_bytes', 'gauge', 'Resident set size.')
    out.push(`ringest_process_resident_memory_bytes ${process.memoryUsage.rss()}`)
    family('ringest_uptime_seconds', 'gauge', 'Seconds since start.')
    out.push(`ringest_uptime_seconds ${(Date.now() - this.startedAt) / 1000}`)
    if (queries !== undefined) {
      family('ringest_queries_total', 'counter', 'Query API and export tasks finished, by outcome (completed, failed: errors and limits, timed_out).')
      out.push(`ringest_queries_total{outcome="completed"} ${queries.completed}`, `ringest_queries_total{outcome="failed"} ${queries.failed}`, `ringest_queries_total{outcome="timed_out"} ${queries.timedOut}`)
      family('ringest_queries_split_total', 'counter', 'Range queries split over the query workers (ingest idle, a shape that splits).')
      out.push(`ringest_queries_split_total ${queries.split}`)
      family('ringest_queries_running', 'gauge', 'Queries being evaluated now.')
      out.push(`ringest_queries_running ${queries.running}`)
      family('ringest_queries_queued', 'gauge', 'Query tasks waiting for a query worker.')
      out.push(`ringest_queries_queued ${queries.queued}`)
    }
    return out.join('\n') + '\n'
  }
}
