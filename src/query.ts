/**
 * The main thread's side of queries: a Piscina pool of query workers
 * (workers/query.ts) and the parameter handling of the Prometheus HTTP API.
 * The main thread parses parameters, sends one task, and writes the JSON
 * text the worker returns; evaluation never runs on the main thread.
 */
import { availableParallelism } from 'node:os'
import { Piscina } from 'piscina'
import type { Logger } from 'pino'
import { isShardable } from './promql/index.js'
import { ingestActive, type QueryLimitsData, type QueryOutcome, type QueryPartOutcome, type QueryTask, type QueryWorkerData } from '../workers/shared.js'

export interface QueryConfig {
  dataDir: string
  ack: 'durable' | 'committed' | 'received'
  mapSizeBytes: number
  queryWorkers: number
  queryCpuPercent: number
  retention: number
  queryTimeoutMs: number
  queryMaxSeries: number
  queryMaxSamples: number
  queryMaxQueue: number
}

/** Tasks are created without limits; the service fills them in. */
export type QueryRequest = QueryTask extends infer T ? T extends { limits: unknown } ? Omit<T, 'limits'> : never : never

export class QueryService {
  private readonly pool: Piscina
  running = 0
  completed = 0
  failed = 0
  timedOut = 0
  /** Queries split over several query workers (evaluateSplit). */
  split = 0

  /** Query workers a shardable range query is split over (1: never split). */
  private readonly shards: number
  private readonly flush: Float64Array

  constructor (private readonly config: QueryConfig, log: Logger, flushStats: SharedArrayBuffer) {
    this.shards = Math.max(1, Math.min(config.queryWorkers, availableParallelism()))
    this.flush = new Float64Array(flushStats)
    const workerData: QueryWorkerData = { dataDir: config.dataDir, mapSizeBytes: config.mapSizeBytes, sync: config.ack === 'durable', flushStats, cpuPercent: config.queryCpuPercent, retentionMs: config.retention }
    this.pool = new Piscina({
      filename: new URL('../workers/query.js', import.meta.url).href,
      // Started on the first query and ended after a minute idle: an ingest-only server keeps no query thread.
      minThreads: 0,
      maxThreads: config.queryWorkers,
      idleTimeout: 60_000,
      maxQueue: config.queryMaxQueue,
      // A query worker waits on its event loop (lmdb-js reads are synchronous anyway).
      atomics: 'disabled',
      workerData,
    })
    this.pool.on('error', (err: Error) => log.error({ err }, 'query pool error'))
  }

  get queued (): number { return this.pool.queueSize }

  /** For /stats. */
  counters (): { running: number, queued: number, completed: number, failed: number, timedOut: number, split: number } {
    return { running: this.running, queued: this.pool.queueSize, completed: this.completed, failed: this.failed, timedOut: this.timedOut, split: this.split }
  }

  /** Query worker threads running now (they start on the first query and end after a minute idle; they wait on their event loop). */
  threads (): Array<{ name: string, worker: import('node:worker_threads').Worker }> {
    return this.pool.threads.map((worker, i) => ({ name: `query-${i}`, worker }))
  }

  /**
   * Whether to split this query over the query workers: a range query of a
   * shardable shape (`sum by (region) (rate(x[5m]))`, see
   * shardableAggregate), with ingest idle. While commits are happening a
   * query keeps to one thread (paced), so queries never take more of the
   * cores from ingest by being split.
   */
  private shouldSplit (request: QueryRequest): boolean {
    return this.shards > 1 && request.kind === 'range' &&
      !ingestActive(this.flush) && isShardable(request.expr)
  }

  /**
   * Each shard evaluates the aggregation over its share of the series (by
   * a hash of their ids), all at once; a last task merges the parts and
   * writes the JSON. Shards never wait for each other, so queries queued
   * behind them cannot deadlock the pool. Each shard may load its share of
   * --query-max-samples.
   */
  private async evaluateSplit (request: Extract<QueryRequest, { kind: 'range' }>, limits: QueryLimitsData, signal: AbortSignal): Promise<QueryOutcome> {
    const n = this.shards
    this.split++
    const shardLimits = { ...limits, maxSamples: Math.ceil(limits.maxSamples / n) }
    const parts = await Promise.all(Array.from({ length: n }, (_, index) =>
      this.pool.run({ ...request, shard: { index, count: n }, limits: shardLimits } satisfies QueryTask, { signal }) as Promise<QueryPartOutcome>))
    let series = 0
    let samples = 0
    for (const p of parts) {
      if (!p.ok) return p
      series += p.series
      samples += p.samples
    }
    const merge: QueryTask = { kind: 'merge', parts: parts.map((p) => (p as Extract<QueryPartOutcome, { ok: true }>).part), startMs: request.startMs, endMs: request.endMs, stepMs: request.stepMs, limits }
    const out = await this.pool.run(merge, { signal }) as QueryOutcome
    return out.ok ? { ...out, series, samples } : out
  }

  /** Runs one query task under the limits; a task past the timeout is cancelled (its worker is replaced). */
  async run (request: QueryRequest): Promise<QueryOutcome> {
    const c = this.config
    if (this.pool.queueSize >= c.queryMaxQueue) {
      return { ok: false, errorType: 'unavailable', error: `too many queries waiting (${this.pool.queueSize})`, limit: 'queue' }
    }
    const limits = { maxSeries: c.queryMaxSeries, maxSamples: c.queryMaxSamples, deadlineMs: Date.now() + c.queryTimeoutMs }
    // The engine checks the deadline itself; the abort is the backstop for a task that does not return.
    const signal = AbortSignal.timeout(c.queryTimeoutMs + 1000)
    this.running++
    try {
      const out = request.kind === 'range' && this.shouldSplit(request)
        ? await this.evaluateSplit(request, limits, signal)
        : await this.pool.run({ ...request, limits } as QueryTask, { signal }) as QueryOutcome
      if (out.ok) this.completed++
      else if (out.errorType === 'timeout') this.timedOut++
      else this.failed++
      return out
    } catch (err) {
      if ((err as Error).name === 'AbortError') {
        this.timedOut++
        return { ok: false, errorType: 'timeout', error: `query timed out after ${c.queryTimeoutMs} ms (--query-timeout-ms)` }
      }
      this.failed++
      throw err
    } finally {
      this.running--
    }
  }

  async close (): Promise<void> { await this.pool.destroy() }
}
