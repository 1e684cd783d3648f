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

  it('refuses samples further behind than the out-of-order window in the answer (400 ERR_TOO_OLD), stores the rest, and counts them', async () => {
    server = await startTestServer({ oooWindowMs: 60_000 })
    await write(server, [`late v=1 ${T + 3_600_000}`])
    const mixed = await post(`${server.url}/write?precision=ms`, [`late v=2 ${T + 3_600_000 - 59_000}`, `late v=3 ${T}`].join('\n'))
    expect(mixed.status, mixed.text).toBe(400)
    expect(mixed.json()).toMatchObject({ code: 'ERR_TOO_OLD', accepted: 1, rejected: 0, tooOld: 1 })
    expect(mixed.json().error).toMatch(/^partial write: 1 sample\(s\) further than 60000 ms behind/)
    expect(mixed.json().errors).toEqual([{ line: 0, message: expect.stringContaining('--ooo-window-ms') }])
    expect(await series(server, 'late_v')).toEqual([[T + 3_600_000 - 59_000, 2], [T + 3_600_000, 1]])
    // All of a body too old; then too old and a bad line (the parse error's code, with tooOld).
    const all = await post(`${server.url}/write?precision=ms`, `late v=4 ${T + 1}\nlate v=5 ${T + 2}`)
    expect(all.status).toBe(400)
    expect(all.json()).toMatchObject({ code: 'ERR_TOO_OLD', accepted: 0, tooOld: 2 })
    expect(all.json().error).toMatch(/^unable to write: 2 sample/)
    const both = await post(`${server.url}/write?precision=ms`, `late v=6 ${T + 3}\nlate,x v= 1\nlate v=7 ${T + 3_600_000 + 1000}`)
    expect(both.status).toBe(400)
    expect(both.json()).toMatchObject({ code: 'ERR_PARSE', accepted: 1, rejected: 1, tooOld: 1 })
    expect(both.json().errors.map((e: { line: number }) => e.line)).toEqual([2, 0])
    // A later body is not blamed for an earlier one's, and the counts add up.
    await write(server, [`late v=8 ${T + 3_600_000 + 2000}`])
    expect((await storage(server)).samplesTooOld).toBe(4)
    const metrics = (await get(`${server.url}/metrics`)).text
    expect(metrics).toContain('ringest_samples_dropped_total{reason="too_old"} 4')
    const ep = (await get(`${server.url}/stats`)).json().endpoints['/write']
    expect(ep.samplesAccepted).toBe(4) // v=1, v=2, v=7, v=8
    expect(ep.rejectedRequests.too_old).toBe(2)
  })

  it('blames only the bodies that held too-old samples when many are in flight at once', async () => {
    server = await startTestServer({ oooWindowMs: 60_000 })
    await write(server, Array.from({ length: 40 }, (_, i) => `crowd,s=s${i} v=0 ${T + 3_600_000}`))
    const replies = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      post(`${server.url}/write?precision=ms`, i % 3 === 0 ? `crowd,s=s${i} v=1 ${T + 3_600_000 + 1000}\ncrowd,s=s${i} v=2 ${T}` : `crowd,s=s${i} v=1 ${T + 3_600_000 + 1000}`)))
    replies.forEach((r, i) => {
      if (i % 3 === 0) expect(r.json(), `body ${i}`).toMatchObject({ code: 'ERR_TOO_OLD', accepted: 1, tooOld: 1 })
      else expect(r.status, `body ${i}: ${r.text}`).toBe(204)
    })
    expect((await storage(server)).samplesTooOld).toBe(14)
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

describe('time cuts inside chunks', () => {
  it('export keeps both bounds inclusive, from the WAL and from chunks alike', async () => {
    server = await startTestServer()
    await write(server, Array.from({ length: 10 }, (_, i) => `cut v=${i} ${T + i * 10_000}`))
    const range = async (fromMs: number, toMs: number): Promise<number[]> => {
      const out = await exportSeries(server!.url, 'cut_v', `&start=${fromMs / 1000}&end=${toMs / 1000}`)
      return out.length === 0 ? [] : out[0]!.values
    }
    const check = async (): Promise<void> => {
      expect(await range(T + 10_000, T + 30_000)).toEqual([1, 2, 3]) // on samples: both kept
      expect(await range(T + 10_001, T + 29_999)).toEqual([2]) // between samples
      expect(await range(T, T + 90_000)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      expect(await range(T + 90_000, T + 200_000)).toEqual([9])
      expect(await range(T - 5_000, T - 1)).toEqual([])
    }
    await check()
    await checkpointed(server, 0)
    await check()
  })
})

describe('cardinality in /stats', () => {
  it('counts series created, in total and in the last minute', async () => {
    server = await startTestServer()
    await write(server, [`card,h=a v=1 ${T}`, `card,h=b v=1 ${T}`, `card,h=c v=1 ${T}`])
    await write(server, [`card,h=a v=2 ${T + 1000}`])
    const st = await storage(server)
    expect(st.seriesCreated).toBe(3)
    expect(st.seriesCreatedLastMinute).toBe(3)
    expect((await get(`${server.url}/metrics`)).text).toMatch(/^ringest_series_created_total 3$/m)
  })
})

describe('WAL bands', () => {
  it('splits a commit over several bands and reads each series back in write order, before and after a checkpoint', async () => {
    server = await startTestServer()
    // 10,000 series: three bands of 4,096 ids. Each body touches all of them, and the second
    // rewrites some timestamps, so a series' order across commits matters.
    const body = (round: number): string[] => Array.from({ length: 10_000 }, (_, i) => `band,s=s${i} v=${round * 100_000 + i} ${T + (round % 2) * 10_000}`)
    await write(server, body(0))
    await write(server, body(1))
    await write(server, body(2)) // the same timestamp as round 0: round 2's values win
    const check = async (): Promise<void> => {
      for (const i of [0, 4095, 4096, 8191, 8192, 9999]) {
        expect(await series(server!, `band_v{s="s${i}"}`)).toEqual([[T, 200_000 + i], [T + 10_000, 100_000 + i]])
      }
      const all = await exportSeries(server!.url, 'band_v')
      expect(all).toHaveLength(10_000)
    }
    await check()
    await checkpointed(server, 0)
    await check()
  })

  it('reads and checkpoints a generation written before bands (8-byte keys)', async () => {
    const { open } = await import('lmdb')
    const { encodeSegment, walDir } = await import('../dist/workers/storage.js')
    // A store that knows 5,000 series (ids 1 to 5,000 in line order), stopped; then a WAL
    // generation in the old layout with samples of id 4,500 (band 1: a band read would miss them).
    server = await startTestServer()
    await write(server, Array.from({ length: 5000 }, (_, i) => `legacy,s=s${i + 1} v=1 ${T}`))
    await checkpointed(server, 0)
    const dir = server.dataDir
    await server.close('test')
    const gen = Math.max(...readdirSync(join(dir, 'wal')).map(Number), 0) + 1
    const env = open({ path: walDir(dir, gen), noSubdir: false, maxDbs: 8 })
    const segments = env.openDB<Buffer, Buffer>({ name: 'segments', keyEncoding: 'binary', encoding: 'binary' })
    const seg = (ts: number[], values: number[]): Buffer => encodeSegment(Uint32Array.from(ts.map(() => 4500)), Float64Array.from(ts), Float64Array.from(values), ts.length, Math.min(...ts), Math.max(...ts))
    const key = (seq: number): Buffer => { const b = Buffer.alloc(8); b.writeUInt32BE(seq, 4); return b }
    await segments.put(key(1), seg([T + 10_000, T + 20_000], [2, 3]))
    await segments.put(key(2), seg([T + 20_000], [30]))
    await env.close()
    const expected = [[T, 1], [T + 10_000, 2], [T + 20_000, 30]]
    // No checkpoint yet: the read goes to the old-layout generation.
    server = await startTestServer({ checkpointIdleMs: 3_600_000 }, dir)
    expect((await storage(server)).replayedSamples).toBe(3)
    expect(await series(server, 'legacy_v{s="s4500"}')).toEqual(expected) // chunk + old-layout WAL
    await server.close('test')
    // Checkpointed at that stop, or else soon after this start.
    server = await startTestServer({}, dir)
    if ((await storage(server)).headSamples! > 0) await checkpointed(server, 0)
    expect(await series(server, 'legacy_v{s="s4500"}')).toEqual(expected) // chunks only
  })
})

describe('stop', () => {
  it('leaves a big WAL for the next start instead of checkpointing it, and the next start serves and checkpoints it', async () => {
    server = await startTestServer({ checkpointIdleMs: 3_600_000, stopCheckpointSamples: 1000 })
    const lines = Array.from({ length: 3000 }, (_, i) => `stopwal,s=s${i % 3} v=${i} ${T + i * 1000}`)
    await write(server, lines)
    const before = await exportSeries(server.url, 'stopwal_v')
    const dir = server.dataDir
    await server.close('test')
    server = await startTestServer({}, dir)
    expect((await storage(server)).replayedSamples).toBe(3000)
    expect(await exportSeries(server.url, 'stopwal_v')).toEqual(before)
    await checkpointed(server, 0)
    expect(await exportSeries(server.url, 'stopwal_v')).toEqual(before)
  })

  it('deletes the chunks of a checkpoint that did not finish, in every block, at start', async () => {
    const { openStore, chunkKey } = await import('../dist/workers/storage.js')
    const { deleteUnfinishedChunks } = await import('../dist/workers/checkpoint.js')
    const dir = mkdtempSync(join(tmpdir(), 'ringest-unfinished-'))
    try {
      const store = openStore(dir, { mapSizeBytes: 1 << 30, sync: false })
      const keys: Array<[number, number, number]> = []
      for (const block of [-3, 0, 5]) for (const cp of [2, 3, 4, 7]) for (const id of [1, 9]) keys.push([block, cp, id])
      for (const [b, cp, id] of keys) await store.chunks.put(chunkKey(b, cp, id, 0), Buffer.from([cp]))
      const r = deleteUnfinishedChunks(store, 3)
      await r.last
      expect(r.removed).toBe(3 * 2 * 2)
      const left = [...store.chunks.getKeys()].map((k) => [...k.subarray(4, 8)].reduce((a, x) => a * 256 + x, 0))
      expect(left.sort()).toEqual(Array(3 * 2 * 2).fill(0).map((_, i) => i < 6 ? 2 : 3))
      await store.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('cardinality', () => {
  it('checkpoints 200,000 series of one sample each within the flush worker\'s heap, in passes, and reads them back', async () => {
    server = await startTestServer()
    const now = Date.now() - 60_000
    const N = 200_000
    for (let from = 0; from < N; from += 5000) {
      await write(server, Array.from({ length: 5000 }, (_, i) => `card,host=h${from + i},region=r${(from + i) % 8} v=${from + i} ${now}`))
    }
    // Before passes were bounded by series, this checkpoint ran the flush worker out of heap (and the process died).
    const st = await checkpointed(server, 0)
    expect(st.series).toBe(N)
    expect(st.chunksWritten).toBe(N)
    expect(st.checkpointSamples).toBe(N)
    for (const h of [0, 16_383, 16_384, 99_999, N - 1]) expect(await series(server, `card_v{host="h${h}"}`)).toEqual([[now, h]])
    expect((await get(`${server.url}/readyz`)).status).toBe(200)
  }, 60_000)
})

describe('checkpoint backlog', () => {
  it('holds ingest back while the WAL is 3 x --checkpoint-samples ahead of a running checkpoint, counts it, and loses nothing', async () => {
    server = await startTestServer({ checkpointSamples: 1024, checkpointIdleMs: 3_600_000 })
    server.engine.setSlowCheckpoint(2000) // each checkpoint pass ends with a 2 s sleep
    const body = (k: number): string[] => Array.from({ length: 1024 }, (_, i) => `backlog,s=s${i % 4} v=${k} ${T + k * 10_000_000 + i * 1000}`)
    await write(server, body(0)) // 1,024 samples: a checkpoint starts and sleeps
    for (let k = 1; k <= 3; k++) await write(server, body(k)) // 3,072 samples ahead of it: the limit
    const started = Date.now()
    const held = post(`${server.url}/write?precision=ms`, body(4).join('\n'))
    const r = await held
    const st = await storage(server)
    // Answered only after the checkpoint let go: 204 then, or 503 if the admission wait ran out first.
    expect([204, 503]).toContain(r.status)
    expect(st.checkpoints).toBeGreaterThanOrEqual(1)
    expect(st.checkpointStallMs).toBeGreaterThan(0)
    expect(Date.now() - started).toBeGreaterThan(200)
    expect((await get(`${server.url}/metrics`)).text).toMatch(/^ringest_checkpoint_stall_seconds_total [0-9.]*[1-9]/m)
    server.engine.setSlowCheckpoint(0)
    if (r.status === 503) await write(server, body(4))
    const all = await exportSeries(server.url, 'backlog_v')
    expect(all.reduce((n, s) => n + s.values.length, 0)).toBe(5 * 1024)
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
