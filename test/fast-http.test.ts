/**
 * The write fast path (src/fast-http.ts) reads HTTP/1.1 itself for
 * `POST <write path>` with a Content-Length, and hands any other request
 * shape, with its connection, to node:http. These tests speak raw bytes
 * over real sockets to a real server, so framing, ordering and hand-over
 * are checked exactly as a client sees them.
 */
import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportSeries, get, startTestServer, type TestServer } from './helpers/server.js'

interface RawReply { status: number, headers: Record<string, string>, body: string }

/** A raw client: writes bytes, reads whole HTTP/1.1 replies (Content-Length framed, or none for 1xx/204). */
class RawClient {
  private buf = Buffer.alloc(0)
  private waiters: Array<() => void> = []
  closed = false
  readonly socket: Socket
  constructor (url: string) {
    const u = new URL(url)
    this.socket = connect(Number(u.port), u.hostname)
    this.socket.on('data', (c) => { this.buf = Buffer.concat([this.buf, c]); this.wake() })
    this.socket.on('close', () => { this.closed = true; this.wake() })
    this.socket.on('error', () => {})
  }

  private wake (): void { for (const w of this.waiters.splice(0)) w() }

  write (data: string | Buffer): void { this.socket.write(data) }

  /** The next reply, or undefined when the server closed without one. */
  async reply (timeoutMs = 10_000): Promise<RawReply | undefined> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const parsed = this.tryParse()
      if (parsed !== undefined) return parsed
      if (this.closed) return undefined
      if (Date.now() > deadline) throw new Error(`no reply within ${timeoutMs} ms; have ${JSON.stringify(this.buf.toString())}`)
      await new Promise<void>((resolve) => { this.waiters.push(resolve); setTimeout(resolve, 50) })
    }
  }

  private tryParse (): RawReply | undefined {
    const end = this.buf.indexOf('\r\n\r\n')
    if (end < 0) return undefined
    const lines = this.buf.toString('latin1', 0, end).split('\r\n')
    const status = Number(lines[0]!.split(' ')[1])
    const headers: Record<string, string> = {}
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':')
      headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim()
    }
    if (headers['transfer-encoding'] === 'chunked') {
      let at = end + 4
      let body = ''
      for (;;) {
        const lineEnd = this.buf.indexOf('\r\n', at)
        if (lineEnd < 0) return undefined
        const size = parseInt(this.buf.toString('latin1', at, lineEnd), 16)
        if (this.buf.length < lineEnd + 2 + size + 2) return undefined
        body += this.buf.toString('utf8', lineEnd + 2, lineEnd + 2 + size)
        at = lineEnd + 2 + size + 2
        if (size === 0) break
      }
      this.buf = this.buf.subarray(at)
      return { status, headers, body }
    }
    const length = status < 200 || status === 204 ? 0 : Number(headers['content-length'] ?? 0)
    if (this.buf.length < end + 4 + length) return undefined
    const body = this.buf.toString('utf8', end + 4, end + 4 + length)
    this.buf = this.buf.subarray(end + 4 + length)
    return { status, headers, body }
  }

  async closedWithin (ms: number): Promise<boolean> {
    const deadline = Date.now() + ms
    while (!this.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    return this.closed
  }

  end (): void { this.socket.destroy() }
}

const postHead = (path: string, body: string, extra = ''): string =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n`
const postReq = (path: string, body: string, extra = ''): string => postHead(path, body, extra) + body

let server: TestServer

beforeAll(async () => { server = await startTestServer({ headersTimeoutMs: 1000, keepAliveTimeoutMs: 1000 }) })
afterAll(async () => { await server.stop() })

async function values (metric: string): Promise<number[]> {
  return (await exportSeries(server.url, metric)).flatMap((s) => s.values)
}

describe('write fast path', () => {
  it('answers pipelined writes in order on one connection, each stored once', async () => {
    const c = new RawClient(server.url)
    c.write(postReq('/write?precision=ms', 'fp_pipe v=1 1700000000001\n') + postReq('/write?precision=ms', 'fp_pipe v=2 1700000000002\n') +
      postReq('/write?precision=ms', 'fp_pipe v=oops 1700000000003\n'))
    const r = [await c.reply(), await c.reply(), await c.reply()]
    expect(r.map((x) => x?.status)).toEqual([204, 204, 400])
    expect(r[0]!.headers.date).toMatch(/GMT$/)
    expect(JSON.parse(r[2]!.body)).toMatchObject({ code: 'ERR_PARSE', accepted: 0, rejected: 1, errors: [{ line: 1 }] })
    expect(await values('fp_pipe_v')).toEqual([1, 2])
    c.end()
  })

  it('reads a request split into single bytes', async () => {
    const c = new RawClient(server.url)
    const req = postReq('/api/v2/write?precision=s', 'fp_split,host=a v=7 1700000000\n')
    for (const ch of req) { c.write(ch); await new Promise((resolve) => setImmediate(resolve)) }
    expect((await c.reply())?.status).toBe(204)
    expect(await values('fp_split_v')).toEqual([7])
    c.end()
  })

  it('hands the connection to node:http for another route, keeping the bytes already read', async () => {
    const c = new RawClient(server.url)
    c.write(postReq('/write?precision=ms', 'fp_hand v=1 1700000000001\n') + 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' +
      postReq('/write?precision=ms', 'fp_hand v=2 1700000000002\n'))
    const r = [await c.reply(), await c.reply(), await c.reply()]
    expect(r.map((x) => x?.status)).toEqual([204, 200, 204])
    expect(JSON.parse(r[1]!.body)).toEqual({ status: 'ok' })
    expect(await values('fp_hand_v')).toEqual([1, 2])
    c.end()
  })

  it('leaves chunked bodies, Expect: 100-continue and HTTP/1.0 to node:http', async () => {
    const chunked = new RawClient(server.url)
    const body = 'fp_chunked v=3 1700000000003\n'
    chunked.write(`POST /write?precision=ms HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`)
    expect((await chunked.reply())?.status).toBe(204)
    chunked.end()

    const expect100 = new RawClient(server.url)
    expect100.write(postHead('/write?precision=ms', 'fp_expect v=4 1700000000004\n', 'Expect: 100-continue\r\n'))
    expect((await expect100.reply())?.status).toBe(100)
    expect100.write('fp_expect v=4 1700000000004\n')
    expect((await expect100.reply())?.status).toBe(204)
    expect100.end()

    const http10 = new RawClient(server.url)
    http10.write(postReq('/write?precision=ms', 'fp_http10 v=5 1700000000005\n').replace('HTTP/1.1', 'HTTP/1.0'))
    expect((await http10.reply())?.status).toBe(204)
    expect(await http10.closedWithin(5000)).toBe(true)

    expect(await values('fp_chunked_v')).toEqual([3])
    expect(await values('fp_expect_v')).toEqual([4])
    expect(await values('fp_http10_v')).toEqual([5])
  })

  it('refuses from the head alone, drops the body, and keeps the connection usable', async () => {
    const c = new RawClient(server.url)
    c.write(postReq('/write', 'fp_refused v=1 1700000000001\n').replace('text/plain', 'image/png') +
      postReq('/write?precision=ms', 'fp_after v=9 1700000000009\n'))
    const refused = await c.reply()
    expect(refused?.status).toBe(415)
    expect(JSON.parse(refused!.body).code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE')
    expect((await c.reply())?.status).toBe(204)
    expect(await values('fp_refused_v')).toEqual([])
    expect(await values('fp_after_v')).toEqual([9])
    c.end()
  })

  it('gives malformed heads and oversized bodies to node:http, which refuses them', async () => {
    const spaced = new RawClient(server.url)
    spaced.write('POST /write HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nx v=1')
    expect((await spaced.reply())?.status).toBe(400)

    const twice = new RawClient(server.url)
    twice.write('POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nx v=1')
    expect((await twice.reply())?.status).toBe(400)

    const huge = new RawClient(server.url)
    huge.write('POST /write HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 99999999999\r\n\r\n')
    const r = await huge.reply()
    expect(r?.status).toBe(413)
    expect(JSON.parse(r!.body).code).toBe('ERR_BODY_TOO_LARGE')
  })

  it('closes after the answer when the client asks for it', async () => {
    const c = new RawClient(server.url)
    c.write(postReq('/write?precision=ms', 'fp_close v=1 1700000000001\n', 'Connection: close\r\n'))
    const r = await c.reply()
    expect(r?.status).toBe(204)
    expect(r?.headers.connection).toBe('close')
    expect(await c.closedWithin(5000)).toBe(true)
  })

  it('releases what a client that vanished mid-body had reserved', async () => {
    const inflight = async (): Promise<{ requests: number, bytes: number }> => (await get(`${server.url}/stats`)).json().inflight
    const before = await inflight() // counts the /stats request itself
    const c = new RawClient(server.url)
    c.write(postHead('/write', 'fp_gone v=1 1700000000001\n' + 'x'.repeat(100_000)) + 'fp_gone v=1')
    await new Promise((resolve) => setTimeout(resolve, 200))
    const during = await inflight()
    expect(during.requests).toBe(before.requests + 1)
    expect(during.bytes).toBe(before.bytes + 100_026)
    c.end()
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(await inflight()).toMatchObject(before)
    expect(await values('fp_gone_v')).toEqual([])
  })

  it('times out a head that never ends (408) and an idle keep-alive connection', async () => {
    const slow = new RawClient(server.url)
    slow.write('POST /write HTTP/1.1\r\nHost: x\r\n')
    const r = await slow.reply(5000)
    expect(r?.status).toBe(408)
    expect(await slow.closedWithin(5000)).toBe(true)

    const idle = new RawClient(server.url)
    idle.write(postReq('/write?precision=ms', 'fp_idle v=1 1700000000001\n'))
    expect((await idle.reply())?.status).toBe(204)
    expect(await idle.closedWithin(5000)).toBe(true)
  })
})
