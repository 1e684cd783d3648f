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

  constructor (private readonly config: QueryConfig, log: Logger) {
    const workerData: QueryWorkerData = { dataDir: config.dataDir, mapSizeBytes: config.mapSizeBytes, sync: config.ack === 'durable' }
    this.pool = new Piscina({
      filename: new URL('../workers/query.js', import.meta.url).href,
      minThreads: config.queryWorkers,
      maxThreads: config.queryWorkers,
      maxQueue: config.queryMaxQueue,
      // A query worker waits on its event loop (lmdb-js reads are synchronous anyway).
      atomics: 'disabled',
      workerData,
    })
    this.pool.on('error', (err: Error) => log.error({ err }, 'query pool error'))
  }

  get queued (): number { return this.pool.queueSize }

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

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 }

/** Prometheus's `step`/`timeout` parameter: float seconds, or a duration such as 15s, 1m30s. Returns ms. */
export function parseDurationParam (v: string): number {
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(v)) return Math.round(Number(v) * 1000)
  const re = /(\d+)(ms|s|m|h|d|w|y)/y
  let ms = 0
  let at = 0
  while (at < v.length) {
    re.lastIndex = at
    const m = re.exec(v)
    if (m === null) return NaN
    ms += Number(m[1]) * DURATION_UNITS[m[2]!]!
    at = re.lastIndex
  }
  return at === 0 ? NaN : ms
}
