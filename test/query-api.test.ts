/**
 * The query API's plumbing on a real server: Prometheus's response and error
 * shapes, the limits and their status codes, series and label lookups, and
 * the query worker's place in the process (its own thread, lowest priority).
 */
import { readFileSync, readdirSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { get, post, startTestServer, type TestServer } from './helpers/server.js'

const now = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000
let server: TestServer
let limited: TestServer

async function write (s: TestServer): Promise<void> {
  const lines: string[] = []
  for (let i = 0; i < 20; i++) for (const host of ['a', 'b', 'c']) lines.push(`qa,host=${host},region=${host === 'c' ? 'eu' : 'us'} v=${i} ${now + i * 15_000}`)
  expect((await post(`${s.url}/write?precision=ms`, lines.join('\n'))).status).toBe(204)
}

beforeAll(async () => {
  server = await startTestServer()
  limited = await startTestServer({ queryMaxSeries: 2, queryMaxSamples: 30 })
  await write(server)
  await write(limited)
})
afterAll(async () => { await server.stop(); await limited.stop() })

const q = (s: TestServer, path: string, params: Record<string, string>): Promise<{ status: number, json: () => any, headers: Record<string, unknown> }> =>
  get(`${s.url}${path}?${new URLSearchParams(params).toString()}`)

describe('query API', () => {
  it('answers instant and range queries in Prometheus\'s shapes, GET and POST form alike', async () => {
    const t = String((now + 19 * 15_000) / 1000)
    const instant = await q(server, '/api/v1/query', { query: 'sum by (region)(qa_v)', time: t })
    expect(instant.status).toBe(200)
    const body = instant.json()
    // An instant vector has no defined order (as in Prometheus): compare sorted.
    body.data.result.sort((a: any, b: any) => a.metric.region.localeCompare(b.metric.region))
    expect(body).toEqual({
      status: 'success',
      data: { resultType: 'vector', result: [{ metric: { region: 'eu' }, value: [Number(t), '19'] }, { metric: { region: 'us' }, value: [Number(t), '38'] }] },
    })
    const form = await request(`${server.url}/api/v1/query_range`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: 'qa_v{host="a"}', start: String(now / 1000), end: String((now + 60_000) / 1000), step: '30s' }).toString(),
    })
    const range = await form.body.json() as any
    expect(form.statusCode).toBe(200)
    expect(range.data.resultType).toBe('matrix')
    expect(range.data.result[0].values).toEqual([[now / 1000, '0'], [now / 1000 + 30, '2'], [now / 1000 + 60, '4']])
  })

  it('gives bad_data (400) for an invalid or unsupported expression and for bad parameters', async () => {
    for (const params of [{ query: 'sum(' }, { query: 'label_replace(qa_v, "a", "b", "c", "d")' }, { query: 'qa_v', time: 'yesterday' }]) {
      const r = await q(server, '/api/v1/query', params)
      expect(r.status).toBe(400)
      expect(r.json()).toMatchObject({ status: 'error', errorType: 'bad_data', code: 'ERR_QUERY_BAD_DATA' })
    }
    const step = await q(server, '/api/v1/query_range', { query: 'qa_v', start: '1', end: '2', step: '0' })
    expect(step.status).toBe(400)
  })

  it('refuses a query over its series or sample limit with 422 naming the limit', async () => {
    const series = await q(limited, '/api/v1/query', { query: 'qa_v', time: String(now / 1000 + 300) })
    expect(series.status).toBe(422)
    expect(series.json()).toMatchObject({ errorType: 'execution', code: 'ERR_QUERY_LIMIT' })
    expect(series.json().error).toMatch(/query-max-series/)
    const samples = await q(limited, '/api/v1/query_range', { query: 'qa_v{host="a"}', start: String(now / 1000), end: String(now / 1000 + 600), step: '15s' })
    expect(samples.status).toBe(200) // 20 samples: under 30
    const both = await q(limited, '/api/v1/query_range', { query: 'qa_v{host=~"a|b"}', start: String(now / 1000), end: String(now / 1000 + 600), step: '15s' })
    expect(both.status).toBe(422)
    expect(both.json().error).toMatch(/query-max-samples/)
    const exp = await get(`${limited.url}/api/v1/export?match[]=${encodeURIComponent('qa_v{host=~"a|b"}')}`)
    expect(exp.status).toBe(422)
    expect(exp.json().code).toBe('ERR_EXPORT_TOO_LARGE')
  })

  it('lists series, label names and label values', async () => {
    const series = (await q(server, '/api/v1/series', { 'match[]': 'qa_v{region="us"}' })).json()
    expect(series).toEqual({ status: 'success', data: [{ __name__: 'qa_v', host: 'a', region: 'us' }, { __name__: 'qa_v', host: 'b', region: 'us' }] })
    expect((await q(server, '/api/v1/labels', { 'match[]': 'qa_v' })).json().data).toEqual(['__name__', 'host', 'region'])
    expect((await get(`${server.url}/api/v1/label/host/values`)).json().data).toEqual(['a', 'b', 'c'])
  })

  it('narrows series and labels to start/end, from the WAL and from chunks', async () => {
    // Three hosts, each with samples in its own hour, three hours back (two 2-hour blocks apart at most).
    const hour = 3_600_000
    const t0 = now - 3 * hour
    const lines = ['x', 'y', 'z'].map((h, i) => `span,host=${h} v=1 ${t0 + i * hour}`)
    expect((await post(`${server.url}/write?precision=ms`, lines.join('\n'))).status).toBe(204)
    const hosts = async (start?: number, end?: number): Promise<string[]> => {
      const params: Record<string, string> = { 'match[]': 'span_v' }
      if (start !== undefined) params.start = String(start / 1000)
      if (end !== undefined) params.end = String(end / 1000)
      const r = await q(server, '/api/v1/series', params)
      expect(r.status).toBe(200)
      return r.json().data.map((l: Record<string, string>) => l.host)
    }
    const check = async (): Promise<void> => {
      expect(await hosts()).toEqual(['x', 'y', 'z'])
      expect(await hosts(t0 + hour / 2, t0 + hour + 1)).toEqual(['y'])
      expect(await hosts(t0, t0)).toEqual(['x']) // both bounds inclusive
      expect(await hosts(t0 + hour)).toEqual(['y', 'z'])
      expect(await hosts(undefined, t0 + hour - 1)).toEqual(['x'])
      expect(await hosts(t0 + 3 * hour)).toEqual([])
      const values = await q(server, '/api/v1/label/host/values', { 'match[]': 'span_v', start: String((t0 + 2 * hour) / 1000) })
      expect(values.json().data).toEqual(['z'])
    }
    await check() // from the WAL
    const deadline = Date.now() + 15_000
    while ((await get(`${server.url}/stats`)).json().storage.headSamples > 0) {
      if (Date.now() > deadline) throw new Error('no checkpoint')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    await check() // from chunks
    const bad = await q(server, '/api/v1/series', { 'match[]': 'span_v', start: '10', end: '5' })
    expect(bad.status).toBe(400)
  })

  it('reads what was acknowledged just before, however fast the next read comes (no stale snapshot)', async () => {
    for (let i = 0; i < 100; i++) {
      expect((await post(`${server.url}/write?precision=ms`, `fresh,k=k${i} v=${i} ${now + i}`)).status).toBe(204)
      const r = await get(`${server.url}/api/v1/export?match[]=${encodeURIComponent(`fresh_v{k="k${i}"}`)}`)
      expect(r.text, `write ${i}`).toContain(`"values":[${i}]`)
    }
  })

  it('evaluates in a query worker thread at the lowest priority (nice 19) while ingest commits, at normal priority while it is idle', async () => {
    const niceOfThreads = (): number[] => readdirSync(`/proc/${process.pid}/task`).map((tid) => {
      const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8')
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) // field 19: nice
    })
    let writing = true
    const writer = (async () => {
      for (let i = 0; writing; i++) await post(`${server.url}/write?precision=ms`, `busy_nice v=${i} ${Date.now()}`)
    })()
    try {
      await new Promise((resolve) => setTimeout(resolve, 50))
      await q(server, '/api/v1/query', { query: 'qa_v' })
      const nice = niceOfThreads()
      expect(nice).toContain(19)
      expect(nice).toContain(0) // the rest of the process is untouched
    } finally {
      writing = false
      await writer
    }
    // Back to normal priority once ingest is idle (raising a priority needs root or RLIMIT_NICE).
    await new Promise((resolve) => setTimeout(resolve, 400))
    for (let i = 0; i < 4; i++) await q(server, '/api/v1/query', { query: 'qa_v' })
    if (process.getuid?.() === 0) expect(niceOfThreads()).not.toContain(19)
  })
})
