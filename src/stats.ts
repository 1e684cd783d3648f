/**
 * Counters the main thread keeps itself (requests, samples, rejections per
 * endpoint and reason) and the views it renders: /stats (JSON) and /metrics
 * (Prometheus text). The flush worker's figures come from its shared
 * FLUSH_STATS buffer and the rings' from their headers: no message round trip
 * per scrape.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { listWalGens, walDir } from '../workers/storage.js'
import { FlushStat, RECENT_COMMITS } from '../workers/shared.js'
import type { Engine } from './engine.js'

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

export class Stats {
  readonly startedAt = Date.now()
  readonly endpoints: Record<string, EndpointCounters> = {}
  inflightRequests = 0
  inflightBytes = 0
  /** The series-created counter, read once a second, oldest first. */
  private readonly seriesHistory: number[] = []
  private timer: NodeJS.Timeout | undefined

  /** Starts reading the engine's counters once a second (for the per-minute figures). */
  watch (engine: Engine): void {
    const read = (): void => {
      this.seriesHistory.push(engine.flushStats[FlushStat.SERIES_CREATED]!)
      if (this.seriesHistory.length > HISTORY_SECONDS + 1) this.seriesHistory.shift()
    }
    read()
    this.timer = setInterval(read, 1000).unref()
  }

  unwatch (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
  }

  /**
   * Series created in the last minute (since start if younger): the counter
   * now minus its reading about 60 s ago.
   */
  seriesCreatedLastMinute (engine: Engine): number {
    const now = engine.flushStats[FlushStat.SERIES_CREATED]!
    const oldest = this.seriesHistory[0]
    return oldest === undefined ? now : now - oldest
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
    return {
      uptimeSeconds: (Date.now() - this.startedAt) / 1000,
      ack,
      inflight: { requests: this.inflightRequests, bytes: this.inflightBytes, awaitingCommit: engine.watcher.pending(), parseQueue: engine.waitingTasks },
      endpoints: this.endpoints,
      rings: engine.rings.map((r, i) => ({ ring: i, ...r.stats() })),
      flush: {
        samplesCommitted: f[FlushStat.SAMPLES_COMMITTED],
        commits: f[FlushStat.COMMITS],
        secondsSinceLastCommit: lastCommit === 0 ? null : (Date.now() - lastCommit) / 1000,
        recentCommits: n,
        commitLatencyMs: { p50: percentile(lat, 0.5), p90: percentile(lat, 0.9), p99: percentile(lat, 0.99), max: lat[lat.length - 1] ?? 0 },
        batchSamples: { p50: percentile(batch, 0.5), p90: percentile(batch, 0.9), p99: percentile(batch, 0.99), max: batch[batch.length - 1] ?? 0 },
        corruptRecords: f[FlushStat.CORRUPT_RECORDS],
      },
      storage: {
        lmdbFileBytes,
        walBytes,
        walGeneration: f[FlushStat.WAL_GENERATION],
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
      process: { rssBytes: process.memoryUsage.rss(), heapUsedBytes: process.memoryUsage().heapUsed },
    }
  }

  metrics (engine: Engine, dataDir: string): string {
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
    family('ringest_samples_dropped_total', 'counter', 'Samples acknowledged but not stored, by reason (too_old: behind --ooo-window-ms).')
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
    family('ringest_process_resident_memory_bytes', 'gauge', 'Resident set size.')
    out.push(`ringest_process_resident_memory_bytes ${process.memoryUsage.rss()}`)
    family('ringest_uptime_seconds', 'gauge', 'Seconds since start.')
    out.push(`ringest_uptime_seconds ${(Date.now() - this.startedAt) / 1000}`)
    return out.join('\n') + '\n'
  }
}
