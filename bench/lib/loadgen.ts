/**
 * The ingest benchmark's load generator: a child process forked by
 * bench/ingest.ts (see ./messages.ts for the conversation), so that its CPU
 * and event loop are its own and the server runs in a third process.
 *
 * Closed loop on an undici Pool (keep-alive, pipelining 1): `connections`
 * lanes each post a body, wait for the whole answer, and post the next one at
 * once, rotating over bodies generated before START (so generating costs
 * nothing during the run). Lanes use `pool.dispatch` with a handler object
 * rather than `pool.request`: no promise, stream or response object per
 * request, so the client spends less of the 2 cores it shares with the server.
 */
import { Pool, type Dispatcher } from 'undici'
import { makeBodies, type BodySet } from './bodies.js'
import { LatencyRecorder } from './latency.js'
import { Msg, type ConfigMsg, type FromLoadgen, type PhaseCounts, type StartMsg, type ToLoadgen } from './messages.js'

/** After a request fails (socket error, timeout) its lane waits this long before the next, so a dead server is not hammered in a hot loop. */
const ERROR_PAUSE_MS = 10
/** Non-2xx response bodies kept to show why, and how much of each. */
const ERROR_SAMPLES = 5
const ERROR_SAMPLE_CHARS = 300
const HEADERS = { 'content-type': 'text/plain; charset=utf-8' }

if (process.send === undefined) {
  console.error('bench/lib/loadgen.js is started by dist/bench/ingest.js (npm run bench:ingest), not by hand')
  process.exit(2)
}
const send = (m: FromLoadgen, then?: () => void): void => {
  process.send!(m, undefined, undefined, () => then?.())
}
// Never outlive the driver: if it goes, so do we (and our sockets).
process.on('disconnect', () => process.exit(1))

const newCounts = (): PhaseCounts => ({ ok: 0, statuses: {}, errors: {}, okSamples: 0, okBytes: 0 })
const bump = (m: Record<string, number>, k: string): void => { m[k] = (m[k] ?? 0) + 1 }

class Run {
  readonly pool: Pool
  readonly path: string
  readonly set: BodySet
  readonly window = newCounts()
  readonly whole = newCounts()
  readonly latency = new LatencyRecorder()
  readonly errorSamples: string[] = []
  inflight = 0
  stopping = false
  #next = 0
  #windowStart = Infinity
  #windowEnd = -Infinity
  #cpu0: NodeJS.CpuUsage | null = null
  #cpuT0 = 0
  #cpuCores: number | null = null
  #cpuWindow: [number, number] | null = null

  constructor (readonly cfg: ConfigMsg, set: BodySet) {
    this.set = set
    this.path = cfg.path
    this.pool = new Pool(cfg.origin, {
      connections: cfg.connections,
      pipelining: 1,
      headersTimeout: cfg.timeoutMs,
      bodyTimeout: cfg.timeoutMs,
      keepAliveTimeout: 60_000, // 60 s; the server's Keep-Alive hint wins when shorter
    })
  }

  /** Index of the next body: one rotation shared by all lanes, like one wrk thread. */
  nextBody (): number {
    const i = this.#next
    this.#next = i + 1 === this.set.bodies.length ? 0 : i + 1
    return i
  }

  start (m: StartMsg): void {
    this.#windowStart = m.windowStart
    this.#windowEnd = m.windowEnd
    setTimeout(() => { this.#cpu0 = process.cpuUsage(); this.#cpuT0 = Date.now() }, Math.max(0, m.windowStart - Date.now()))
    setTimeout(() => {
      if (this.#cpu0 === null) return
      const d = process.cpuUsage(this.#cpu0)
      const t1 = Date.now()
      this.#cpuCores = (d.user + d.system) / 1000 / Math.max(1, t1 - this.#cpuT0)
      this.#cpuWindow = [this.#cpuT0, t1]
    }, Math.max(0, m.windowEnd - Date.now()))
    for (let c = 0; c < this.cfg.connections; c++) new Lane(this).issue()
  }

  completed (body: number, status: number, ms: number, endPerf: number, errorBody: Buffer[] | null): void {
    const end = performance.timeOrigin + endPerf
    const inWindow = end >= this.#windowStart && end < this.#windowEnd
    const ok = status >= 200 && status < 300
    for (const c of inWindow ? [this.whole, this.window] : [this.whole]) {
      if (ok) {
        c.ok++
        c.okSamples += this.set.samples[body]!
        c.okBytes += this.set.bodies[body]!.length
      } else {
        bump(c.statuses, String(status))
      }
    }
    if (ok && inWindow) this.latency.record(ms)
    if (errorBody !== null && this.errorSamples.length < ERROR_SAMPLES) {
      this.errorSamples.push(`${status} ${Buffer.concat(errorBody).toString('utf8').slice(0, ERROR_SAMPLE_CHARS)}`)
    }
  }

  failed (err: Error, endPerf: number): void {
    const end = performance.timeOrigin + endPerf
    const code = (err as { code?: string }).code ?? err.name
    bump(this.whole.errors, code)
    if (end >= this.#windowStart && end < this.#windowEnd) bump(this.window.errors, code)
    if (this.errorSamples.length < ERROR_SAMPLES) this.errorSamples.push(`${code} ${err.message.slice(0, ERROR_SAMPLE_CHARS)}`)
  }

  /** Stops issuing, waits up to drainMs for requests in flight, closes the pool, reports. */
  async stop (): Promise<void> {
    this.stopping = true
    const deadline = Date.now() + this.cfg.drainMs
    while (this.inflight > 0 && Date.now() < deadline) await sleep(10)
    const abandoned = this.inflight
    const closing = abandoned > 0 ? this.pool.destroy() : this.pool.close()
    await Promise.race([closing.catch(() => {}), sleep(5_000)])
    send({
      kind: Msg.RESULT,
      window: this.window,
      whole: this.whole,
      latency: this.latency.summary(),
      cpuCoresSelf: this.#cpuCores,
      cpuWindow: this.#cpuWindow,
      abandoned,
      errorSamples: this.errorSamples,
    }, () => process.exit(0))
  }
}

/** One connection's closed loop: the handler of its current request. */
class Lane implements Dispatcher.DispatchHandler {
  readonly #run: Run
  #body = 0
  #t0 = 0
  #status = 0
  #errorBody: Buffer[] | null = null

  constructor (run: Run) { this.#run = run }

  issue (): void {
    const run = this.#run
    if (run.stopping) return
    this.#body = run.nextBody()
    this.#status = 0
    this.#errorBody = null
    run.inflight++
    this.#t0 = performance.now()
    run.pool.dispatch({ path: run.path, method: 'POST', headers: HEADERS, body: run.set.bodies[this.#body]! }, this)
  }

  // Defining onRequestStart is what makes undici treat this as a new-style (controller) handler.
  onRequestStart (): void {}

  onResponseStart (_c: Dispatcher.DispatchController, statusCode: number): void {
    this.#status = statusCode
    if ((statusCode < 200 || statusCode >= 300) && this.#run.errorSamples.length < ERROR_SAMPLES) this.#errorBody = []
  }

  onResponseData (_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#errorBody?.push(chunk)
  }

  onResponseEnd (): void {
    const t = performance.now()
    const run = this.#run
    run.inflight--
    run.completed(this.#body, this.#status, t - this.#t0, t, this.#errorBody)
    // Not from inside undici's callback: let it finish with this request first.
    if (!run.stopping) queueMicrotask(() => this.issue())
  }

  onResponseError (_c: Dispatcher.DispatchController, err: Error): void {
    const run = this.#run
    run.inflight--
    run.failed(err, performance.now())
    if (!run.stopping) setTimeout(() => this.issue(), ERROR_PAUSE_MS)
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

let run: Run | null = null
process.on('message', (m: ToLoadgen) => {
  try {
    if (m.kind === Msg.CONFIG) {
      const t = performance.now()
      const set = makeBodies(m.linesPerBody, m.totalLines, { hosts: m.hosts, t0: m.t0, seed: m.seed })
      run = new Run(m, set)
      send({
        kind: Msg.READY,
        bodies: set.bodies.length,
        bodyBytesAvg: set.bytes / set.bodies.length,
        samplesPerBody: set.totalSamples / set.bodies.length,
        genMs: Math.round(performance.now() - t),
      })
    } else if (m.kind === Msg.START) {
      run!.start(m)
    } else if (m.kind === Msg.STOP) {
      run!.stop().catch((err: unknown) => send({ kind: Msg.FAILED, message: String(err) }, () => process.exit(1)))
    }
  } catch (err) {
    send({ kind: Msg.FAILED, message: err instanceof Error ? err.stack ?? err.message : String(err) }, () => process.exit(1))
  }
})
