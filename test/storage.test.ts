/**
 * Storage format 2 on a real server: WAL generations, checkpoints into
 * compressed chunks, out-of-order and duplicate samples on both sides of a
 * checkpoint, the out-of-order window, retention, and restarts.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { exportSeries, get, post, startTestServer, type TestServer } from './helpers/server.js'

let server: TestServer | undefined
afterEach(async () => { await server?.stop(); server = undefined })

async function storage (s: TestServer): Promise<Record<string, number>> {
  return (await get(`${s.url}/stats`)).json().storage
}

/** Waits until the flush worker has checkpointed more than `after` times (an idle head is checkpointed after 2 s). */
async function checkpointed (s: TestServer, after: number): Promise<Record<string, number>> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const st = await storage(s)
    if (st.checkpoints! > after && st.headSamples === 0) return st
    if (Date.now() > deadline) throw new Error(`no checkpoint within 15 s: ${JSON.stringify(st)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function series (s: TestServer, match: string): Promise<Array<[number, number]>> {
  const out = await exportSeries(s.url, match)
  expect(out.length).toBeLessThanOrEqual(1)
  return out.length === 0 ? [] : out[0]!.timestamps.map((t, i) => [t, out[0]!.values[i]!])
}

async function write (s: TestServer, lines: string[]): Promise<void> {
  const r = await post(`${s.url}/write?precision=ms`, lines.join('\n'))
  expect(r.status, r.text).toBe(204)
}

const T = 1_700_000_000_000

describe('checkpoints', () => {
  it('moves the WAL into chunks, deletes nothing acknowledged, and reads the same before, during and after', async () => {
    server = await startTestServer()
    const lines: string[] = []
    for (let i = 0; i < 1000; i++) lines.push(`ck,host=h${i % 10} v=${(i * 0.25).toFixed(2)} ${T + Math.floor(i / 10) * 10_000}`)
    await write(server, lines)
    const before = await exportSeries(server.url, 'ck_v')
    expect(before).toHaveLength(10)
    expect(before[0]!.values).toHaveLength(100)
    const st = await checkpointed(server, 0)
    expect(st.chunkBytesWritten).toBeGreaterThan(0)
    // 1000 samples of 2-decimal gauges at a regular interval: far below the 20 bytes a WAL row takes.
    expect(st.chunkBytesWritten / 1000).toBeLessThan(4)
    expect(await exportSeries(server.url, 'ck_v')).toEqual(before)

    // Restart: the store's chunks serve everything, nothing is left to replay.
    const dir = server.dataDir
    await server.close('test')
    const again = await startTestServer({}, dir)
    try {
      const st2 = await storage(again)
      expect(st2.replayedSamples).toBe(0)
      expect(await exportSeries(again.url, 'ck_v')).toEqual(before)
    } finally {
      await again.close('test')
    }
    server = await startTestServer({}, dir)
  })

  it('merges out-of-order and duplicate samples across a checkpoint: the value written last wins', async () => {
    server = await startTestServer()
    await write(server, [`ooo v=1 ${T + 10_000}`, `ooo v=3 ${T + 30_000}`, `ooo v=5 ${T + 50_000}`])
    await checkpointed(server, 0)
    // Into the chunk's range, and a duplicate of a checkpointed timestamp.
    await write(server, [`ooo v=2 ${T + 20_000}`, `ooo v=30 ${T + 30_000}`, `ooo v=6 ${T + 60_000}`])
    const expected: Array<[number, number]> = [[T + 10_000, 1], [T + 20_000, 2], [T + 30_000, 30], [T + 50_000, 5], [T + 60_000, 6]]
    expect(await series(server, 'ooo_v')).toEqual(expected) // chunk + WAL
    // A duplicate within one body: the later line wins.
    await write(server, [`ooo v=7 ${T + 70_000}`, `ooo v=70 ${T + 70_000}`])
    expected.push([T + 70_000, 70])
    expect(await series(server, 'ooo_v')).toEqual(expected)
    await checkpointed(server, 1)
    expect(await series(server, 'ooo_v')).toEqual(expected) // chunks only
  })

  it('drops samples further behind than the out-of-order window, and counts them', async () => {
    server = await startTestServer({ oooWindowMs: 60_000 })
    await write(server, [`late v=1 ${T + 3_600_000}`])
    await write(server, [`late v=2 ${T + 3_600_000 - 59_000}`, `late v=3 ${T}`])
    expect(await series(server, 'late_v')).toEqual([[T + 3_600_000 - 59_000, 2], [T + 3_600_000, 1]])
    expect((await storage(server)).samplesTooOld).toBe(1)
    const metrics = (await get(`${server.url}/metrics`)).text
    expect(metrics).toContain('ringest_samples_dropped_total{reason="too_old"} 1')
  })

  it('deletes the WAL generations it has checkpointed', async () => {
    server = await startTestServer()
    await write(server, [`walgc v=1 ${T}`])
    const st = await checkpointed(server, 0)
    const wal = join(server.dataDir, 'wal')
    // The checkpointed generation waits out a grace period for readers; at stop it goes.
    expect(readdirSync(wal).length).toBeGreaterThanOrEqual(1)
    const dir = server.dataDir
    await server.close('test')
    const left = readdirSync(wal)
    expect(left.every((g) => Number(g) > st.walGeneration! - 1)).toBe(true)
    server = await startTestServer({}, dir)
    expect(await series(server, 'walgc_v')).toEqual([[T, 1]])
    expect(existsSync(join(dir, 'data.mdb'))).toBe(true)
  })
})

describe('data directory', () => {
  it('takes a directory whose name has a dot (mktemp -d makes such names)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringest.dotted-'))
    try {
      server = await startTestServer({}, dir)
      await write(server, [`dot v=1 ${T}`])
      expect(await series(server, 'dot_v')).toEqual([[T, 1]])
      expect(existsSync(join(dir, 'data.mdb'))).toBe(true)
      await server.close('test')
      server = undefined
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('retention', () => {
  it('deletes whole blocks older than --retention, keeps the rest', async () => {
    const now = Date.now()
    server = await startTestServer({ retention: 3 * 3_600_000 })
    await write(server, [`ret v=1 ${now - 10 * 3_600_000}`, `ret v=2 ${now - 60_000}`])
    await checkpointed(server, 0)
    // Retention runs when the flush worker starts and at most once a minute after a checkpoint.
    const dir = server.dataDir
    await server.close('test')
    server = await startTestServer({ retention: 3 * 3_600_000 }, dir)
    const deadline = Date.now() + 10_000
    while ((await storage(server)).chunksExpired === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    expect((await storage(server)).chunksExpired).toBe(1)
    expect(await series(server, 'ret_v')).toEqual([[now - 60_000, 2]])
  })
})
