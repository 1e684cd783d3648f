/**
 * One log line per rejected write request, sampled so that a flood of bad
 * requests cannot make logging the bottleneck: at most --log-rejections-per-
 * second lines a second for each kind of rejection (error code and reason,
 * e.g. ERR_OVERLOADED/ring_full). What is left out is counted, never lost:
 * the next line of that kind that is written carries `suppressed` (how many
 * were left out before it), and a kind whose flood has stopped gets a
 * summary line ("rejected requests not logged") within about a second. So
 * the lines written plus their `suppressed` counts add up to the rejections.
 *
 * Only rejections pass through here (an accepted write costs nothing); a
 * left-out one costs a map lookup and an increment. Lines are info for 4xx
 * (the client's fault), warn for 5xx (ringest could not take it).
 */
import type { Logger } from 'pino'

/** What a rejection line says. */
export interface Rejection {
  endpoint: string
  status: number
  code: string
  /** The overload reason (ring_full, queue_full, inflight_bytes), if any. */
  reason?: string | undefined
  /** The error message sent to the client (for ERR_PARSE: the first bad line's). */
  error: string
  /** ERR_PARSE: the line number of the first rejected line, and how many lines (or JSON entries) were rejected. */
  line?: number | undefined
  linesRejected?: number | undefined
  remoteAddress: string | undefined
  /** Content-Length (or the body's length, once read); undefined if unknown. */
  bytes: number | undefined
}

interface Kind {
  /** The second (Date.now() / 1000, floored) that `written` counts lines of. */
  second: number
  written: number
  suppressed: number
  /** The latest rejection of this kind, for the summary line's fields. */
  last: Rejection
}

export class RejectionLog {
  private readonly kinds = new Map<string, Kind>()
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly log: Logger, private readonly perSecond: number, private readonly now: () => number = Date.now) {}

  /** False when nothing would be written (--log-rejections-per-second 0): callers need not build a Rejection. */
  get enabled (): boolean { return this.perSecond > 0 }

  record (r: Rejection): void {
    if (!this.log.isLevelEnabled(levelOf(r))) return
    const second = Math.floor(this.now() / 1000)
    const key = r.reason === undefined ? r.code : `${r.code}/${r.reason}`
    let k = this.kinds.get(key)
    if (k === undefined) {
      k = { second, written: 0, suppressed: 0, last: r }
      this.kinds.set(key, k)
    }
    if (k.second !== second) { k.second = second; k.written = 0 }
    k.last = r
    if (k.written >= this.perSecond) {
      k.suppressed++
      this.timer ??= setInterval(() => this.summarize(false), 1000).unref()
      return
    }
    k.written++
    const suppressed = k.suppressed
    k.suppressed = 0
    this.log[levelOf(r)](suppressed > 0 ? { ...r, suppressed } : r, 'request rejected')
  }

  /** Writes the summary lines still owed (all of them: ringest is stopping). */
  stop (): void {
    this.summarize(true)
  }

  /** A summary line for each kind with left-out rejections whose second is over (every kind if `all`). */
  private summarize (all: boolean): void {
    const second = Math.floor(this.now() / 1000)
    let owed = false
    for (const k of this.kinds.values()) {
      if (k.suppressed === 0) continue
      if (!all && k.second === second) { owed = true; continue }
      const { endpoint, status, code, reason } = k.last
      this.log[levelOf(k.last)]({ endpoint, status, code, reason, suppressed: k.suppressed }, 'rejected requests not logged')
      k.suppressed = 0
    }
    if (!owed && this.timer !== undefined) { clearInterval(this.timer); this.timer = undefined }
  }
}

function levelOf (r: Rejection): 'info' | 'warn' {
  return r.status >= 500 ? 'warn' : 'info'
}
