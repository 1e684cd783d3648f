/**
 * What one run of `ringest bench` counts. Latencies go into an HDR histogram
 * (node:perf_hooks createHistogram: HdrHistogram_c in Node's core, 3
 * significant digits, microseconds), one per second, merged into the run's
 * total when the second ends; statuses into an array indexed by the code. So
 * recording a request allocates nothing.
 *
 * Only the measured phase is recorded (requests sent at or after the end of
 * --warmup; in an open loop, requests *due* then). Latency is of 2xx answers
 * only, so fast errors cannot improve the percentiles; it runs from the first
 * send (closed loop) or the intended send time (open loop) to the end of the
 * final answer, retries included.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks'

export interface Percentiles { count: number, mean: number, p50: number, p90: number, p99: number, p999: number, max: number }

export interface SecondRow {
  /** End of the second, s after the measured phase began. */
  t: number
  /** Its length, s (the first and last may be short). */
  seconds: number
  ok: number
  non2xx: number
  errors: number
  samples: number
  /** Latency of the 2xx answers that ended in it, ms (0 when none). */
  p50: number
  p90: number
  p99: number
  max: number
}

const STATUS_SLOTS = 600 // status codes 0..599

const ms = (us: number): number => Math.round(us) / 1000

export function percentiles (h: RecordableHistogram): Percentiles {
  if (h.count === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 }
  return { count: h.count, mean: ms(h.mean), p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), p999: ms(h.percentile(99.9)), max: ms(h.max) }
}

export class Recorder {
  readonly total = createHistogram()
  #second = createHistogram()
  readonly statuses = new Float64Array(STATUS_SLOTS)
  readonly errors: Record<string, number> = {}
  readonly rows: SecondRow[] = []
  /** Measured requests finished: answered (any status, after retries) or failed. */
  requests = 0
  ok = 0
  okSamples = 0
  okBytes = 0
  non2xx = 0
  errorCount = 0
  retries = 0
  /** Open loop: measured requests sent more than LATE_MS after their intended time. */
  late = 0
  /** Open loop: measured requests due before the end that were never sent (no free connection). */
  unsent = 0
  #rowOk = 0
  #rowNon2xx = 0
  #rowErrors = 0
  #rowSamples = 0
  #rowStart = 0

  /** A measured request answered 2xx, `latencyMs` after its start. */
  ok2xx (latencyMs: number, samples: number, bytes: number): void {
    this.requests++
    this.ok++
    this.okSamples += samples
    this.okBytes += bytes
    this.#rowOk++
    this.#rowSamples += samples
    const us = Math.round(latencyMs * 1000)
    this.#second.record(us < 1 ? 1 : us)
  }

  /** A measured request whose final answer was not 2xx. */
  failedStatus (): void { this.requests++; this.non2xx++; this.#rowNon2xx++ }

  /** Every response of a measured request, retried 503s included. */
  status (code: number): void { this.statuses[code < STATUS_SLOTS ? code : 0]!++ }

  error (code: string): void {
    this.requests++
    this.errorCount++
    this.#rowErrors++
    this.errors[code] = (this.errors[code] ?? 0) + 1
  }

  /** Something was recorded since the last row ended. */
  get rowHasData (): boolean { return this.#rowOk + this.#rowNon2xx + this.#rowErrors > 0 }

  /** Starts the first row at `now` (perf ms), the start of the measured phase. */
  begin (now: number): void { this.#rowStart = now }

  /** Ends the current row at `now`; `since` is the measured phase's start. */
  endRow (now: number, since: number): SecondRow {
    const p = percentiles(this.#second)
    const row: SecondRow = {
      t: Math.round(now - since) / 1000,
      seconds: Math.max(0, Math.round(now - this.#rowStart)) / 1000,
      ok: this.#rowOk,
      non2xx: this.#rowNon2xx,
      errors: this.#rowErrors,
      samples: this.#rowSamples,
      p50: p.p50,
      p90: p.p90,
      p99: p.p99,
      max: p.max,
    }
    this.rows.push(row)
    this.total.add(this.#second)
    this.#second.reset()
    this.#rowOk = this.#rowNon2xx = this.#rowErrors = this.#rowSamples = 0
    this.#rowStart = now
    return row
  }

  statusCounts (): Record<string, number> {
    const out: Record<string, number> = {}
    for (let c = 0; c < STATUS_SLOTS; c++) if (this.statuses[c]! > 0) out[String(c)] = this.statuses[c]!
    return out
  }
}
