/**
 * Query worker (a Piscina task handler): PromQL, series and label lookups,
 * and export, evaluated off the main thread so a heavy query never stalls
 * ingestion. It reads LMDB through its own handle on the same environment
 * (readers never block the flush worker's writes). A query that runs past
 * its deadline stops inside the engine; one that does not stop is
 * terminated with its worker by Piscina when the main thread's abort fires.
 *
 * Results go back as ready-to-send JSON text, so the main thread only
 * writes bytes.
 */
import { readlinkSync } from 'node:fs'
import { setPriority } from 'node:os'
import { workerData } from 'node:worker_threads'
import { move, transferableSymbol, valueSymbol } from 'piscina'
import { ingestActive, type QueryLimitsData, type QueryOutcome, type QueryPartOutcome, type QueryShard, type QueryTask, type QueryWorkerData } from './shared.js'
import { BLOCK_MS, blockOf, openStore } from './storage.js'
import { ROLLUP_LEVELS, readRollup, rollupState } from './rollup.js'
import { SeriesIndex, type LabelMatcher } from './series-index.js'
import { ReadArena, SampleLimitError, WalReader, readSamples, seriesWithSamples } from './read.js'
import { PromQLError, canonicalLSet, compileMatcher, mergeRangeParts, parseMatchers, prometheusSuccessBytes, queryInstant, queryRange, queryRangePart, type LSet, type Querier, type RollupColumn, type RollupInfo, type SeriesData } from '../src/promql/index.js'

const { dataDir, mapSizeBytes, sync, flushStats, cpuPercent, retentionMs } = workerData as QueryWorkerData
const flush = new Float64Array(flushStats)

/**
 * Queries yield the CPU to ingestion: while ingest is committing, this
 * thread runs at the lowest scheduling priority (nice 19; on Linux a
 * thread's own priority, set through its thread id), so ingest threads get
 * the cores first. While ingest is idle it runs at normal priority: there
 * is nothing of ringest's to yield to then, and at nice 19 anything else
 * runnable on the machine comes first (2 pairs on an idle server, 20 trivial
 * queries each: medians 4.4-5.4 ms at 19, 2.8-3.2 at 0; 3 later alternating
 * pairs showed no difference beyond the machine's noise, 2026-11-25).
 * Going back to 0 needs the right to raise a
 * priority (root, or RLIMIT_NICE): without it the thread stays at 19 from
 * the first query that found ingest running.
 */
let tid = 0
try {
  const t = Number(readlinkSync('/proc/thread-self').split('/').pop())
  if (Number.isInteger(t) && t > 0) tid = t
} catch { /* not Linux: queries run at the process's priority */ }
let niceNow = 0
function setNice (nice: number): void {
  if (tid === 0 || nice === niceNow) return
  try {
    setPriority(tid, nice)
    niceNow = nice
  } catch { /* not permitted (raising a priority needs CAP_SYS_NICE): stays where it is */ }
}

/**
 * Pacing. nice 19 is not enough: at 100-line ingest on 2 cores, ingest is
 * bound by the latency of its thread-to-thread hand-offs (parse, flush,
 * commit, watermark), not by CPU, so a query that only takes the idle CPU
 * still slowed it (measured 0.72x samples/s, and SCHED_IDLE did no better).
 * While commits are happening (one in the last 250 ms), a query runs
 * --query-cpu-percent of each PACE_CYCLE_MS and sleeps the rest; an idle
 * server runs queries at full speed. Measured with `npm run bench:query --
 * --ingest-impact`: a quarter of a core gave 0.91, 0.89 and 0.78x; a tenth,
 * 1.00 and 1.08x (the default).
 */
const PACE_CYCLE_MS = 30
// A share that is not a number in [1, 100] turns pacing off (never a NaN sleep, which would be forever).
const share = Number.isFinite(cpuPercent) && cpuPercent >= 1 && cpuPercent <= 100 ? cpuPercent : 100
const PACE_RUN_MS = Math.max(1, PACE_CYCLE_MS * share / 100)
const PACE_SLEEP_MS = PACE_CYCLE_MS - PACE_RUN_MS
const sleeper = new Int32Array(new SharedArrayBuffer(4))
let runningSince = performance.now()
function pace (): void {
  const now = performance.now()
  if (now - runningSince < PACE_RUN_MS || PACE_SLEEP_MS <= 0) return
  if (ingestActive(flush)) {
    setNice(19)
    Atomics.wait(sleeper, 0, 0, PACE_SLEEP_MS)
  }
  runningSince = performance.now()
}
const store = openStore(dataDir, { mapSizeBytes, sync })
const wal = new WalReader(dataDir, { mapSizeBytes, sync })
const index = new SeriesIndex()
/** Where this worker's reads decode, reset at each task (ReadArena). */
const arena = new ReadArena()

/**
 * Each series' label set as the engine keeps it (canonicalLSet: sorted, its
 * key built), made once per id: a series' labels never change, and the
 * engine caches the set without __name__ on it for the next query. Bounded:
 * past LSET_CACHE_MAX series it starts over (a few hundred bytes a series).
 */
const LSET_CACHE_MAX = 262_144
const lsets = new Map<number, LSet>()
function seriesLSet (id: number): LSet {
  let ls = lsets.get(id)
  if (ls === undefined) {
    if (lsets.size >= LSET_CACHE_MAX) lsets.clear()
    lsets.set(id, ls = canonicalLSet(index.labels(id)))
  }
  return ls
}

/**
 * The shard a series belongs to: the top bits of a multiplicative hash of
 * its id. Not the id modulo the count: ids are handed out in arrival order,
 * so a line of two fields gives every series of one metric the same parity.
 * A series keeps its shard whatever else is created meanwhile.
 */
const shardOf = (id: number, count: number): number => Math.floor((Math.imul(id, 0x9e3779b1) >>> 0) / 2 ** 32 * count)

class StoreQuerier implements Querier {
  series = 0
  samples = 0
  /** With a shard, this querier hands out only that shard's series (the series limit still counts them all). */
  constructor (private readonly limits: QueryLimitsData, private readonly shard?: QueryShard) {}

  ids (matchers: LabelMatcher[]): number[] {
    let ids = index.select(matchers, compileMatcher)
    if (this.series + ids.length > this.limits.maxSeries) {
      throw new PromQLError('execution', `the query selects more than ${this.limits.maxSeries} series (--query-max-series)`, 'maxSeries')
    }
    const shard = this.shard
    if (shard !== undefined) ids = ids.filter((id) => shardOf(id, shard.count) === shard.index)
    this.series += ids.length
    return ids
  }

  async select (matchers: LabelMatcher[], minMs: number, maxMs: number): Promise<SeriesData[]> {
    return this.load(this.ids(matchers), minMs, maxMs)
  }

  /** The rollup levels done so far (workers/rollup.ts), and where raw samples begin. */
  rollups (): RollupInfo {
    const s = rollupState(store)
    const resolutionsMs: number[] = []
    if (s.block !== null) resolutionsMs.push(ROLLUP_LEVELS[0]!.resMs)
    if (s.day !== null) resolutionsMs.push(ROLLUP_LEVELS[1]!.resMs)
    // Retention deletes whole blocks: those ending before now - retention.
    return { resolutionsMs, rawFromMs: retentionMs > 0 ? blockOf(Date.now() - retentionMs) * BLOCK_MS : -Infinity }
  }

  async selectRollup (matchers: LabelMatcher[], minMs: number, maxMs: number, resolutionMs: number, column: RollupColumn): Promise<SeriesData[]> {
    const level = ROLLUP_LEVELS.findIndex((l) => l.resMs === resolutionMs)
    if (level < 0) throw new Error(`no rollup of resolution ${resolutionMs} ms`)
    return this.load(this.ids(matchers), minMs, maxMs, { level, column })
  }

  /** `asStored`: labels as the index has them (export's order), not the engine's sorted set. */
  load (ids: number[], minMs: number, maxMs: number, rollup?: { level: number, column: RollupColumn }, asStored = false): SeriesData[] {
    if (Date.now() > this.limits.deadlineMs) throw new PromQLError('timeout', 'query timed out (--query-timeout-ms)')
    let samples: Map<number, { ts: Float64Array, values: Float64Array, weights?: Float64Array }>
    try {
      const budget = this.limits.maxSamples - this.samples
      samples = rollup === undefined
        ? readSamples(store, wal, new Set(ids), minMs, maxMs, budget, pace, arena)
        : readRollup(store, wal, new Set(ids), minMs, maxMs, rollup.level, rollup.column, budget, pace)
    } catch (err) {
      if (err instanceof SampleLimitError) {
        throw new PromQLError('execution', `the query loads more than ${this.limits.maxSamples} samples (--query-max-samples)`, 'maxSamples')
      }
      throw err
    }
    const out: SeriesData[] = []
    for (const id of ids) {
      const s = samples.get(id)
      if (s === undefined) continue
      this.samples += s.ts.length
      if (asStored) { out.push({ labels: index.labels(id), timestamps: s.ts, values: s.values, ...(s.weights === undefined ? {} : { weights: s.weights }) }); continue }
      const ls = seriesLSet(id)
      // Object literals, not a spread (one per series per query).
      out.push(s.weights === undefined
        ? { labels: ls.labels, key: ls.key, interned: ls, timestamps: s.ts, values: s.values }
        : { labels: ls.labels, key: ls.key, interned: ls, timestamps: s.ts, values: s.values, weights: s.weights })
    }
    return out
  }
}

/**
 * The series the match[] selectors select (undefined without any: every
 * series), narrowed to those with samples between startMs and endMs when
 * either is given. Without match[], labels and values come from the index
 * whatever the time range (ringest keeps no per-label time bounds).
 */
function matchAll (match: string[], q: StoreQuerier, startMs?: number, endMs?: number): number[] | undefined {
  if (match.length === 0) return undefined
  const ids = new Set<number>()
  for (const m of match) for (const id of q.ids(parseMatchers(m))) ids.add(id)
  if (startMs !== undefined || endMs !== undefined) {
    const within = seriesWithSamples(store, wal, ids, startMs ?? -Infinity, endMs ?? Infinity)
    return [...within].sort((a, b) => a - b)
  }
  return [...ids].sort((a, b) => a - b)
}

const sourceResolution = (task: { maxSourceResolutionMs?: number }): { maxSourceResolutionMs?: number } =>
  task.maxSourceResolutionMs === undefined ? {} : { maxSourceResolutionMs: task.maxSourceResolutionMs }

/**
 * A successful outcome, its JSON as UTF-8 bytes (prometheusSuccessBytes, or
 * text encoded here), its memory moved to the main thread rather than copied
 * (Piscina's Transferable): the main thread writes the bytes as they are. A
 * 200 KB answer cost about 1 ms of structured clone plus the main thread's
 * own UTF-8 encoding.
 */
function done (json: string | Uint8Array, q: StoreQuerier): QueryOutcome {
  const body = typeof json === 'string' ? Buffer.from(json, 'utf8') : json
  // A Buffer of 4 KiB or more is never a slice of Node's shared pool (that is only for < 4 KiB); prometheusSuccessBytes's never are.
  const outcome: QueryOutcome = { ok: true, body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), series: q.series, samples: q.samples }
  if (body.byteLength < 4096 || body.byteOffset !== 0 || body.buffer.byteLength !== body.byteLength) return outcome
  return move({ [transferableSymbol]: [body.buffer], [valueSymbol]: outcome } as unknown as ArrayBuffer) as unknown as QueryOutcome
}
const ok = (data: unknown, q: StoreQuerier): QueryOutcome => done(JSON.stringify({ status: 'success', data }), q)

export default async function run (task: QueryTask): Promise<QueryOutcome | QueryPartOutcome> {
  // lmdb-js keeps a read transaction until a setTimeout(0) resets it; a task arriving within that
  // millisecond would read the previous task's snapshot and miss what was acknowledged since.
  setNice(ingestActive(flush) ? 19 : 0)
  store.env.resetReadTxn()
  index.refresh(store)
  arena.reset()
  runningSince = performance.now()
  const q = new StoreQuerier(task.limits, task.kind === 'range' ? task.shard : undefined)
  try {
    switch (task.kind) {
      case 'range':
        if (task.shard !== undefined) {
          const part = await queryRangePart(q, task.expr, task.startMs, task.endMs, task.stepMs, { ...task.limits, pace, ...sourceResolution(task) })
          return { ok: true, part, series: q.series, samples: q.samples }
        }
        return done(prometheusSuccessBytes(await queryRange(q, task.expr, task.startMs, task.endMs, task.stepMs, { ...task.limits, pace, ...sourceResolution(task) })), q)
      case 'merge':
        return done(prometheusSuccessBytes(mergeRangeParts(task.parts, task.startMs, task.endMs, task.stepMs)), q)
      case 'instant':
        return done(prometheusSuccessBytes(await queryInstant(q, task.expr, task.timeMs, { ...task.limits, pace, ...sourceResolution(task) })), q)
      case 'series':
        return ok(matchAll(task.match, q, task.startMs, task.endMs)!.map((id) => index.labels(id)), q)
      case 'labels':
        return ok(index.labelNames(matchAll(task.match, q, task.startMs, task.endMs)), q)
      case 'labelValues':
        return ok(index.labelValues(task.name, matchAll(task.match, q, task.startMs, task.endMs)), q)
      case 'export': {
        const lines = q.load(matchAll(task.match, q)!, task.startMs, task.endMs, undefined, true).map(exportLine).sort()
        return done(lines.join(''), q)
      }
    }
  } catch (err) {
    if (err instanceof PromQLError) return { ok: false, errorType: err.errorType, error: err.message, ...(err.limit === undefined ? {} : { limit: err.limit }) }
    throw err
  }
}

/** VictoriaMetrics' export line: {"metric":{...},"values":[...],"timestamps":[...]}. */
export function exportLine (s: SeriesData): string {
  const values: string[] = []
  for (const v of s.values) values.push(exportValue(v))
  return `{"metric":${JSON.stringify(s.labels)},"values":[${values.join(',')}],"timestamps":[${s.timestamps.join(',')}]}\n`
}

/** Exact float64 in JSON: -0 keeps its sign; JSON has no NaN or Infinity, so they are written as strings, as VictoriaMetrics does. */
function exportValue (v: number): string {
  if (Number.isFinite(v)) return Object.is(v, -0) ? '-0' : String(v)
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Inf"' : '"-Inf"'
}
