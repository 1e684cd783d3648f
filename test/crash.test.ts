import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { Pool } from 'undici'
import { startChild } from './helpers/child.js'
import { exportSeries, get } from './helpers/server.js'

const dirs: string[] = []
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

/** Drives `clients` writers until stop() and records which (client, k) got a 204. */
function load (url: string, clients: number, series: string) {
  const acked = new Map<number, number[]>()
  const statuses = new Map<number, number>()
  let running = true
  const pool = new Pool(url, { connections: clients })
  const done = Promise.all(Array.from({ length: clients }, async (_, c) => {
    const mine: number[] = []
    acked.set(c, mine)
    for (let k = 0; running; k++) {
      const body = Array.from({ length: 20 }, (_, l) => `${series},client=c${c} v=${k * 20 + l} ${1700000000000 + k * 20 + l}`).join('\n')
      try {
        const res = await pool.request({ path: '/write?precision=ms', method: 'POST', body })
        await res.body.dump()
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
        if (res.statusCode === 204) for (let l = 0; l < 20; l++) mine.push(k * 20 + l)
      } catch {
        return // the server went away
      }
    }
  }))
  return {
    acked,
    statuses,
    stop: async () => { running = false; await done; await pool.destroy() },
  }
}

async function verify (url: string, series: string, acked: Map<number, number[]>): Promise<number> {
  const out = await exportSeries(url, `${series}_v`)
  const stored = new Map(out.map((e) => [e.metric.client, new Set(e.values)]))
  let n = 0
  for (const [c, ks] of acked) {
    const have = stored.get(`c${c}`) ?? new Set<number>()
    const missing = ks.filter((k) => !have.has(k))
    expect(missing, `client c${c} lost acknowledged samples`).toEqual([])
    n += ks.length
  }
  return n
}

/**
 * Loads a child server for `loadMs`, stops it with `signal`, restarts it on
 * the same data and checks that every acknowledged sample is there. Returns
 * the first process's exit code.
 */
async function stopUnderLoadAndVerify (signal: NodeJS.Signals, series: string, loadMs: number, config: Record<string, unknown> = {}): Promise<{ code: number | null, before: any }> {
  const dir = mkdtempSync(join(tmpdir(), `ringest-${series}-`))
  dirs.push(dir)
  const child = await startChild({ ...config, dataDir: dir })
  const l = load(child.url, 16, series)
  await new Promise((resolve) => setTimeout(resolve, loadMs))
  const before = (await get(`${child.url}/stats`)).json()
  child.proc.kill(signal)
  const [code] = await child.exited
  await l.stop()
  const again = await startChild({ ...config, dataDir: dir })
  try {
    const n = await verify(again.url, series, l.acked)
    expect(n).toBeGreaterThan(1000)
  } finally {
    again.proc.kill('SIGKILL')
    await again.exited
  }
  return { code, before }
}

it('after kill -9 under load, a restart serves every acknowledged sample', async () => {
  await stopUnderLoadAndVerify('SIGKILL', 'crash', 1500)
})

it('SIGTERM under load exits 0 and loses nothing acknowledged', async () => {
  expect((await stopUnderLoadAndVerify('SIGTERM', 'term', 1000)).code).toBe(0)
})

it('after kill -9 while checkpoints run (WAL generations into chunks), a restart serves every acknowledged sample', async () => {
  const { before } = await stopUnderLoadAndVerify('SIGKILL', 'ckpt', 2000, { checkpointSamples: 1024 })
  expect(before.storage.checkpoints).toBeGreaterThan(2)
})

it('after kill -9 with the WAL file zero-filled ahead of LMDB (slow ingest), a restart serves every acknowledged sample, and a clean stop leaves no zeros', async () => {
  const { before } = await stopUnderLoadAndVerify('SIGKILL', 'zeroed', 2500)
  // The load stayed under 8 MiB/s of WAL, so the flush worker zero-filled ahead (workers/wal-prealloc.ts).
  expect(before.storage.walZeroBytes).toBeGreaterThan(0)
  const dir = mkdtempSync(join(tmpdir(), 'ringest-zeroed-stop-'))
  dirs.push(dir)
  const child = await startChild({ dataDir: dir })
  const l = load(child.url, 4, 'zstop')
  await new Promise((resolve) => setTimeout(resolve, 2500))
  const during = (await get(`${child.url}/stats`)).json()
  expect(during.storage.walZeroBytes).toBeGreaterThan(0)
  child.proc.kill('SIGTERM')
  expect((await child.exited)[0]).toBe(0)
  await l.stop()
  // Every WAL file left is cut back to LMDB's last page: no zero tail stays on disk.
  for (const gen of readdirSync(join(dir, 'wal'))) {
    const size = statSync(join(dir, 'wal', gen, 'data.mdb')).size
    expect(size).toBeLessThan(during.storage.walZeroBytes)
  }
})
