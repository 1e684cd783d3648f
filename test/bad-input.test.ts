import { afterAll, beforeAll, expect, it } from 'vitest'
import { gzipSync } from 'node:zlib'
import { exportSeries, get, post, startTestServer, type TestServer } from './helpers/server.js'

let s: TestServer
beforeAll(async () => { s = await startTestServer({ maxBodyBytes: 4 * 1024 * 1024 }) })
afterAll(async () => { await s.stop() })

async function stillWorks (tag: string): Promise<void> {
  expect((await get(`${s.url}/healthz`)).status).toBe(200)
  const r = await post(`${s.url}/write?precision=ms`, `alive,after=${tag} v=1 1700000000000`)
  expect(r.status).toBe(204)
}

it('truncated gzip: 400, server keeps working', async () => {
  const gz = gzipSync(Buffer.from('x v=1 1\n'.repeat(1000)))
  const r = await post(`${s.url}/write`, gz.subarray(0, gz.length >> 1), { 'content-encoding': 'gzip' })
  expect(r.status).toBe(400)
  expect(r.json().code).toBe('ERR_BAD_ENCODING')
  await stillWorks('gzip')
})

it('gzip bomb: 413 from the decompressed size, not an out-of-memory', async () => {
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x61))
  expect(bomb.length).toBeLessThan(1024 * 1024)
  const r = await post(`${s.url}/write`, bomb, { 'content-encoding': 'gzip' })
  expect(r.status).toBe(413)
  expect(r.json().code).toBe('ERR_BODY_TOO_LARGE')
  await stillWorks('bomb')
})

it('body over the limit: 413', async () => {
  const r = await post(`${s.url}/write`, Buffer.alloc(5 * 1024 * 1024, 0x61))
  expect(r.status).toBe(413)
  await stillWorks('big')
})

it('invalid UTF-8 is a line error; valid lines are kept', async () => {
  const body = Buffer.concat([Buffer.from('utf,host=ok v=1 1700000000000\nutf,host='), Buffer.from([0xff, 0xfe]), Buffer.from(' v=2 1700000000001\n')])
  const r = await post(`${s.url}/write?precision=ms`, body)
  expect(r.status).toBe(400)
  expect(r.json().errors[0].line).toBe(2)
  expect((await exportSeries(s.url, 'utf_v'))[0]!.values).toEqual([1])
  await stillWorks('utf8')
})

it('a 1 MiB line, NaN/Infinity, out-of-range timestamps and 10,000 labels get clear 400s', async () => {
  const cases: Array<[string, string]> = [
    ['1mib', `huge,host=a v="${'x'.repeat(1024 * 1024)}",w=1 1700000000000\nhuge v=1x`],
    ['nan', 'nan v=NaN 1700000000000\nnan v=Inf 1700000000000\nnan v=-Infinity 1700000000000'],
    ['range', 'range v=1 99999999999999999999999\nrange v=1 -99999999999999999999999'],
    ['labels', `many,${Array.from({ length: 10000 }, (_, i) => `t${i}=v`).join(',')} v=1 1700000000000`],
  ]
  for (const [tag, body] of cases) {
    const r = await post(`${s.url}/write?precision=ms`, body)
    expect(r.status, tag).toBe(400)
    const j = r.json()
    expect(j.code, tag).toBe('ERR_PARSE')
    expect(j.errors.length, tag).toBeGreaterThan(0)
    for (const e of j.errors) expect(typeof e.message).toBe('string')
    await stillWorks(tag)
  }
  const nanJson = await post(`${s.url}/api/v1/ingest`, '[{"name":"jn","value":"Infinity"},{"name":"jn","value":1e999}]', { 'content-type': 'application/json' })
  expect(nanJson.status).toBe(400)
  await stillWorks('json')
})

it('random bytes never crash a worker or the server', async () => {
  let seed = 42
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32 }
  for (let i = 0; i < 50; i++) {
    const b = Buffer.alloc(1 + Math.floor(rnd() * 4000))
    for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256)
    const r = await post(`${s.url}/write`, b)
    expect([204, 400]).toContain(r.status)
    const j = await post(`${s.url}/api/v1/ingest`, b, { 'content-type': 'application/x-ndjson' })
    expect([204, 400]).toContain(j.status)
  }
  await stillWorks('random')
})
