import { afterAll, beforeAll, expect, it } from 'vitest'
import { Pool } from 'undici'
import { exportSeries, startTestServer, type TestServer } from './helpers/server.js'

let s: TestServer
beforeAll(async () => { s = await startTestServer() })
afterAll(async () => { await s.stop() })

it('many concurrent clients: exactly the samples sent are stored, none twice', async () => {
  const clients = 32
  const requestsPerClient = 40
  const linesPerRequest = 25
  const pool = new Pool(s.url, { connections: clients })
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let r = 0; r < requestsPerClient; r++) {
      const lines: string[] = []
      for (let l = 0; l < linesPerRequest; l++) {
        const k = r * linesPerRequest + l
        lines.push(`conc,client=c${c} a=${k},b=${-k} ${1700000000000 + k}`)
      }
      const res = await pool.request({ path: '/write?precision=ms', method: 'POST', body: lines.join('\n') })
      await res.body.dump()
      expect(res.statusCode).toBe(204)
    }
  }))
  await pool.close()
  const perClient = requestsPerClient * linesPerRequest
  for (const field of ['a', 'b']) {
    const out = await exportSeries(s.url, `conc_${field}`)
    expect(out).toHaveLength(clients)
    for (const series of out) {
      expect(series.timestamps).toHaveLength(perClient)
      expect(series.timestamps).toEqual(Array.from({ length: perClient }, (_, k) => 1700000000000 + k))
      expect(series.values).toEqual(Array.from({ length: perClient }, (_, k) => (field === 'a' ? k : 0 - k || 0)))
    }
  }
  const stats = await (await fetch(`${s.url}/stats`)).json() as { flush: { samplesCommitted: number } }
  expect(stats.flush.samplesCommitted).toBe(clients * perClient * 2)
})
