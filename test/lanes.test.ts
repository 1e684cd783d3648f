/**
 * Body lanes (src/lanes.ts, workers/parse.ts drainLane): small bodies are
 * copied into a lane's inbox and their outcomes come back through its outbox;
 * big ones go to a parse worker in a Piscina task. Real server, real workers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Pool } from 'undici'
import { gzipSync } from 'node:zlib'
import { exportSeries, get, post, startTestServer, type TestServer } from './helpers/server.js'

interface LaneStats { lane: number, bodies: number, waiting: number, inboxUsed: number, inboxCapacity: number, drainTasks: number }
const laneStats = async (s: TestServer): Promise<LaneStats[]> => (await get(`${s.url}/stats`)).json().lanes as LaneStats[]

describe('body lanes', () => {
  let s: TestServer
  beforeAll(async () => { s = await startTestServer() })
  afterAll(async () => { await s.stop() })

  it('small and big bodies from many clients at once: every sample stored once, in its series, with its own precision and db', async () => {
    const before = await laneStats(s)
    const clients = 16
    const rounds = 12
    const pool = new Pool(s.url, { connections: clients })
    await Promise.all(Array.from({ length: clients }, async (_, c) => {
      for (let r = 0; r < rounds; r++) {
        // Every third request is over the lane limit (64 KiB, unless gzip'd): it goes as a Piscina task.
        const big = (c + r) % 3 === 0
        const lines = big ? 2000 : 1 + (r % 5)
        const text: string[] = []
        for (let l = 0; l < lines; l++) {
          const k = r * 10_000 + l
          text.push(`lane,client=c${c},pad=${'x'.repeat(40)} v=${k} ${1_700_000_000 + k}`)
        }
        const gzip = r % 4 === 1
        const body = text.join('\n')
        const res = await pool.request({
          path: `/write?precision=s&db=d${c % 3}`,
          method: 'POST',
          body: gzip ? gzipSync(body) : body,
          headers: gzip ? { 'content-encoding': 'gzip' } : {},
        })
        await res.body.dump()
        expect(res.statusCode).toBe(204)
      }
    }))
    await pool.close()
    const out = await exportSeries(s.url, 'lane_v')
    expect(out).toHaveLength(clients)
    for (const series of out) {
      const c = Number(series.metric.client!.slice(1))
      expect(series.metric.db).toBe(`d${c % 3}`)
      const want: number[] = []
      for (let r = 0; r < rounds; r++) {
        const lines = (c + r) % 3 === 0 ? 2000 : 1 + (r % 5)
        for (let l = 0; l < lines; l++) want.push(r * 10_000 + l)
      }
      expect(series.values).toEqual(want)
      expect(series.timestamps).toEqual(want.map((k) => (1_700_000_000 + k) * 1000))
    }
    const after = await laneStats(s)
    const laneBodies = after.reduce((n, l) => n + l.bodies, 0) - before.reduce((n, l) => n + l.bodies, 0)
    // Every body of at most 64 KiB as received (gzip'd big ones too) went through a lane, no bigger one did.
    const small = Array.from({ length: clients }, (_, c) => Array.from({ length: rounds }, (_, r) => (c + r) % 3 !== 0 || r % 4 === 1 ? 1 : 0)).flat().reduce((a, b) => a + b, 0)
    expect(laneBodies).toBe(small)
    for (const l of after) { expect(l.waiting).toBe(0); expect(l.inboxUsed).toBe(0) }
    // /metrics says the same.
    const metrics = (await get(`${s.url}/metrics`)).text
    for (const l of after) {
      expect(metrics).toContain(`ringest_lane_bodies_total{lane="${l.lane}"} ${l.bodies}`)
      expect(metrics).toContain(`ringest_lane_waiting_bodies{lane="${l.lane}"} 0`)
    }
  })

  it('errors come back through the lane with their line numbers, and the good lines are stored', async () => {
    const r = await post(`${s.url}/write?precision=ms`, 'lerr a=1 1700000000000\nnot a line\nlerr a=2 1700000001000\nlerr b="str" 1700000002000\n')
    expect(r.status).toBe(400)
    const body = r.json()
    expect(body.accepted).toBe(2)
    expect(body.errors.map((e: { line: number }) => e.line)).toEqual([2])
    const bad = await post(`${s.url}/write?precision=fortnights`, 'lerr a=1\n')
    expect(bad.status).toBe(400)
    expect(bad.json().code).toBe('ERR_BAD_PRECISION')
    const gz = await post(`${s.url}/write`, Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' })
    expect(gz.status).toBe(400)
    expect(gz.json().code).toBe('ERR_BAD_ENCODING')
    expect((await exportSeries(s.url, 'lerr_a'))[0]!.values).toEqual([1, 2])
  })

  it('a parse worker killed while bodies stream in: each request gets 204 or a 5xx, the lanes keep working, nothing acknowledged is lost', async () => {
    const clients = 8
    const acked: number[] = []
    let failed = 0
    let stop = false
    let k = 0
    const pool = new Pool(s.url, { connections: clients })
    const load = Promise.all(Array.from({ length: clients }, async () => {
      while (!stop) {
        const mine = k++
        const res = await pool.request({ path: '/write?precision=ms', method: 'POST', body: `kill v=${mine} ${1_700_000_000_000 + mine}` })
        await res.body.dump()
        if (res.statusCode === 204) acked.push(mine)
        else { expect(res.statusCode).toBeGreaterThanOrEqual(500); failed++ }
      }
    }))
    await new Promise((resolve) => setTimeout(resolve, 300))
    await s.engine.terminateParseWorker(0)
    await new Promise((resolve) => setTimeout(resolve, 300))
    await s.engine.terminateParseWorker(1)
    await new Promise((resolve) => setTimeout(resolve, 700))
    stop = true
    await load
    await pool.close()
    // After the crashes, bodies still go through: the lanes were reset and drained by the new workers.
    for (let i = 0; i < 20; i++) expect((await post(`${s.url}/write?precision=ms`, `kill v=-1 ${1_700_100_000_000 + i}`)).status).toBe(204)
    const stored = new Set((await exportSeries(s.url, 'kill_v'))[0]!.timestamps)
    for (const a of acked) expect(stored.has(1_700_000_000_000 + a)).toBe(true)
    expect(acked.length).toBeGreaterThan(100)
    expect(failed).toBeLessThan(acked.length)
    for (const l of await laneStats(s)) expect(l.waiting).toBe(0)
  })
})
