/**
 * The main thread's side of queries: a Piscina pool of query workers
 * (workers/query.ts) and the parameter handling of the Prometheus HTTP API.
 * The main thread parses parameters, sends one task, and writes the JSON
 * text the worker returns; evaluation never runs on the main thread.
 */
import { Piscina } from 'piscina'
import type { Logger } from 'pino'
import type { QueryOutcome, QueryTask, QueryWorkerData } from '../workers/shared.js'

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

  constructor (private readonly config: QueryConfig, log: Logger, flushStats: SharedArrayBuffer) {
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

  /** Query worker threads running now (they start on the first query and end after a minute idle; they wait on their event loop). */
  threads (): Array<{ name: string, worker: import('node:worker_threads').Worker }> {
    return this.pool.threads.map((worker, i) => ({ name: `query-${i}`, worker }))
  }

  /** Runs one query task under the limits; a task past the timeout is cancelled (its worker is replaced). */
  async run (request: QueryRequest): Promise<QueryOutcome> {
    const c = this.config
    if (this.pool.queueSize >= c.queryMaxQueue) {
      return { ok: false, errorType: 'unavailable', error: `too many queries waiting (${this.pool.queueSize})`, limit: 'queue' }
    }
    const limits = { maxSeries: c.queryMaxSeries, maxSamples: c.queryMaxSamples, deadlineMs: Date.now() + c.queryTimeoutMs }
    const task = { ...request, limits } as QueryTask
    // The engine checks the deadline itself; the abort is the backstop for a task that does not return.
    const signal = AbortSignal.timeout(c.queryTimeoutMs + 1000)
    this.running++
    try {
      const out = await this.pool.run(task, { signal }) as QueryOutcome
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
