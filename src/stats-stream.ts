/**
 * GET /stats/stream: the /stats JSON as server-sent events, for the
 * dashboard. One `event: stats` on connect, then one a second.
 *
 * One shared timer for every client: the snapshot is built and serialised
 * once a tick and the same bytes are written to each stream, so N open
 * dashboards cost one snapshot a second, not N. The timer runs only while a
 * stream is open.
 *
 * A stream is not an in-flight request: it is registered here and its
 * handler returns at once, so the server's in-flight count (which shutdown
 * waits on) never includes it. Node's --request-timeout-ms and
 * --headers-timeout-ms do not cut it either: node:http applies them until a
 * request has been received in full, and a GET without a body is complete
 * as soon as its head is (checked on Node 20 with a 1 s request timeout and
 * a 3 s stream).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { HttpError } from './errors.js'

/** Open streams at most; the next one gets 503 ERR_TOO_MANY_STREAMS. */
export const MAX_STATS_STREAMS = 16
/** Time between two events. */
export const STATS_STREAM_INTERVAL_MS = 1000 // 1 s
/** What EventSource waits before reconnecting once the stream is cut (its `retry:` field). */
const RECONNECT_MS = 2000 // 2 s
/**
 * Bytes a stream may have queued unsent (a client that stopped reading, a
 * stalled tab): past this it is dropped, rather than held in memory at a
 * snapshot a second. A few snapshots' worth.
 */
const MAX_QUEUED_BYTES = 256 * 1024 // 256 KiB

const HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  // Reverse proxies (nginx) buffer responses unless told not to; an event stream must not be.
  'x-accel-buffering': 'no',
  // The stream is the connection's whole life: when it ends (shutdown, limit), the socket goes with it.
  connection: 'close',
} as const

/** One SSE frame; JSON.stringify output holds no newline, so one `data:` line is enough. */
function frame (json: string): string {
  return `event: stats\ndata: ${json}\n\n`
}

export class StatsStreams {
  private readonly clients = new Set<ServerResponse>()
  private timer: NodeJS.Timeout | undefined
  private closed = false

  /** `body` renders the /stats JSON; it is called once a tick, whatever the number of clients. */
  constructor (private readonly body: () => unknown, private readonly log: Logger, readonly max = MAX_STATS_STREAMS) {}

  /** Streams open now. */
  get open (): number { return this.clients.size }

  /**
   * Starts a stream on `res`, or throws HttpError (ERR_TOO_MANY_STREAMS at the
   * limit, ERR_SHUTTING_DOWN once closeAll ran) before anything is written.
   */
  add (req: IncomingMessage, res: ServerResponse): void {
    if (this.closed) throw new HttpError('ERR_SHUTTING_DOWN', 'ringest is shutting down')
    if (this.clients.size >= this.max) {
      throw new HttpError('ERR_TOO_MANY_STREAMS', `${this.clients.size} stats streams are open, the most ringest serves at once; close a dashboard and retry`, { limit: this.max })
    }
    const first = this.render()
    if (first === undefined) throw new HttpError('ERR_INTERNAL', 'the stats snapshot failed (see the log)')
    this.clients.add(res)
    // 'close' comes once whichever way the stream ends: the client left, it was dropped, or closeAll.
    res.on('close', () => this.remove(res))
    req.socket.setNoDelay(true)
    res.writeHead(200, HEADERS)
    res.write(`retry: ${RECONNECT_MS}\n\n${frame(first)}`)
    this.timer ??= setInterval(() => this.tick(), STATS_STREAM_INTERVAL_MS).unref()
    this.log.debug({ open: this.clients.size, remote: req.socket.remoteAddress }, 'stats stream opened')
  }

  /** Ends every stream and refuses new ones: called first thing at shutdown, so no stream holds it up. */
  closeAll (): void {
    this.closed = true
    this.stop()
    for (const res of [...this.clients]) res.end()
    this.clients.clear()
  }

  private remove (res: ServerResponse): void {
    if (!this.clients.delete(res)) return
    this.log.debug({ open: this.clients.size }, 'stats stream closed')
    if (this.clients.size === 0) this.stop()
  }

  private stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  /** The snapshot as JSON, or undefined (logged) if building it threw: one bad tick must not kill the streams. */
  private render (): string | undefined {
    try {
      return JSON.stringify(this.body())
    } catch (err) {
      this.log.error({ err }, 'stats snapshot for /stats/stream failed')
      return undefined
    }
  }

  private tick (): void {
    const json = this.render()
    if (json === undefined) return
    const bytes = frame(json)
    for (const res of [...this.clients]) {
      if (res.writableLength > MAX_QUEUED_BYTES) {
        this.log.warn({ queuedBytes: res.writableLength }, 'dropping a /stats/stream client that does not read')
        res.destroy()
        continue
      }
      res.write(bytes)
    }
  }
}
