/**
 * The engine's public types: what a storage backend implements (Querier),
 * what a caller passes (QueryLimits) and the one error class it throws.
 */

import type { LSet } from './labels.js'

/** A series' labels, `__name__` included. */
export type Labels = Record<string, string>

export interface Matcher { name: string, type: '=' | '!=' | '=~' | '!~', value: string }

export interface SeriesData {
  labels: Labels
  /** Milliseconds, ascending, unique. */
  timestamps: Float64Array
  values: Float64Array
  /** Rollup reads of the 'avg' column: each value's sample count (values are sums). */
  weights?: Float64Array
  /** labelsKey(labels), if the storage has it at hand (saves building it per query). */
  key?: string
  /**
   * The series' label set as canonicalLSet built it, if the storage keeps
   * one per series across queries (labels and key are then its own): the
   * engine uses it as it is instead of sorting and copying the labels, and
   * what it caches on it (the set without __name__) serves later queries.
   */
  interned?: LSet
}

/** What a rollup read returns as values: one of its columns, or 'avg' (sums, with counts as weights). */
export type RollupColumn = 'count' | 'sum' | 'min' | 'max' | 'last' | 'avg'

export interface RollupInfo {
  /** Rollup resolutions the store has, ascending. */
  resolutionsMs: number[]
  /** Raw samples older than this are gone (retention); -Infinity: all kept. */
  rawFromMs: number
}

export interface Querier {
  /** Every series matching all matchers (at least one matcher), with its samples in [minMs, maxMs] inclusive. */
  select (matchers: Matcher[], minMs: number, maxMs: number): Promise<SeriesData[]>
  /** Downsampled data, if the store keeps any. */
  rollups? (): RollupInfo
  /** Like select, but one sample per bucket of `resolutionMs` (at the bucket's last millisecond) valued by `column`. */
  selectRollup? (matchers: Matcher[], minMs: number, maxMs: number, resolutionMs: number, column: RollupColumn): Promise<SeriesData[]>
}

export interface QueryLimits {
  /** Series returned by all the selects of one query, counted together. */
  maxSeries: number
  /** Samples loaded from storage plus points materialised by subqueries, counted together. */
  maxSamples: number
  /** Absolute Date.now() deadline. */
  deadlineMs: number
  /** Called every few thousand steps of evaluation; may block to give the CPU away (workers/query.ts). */
  pace?: () => void
  /** The coarsest rollup resolution the query may read (max_source_resolution): 0 = raw samples only; absent = any. */
  maxSourceResolutionMs?: number
}

/** Prometheus's errorType values the engine can produce. HTTP: bad_data 400, execution 422, timeout 503. */
export type PromQLErrorType = 'bad_data' | 'execution' | 'timeout'

export class PromQLError extends Error {
  readonly errorType: PromQLErrorType
  /** Set on execution errors caused by a limit: 'maxSeries' or 'maxSamples'. */
  readonly limit?: string
  constructor (errorType: PromQLErrorType, message: string, limit?: string) {
    super(message)
    this.name = 'PromQLError'
    this.errorType = errorType
    if (limit !== undefined) this.limit = limit
  }
}

export const badData = (message: string): PromQLError => new PromQLError('bad_data', message)

export interface MatrixSeriesResult { metric: Labels, timestamps: number[], values: number[] }
export interface VectorSampleResult { metric: Labels, timestamp: number, value: number }

/** An evaluation result; times in ms. toPrometheusData turns it into the API's JSON. */
export type PromResult =
  | { resultType: 'matrix', result: MatrixSeriesResult[] }
  | { resultType: 'vector', result: VectorSampleResult[] }
  | { resultType: 'scalar', result: { timestamp: number, value: number } }
  | { resultType: 'string', result: { timestamp: number, value: string } }
