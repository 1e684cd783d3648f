import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { gzipSync } from 'node:zlib'
import { exportSeries, get, post, startTestServer, type TestServer } from './helpers/server.js'

let s: TestServer
beforeAll(async () => { s = await startTestServer() })
afterAll(async () => { await s.stop() })

const EXACT = [0, -0, -0.5, 1.5, -1e-300, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 2 ** 53, -(2 ** 53), 0.1, 123456.789, 3.141592653589793]

describe('line protocol round trip', () => {
  it('stores every float64 exactly and reads it back in export format', async () => {
    const lines = EXACT.map((v, i) => `rt,host=a value=${Object.is(v, -0) ? "-0" : v} ${1700000000000 + i}`).join('\n')
    const r = await post(`${s.url}/write?precision=ms`, lines)
    expect(r.status).toBe(204)
    const out = await exportSeries(s.url, 'rt_value')
    expect(out).toHaveLength(1)
    expect(out[0]!.metric).toEqual({ __name__: 'rt_value', host: 'a' })
    expect(out[0]!.timestamps).toEqual(EXACT.map((_, i) => 1700000000000 + i))
    expect(out[0]!.values).toEqual(EXACT)
  })

  it.each([
    ['ns', '1700000000123456789', 1700000000123],
    ['n', '1700000000123456789', 1700000000123],
    ['us', '1700000000123456', 1700000000123],
    ['u', '1700000000123456', 1700000000123],
    ['µ', '1700000000123456', 1700000000123],
    ['ms', '1700000000123', 1700000000123],
    ['s', '1700000000', 1700000000000],
    ['m', '28333333', 28333333 * 60000],
    ['h', '472222', 472222 * 3600000],
  ])('precision=%s converts %s to %d ms', async (precision, ts, ms) => {
    const name = `prec_${Buffer.from(precision).toString('hex')}`
    const r = await post(`${s.url}/write?precision=${encodeURIComponent(precision)}`, `${name} v=1i ${ts}`)
    expect(r.status).toBe(204)
    const out = await exportSeries(s.url, `${name}_v`)
    expect(out[0]!.timestamps).toEqual([ms])
  })

  it('maps fields to <measurement>_<field>, tags to sorted labels, db to a label, booleans to 1/0', async () => {
    const r = await post(`${s.url}/write?db=telegraf&precision=s`, 'sys,zone=z1,host=h1 load=1.5,up=true,down=F,count=7i,name="x" 1700000000')
    expect(r.status).toBe(204)
    expect(r.headers['x-ringest-skipped-fields']).toBe('1')
    const all = await exportSeries(s.url, '{__name__=~"sys_.*"}')
    const byName = Object.fromEntries(all.map((e) => [e.metric.__name__, e]))
    expect(Object.keys(byName).sort()).toEqual(['sys_count', 'sys_down', 'sys_load', 'sys_up'])
    expect(byName.sys_load!.metric).toEqual({ __name__: 'sys_load', db: 'telegraf', host: 'h1', zone: 'z1' })
    expect(byName.sys_up!.values).toEqual([1])
    expect(byName.sys_down!.values).toEqual([0])
    expect(byName.sys_count!.values).toEqual([7])
  })

  it('keeps the good lines of a body with bad ones and reports the bad ones by line number', async () => {
    const body = [
      'mix,host=a v=1 1700000000000',
      'mix,host=a v=oops 1700000000001',
      '# a comment',
      '',
      'mix,host=a v=3 1700000000003',
      'mix,host=a',
    ].join('\r\n')
    const r = await post(`${s.url}/write?precision=ms`, body)
    expect(r.status).toBe(400)
    const j = r.json()
    expect(j.code).toBe('ERR_PARSE')
    expect(j.accepted).toBe(2)
    expect(j.rejected).toBe(2)
    expect(j.errors.map((e: { line: number }) => e.line)).toEqual([2, 6])
    expect(j.error).toMatch(/^partial write: line 2/)
    const out = await exportSeries(s.url, 'mix_v{host="a"}')
    expect(out[0]!.values).toEqual([1, 3])
    expect(out[0]!.timestamps).toEqual([1700000000000, 1700000000003])
  })

  it('accepts gzip bodies on /api/v2/write with bucket as db', async () => {
    const r = await post(`${s.url}/api/v2/write?bucket=b1&precision=ms`, gzipSync('gz,host=a v=42 1700000000000\n'), { 'content-encoding': 'gzip' })
    expect(r.status).toBe(204)
    const out = await exportSeries(s.url, 'gz_v')
    expect(out[0]!.metric).toEqual({ __name__: 'gz_v', db: 'b1', host: 'a' })
    expect(out[0]!.values).toEqual([42])
  })

  it('a duplicate timestamp reads back once with the last value written', async () => {
    expect((await post(`${s.url}/write?precision=ms`, 'dup v=1 1700000000000')).status).toBe(204)
    expect((await post(`${s.url}/write?precision=ms`, 'dup v=2 1700000000000')).status).toBe(204)
    const out = await exportSeries(s.url, 'dup_v')
    expect(out[0]!.values).toEqual([2])
  })
})

describe('JSON and NDJSON round trip', () => {
  it('takes one object, an array and {"metrics": [...]}, names and metrics, labels and tags, ms and ISO timestamps', async () => {
    const one = { name: 'j_one', value: -2.5, timestamp: 1700000000000, labels: { a: '1' } }
    expect((await post(`${s.url}/api/v1/ingest`, JSON.stringify(one), { 'content-type': 'application/json' })).status).toBe(204)
    const arr = [{ metric: 'j_arr', value: 2 ** 53, timestamp: '2023-11-14T22:13:20.005Z', tags: { b: 'x' } }, { metric: 'j_arr', value: 5e-324, timestamp: 1700000000010, tags: { b: 'x' } }]
    expect((await post(`${s.url}/api/v1/ingest`, JSON.stringify(arr), { 'content-type': 'application/json' })).status).toBe(204)
    const wrapped = { metrics: [{ name: 'j_wrap', value: 1, timestamp: 1700000000000 }] }
    expect((await post(`${s.url}/api/v1/ingest`, JSON.stringify(wrapped), { 'content-type': 'application/json; charset=utf-8' })).status).toBe(204)
    expect((await exportSeries(s.url, 'j_one'))[0]).toEqual({ metric: { __name__: 'j_one', a: '1' }, values: [-2.5], timestamps: [1700000000000] })
    expect((await exportSeries(s.url, 'j_arr'))[0]).toEqual({ metric: { __name__: 'j_arr', b: 'x' }, values: [2 ** 53, 5e-324], timestamps: [1700000000005, 1700000000010] })
    expect((await exportSeries(s.url, 'j_wrap'))[0]!.values).toEqual([1])
  })

  it('NDJSON keeps good lines, reports bad ones by line, and a missing timestamp means now', async () => {
    const before = Date.now()
    const body = [
      JSON.stringify({ name: 'nd', value: 1, timestamp: 1700000000000 }),
      '{"name": "nd", "value": "NaN"}',
      'not json',
      JSON.stringify({ name: 'nd_now', value: 7 }),
    ].join('\n')
    const r = await post(`${s.url}/api/v1/ingest`, body, { 'content-type': 'application/x-ndjson' })
    expect(r.status).toBe(400)
    const j = r.json()
    expect(j.accepted).toBe(2)
    expect(j.rejected).toBe(2)
    expect(j.errors.map((e: { line: number }) => e.line)).toEqual([2, 3])
    const now = (await exportSeries(s.url, 'nd_now'))[0]!
    expect(now.timestamps[0]).toBeGreaterThanOrEqual(before - 1)
    expect(now.timestamps[0]).toBeLessThanOrEqual(Date.now() + 1)
  })
})

describe('errors and operations', () => {
  it('answers 415 for unknown types and encodings, 404, 405 with Allow', async () => {
    expect((await post(`${s.url}/api/v1/ingest`, '{}', { 'content-type': 'text/csv' })).json().code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE')
    const enc = await post(`${s.url}/write`, 'a v=1', { 'content-encoding': 'br' })
    expect(enc.status).toBe(415)
    expect(enc.json().code).toBe('ERR_UNSUPPORTED_ENCODING')
    expect((await get(`${s.url}/nope`)).status).toBe(404)
    const m = await get(`${s.url}/write`)
    expect(m.status).toBe(405)
    expect(m.headers.allow).toBe('POST')
  })

  it('answers 400 for a bad precision and for corrupt gzip', async () => {
    expect((await post(`${s.url}/write?precision=xs`, 'a v=1')).json().code).toBe('ERR_BAD_PRECISION')
    const gz = gzipSync('a v=1 1\n')
    const r = await post(`${s.url}/write`, gz.subarray(0, gz.length - 6), { 'content-encoding': 'gzip' })
    expect(r.status).toBe(400)
    expect(r.json().code).toBe('ERR_BAD_ENCODING')
  })

  it('exposes health, stats and the samples counter in /metrics', async () => {
    expect((await get(`${s.url}/healthz`)).status).toBe(200)
    const st = (await get(`${s.url}/stats`)).json()
    expect(st.endpoints['/write'].samplesAccepted).toBeGreaterThan(0)
    expect(st.rings).toHaveLength(2)
    expect(st.flush.commits).toBeGreaterThan(0)
    expect(st.storage.lmdbFileBytes).toBeGreaterThan(0)
    const m = (await get(`${s.url}/metrics`)).text
    expect(m).toMatch(/^ringest_samples_ingested_total\{endpoint="\/write"\} \d+$/m)
  })

  it('rejects a bad export selector with 400', async () => {
    const r = await get(`${s.url}/api/v1/export?match[]=${encodeURIComponent('x{a=}')}`)
    expect(r.status).toBe(400)
    expect(r.json().code).toBe('ERR_BAD_REQUEST')
  })
})
