/**
 * The data plane, seen from the main thread: allocates the shared buffers,
 * starts the flush worker and the Piscina pool of parse workers, batches
 * request bodies into parse tasks, and waits for durable watermarks.
 */
import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
import { Piscina } from 'piscina'
import type { Logger } from 'pino'
import { Doorbell, RingObserver, allocateDoorbell, allocateRing } from 'native-free-ringbuffer'
import {
  CLAIM_FREE, CONTROL_SLOTS, ControlSlot, FLUSH_STATS_SLOTS, FlushMessage, LANE_SLOTS, TOO_OLD_LOG_BYTES, TOO_OLD_LOG_ENTRIES, TooOldLog,
  type BodyJob, type BodyOutcome, type FlushWorkerData, type ParseWorkerData, type TaskOutcome,
} from '../workers/shared.js'
import { WatermarkWatcher } from './watermark.js'
import { BodyLane } from './lanes.js'
import { HttpError } from './errors.js'

export interface EngineConfig {
  dataDir: string
  ack: 'durable' | 'committed' | 'received'
  parseWorkers: number
  ringBytes: number
  maxBodyBytes: number
  maxQueue: number
  admissionWaitMs: number
  flushMaxSamples: number
  flushDelayMs: number
  checkpointSamples: number
  checkpointIdleMs: number
  retention: number
  rollup5mRetention: number
  rollup1hRetention: number
  oooWindowMs: number
  mapSizeBytes: number
  storePageBytes: number
  /** At stop, a WAL of more samples is left for the next start instead of checkpointed (not a CLI option; tests lower it). Default 4 Mi. */
  stopCheckpointSamples?: number
}

/** How Stats reads a thread's utilization: its busy milliseconds, or its event-loop utilization. */
export type ThreadProbe = { name: string, busyMs: () => number } | { name: string, worker: Worker }

/**
 * At stop, the WAL is checkpointed only if it holds at most this many samples
 * (about a second of work); a bigger one stays for the next start, which
 * finds it in a few milliseconds (headers only) and checkpoints it then.
 * Stopping must take a bounded time, and the WAL is as durable as chunks.
 */
const STOP_CHECKPOINT_SAMPLES = 4 * 1024 * 1024

/** Young-generation size of each worker's V8 heap, in MiB (V8's default is up to 48 on 64-bit). */
const YOUNG_GENERATION_MB = 12

/**
 * The flush worker's V8 old generation cap, in MiB. It holds the series
 * index (series key -> id, about 120 bytes a series): at 96 MiB (the cap
 * until 2026-11-25) the worker ran out of heap at about 795,000 series and
 * ingest stopped. A cap reserves nothing; the checkpoint's memory is bounded
 * by its passes, not by this.
 */
const FLUSH_OLD_GENERATION_MB = 2048

/**
 * Bodies up to this size go through a lane (copied into its inbox, parsed by
 * whichever worker drains the lane: src/lanes.ts); bigger ones are
 * transferred to a parse worker in a Piscina task, where a copy would cost
 * more than the task.
 */
const LANE_MAX_BODY_BYTES = 64 * 1024
/** Bytes of each lane's inbox and outbox rings (power of two; a record takes at most half). */
const INBOX_BYTES = 2 * 1024 * 1024
const OUTBOX_BYTES = 256 * 1024
/** A lane takes new bodies while fewer than this many bytes of it wait to be parsed; then the next lane does. */
const LANE_SPILL_BYTES = 64 * 1024

/** Bodies that arrived in one event-loop turn go to the pool as one task, up to these bounds. */
const MAX_BODIES_PER_TASK = 256
const MAX_BYTES_PER_TASK = 8 * 1024 * 1024 // 8 MiB

interface Pending { resolve: (r: { ring: number, outcome: BodyOutcome }) => void, reject: (e: unknown) => void }

export class Engine {
  readonly rings: RingObserver[]
  readonly flushStats: Float64Array
  readonly watcher: WatermarkWatcher
  private readonly pool: Piscina
  private readonly control: Int32Array
  private readonly doorbell: Doorbell
  private readonly maxQueue: number
  private batch: BodyJob[] = []
  private batchWaiters: Pending[] = []
  private batchBytes = 0
  private scheduled = false
  private flushExited: Promise<unknown>
  private flushFailed: Error | undefined
  private tasksInFlight = 0
  private stopping = false
  private readonly workers: number
  private readonly flushWorker: Worker
  /** Per ring, milliseconds its parse worker spent in tasks (ParseWorkerData.busy). */
  private readonly parseBusy: Float64Array
  /** Per ring, the flush worker's too-old log (TooOldLog). */
  private readonly tooOldLogs: Int32Array[]
  readonly lanes: BodyLane[]

  private constructor (config: EngineConfig, log: Logger, flush: Worker, buffers: { rings: SharedArrayBuffer[], claims: SharedArrayBuffer, doorbell: SharedArrayBuffer, control: SharedArrayBuffer, stats: SharedArrayBuffer, tooOld: SharedArrayBuffer[], inboxes: SharedArrayBuffer[], outboxes: SharedArrayBuffer[], lanes: SharedArrayBuffer }) {
    this.tooOldLogs = buffers.tooOld.map((b) => new Int32Array(b))
    this.maxQueue = config.maxQueue
    this.workers = config.parseWorkers
    this.flushWorker = flush
    this.parseBusy = new Float64Array(new SharedArrayBuffer(8 * config.parseWorkers))
    this.rings = buffers.rings.map((r) => new RingObserver(r))
    this.flushStats = new Float64Array(buffers.stats)
    this.control = new Int32Array(buffers.control)
    this.doorbell = new Doorbell(buffers.doorbell)
    this.watcher = new WatermarkWatcher(this.rings)
    // once() rejects on an 'error' event (a crash, such as running out of heap): that is handled
    // below (flushFailed, /readyz), and stop() must still find the worker gone, not throw.
    this.flushExited = once(flush, 'exit').catch(() => {})
    flush.on('message', (m: { type: string, message?: string, walSamples?: number }) => {
      if (m.type === FlushMessage.FATAL) {
        this.flushFailed = new Error(m.message)
        log.fatal({ err: m.message }, 'flush worker failed')
      }
      if (m.type === FlushMessage.WARN) {
        const { type: _type, message, ...fields } = m as Record<string, unknown>
        log.warn(fields, String(message))
      }
      if (m.type === FlushMessage.STOPPED && m.walSamples !== undefined && m.walSamples > 0) {
        log.debug({ walSamples: m.walSamples }, 'store closed; the WAL holds samples not yet in chunks: the next start checkpoints them')
      }
    })
    flush.on('error', (err) => { this.flushFailed = err; log.fatal({ err }, 'flush worker crashed') })
    const workerData: ParseWorkerData = {
      rings: buffers.rings,
      claims: buffers.claims,
      doorbell: buffers.doorbell,
      maxBodyBytes: config.maxBodyBytes,
      admissionWaitMs: config.admissionWaitMs,
      busy: this.parseBusy.buffer as SharedArrayBuffer,
      inboxes: buffers.inboxes,
      outboxes: buffers.outboxes,
      lanes: buffers.lanes,
    }
    this.pool = new Piscina({
      filename: new URL('../workers/parse.js', import.meta.url).href,
      minThreads: config.parseWorkers,
      maxThreads: config.parseWorkers,
      idleTimeout: Infinity,
      // Room for the lanes' drain tasks beside --max-queue classic tasks (submit() checks those).
      maxQueue: Math.max(1, config.maxQueue) + config.parseWorkers,
      workerData,
      // Parse workers allocate little on the V8 heap (bodies are ArrayBuffers, samples go to the ring):
      // a small young generation keeps RSS down (measured: about -70 MiB peak at 5,000-line bodies).
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    })
    const claims = new Int32Array(buffers.claims)
    // A parse worker that died cannot release its ring: do it for it, so its replacement can claim
    // one. Piscina's event does not say which thread it was (an exited Worker's threadId is -1), so
    // every claim held by a thread that is not in the pool any more is freed.
    this.pool.on('workerDestroy', () => {
      if (this.stopping) return // pool.close(): every worker goes, none replaces it
      setImmediate(() => {
        const live = new Set(this.pool.threads.map((t) => t.threadId))
        for (let i = 0; i < claims.length; i++) {
          const owner = Atomics.load(claims, i)
          if (owner === CLAIM_FREE || live.has(owner)) continue
          if (Atomics.compareExchange(claims, i, owner, CLAIM_FREE) === owner) {
            Atomics.notify(claims, 0)
            log.warn({ threadId: owner, ring: i }, 'parse worker exited; its ring is free again')
          }
        }
      })
    })
    this.pool.on('error', (err: Error) => log.error({ err }, 'parse pool error'))
    const laneStates = new Int32Array(buffers.lanes)
    this.lanes = buffers.inboxes.map((inbox, i) => new BodyLane(i, inbox, buffers.outboxes[i]!, laneStates,
      (task) => this.pool.run(task),
      (lane, err) => log.error({ err, lane }, 'a parse worker failed while draining a body lane: its waiting bodies were refused')))
  }

  static async start (config: EngineConfig, log: Logger): Promise<Engine> {
    const rings = Array.from({ length: config.parseWorkers }, () => allocateRing(config.ringBytes))
    const buffers = {
      rings,
      claims: new SharedArrayBuffer(4 * config.parseWorkers),
      doorbell: allocateDoorbell(),
      control: new SharedArrayBuffer(4 * CONTROL_SLOTS),
      stats: new SharedArrayBuffer(8 * FLUSH_STATS_SLOTS),
      tooOld: rings.map(() => new SharedArrayBuffer(TOO_OLD_LOG_BYTES)),
      inboxes: rings.map(() => allocateRing(INBOX_BYTES)),
      outboxes: rings.map(() => allocateRing(OUTBOX_BYTES)),
      lanes: new SharedArrayBuffer(4 * LANE_SLOTS * config.parseWorkers),
    }
    const flushData: FlushWorkerData = {
      rings,
      doorbell: buffers.doorbell,
      control: buffers.control,
      stats: buffers.stats,
      dataDir: config.dataDir,
      mapSizeBytes: config.mapSizeBytes,
      storePageBytes: config.storePageBytes,
      ack: config.ack,
      flushMaxSamples: config.flushMaxSamples,
      flushDelayMs: config.flushDelayMs,
      checkpointSamples: config.checkpointSamples,
      checkpointIdleMs: config.checkpointIdleMs,
      stopCheckpointSamples: config.stopCheckpointSamples ?? STOP_CHECKPOINT_SAMPLES,
      retentionMs: config.retention,
      oooWindowMs: config.oooWindowMs,
      tooOld: buffers.tooOld,
      rollupRetentionMs: [config.rollup5mRetention, config.rollup1hRetention],
    }
    const flush = new Worker(new URL('../workers/flush.js', import.meta.url), { workerData: flushData, name: 'ringest-flush', resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, maxOldGenerationSizeMb: FLUSH_OLD_GENERATION_MB } })
    const ready = await new Promise<{ series: number, replayed: number, replayMs: number, walGen: number, unfinishedChunks: number }>((resolve, reject) => {
      const onExit = (code: number): void => reject(new Error(`flush worker exited with code ${code} during start`))
      flush.once('exit', onExit)
      flush.once('error', reject)
      flush.on('message', function onMsg (m: { type: string, message?: string, series: number, replayed: number, replayMs: number, walGen: number, unfinishedChunks: number }) {
        if (m.type === FlushMessage.READY) { flush.off('exit', onExit); flush.off('error', reject); flush.off('message', onMsg); resolve(m) }
        if (m.type === FlushMessage.FATAL) reject(new Error(m.message))
      })
    })
    log.debug({ series: ready.series, replayedSamples: ready.replayed, replayMs: Math.round(ready.replayMs), walGeneration: ready.walGen, unfinishedChunksDeleted: ready.unfinishedChunks }, 'store opened')
    return new Engine(config, log, flush, buffers)
  }

  get failed (): Error | undefined { return this.flushFailed }

  /**
   * The engine's threads, for their utilization, read from here (no message):
   * parse workers by ring, from the time they spend in tasks (they wait for
   * tasks in Atomics.wait, which event-loop utilization would count as busy);
   * the flush worker from its event-loop utilization (it waits on its loop).
   */
  threads (): ThreadProbe[] {
    const parse: ThreadProbe[] = Array.from({ length: this.parseBusy.length }, (_, i) => ({ name: `parse-${i}`, busyMs: () => this.parseBusy[i]! }))
    return [...parse, { name: 'flush', worker: this.flushWorker }]
  }

  /** Parse workers alive in the pool. */
  get parseThreads (): number { return this.pool.threads.length }

  /** Parse tasks waiting for a worker: Piscina's queue plus the batch being gathered. */
  get waitingTasks (): number {
    return this.pool.queueSize + Math.ceil(this.batch.length / MAX_BODIES_PER_TASK)
  }

  /**
   * Sends a body to a parse worker. Bodies are batched: while every worker is
   * busy they gather into the next task (so a busy server sends fewer, bigger
   * tasks; Piscina costs tens of microseconds of main-thread time per task),
   * and an idle worker gets what arrived in the current event-loop turn.
   * Throws ERR_OVERLOADED if too many tasks wait.
   */
  submit (job: BodyJob): Promise<{ ring: number, outcome: BodyOutcome }> {
    if (job.body.byteLength <= LANE_MAX_BODY_BYTES && !this.stopping) {
      const done = this.pickLane().tryPush(job)
      if (done !== undefined) return done
    }
    if (this.waitingTasks >= this.maxQueue) {
      throw new HttpError('ERR_OVERLOADED', `parse queue full (${this.waitingTasks} tasks waiting)`, { reason: 'queue_full' })
    }
    return new Promise((resolve, reject) => {
      this.batch.push(job)
      this.batchWaiters.push({ resolve, reject })
      this.batchBytes += job.body.byteLength
      if (this.batch.length >= MAX_BODIES_PER_TASK || this.batchBytes >= MAX_BYTES_PER_TASK) this.dispatch()
      else if (!this.scheduled && this.tasksInFlight < this.workers) { this.scheduled = true; setImmediate(this.dispatchIfIdle) }
    })
  }

  /** The first lane with less than LANE_SPILL_BYTES waiting to be parsed, else the least loaded. */
  private pickLane (): BodyLane {
    let best = this.lanes[0]!
    let bestBytes = best.unparsedBytes
    if (bestBytes < LANE_SPILL_BYTES) return best
    for (let i = 1; i < this.lanes.length; i++) {
      const bytes = this.lanes[i]!.unparsedBytes
      if (bytes < LANE_SPILL_BYTES) return this.lanes[i]!
      if (bytes < bestBytes) { best = this.lanes[i]!; bestBytes = bytes }
    }
    return best
  }

  private readonly dispatchIfIdle = (): void => {
    this.scheduled = false
    if (this.tasksInFlight < this.workers) this.dispatch()
  }

  private dispatch (): void {
    if (this.batch.length === 0) return
    const bodies = this.batch
    const waiters = this.batchWaiters
    this.batch = []
    this.batchWaiters = []
    this.batchBytes = 0
    this.tasksInFlight++
    const transferList = bodies.map((b) => b.body.buffer as ArrayBuffer)
    this.pool.run({ bodies }, { transferList }).then((result: TaskOutcome) => {
      this.taskDone()
      for (let i = 0; i < waiters.length; i++) waiters[i]!.resolve({ ring: result.ring, outcome: result.bodies[i]! })
    }, (err: unknown) => {
      this.taskDone()
      for (const w of waiters) w.reject(err)
    })
  }

  private taskDone (): void {
    this.tasksInFlight--
    if (this.batch.length > 0 && this.tasksInFlight < this.workers) this.dispatch()
  }

  /** Resolves when ring `ring`'s durable watermark covers `end`; rejects with onTimeout() after timeoutMs. */
  waitDurable (ring: number, end: number, timeoutMs: number, onTimeout: () => Error): Promise<void> {
    return this.watcher.wait(ring, end, timeoutMs, onTimeout)
  }

  /**
   * Samples of the body at ring positions (start, end] that the flush worker
   * dropped as too old (further than --ooo-window-ms behind their series'
   * newest sample). Call once the body's watermark covers `end`: the flush
   * worker has drained it then. `complete` is false if the log wrapped past
   * entries of this body before they were read (more than 4,096 records
   * with too-old samples in between), so the count may be short.
   */
  tooOldIn (ring: number, start: number, end: number): { samples: number, complete: boolean } {
    const log = this.tooOldLogs[ring]!
    const head = Atomics.load(log, TooOldLog.HEAD)
    const oldest = Math.max(0, head - TOO_OLD_LOG_ENTRIES)
    let samples = 0
    // Without an earlier body's entry, the count is whole only if no entry was ever dropped from the log.
    let bounded = oldest === 0
    let i = head - 1
    for (; i >= oldest; i--) {
      const at = TooOldLog.ENTRIES + 2 * (i % TOO_OLD_LOG_ENTRIES)
      const pos = log[at]!
      if (((pos - end) | 0) > 0) continue // a later body's
      if (((pos - start) | 0) <= 0) { bounded = true; break } // an earlier body's: the log is in ring order
      samples += log[at + 1]!
    }
    // The entries read must not have been overwritten meanwhile (the writer lapping the reader).
    const lapped = Atomics.load(log, TooOldLog.HEAD) - TOO_OLD_LOG_ENTRIES > Math.max(i, oldest)
    return { samples, complete: bounded && !lapped }
  }

  /** Test hook: terminate a parse worker as a crash would (Piscina starts another). */
  async terminateParseWorker (index = 0): Promise<void> {
    await this.pool.threads[index]?.terminate()
  }

  /** Test hook: delay each commit of the flush worker by `ms` (0 = off). */
  setSlowCommit (ms: number): void {
    Atomics.store(this.control, ControlSlot.SLOW_COMMIT_MS, ms)
  }

  /** Test hook: have each checkpoint sleep `ms` at each of its turns (0 = off). */
  setSlowCheckpoint (ms: number): void {
    Atomics.store(this.control, ControlSlot.SLOW_CHECKPOINT_MS, ms)
  }

  /** Stops the parse workers, then has the flush worker drain the rings, commit and close LMDB. */
  async stop (): Promise<void> {
    this.stopping = true
    this.dispatch()
    await this.pool.close()
    Atomics.store(this.control, ControlSlot.STOP, 1)
    this.doorbell.ring()
    await this.flushExited
  }
}
