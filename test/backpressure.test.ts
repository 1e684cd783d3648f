import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { Pool } from 'undici'
import { startChild } from './helpers/child.js'
import { exportSeries } from './helpers/server.js'

const dirs: string[] = []
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

function rssOf (pid: number): number {
  // VmRSS in kB from /proc
  const text = readFileSync(`/proc/${pid}/status`, 'utf8') as string
  return Number(/VmRSS:\s+(\d+)/.exec(text)![1]) * 1024
}

it('tiny rings and a slow flush give 503 with Retry-After, bounded memory, and nothing acknowledged lost', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringest-bp-'))
  dirs.push(dir)
  const child = await startChild({ dataDir: dir, ringBytes: 64 * 1024, slowCommitMs: 40, admissionWaitMs: 20, maxInflightBytes: 4 * 1024 * 1024 })
  const pool = new Pool(child.url, { connections: 32 })
  const acked = new Map<number, number[]>()
  const statuses = new Map<number, number>()
  let retryAfter: unknown
  let peakRss = 0
  const deadline = Date.now() + 4000
  const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssOf(child.proc.pid!)) }, 100)
  await Promise.all(Array.from({ length: 32 }, async (_, c) => {
    const mine: number[] = []
    acked.set(c, mine)
    for (let k = 0; Date.now() < deadline; k++) {
      const body = Array.from({ length: 200 }, (_, l) => `bp,client=c${c} v=${k * 200 + l} ${1700000000000 + k * 200 + l}`).join('\n')
      const res = await pool.request({ path: '/write?precision=ms', method: 'POST', body })
      const text = await res.body.text()
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode === 204) for (let l = 0; l < 200; l++) mine.push(k * 200 + l)
      else if (res.statusCode === 503) { retryAfter = res.headers['retry-after']; expect(JSON.parse(text).code).toBe('ERR_OVERLOADED') }
      else throw new Error(`unexpected ${res.statusCode}: ${text}`)
    }
  }))
  clearInterval(sampler)
  await pool.close()
  expect(statuses.get(503) ?? 0).toBeGreaterThan(0)
  expect(statuses.get(204) ?? 0).toBeGreaterThan(0)
  expect(retryAfter).toBe('1')
  expect(peakRss).toBeLessThan(400 * 1024 * 1024)
  const out = await exportSeries(child.url, 'bp_v')
  const stored = new Map(out.map((e) => [e.metric.client, new Set(e.values)]))
  for (const [c, ks] of acked) {
    const have = stored.get(`c${c}`) ?? new Set<number>()
    expect(ks.filter((k) => !have.has(k))).toEqual([])
  }
  child.proc.kill('SIGTERM')
  expect((await child.exited)[0]).toBe(0)
})
