/**
 * `ringest bench --client net`: one plain node:net socket per lane, each
 * request written as one pre-formatted buffer (request line, headers, body:
 * built before the run, like wrk's script does), each response read by
 * ./http1.ts. No Request, timer or event object per request: on 1-line
 * bodies this costs 16 us of client CPU per request where undici's Pool costs
 * 26 (npm run bench:loadgen, 64 connections, medians of 3 rounds), which
 * decides whether a 2-core machine measures the server or the load generator.
 * http:// only; undici stays the default and does everything else (https,
 * anything unusual).
 *
 * A lane calls send() only when its previous request has ended, so at most one
 * request is in flight per connection. Timeouts are enforced by the caller
 * calling checkTimeout() from a periodic sweep, not by a timer per request.
 */
import { connect, type Socket } from 'node:net'
import { ResponseParser, type ResponseHandler } from './http1.js'

export interface ConnectionHandler extends ResponseHandler {
  onError (err: Error): void
}

/**
 * A connection idle this long is replaced rather than reused: servers close idle keep-alive
 * connections (node:http after 5 s), and a request written while the server closes is lost.
 */
export const IDLE_REUSE_MS = 2_000

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code })

export class NetConnection {
  readonly #host: string
  readonly #port: number
  readonly #handler: ConnectionHandler
  readonly #parser: ResponseParser
  #socket: Socket | null = null
  #inFlight = false
  #sentAt = 0
  #lastEnd = 0

  constructor (host: string, port: number, handler: ConnectionHandler) {
    this.#host = host
    this.#port = port
    this.#handler = handler
    this.#parser = new ResponseParser({
      onHeaders: (status, raw) => handler.onHeaders(status, raw),
      onData: (chunk) => handler.onData(chunk),
      onComplete: () => this.#completed(),
    })
  }

  /** Writes one whole request (see http1.requestBytes). */
  send (request: Buffer): void {
    const now = performance.now()
    let s = this.#socket
    if (s !== null && now - this.#lastEnd > IDLE_REUSE_MS) { this.#socket = null; s.destroy(); s = null }
    s ??= this.#open()
    this.#inFlight = true
    this.#sentAt = now
    this.#parser.reset()
    this.#parser.expect()
    s.write(request) // written once connected, if it is not yet
  }

  /** Fails the request in flight if it has waited more than `timeoutMs` (called about once a second). */
  checkTimeout (now: number, timeoutMs: number): void {
    if (this.#inFlight && now - this.#sentAt > timeoutMs) this.#fail(withCode(`no complete response within ${timeoutMs} ms`, 'ERR_BENCH_TIMEOUT'))
  }

  close (): void {
    const s = this.#socket
    this.#socket = null
    s?.destroy()
  }

  #open (): Socket {
    const s = connect({ host: this.#host, port: this.#port })
    s.setNoDelay(true)
    // Events of a socket this connection has already let go of are ignored.
    s.on('data', (chunk: Buffer) => {
      if (s !== this.#socket) return
      try { this.#parser.feed(chunk) } catch (e) { this.#fail(e as Error) }
    })
    s.on('error', (err) => { if (s === this.#socket) this.#fail(err) })
    s.on('close', () => {
      if (s !== this.#socket) return
      this.#socket = null
      if (!this.#inFlight) return
      if (this.#parser.endsAtClose) this.#parser.closed()
      else this.#fail(withCode('the server closed the connection before the response ended', 'ERR_BENCH_SOCKET_CLOSED'))
    })
    this.#socket = s
    return s
  }

  #completed (): void {
    this.#inFlight = false
    this.#lastEnd = performance.now()
    if (this.#parser.closeAfter) this.close()
    this.#handler.onComplete()
  }

  #fail (err: Error): void {
    this.close()
    if (!this.#inFlight) return
    this.#inFlight = false
    this.#parser.reset()
    this.#handler.onError(err)
  }
}
