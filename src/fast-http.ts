/**
 * The write fast path: a small HTTP/1.1 reader on node:net for the one
 * request shape agents send over and over, `POST <write path>` with a
 * Content-Length body. node:http spends about half of a core's request
 * budget on its IncomingMessage/ServerResponse machinery (bench/README.md:
 * 83.5 k req/s for a bare net responder against 43.9 k for bare node:http,
 * same wrk run), and at one sample per request that machinery is the
 * ingest ceiling.
 *
 * It is deliberately narrow. Anything it does not recognise — another
 * method or path, HTTP/1.0, Transfer-Encoding, Expect, a duplicated or
 * malformed header, a head over 16 KiB, a body over the limit — hands the
 * whole connection, with every byte not yet consumed, to the node:http
 * server, which then owns it for good and answers with its own (complete)
 * parser. A request is only ever read from its first byte by one of the
 * two, so nothing is parsed twice or half-parsed.
 *
 * One request at a time per connection: the next request (pipelined bytes
 * are kept) is read only once the previous one is answered, so answers go
 * out in order. While a request waits, the socket is paused once more than
 * MAX_BUFFERED bytes have piled up behind it.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import type { Server as HttpServer } from 'node:http'

export interface FastRequest {
  path: string
  /** The raw query string, without '?'. */
  query: string
  contentType: string | undefined
  contentEncoding: string | undefined
  contentLength: number
  /** The connection, for the remote address of a rejection's log line (read only then: it costs a call). */
  socket: Socket
}

export interface Reply {
  status: number
  headers: Record<string, string | number>
  body?: string
}

/** Admission decided once the head is read, before any body byte is held. */
export interface Admission {
  /** The body is complete: store it and say what to answer. */
  complete (body: Uint8Array): Promise<Reply>
  /** The body never came (client gone or timed out). */
  abort (): void
}

export interface FastApp {
  /** Whether the fast path serves this method and path; false hands the connection to node:http. */
  accepts (method: string, path: string): boolean
  /** Admits the request or answers at once (the body is then read and dropped). */
  begin (req: FastRequest): Admission | Reply
  /** Whether answers should close their connection (shutting down). */
  readonly closing: boolean
  /** A request's head (phase 'head') or body ('body') did not arrive in time; it was answered 408 and its connection closed. */
  timedOut? (socket: Socket, phase: 'head' | 'body', bytes: number): void
}

export interface FastOptions {
  maxBodyBytes: number
  headersTimeoutMs: number
  requestTimeoutMs: number
  keepAliveTimeoutMs: number
}

/** node:http's default --max-http-header-size. */
const MAX_HEAD_BYTES = 16 * 1024
/** Bytes buffered behind a request in progress before the socket is paused. */
const MAX_BUFFERED = 1024 * 1024
const CRLFCRLF = Buffer.from('\r\n\r\n')

const REASONS: Record<number, string> = {
  200: 'OK', 204: 'No Content', 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large',
  415: 'Unsupported Media Type', 500: 'Internal Server Error', 503: 'Service Unavailable',
}

let dateMs = 0
let dateLine = ''
function date (): string {
  const now = Date.now()
  if (now - dateMs >= 1000) {
    dateMs = now - (now % 1000)
    dateLine = `Date: ${new Date(dateMs).toUTCString()}\r\n`
  }
  return dateLine
}

function render (reply: Reply, close: boolean): string {
  let head = `HTTP/1.1 ${reply.status} ${REASONS[reply.status] ?? 'Unknown'}\r\n${date()}`
  for (const name in reply.headers) head += `${name}: ${reply.headers[name]}\r\n`
  if (close) head += 'Connection: close\r\n'
  if (reply.status === 204 || reply.status === 304) return head + '\r\n'
  const body = reply.body ?? ''
  return `${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}

const enum State { HEAD, BODY, DISCARD, BUSY, GONE }

class Connection {
  state = State.HEAD
  /** Bytes received and not yet consumed (head, or the requests behind the one in progress). */
  pending: Buffer | null = null
  /** Idle: when the last answer went out. Otherwise: when the current request's first byte came. */
  since = Date.now()
  idle = true
  body: Uint8Array | null = null
  filled = 0
  discard = 0
  admission: Admission | null = null
  closeAfter = false
  paused = false
  readonly onData = (chunk: Buffer): void => { this.receive(chunk) }

  constructor (readonly socket: Socket, readonly fast: FastHttp) {
    socket.on('data', this.onData)
    socket.on('end', () => {
      if (this.state === State.BUSY) this.closeAfter = true
      else this.destroy()
    })
    socket.on('close', () => this.gone())
    socket.on('error', () => this.gone())
  }

  receive (chunk: Buffer): void {
    // The head's first byte starts its clock (--headers-timeout-ms, then --request-timeout-ms for the whole request).
    if (this.idle) { this.idle = false; this.since = Date.now() }
    if (this.state === State.BODY) {
      const take = Math.min(chunk.length, this.body!.length - this.filled)
      this.body!.set(take === chunk.length ? chunk : chunk.subarray(0, take), this.filled)
      this.filled += take
      if (take < chunk.length) this.pending = chunk.subarray(take)
      if (this.filled === this.body!.length) this.dispatch()
      return
    }
    this.pending = this.pending === null ? chunk : Buffer.concat([this.pending, chunk])
    if (this.state === State.BUSY) {
      if (!this.paused && this.pending.length > MAX_BUFFERED) { this.paused = true; this.socket.pause() }
      return
    }
    this.advance()
  }

  /** Consumes pending bytes: discards a refused body, or reads the next head. */
  advance (): void {
    while (this.pending !== null && this.state !== State.BUSY && this.state !== State.GONE) {
      if (this.state === State.DISCARD) {
        const n = Math.min(this.discard, this.pending.length)
        this.discard -= n
        this.pending = n === this.pending.length ? null : this.pending.subarray(n)
        if (this.discard === 0) this.startHead()
        continue
      }
      if (this.state === State.BODY) { const p = this.pending; this.pending = null; this.receive(p); continue }
      if (!this.readHead()) return
    }
  }

  startHead (): void {
    this.state = State.HEAD
    this.since = Date.now()
    if (this.closeAfter) this.destroy()
  }

  /** Reads one head from pending; false when it needs more bytes or gave the connection away. */
  readHead (): boolean {
    const buf = this.pending!
    const end = buf.indexOf(CRLFCRLF)
    if (end < 0) {
      if (buf.length > MAX_HEAD_BYTES) this.handOff()
      return false
    }
    if (end > MAX_HEAD_BYTES) { this.handOff(); return false }
    const head = buf.toString('latin1', 0, end)
    const lineEnd = head.indexOf('\r\n')
    const line = lineEnd < 0 ? head : head.slice(0, lineEnd)
    const sp1 = line.indexOf(' ')
    const sp2 = line.indexOf(' ', sp1 + 1)
    if (sp1 <= 0 || sp2 < 0 || line.slice(sp2 + 1) !== 'HTTP/1.1' || line.charCodeAt(sp1 + 1) !== 0x2f /* / */) { this.handOff(); return false }
    const method = line.slice(0, sp1)
    const target = line.slice(sp1 + 1, sp2)
    const q = target.indexOf('?')
    const path = q < 0 ? target : target.slice(0, q)
    if (!this.fast.app.accepts(method, path)) { this.handOff(); return false }
    let contentLength = -1
    let contentType: string | undefined
    let contentEncoding: string | undefined
    let close = false
    let at = lineEnd < 0 ? head.length : lineEnd + 2
    while (at < head.length) {
      let next = head.indexOf('\r\n', at)
      if (next < 0) next = head.length
      const colon = head.indexOf(':', at)
      if (colon <= at || colon > next) { this.handOff(); return false }
      const name = head.slice(at, colon).toLowerCase()
      const value = head.slice(colon + 1, next).trim()
      at = next + 2
      // Header names with whitespace or control bytes, and obsolete line folding, go to node:http.
      if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name) || /[\0-\x08\x0a-\x1f\x7f]/.test(value)) { this.handOff(); return false }
      switch (name) {
        case 'content-length':
          if (contentLength >= 0 || !/^\d{1,15}$/.test(value)) { this.handOff(); return false }
          contentLength = Number(value)
          break
        case 'content-type':
          if (contentType !== undefined) { this.handOff(); return false }
          contentType = value
          break
        case 'content-encoding':
          if (contentEncoding !== undefined) { this.handOff(); return false }
          contentEncoding = value
          break
        case 'connection':
          if (/(^|,)\s*close\s*(,|$)/i.test(value)) close = true
          break
        case 'transfer-encoding':
        case 'expect':
        case 'upgrade':
          this.handOff(); return false
      }
    }
    if (contentLength < 0 || contentLength > this.fast.options.maxBodyBytes) { this.handOff(); return false }

    // The head is ours: consume it.
    this.pending = end + 4 === buf.length ? null : buf.subarray(end + 4)
    this.closeAfter = close
    const result = this.fast.app.begin({ path, query: q < 0 ? '' : target.slice(q + 1), contentType, contentEncoding, contentLength, socket: this.socket })
    if ('status' in result) {
      this.write(result)
      this.discard = contentLength
      this.state = State.DISCARD
      if (contentLength === 0) this.startHead()
      return true
    }
    this.admission = result
    this.body = new Uint8Array(new ArrayBuffer(contentLength))
    this.filled = 0
    this.state = State.BODY
    if (contentLength === 0) this.dispatch()
    return true
  }

  dispatch (): void {
    const admission = this.admission!
    const body = this.body!
    this.admission = null
    this.body = null
    this.state = State.BUSY
    admission.complete(body).then((reply) => this.answered(reply), (err: unknown) => {
      this.answered({ status: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'ERR_INTERNAL', error: String(err) }) })
    })
  }

  answered (reply: Reply): void {
    if (this.state === State.GONE) return
    this.write(reply)
    this.idle = this.pending === null
    if (this.paused) { this.paused = false; this.socket.resume() }
    this.startHead()
    this.advance()
  }

  write (reply: Reply): void {
    const close = this.closeAfter || this.fast.app.closing
    this.socket.write(render(reply, close))
    if (close) { this.closeAfter = true; this.socket.end() }
  }

  /** Gives the connection, with the bytes not yet consumed, to node:http for the rest of its life. */
  handOff (): void {
    const socket = this.socket
    const pending = this.pending
    this.pending = null
    this.state = State.GONE
    this.fast.connections.delete(this)
    // Paused first: a flowing socket without a 'data' listener would drop bytes.
    socket.pause()
    socket.removeAllListeners('data')
    socket.removeAllListeners('end')
    socket.removeAllListeners('close')
    socket.removeAllListeners('error')
    if (pending !== null) socket.unshift(pending)
    this.fast.handedOff++
    this.fast.http.emit('connection', socket)
    socket.resume()
  }

  /** Checks the phase deadlines; called once a second. */
  sweep (now: number): void {
    const o = this.fast.options
    if (this.state === State.HEAD) {
      if (this.idle && this.pending === null) {
        if (o.keepAliveTimeoutMs > 0 && now - this.since > o.keepAliveTimeoutMs) this.destroy()
      } else if (o.headersTimeoutMs > 0 && now - this.since > o.headersTimeoutMs) this.timeout()
    } else if (this.state === State.BODY || this.state === State.DISCARD) {
      if (o.requestTimeoutMs > 0 && now - this.since > o.requestTimeoutMs) this.timeout()
    }
  }

  timeout (): void {
    this.closeAfter = true
    this.fast.app.timedOut?.(this.socket, this.state === State.HEAD ? 'head' : 'body', this.state === State.HEAD ? this.pending?.length ?? 0 : this.filled)
    this.write({ status: 408, headers: { 'content-type': 'application/json' }, body: '{"code":"ERR_REQUEST_TIMEOUT","error":"request not received in time"}' })
    this.destroy()
  }

  /** Closes now if no request is under way, else after its answer. */
  closeWhenIdle (): void {
    if (this.state === State.BUSY || this.state === State.BODY) this.closeAfter = true
    else this.destroy()
  }

  destroy (): void {
    this.socket.destroySoon()
    this.gone()
  }

  gone (): void {
    if (this.state === State.GONE) return
    if (this.admission !== null) { this.admission.abort(); this.admission = null }
    this.state = State.GONE
    this.fast.connections.delete(this)
  }
}

export class FastHttp {
  readonly server: NetServer
  readonly connections = new Set<Connection>()
  /** Connections given to node:http (another method or path, or a request shape the fast path does not read). */
  handedOff = 0
  private readonly sweeper: NodeJS.Timeout

  constructor (readonly app: FastApp, readonly http: HttpServer, readonly options: FastOptions) {
    this.server = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      this.connections.add(new Connection(socket, this))
    })
    // node:http tracks connections (for its header and request timeouts and for
    // closeAllConnections) from its 'listening' event; it never listens itself here.
    http.emit('listening')
    this.sweeper = setInterval(() => {
      const now = Date.now()
      for (const c of this.connections) c.sweep(now)
    }, 1000).unref()
  }

  listen (port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => { this.server.off('error', reject); resolve() })
    })
  }

  /** Stops accepting; idle connections close now, busy ones after their answer. */
  stopAccepting (): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const c of [...this.connections]) c.closeWhenIdle()
    this.http.closeIdleConnections()
    return closed
  }

  destroyAll (): void {
    clearInterval(this.sweeper)
    for (const c of [...this.connections]) c.destroy()
    this.http.closeAllConnections()
    this.http.close(() => {})
  }
}
