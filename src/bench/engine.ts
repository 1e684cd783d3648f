/**
 * The load loop of `ringest bench`: one undici Pool (keep-alive, pipelining
 * 1), or one node:net socket per lane (--client net), and one Lane per
 * connection, each with at most one request in flight.
 *
 *   closed  a lane sends its next request as soon as its answer has been read
 *   open    requests are due on a fixed schedule (i / rate, or the replay's
 *           offsets); a free lane takes the oldest due request. When every
 *           lane is busy the due requests wait, and their latency counts from
 *           the time they were due: a stall shows in every request queued behind
 *           it instead of being hidden (coordinated omission)
 *
 * Cost per request is what decides whether the client or the server is
 * measured (the two share the machine's cores), so the hot path allocates
 * nothing of its own: each lane reuses its request options, its handler is
 * itself, bound callbacks are made once, statuses go to a typed array and
 * latencies to an HDR histogram. Lanes use undici's handler interface with
 * onConnect/onHeaders/onData/onComplete/onError: a handler with onRequestStart
 * (the newer interface) is wrapped in two objects per request and has its
 * response headers parsed into an object: 23.9 against 22.3 us of client CPU
 * per 1-sample request in a side-by-side check against the bare baseline.
 * Even so undici costs 20 to 26 us a request, so with --client net a lane
 * writes pre-formatted requests on its own node:net socket (./net-client.ts):
 * 16 us in the same comparison (bench/loadgen-vs-wrk.ts).
 */
import { Pool } from 'undici'
import { requestBytes } from './http1.js'
import { NetConnection } from './net-client.js'
import { Recorder, type SecondRow } from './recorder.js'
import type { Target } from './target.js'
import type { Workload } from './workload.js'
import type { BenchOptions } from './options.js'

/** A request sent this long after its intended time counts as late (above timer jitter, below any stall worth seeing). */
export const LATE_MS = 10
/** After a socket error a lane waits this long, so that a dead server is not hammered in a hot loop. */
const ERROR_PAUSE_MS = 10
/** A Retry-After longer than this is cut to it. */
export const MAX_RETRY_WAIT_MS = 10_000
/** Lane.retryInMs when the answer is final (not to be retried). */
const NO_RETRY = -1
const ERROR_SAMPLES = 5
const ERROR_SAMPLE_CHARS = 300

/** What one load run needs: the target and workload, and the run's settings as the options give them. */
export interface LoadConfig extends Pick<BenchOptions, 'mode' | 'client' | 'connections' | 'rate' | 'durationMs' | 'requests' | 'warmupMs' | 'timeoutMs' | 'retries' | 'headers'> {
  target: Target
  workload: Workload
  /** Replay: epoch ms at which offset 0 is due (the workload's timestamps are based on it). */
  startEpochMs: number | null
  /** Called once a second: the row just ended (null during warmup), and the run so far. */
  onSecond?: (row: SecondRow | null, run: LoadRun) => void
}

/** Milliseconds from a Retry-After header (seconds or an HTTP date) in undici's raw headers, or NO_RETRY. */
function retryAfterMs (raw: Buffer[]): number {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length !== 11 || name.toString('latin1').toLowerCase() !== 'retry-after') continue
    const v = raw[i + 1]!.toString('latin1').trim()
    const ms = /^\d+$/.test(v) ? Number(v) * 1000 : Date.parse(v) - Date.now()
    return Number.isFinite(ms) ? Math.min(MAX_RETRY_WAIT_MS, Math.max(0, ms)) : NO_RETRY
  }
  return NO_RETRY
}

/** One connection's request at a time; also its own undici handler. */
class Lane {
  readonly #run: LoadRun
  readonly opts: { path: string, method: 'POST', headers: string[], body: Buffer }
  /** --client net: this lane's connection (null: undici's pool). */
  readonly conn: NetConnection | null
  /** Which body it is sending. */
  body = 0
  /** Latency origin, perf ms: the intended time (open) or the first send (closed). */
  startedAt = 0
  counted = false
  tries = 0
  status = 0
  retryInMs = NO_RETRY
  errorBody: Buffer[] | null = null
  readonly free: () => void
  readonly resend: () => void

  constructor (run: LoadRun, path: string, headers: string[]) {
    this.#run = run
    this.opts = { path, method: 'POST', headers, body: run.cfg.workload.bodies[0]! }
    const t = run.cfg.target
    this.conn = run.cfg.client === 'net' ? new NetConnection(t.url.hostname.replace(/^\[(.*)\]$/, '$1'), Number(t.url.port || 80), this) : null
    this.free = () => run.laneFree(this)
    this.resend = () => this.send()
  }

  begin (body: number, startedAt: number, counted: boolean): void {
    this.body = body
    this.startedAt = startedAt
    this.counted = counted
    this.tries = 0
    this.opts.body = this.#run.cfg.workload.bodies[body]!
    this.send()
  }

  send (): void {
    this.status = 0
    this.retryInMs = NO_RETRY
    this.errorBody = null
    this.#run.sent++
    if (this.conn !== null) this.conn.send(this.#run.wire![this.body]!)
    else this.#run.pool!.dispatch(this.opts, this)
  }

  onConnect (): void {}

  onHeaders (status: number, raw: Buffer[]): boolean {
    this.status = status
    if (status === 503 && this.tries < this.#run.cfg.retries) this.retryInMs = retryAfterMs(raw)
    if ((status < 200 || status >= 300) && this.retryInMs === NO_RETRY && this.#run.errorSamples.length < ERROR_SAMPLES) this.errorBody = []
    return true
  }

  onData (chunk: Buffer): boolean {
    this.errorBody?.push(chunk)
    return true
  }

  onComplete (): void { this.#run.answered(this) }

  onError (err: Error): void { this.#run.failed(this, err) }
}

export class LoadRun {
  readonly cfg: LoadConfig
  /** --client undici (null with --client net). */
  readonly pool: Pool | null
  /** --client net: each body as a whole request, head included. */
  readonly wire: Buffer[] | null
  readonly rec = new Recorder()
  readonly errorSamples: string[] = []
  readonly #lanes: Lane[] = []
  readonly #idle: Lane[] = []
  readonly #open: boolean
  readonly #bodies: number
  readonly #periodMs: number
  /** HTTP requests sent, warmup and retries included. */
  sent = 0
  /** Requests finished in any phase (for the progress line). */
  finished = 0
  #busy = 0
  #next = 0
  #countedIssued = 0
  #issuing = true
  #t0 = 0
  #windowStart = 0
  #windowEnd = Infinity
  #lastEnd = 0
  #timer: NodeJS.Timeout | null = null
  #timerAt = Infinity
  #pumpQueued = false
  #tick: NodeJS.Timeout | null = null
  /** The start and end of the measured phase (cleared if the run ends first: Ctrl-C). */
  readonly #phaseTimers: NodeJS.Timeout[] = []
  #cpu0: NodeJS.CpuUsage | null = null
  #cpu: NodeJS.CpuUsage | null = null
  #done: (() => void) | null = null
  readonly #pump = (): void => this.pump()
  readonly #onTimer = (): void => { this.#timer = null; this.#timerAt = Infinity; this.pump() }

  constructor (cfg: LoadConfig) {
    this.cfg = cfg
    this.#open = cfg.mode === 'open'
    this.#bodies = cfg.workload.bodies.length
    this.#periodMs = cfg.rate === null ? 0 : 1000 / cfg.rate
    const headerPairs: Array<[string, string]> = [['content-type', cfg.target.contentType], ...cfg.headers]
    this.pool = cfg.client === 'net'
      ? null
      : new Pool(cfg.target.origin, {
        connections: cfg.connections,
        pipelining: 1,
        headersTimeout: cfg.timeoutMs,
        bodyTimeout: cfg.timeoutMs,
        connect: { timeout: cfg.timeoutMs },
        keepAliveTimeout: 60_000, // 60 s; the server's Keep-Alive hint wins when shorter
      })
    this.wire = cfg.client === 'net' ? cfg.workload.bodies.map((b) => requestBytes(cfg.target.url.host, cfg.target.path, headerPairs, b)) : null
    const headers = headerPairs.flat()
    for (let i = 0; i < cfg.connections; i++) this.#lanes.push(new Lane(this, cfg.target.path, headers))
  }

  /** Perf ms at which the measured phase began. */
  get windowStart (): number { return this.#windowStart }
  /** Seconds of the measured phase: its start to the last measured answer (or now, while running). */
  get elapsedS (): number { return Math.max(0, (this.#issuing || this.#busy > 0 ? performance.now() : this.#lastEnd) - this.#windowStart) / 1000 }
  /** Client CPU over the measured phase, in cores. */
  get cpuCores (): number | null {
    if (this.#cpu === null) return null
    const s = this.elapsedS
    return s > 0 ? (this.#cpu.user + this.#cpu.system) / 1e6 / s : null
  }

  /** Runs until every request is finished; stop() ends it early. */
  run (): Promise<void> {
    const cfg = this.cfg
    const now = performance.now()
    this.#t0 = cfg.startEpochMs === null ? now : cfg.startEpochMs - performance.timeOrigin
    this.#windowStart = this.#t0 + cfg.warmupMs
    if (cfg.durationMs !== null) this.#windowEnd = this.#windowStart + cfg.durationMs
    this.#lastEnd = this.#windowStart
    this.rec.begin(this.#windowStart)
    const finished = new Promise<void>((resolve) => { this.#done = resolve })
    this.#armTick(1)
    this.#phaseTimers.push(setTimeout(() => { this.#cpu0 = process.cpuUsage() }, Math.max(0, this.#windowStart - now)))
    if (this.#windowEnd !== Infinity) this.#phaseTimers.push(setTimeout(() => this.#endWindow(), Math.max(0, this.#windowEnd - now)))
    if (this.#open) {
      this.#idle.push(...this.#lanes)
      this.pump()
    } else {
      for (const lane of this.#lanes) { this.#busy++; this.laneFree(lane) }
    }
    return finished
  }

  /** Ends the run early (Ctrl-C): no new requests; those in flight finish. */
  stop (): void {
    this.#issuing = false
    this.#maybeDone()
  }

  #armTick (k: number): void {
    const at = this.#t0 + k * 1000
    this.#tick = setTimeout(() => {
      const now = performance.now()
      const row = now > this.#windowStart ? this.rec.endRow(now, this.#windowStart) : null
      for (const lane of this.#lanes) lane.conn?.checkTimeout(now, this.cfg.timeoutMs)
      this.cfg.onSecond?.(row, this)
      this.#armTick(k + 1)
    }, Math.max(0, at - performance.now()))
  }

  /** Open loop, duration: requests still waiting for a lane at the end are never sent. */
  #endWindow (): void {
    if (!this.#issuing) return
    if (this.#open && this.cfg.requests === null) {
      this.pump() // what is due and has a free lane goes now (the pump's timer may fire after this one)
      if (!this.#issuing) return
      const due = Math.ceil((this.#windowEnd - this.#t0) / this.#periodMs)
      const measuredFirst = Math.ceil((this.#windowStart - this.#t0) / this.#periodMs)
      this.rec.unsent = Math.max(0, due - Math.max(this.#next, measuredFirst))
    }
    this.#issuing = false
    this.#maybeDone()
  }

  /** Closed loop: the lane's next request; open loop: the lane waits for the next due one. */
  laneFree (lane: Lane): void {
    this.#busy--
    if (this.#open) {
      this.#idle.push(lane)
      this.pump()
      return
    }
    const now = performance.now()
    const counted = now >= this.#windowStart
    if (!this.#issuing || now >= this.#windowEnd || (counted && this.cfg.requests !== null && this.#countedIssued >= this.cfg.requests)) {
      this.#issuing = false
      this.#maybeDone()
      return
    }
    if (counted) this.#countedIssued++
    this.#busy++
    const body = this.#next
    this.#next = body + 1 === this.#bodies ? 0 : body + 1
    lane.begin(body, now, counted)
  }

  /** Open loop: gives every due request a free lane, then sleeps until the next one is due. */
  pump (): void {
    this.#pumpQueued = false
    const now = performance.now()
    const replay = this.cfg.workload.dueMs
    while (this.#issuing && this.#idle.length > 0) {
      const i = this.#next
      const due = replay !== null ? (i < replay.length ? this.#t0 + replay[i]! : Infinity) : this.#t0 + i * this.#periodMs
      const counted = due >= this.#windowStart
      if (due === Infinity || due >= this.#windowEnd || (counted && this.cfg.requests !== null && this.#countedIssued >= this.cfg.requests)) {
        this.#issuing = false
        break
      }
      if (due > now) {
        if (this.#timerAt > due) {
          if (this.#timer !== null) clearTimeout(this.#timer)
          this.#timerAt = due
          // Whole milliseconds: Node keeps one timer list per distinct delay, so 0.37 ms, 0.41 ms... would each make one.
          this.#timer = setTimeout(this.#onTimer, Math.ceil(due - now))
        }
        return
      }
      if (counted) {
        this.#countedIssued++
        if (now - due > LATE_MS) this.rec.late++
      }
      this.#next = i + 1
      this.#busy++
      this.#idle.pop()!.begin(replay !== null ? i : i % this.#bodies, due, counted)
    }
    this.#maybeDone()
  }

  answered (lane: Lane): void {
    const now = performance.now()
    if (lane.counted) this.rec.status(lane.status)
    if (lane.retryInMs !== NO_RETRY) {
      lane.tries++
      if (lane.counted) this.rec.retries++
      setTimeout(lane.resend, lane.retryInMs)
      return
    }
    this.finished++
    const ok = lane.status >= 200 && lane.status < 300
    if (lane.counted) {
      if (ok) this.rec.ok2xx(now - lane.startedAt, this.cfg.workload.samples[lane.body]!, lane.opts.body.length)
      else this.rec.failedStatus()
      this.#lastEnd = now
    }
    if (lane.errorBody !== null) {
      this.errorSamples.push(`${lane.status} ${Buffer.concat(lane.errorBody).toString('utf8').slice(0, ERROR_SAMPLE_CHARS)}`)
      lane.errorBody = null
    }
    // Not from inside undici's callback: let it finish with this request first.
    if (this.#open) { this.#busy--; this.#idle.push(lane); this.#schedulePump() } else queueMicrotask(lane.free)
  }

  failed (lane: Lane, err: Error): void {
    const now = performance.now()
    const code = (err as { code?: string }).code ?? err.name
    this.finished++
    if (lane.counted) { this.rec.error(code); this.#lastEnd = now }
    if (this.errorSamples.length < ERROR_SAMPLES) this.errorSamples.push(`${code} ${err.message.slice(0, ERROR_SAMPLE_CHARS)}`)
    setTimeout(lane.free, ERROR_PAUSE_MS)
  }

  #schedulePump (): void {
    if (this.#pumpQueued) return
    this.#pumpQueued = true
    queueMicrotask(this.#pump)
  }

  #maybeDone (): void {
    if (this.#issuing || this.#busy > 0 || this.#done === null) return
    if (this.#timer !== null) clearTimeout(this.#timer)
    if (this.#tick !== null) clearTimeout(this.#tick)
    for (const t of this.#phaseTimers) clearTimeout(t)
    if (this.#cpu0 !== null) this.#cpu = process.cpuUsage(this.#cpu0)
    const now = performance.now()
    if (now > this.#windowStart && this.rec.rowHasData) this.rec.endRow(this.#lastEnd, this.#windowStart)
    const done = this.#done
    this.#done = null
    done()
  }

  async close (): Promise<void> {
    for (const lane of this.#lanes) lane.conn?.close()
    await this.pool?.close()
  }
}
