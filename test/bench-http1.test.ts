/**
 * The HTTP/1.1 response reader of `ringest bench --client net`
 * (src/bench/http1.ts): every framing it supports, fed whole and split at
 * every byte boundary (the socket may cut anywhere), and the errors.
 */
import { describe, expect, it } from 'vitest'
import { HttpParseError, MAX_HEAD_BYTES, requestBytes, ResponseParser } from '../dist/src/bench/http1.js'

type Event = ['status', number, string[]] | ['data', string] | ['end']

/** A parser whose events are recorded; after each response the next request is "sent" (expect()). */
function recorder (): { parser: ResponseParser, events: Event[] } {
  const events: Event[] = []
  const parser: ResponseParser = new ResponseParser({
    onHeaders: (status, raw) => { events.push(['status', status, raw.map((b) => b.toString('latin1'))]); return true },
    onData: (chunk) => { events.push(['data', chunk.toString('latin1')]); return true },
    onComplete: () => { events.push(['end']); parser.expect() },
  })
  parser.expect()
  return { parser, events }
}

/** Data events merged (how the bytes were cut must not matter). */
const merged = (events: Event[]): Event[] => events.reduce<Event[]>((out, e) => {
  const last = out[out.length - 1]
  if (e[0] === 'data' && last?.[0] === 'data') last[1] += e[1]
  else if (e[0] !== 'data' || e[1] !== '') out.push(e[0] === 'data' ? ['data', e[1]] : e)
  return out
}, [])

const NODE_204 = 'HTTP/1.1 204 No Content\r\nDate: Tue, 24 Nov 2026 22:30:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n'
const LENGTH = 'HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nContent-Length: 16\r\n\r\n{"code":"ERR_X"}'
const CHUNKED = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n'
const CONTINUE_THEN_503 = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nRETRY-AFTER:  2 \r\ncontent-length: 0\r\n\r\n'
const ALL = NODE_204 + LENGTH + CHUNKED + CONTINUE_THEN_503 + NODE_204
const EXPECTED: Event[] = [
  ['status', 204, []], ['end'],
  ['status', 400, []], ['data', '{"code":"ERR_X"}'], ['end'],
  ['status', 200, []], ['data', 'hello, world'], ['end'],
  ['status', 503, ['retry-after', '2']], ['end'],
  ['status', 204, []], ['end'],
]

describe('ResponseParser', () => {
  it('reads 204, Content-Length, chunked (extensions, trailers), 1xx then a 503 with Retry-After, in sequence', () => {
    const { parser, events } = recorder()
    parser.feed(Buffer.from(ALL, 'latin1'))
    expect(merged(events)).toEqual(EXPECTED)
    expect(parser.closeAfter).toBe(false)
  })

  it('gives the same events wherever the bytes are cut, in two pieces or byte by byte', () => {
    const bytes = Buffer.from(ALL, 'latin1')
    for (let cut = 1; cut < bytes.length; cut++) {
      const { parser, events } = recorder()
      parser.feed(bytes.subarray(0, cut))
      parser.feed(bytes.subarray(cut))
      expect(merged(events), `cut at ${cut}`).toEqual(EXPECTED)
    }
    const { parser, events } = recorder()
    for (let i = 0; i < bytes.length; i++) parser.feed(bytes.subarray(i, i + 1))
    expect(merged(events)).toEqual(EXPECTED)
  })

  it('Connection: close, HTTP/1.0 without keep-alive, and a body without a length (ends when the server closes)', () => {
    const a = recorder()
    a.parser.feed(Buffer.from('HTTP/1.1 204 No Content\r\nconnection: Close\r\n\r\n'))
    expect(a.parser.closeAfter).toBe(true)
    const b = recorder()
    b.parser.feed(Buffer.from('HTTP/1.0 204 No Content\r\n\r\n'))
    expect(b.parser.closeAfter).toBe(true)
    const c = recorder()
    c.parser.feed(Buffer.from('HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n'))
    expect(c.parser.closeAfter).toBe(false)
    const d = recorder()
    d.parser.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\npart one,'))
    d.parser.feed(Buffer.from(' part two'))
    expect(d.parser.endsAtClose).toBe(true)
    expect(merged(d.events)).toEqual([['status', 200, []], ['data', 'part one, part two']])
    d.parser.closed()
    expect(merged(d.events).at(-1)).toEqual(['end'])
  })

  it('refuses what is not HTTP/1.x, bad lengths, bytes with no request in flight, and endless heads', () => {
    const bad = (text: string | Buffer): unknown => {
      const { parser } = recorder()
      try { parser.feed(Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1')); return null } catch (e) { return e }
    }
    for (const text of ['HTTP/2 204\r\n\r\n', 'HTTP/1.1 2x4 No\r\n\r\n', 'SSH-2.0-OpenSSH\r\n\r\n', 'HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n',
      'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n']) {
      expect(bad(text), text).toBeInstanceOf(HttpParseError)
    }
    // A parser that is not told a request went out (expect()) takes no bytes, nor a second response to one request.
    const idle = new ResponseParser({ onHeaders: () => true, onData: () => true, onComplete: () => {} })
    expect(() => idle.feed(Buffer.from(NODE_204))).toThrow(/no request in flight/)
    idle.expect()
    expect(() => idle.feed(Buffer.from(NODE_204 + NODE_204))).toThrow(/no request in flight/)
    expect(bad(Buffer.alloc(MAX_HEAD_BYTES + 10, 65))).toBeInstanceOf(HttpParseError)
  })
})

describe('requestBytes', () => {
  it('writes the request line, host, the headers given, Content-Length and the body, in one buffer', () => {
    const body = Buffer.from('cpu v=1 1\n')
    expect(requestBytes('127.0.0.1:7070', '/write?precision=ms', [['content-type', 'text/plain'], ['authorization', 'Token x']], body).toString('latin1'))
      .toBe('POST /write?precision=ms HTTP/1.1\r\nhost: 127.0.0.1:7070\r\ncontent-type: text/plain\r\nauthorization: Token x\r\ncontent-length: 10\r\n\r\ncpu v=1 1\n')
  })
})
