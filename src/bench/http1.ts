/**
 * The HTTP/1.1 response reader of `ringest bench --client net`: fed the bytes
 * of one keep-alive connection in whatever pieces the socket delivers, it
 * reports each response's status, body bytes and end. Pure (no I/O), so a test
 * can split responses at every byte boundary.
 *
 * What it reads: a status line and headers up to MAX_HEAD_BYTES, then a body
 * framed as RFC 9112 says: none for 1xx (skipped: a final response follows),
 * 204 and 304; chunked when Transfer-Encoding ends in chunked (trailers
 * skipped); Content-Length bytes; otherwise until the server closes. It reads
 * Connection (close, or HTTP/1.0 without keep-alive) and, on a 503,
 * Retry-After. One request is in flight per connection, so responses never
 * need to be matched to requests.
 */

export const MAX_HEAD_BYTES = 64 * 1024 // a longer status line and headers is an error
const CRLF2 = Buffer.from('\r\n\r\n', 'latin1')
const CRLF = Buffer.from('\r\n', 'latin1')
const HTTP1 = Buffer.from('HTTP/1.', 'latin1')
/** The raw headers handed to onHeaders when there is no Retry-After to report. */
const NO_HEADERS: Buffer[] = []

const startsWith = (buf: Buffer, at: number, prefix: Buffer): boolean => buf.length - at >= prefix.length && buf.compare(prefix, 0, prefix.length, at, at + prefix.length) === 0

/** buf[at..] is `name` (lower case), in any case. */
function isName (buf: Buffer, at: number, name: string): boolean {
  for (let k = 0; k < name.length; k++) if ((buf[at + k]! | 0x20) !== name.charCodeAt(k)) return false
  return true
}

/** buf[from, to) contains `word` (lower case, letters and '-'), in any case. */
function containsLower (buf: Buffer, from: number, to: number, word: string): boolean {
  for (let i = from; i + word.length <= to; i++) if (isName(buf, i, word)) return true
  return false
}

export interface ResponseHandler {
  /** Status and raw headers (only Retry-After, as [name, value], on a 503). */
  onHeaders (status: number, raw: Buffer[]): boolean
  onData (chunk: Buffer): boolean
  onComplete (): void
}

export class HttpParseError extends Error {
  readonly code = 'ERR_BENCH_HTTP_PARSE'
}

/** Where the reader is in the response. */
const State = {
  HEAD: 0, // status line and headers, up to the empty line
  LENGTH: 1, // `remaining` body bytes
  CHUNK_SIZE: 2, // a chunk-size line
  CHUNK_DATA: 3, // `remaining` bytes of a chunk
  CHUNK_END: 4, // the CRLF after a chunk's data
  TRAILERS: 5, // trailer lines after the last chunk, up to an empty line
  UNTIL_CLOSE: 6, // everything until the server closes
} as const
type State = typeof State[keyof typeof State]

export class ResponseParser {
  #state: State = State.HEAD
  /** Bytes of an incomplete head or line, kept until the rest arrives. */
  #carry: Buffer | null = null
  #remaining = 0
  /** A request is in flight: bytes are expected. */
  #awaiting = false
  /** The server will close after this response (Connection: close, or HTTP/1.0). */
  closeAfter = false

  constructor (readonly handler: ResponseHandler) {}

  /** Ready for the next response (also after an error: the connection is replaced). */
  reset (): void {
    this.#state = State.HEAD
    this.#carry = null
    this.#remaining = 0
    this.#awaiting = false
    this.closeAfter = false
  }

  /** A request was sent: its response is what comes next. */
  expect (): void { this.#awaiting = true }

  /** True if the response ends when the connection closes (no length was given). */
  get endsAtClose (): boolean { return this.#state === State.UNTIL_CLOSE }

  /** Reads the bytes; throws HttpParseError on a malformed response. */
  feed (chunk: Buffer): void {
    let buf = chunk
    let at = 0
    if (this.#carry !== null) {
      buf = Buffer.concat([this.#carry, chunk])
      this.#carry = null
    }
    while (at < buf.length) {
      // One request in flight per connection: a byte past its response is the server's error.
      if (!this.#awaiting) throw new HttpParseError('bytes from the server with no request in flight')
      switch (this.#state) {
        case State.HEAD: {
          const end = buf.indexOf(CRLF2, at)
          if (end === -1) { this.#keep(buf, at); return }
          this.#head(buf, at, end)
          at = end + 4
          break
        }
        case State.LENGTH:
        case State.CHUNK_DATA: {
          const take = Math.min(this.#remaining, buf.length - at)
          this.handler.onData(buf.subarray(at, at + take))
          at += take
          this.#remaining -= take
          if (this.#remaining > 0) break
          if (this.#state === State.LENGTH) this.#complete()
          else this.#state = State.CHUNK_END
          break
        }
        case State.CHUNK_END:
        case State.CHUNK_SIZE:
        case State.TRAILERS: {
          const eol = buf.indexOf(13, at) // \r
          if (eol === -1 || eol + 1 >= buf.length) { this.#keep(buf, at); return }
          if (buf[eol + 1] !== 10) throw new HttpParseError('a line of the chunked body does not end in CRLF')
          const line = buf.toString('latin1', at, eol)
          at = eol + 2
          this.#line(line)
          break
        }
        case State.UNTIL_CLOSE:
          this.handler.onData(at === 0 ? buf : buf.subarray(at))
          return
      }
    }
  }

  /** The server closed the connection: the end of an until-close body. */
  closed (): void {
    if (this.#state === State.UNTIL_CLOSE) this.#complete()
  }

  #keep (buf: Buffer, at: number): void {
    if (buf.length - at > MAX_HEAD_BYTES) throw new HttpParseError(`a response head or chunk line over ${MAX_HEAD_BYTES} bytes`)
    // A copy: the socket's buffer is not ours to hold (and a view would pin all of it).
    this.#carry = Buffer.from(buf.subarray(at))
  }

  /**
   * The status line and headers in buf[from, to) (the empty line excluded), read as bytes: no string
   * is made per response, as this runs once per request.
   */
  #head (buf: Buffer, from: number, to: number): void {
    // "HTTP/1.1 204 No Content": the version, a space, three digits, then a space or the end of the line.
    const digit = (k: number): number => (from + k < to && buf[from + k]! >= 48 && buf[from + k]! <= 57 ? buf[from + k]! - 48 : NaN)
    const status = digit(9) * 100 + digit(10) * 10 + digit(11)
    const after = from + 12 < to ? buf[from + 12] : 13
    if (!startsWith(buf, from, HTTP1) || buf[from + 8] !== 32 || !(status >= 100) || (after !== 32 && after !== 13)) {
      throw new HttpParseError(`not an HTTP/1.x status line: ${JSON.stringify(buf.toString('latin1', from, Math.min(to, from + 40)))}`)
    }
    if (status < 200) return // 1xx: the final response follows
    const http10 = buf[from + 7] === 48
    let connection: 'close' | 'keep-alive' | null = null
    let chunked = false
    let length = -1
    let raw = NO_HEADERS
    let at = buf.indexOf(CRLF, from)
    while (at !== -1 && at < to) {
      const line = at + 2
      let eol = buf.indexOf(CRLF, line)
      if (eol === -1 || eol > to) eol = to
      const colon = buf.indexOf(58, line) // ':'
      if (colon === -1 || colon > eol) throw new HttpParseError('a header line without a colon')
      let v = colon + 1
      while (v < eol && (buf[v] === 32 || buf[v] === 9)) v++
      let ve = eol
      while (ve > v && (buf[ve - 1] === 32 || buf[ve - 1] === 9)) ve--
      switch (colon - line) { // header names by length first, then case-insensitively
        case 10:
          if (isName(buf, line, 'connection')) {
            if (containsLower(buf, v, ve, 'close')) connection = 'close'
            else if (containsLower(buf, v, ve, 'keep-alive')) connection = 'keep-alive'
          }
          break
        case 11:
          if (status === 503 && isName(buf, line, 'retry-after')) raw = [Buffer.from('retry-after', 'latin1'), Buffer.from(buf.subarray(v, ve))]
          break
        case 14:
          if (isName(buf, line, 'content-length')) {
            length = 0
            if (v === ve) throw new HttpParseError('an empty content-length')
            for (let k = v; k < ve; k++) {
              const c = buf[k]! - 48
              if (c < 0 || c > 9) throw new HttpParseError(`bad content-length ${JSON.stringify(buf.toString('latin1', v, ve))}`)
              length = length * 10 + c
            }
          }
          break
        case 17:
          if (isName(buf, line, 'transfer-encoding')) chunked = ve - v >= 7 && containsLower(buf, ve - 7, ve, 'chunked')
          break
      }
      at = eol === to ? -1 : eol
    }
    this.closeAfter = connection === 'close' || (http10 && connection !== 'keep-alive')
    this.handler.onHeaders(status, raw)
    if (status === 204 || status === 304) {
      this.#complete()
    } else if (chunked) {
      this.#state = State.CHUNK_SIZE
    } else if (length >= 0) {
      this.#remaining = length
      if (length === 0) this.#complete()
      else this.#state = State.LENGTH
    } else {
      this.#state = State.UNTIL_CLOSE
      this.closeAfter = true
    }
  }

  #line (line: string): void {
    switch (this.#state) {
      case State.CHUNK_END:
        if (line !== '') throw new HttpParseError('chunk data longer than its size')
        this.#state = State.CHUNK_SIZE
        return
      case State.CHUNK_SIZE: {
        const m = /^([0-9a-fA-F]+)[ \t]*(;.*)?$/.exec(line)
        if (m === null) throw new HttpParseError(`bad chunk size ${JSON.stringify(line.slice(0, 40))}`)
        this.#remaining = parseInt(m[1]!, 16)
        this.#state = this.#remaining === 0 ? State.TRAILERS : State.CHUNK_DATA
        return
      }
      case State.TRAILERS:
        if (line === '') this.#complete()
    }
  }

  #complete (): void {
    this.#state = State.HEAD
    this.#awaiting = false
    this.handler.onComplete()
  }
}

/** `POST <path>` with its headers and Content-Length, then the body: one buffer, one write. */
export function requestBytes (host: string, path: string, headers: Array<[string, string]>, body: Buffer): Buffer {
  let head = `POST ${path} HTTP/1.1\r\nhost: ${host}\r\n`
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`
  head += `content-length: ${body.length}\r\n\r\n`
  const out = Buffer.allocUnsafe(Buffer.byteLength(head, 'latin1') + body.length)
  const n = out.write(head, 'latin1')
  body.copy(out, n)
  return out
}
