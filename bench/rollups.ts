/**
 * What rollups cost on disk and buy in query time.
 *
 *   npm run bench:rollups                       # 1,000 hosts x 3 days at 15 s (~17 M samples, ~2 min)
 *   npm run bench:rollups -- --hosts 200 --days 2
 *
 * A fresh ringest (a child process from bin/, 5-minute and 1-hour rollups
 * kept) gets `cpu,host=h<i> usage=<random walk, 2 decimals>` every 15 s for
 * every host over whole past days (so every block is complete), in
 * 5,000-line bodies. Once the rollups have caught up (its /stats), it is
 * stopped and the store's LMDB databases are measured (pages in use per
 * database, times the page size): bytes per raw sample, and rollup bytes per
 * series per 5-minute or 1-hour bucket. Then it is started again and each
 * query runs QUERY_RUNS times with max_source_resolution=raw and =auto, the
 * two alternating; we print the medians, their ratio, and whether the two
 * answers agree (they must: the windows fall on bucket edges).
 *
 * Output: progress on stderr, a table and one JSON line on stdout; the JSON
 * also goes to bench/results/rollups-<UTC>.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { open } from 'lmdb'
import { Pool } from 'undici'
import { mulberry32 } from './lib/bodies.js'
import { freePort, startProcess, stopProcess, waitHttp, type Child } from './lib/proc.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const STEP_MS = 15_000
const DAY = 86_400_000
const QUERY_RUNS = Number(process.env.QUERY_RUNS ?? 7)

const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '1000' },
    days: { type: 'string', default: '3' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help === true) {
  process.stdout.write('usage: npm run bench:rollups -- [--hosts N] [--days D]\n')
  process.exit(0)
}
const hosts = Number(args.hosts)
const days = Number(args.days)
const log = (msg: string): void => { process.stderr.write(`${new Date().toISOString()} ${msg}\n`) }

async function start (dataDir: string, port: number): Promise<Child> {
  const child = startProcess('ringest', process.execPath, [join(ROOT, 'bin/ringest.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir,
    '--rollup-5m-retention', '400d', '--rollup-1h-retention', '400d', '--retention', '400d', '--checkpoint-idle-ms', '1000', '--log-level', 'warn'],
  { logPath: join(tmpdir(), 'ringest-bench-rollups.log') })
  await waitHttp(`http://127.0.0.1:${port}/healthz`, 60_000, child)
  return child
}

async function main (): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ringest-rollups-'))
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const pool = new Pool(base, { connections: 4 })
  const end = Math.floor(Date.now() / DAY) * DAY - DAY // midnight UTC yesterday: every block complete
  const begin = end - days * DAY
  let child = await start(dataDir, port)
  try {
    log(`loading ${hosts} hosts x ${days} days at 15 s into ${dataDir}`)
    const rand = mulberry32(1)
    const walk = new Float64Array(hosts).map(() => 20 + rand() * 60)
    let samples = 0
    const inflight: Array<Promise<void>> = []
    let lines: string[] = []
    const flush = async (): Promise<void> => {
      const body = lines.join('\n')
      lines = []
      const r = await pool.request({ path: '/write?precision=ms', method: 'POST', body })
      const text = await r.body.text()
      if (r.statusCode !== 204) throw new Error(`write: ${r.statusCode} ${text}`)
    }
    for (let t = begin; t < end; t += STEP_MS) {
      for (let h = 0; h < hosts; h++) {
        walk[h] = Math.min(100, Math.max(0, walk[h]! + (rand() - 0.5) * 2))
        lines.push(`cpu,host=h${h} usage=${walk[h]!.toFixed(2)} ${t + 3000}`)
        samples++
      }
      if (lines.length >= 5000) {
        inflight.push(flush())
        if (inflight.length >= 4) await inflight.shift()
      }
    }
    if (lines.length > 0) inflight.push(flush())
    await Promise.all(inflight)
    log(`${samples} samples written; waiting for the checkpoint and the rollups`)
    const t0 = Date.now()
    for (;;) {
      const st = (await (await fetch(`${base}/stats`)).json() as { storage: { headSamples: number, rollupsThrough: string | null, rollupRowsWritten: number } }).storage
      if (st.headSamples === 0 && st.rollupsThrough !== null && Date.parse(st.rollupsThrough) >= end && st.rollupRowsWritten >= hosts * (days * 12 + days)) break
      if (Date.now() - t0 > 600_000) throw new Error(`rollups not done within 10 min: ${JSON.stringify(st)}`)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    const rollupWaitS = (Date.now() - t0) / 1000
    await stopProcess(child, 30_000)

    // Pages in use per database (lmdb's stat of each named database).
    const env = open({ path: dataDir, readOnly: true })
    const size = (name: string): { bytes: number, entries: number } => {
      const st = env.openDB({ name, keyEncoding: 'binary', encoding: 'binary' }).getStats() as { pageSize: number, treeBranchPageCount: number, treeLeafPageCount: number, overflowPages: number, entryCount: number }
      return { bytes: st.pageSize * (st.treeBranchPageCount + st.treeLeafPageCount + st.overflowPages), entries: st.entryCount }
    }
    const chunks = size('chunks')
    const rollups = size('rollups')
    await env.close()
    // Rollup rows by level: 5-minute rows are 2-hour blocks, 1-hour rows days.
    const rows5m = hosts * days * 12
    const rows1h = hosts * days
    const disk = {
      samples,
      chunkBytes: chunks.bytes,
      bytesPerSample: chunks.bytes / samples,
      rollupBytes: rollups.bytes,
      rollupRows: rollups.entries,
      rollupBytesPerSeriesBucket5m: rollups.bytes / (rows5m * 24), // both levels' bytes over the 5-minute buckets (1-hour rows are a twelfth as many buckets)
      rows5m,
      rows1h,
      rollupShareOfRaw: rollups.bytes / chunks.bytes,
      rollupWaitS,
    }
    log(`disk: ${JSON.stringify(disk)}`)

    child = await start(dataDir, port)
    const queries = [
      { name: `max_over_time, ${hosts} series, ${days} d, step 1 h`, query: 'max_over_time(cpu_usage[1h])', step: 3600 },
      { name: `avg by () of avg_over_time, ${days} d, step 30 m`, query: 'avg(avg_over_time(cpu_usage[30m]))', step: 1800 },
      { name: `plain selector, 1 host, ${days} d, step 6 h`, query: 'cpu_usage{host="h1"}', step: 21600 },
    ]
    const results = []
    for (const q of queries) {
      const times: Record<string, number[]> = { raw: [], auto: [] }
      const bodies: Record<string, string> = {}
      for (let run = 0; run < QUERY_RUNS + 1; run++) {
        for (const source of ['raw', 'auto']) {
          const params = new URLSearchParams({ query: q.query, start: String((begin + q.step * 1000) / 1000), end: String(end / 1000), step: String(q.step), max_source_resolution: source })
          const t = performance.now()
          const r = await pool.request({ path: `/api/v1/query_range?${params.toString()}`, method: 'GET' })
          const text = await r.body.text()
          if (r.statusCode !== 200) throw new Error(`${q.query}: ${r.statusCode} ${text}`)
          if (run > 0) times[source]!.push(performance.now() - t) // run 0 warms up
          bodies[source] = text
        }
      }
      const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
      const agree = maxRelDiff(bodies.raw!, bodies.auto!)
      const row = { query: q.name, expr: q.query, rawMs: median(times.raw!), autoMs: median(times.auto!), speedup: median(times.raw!) / median(times.auto!), maxRelativeDifference: agree }
      log(JSON.stringify(row))
      results.push(row)
    }
    const out = { at: new Date().toISOString(), hosts, days, cpus: cpus().length, disk, queries: results }
    process.stdout.write(`\n| | value |\n|---|---|\n| raw chunks | ${(disk.bytesPerSample).toFixed(3)} bytes/sample |\n` +
      `| rollups (both levels) | ${(disk.rollupBytes / 2 ** 20).toFixed(1)} MiB, ${(100 * disk.rollupShareOfRaw).toFixed(1)} % of the raw chunks |\n`)
    process.stdout.write('\n| query | raw (median ms) | rollups (median ms) | speed-up | max rel. difference |\n|---|---|---|---|---|\n')
    for (const r of results) process.stdout.write(`| \`${r.expr}\` (${r.query}) | ${r.rawMs.toFixed(1)} | ${r.autoMs.toFixed(1)} | ${r.speedup.toFixed(1)}x | ${r.maxRelativeDifference.toExponential(1)} |\n`)
    process.stdout.write(JSON.stringify(out) + '\n')
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(join(ROOT, `bench/results/rollups-${out.at.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.json`), JSON.stringify(out, null, 2))
  } finally {
    await pool.close()
    await stopProcess(child, 30_000).catch(() => {})
    if (process.env.KEEP_DATA === undefined) rmSync(dataDir, { recursive: true, force: true })
    else log(`data kept in ${dataDir}`)
  }
}

/** The largest relative difference between two query_range answers' values (Infinity if their shapes differ). */
function maxRelDiff (a: string, b: string): number {
  type M = Array<{ metric: Record<string, string>, values: Array<[number, string]> }>
  const key = (m: M): M => m.sort((x, y) => JSON.stringify(x.metric).localeCompare(JSON.stringify(y.metric)))
  const x = key((JSON.parse(a) as { data: { result: M } }).data.result)
  const y = key((JSON.parse(b) as { data: { result: M } }).data.result)
  if (x.length !== y.length) return Infinity
  let worst = 0
  for (let i = 0; i < x.length; i++) {
    if (x[i]!.values.length !== y[i]!.values.length) return Infinity
    for (let j = 0; j < x[i]!.values.length; j++) {
      const [t1, v1] = x[i]!.values[j]!
      const [t2, v2] = y[i]!.values[j]!
      if (t1 !== t2) return Infinity
      const p = Number(v1)
      const q = Number(v2)
      worst = Math.max(worst, Math.abs(p - q) / Math.max(1e-12, Math.abs(p)))
    }
  }
  return worst
}

await main()
