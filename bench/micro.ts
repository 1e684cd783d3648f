/**
 * `npm run bench`: the microbenchmarks of every hot component, one tinybench
 * table, candidates side by side where there is a choice, saved as JSON, and
 * compared with a baseline run.
 *
 *   npm run bench                                   # ~1 min: every case, 3 rounds
 *   npm run bench -- --compare bench/results/micro-<UTC>.json
 *   npm run bench -- --filter chunk --time 500 --rounds 5
 *
 * Cases (group: candidates):
 *   ring      publish 256 records of 32 bytes and consume them on one thread,
 *             committed once per batch (what the parse workers do) or once per
 *             record (the engineering note: publish per batch, not per sample)
 *   parse     a 100-line body: line protocol, the same samples as a JSON
 *             array and as NDJSON (the parsers of workers/parsers/)
 *   wal       encodeSegment of a 4,096-sample commit (the WAL's columnar format)
 *   chunk     encodeChunk of 512 samples of a 2-decimal random walk; decodeChunk
 *             (new arrays) against decodeChunkInto (the query's arena)
 *   sort      sortLastWins of 600 samples in 3 resent runs against
 *             Array.prototype.sort on index pairs
 *   lmdb      one put of a 64 KiB segment and its commit (no fsync) into a
 *             temp LMDB environment: the flush worker's write path
 *   rollup    encode and decode of a 24-bucket rollup row
 *   query     sum by (r) (rate(x[5m])) over 1,000 series x 240 samples at a
 *             15 s step through the PromQL engine, and rate alone
 *
 * Each round runs every case for --time ms (tinybench), after one warm-up
 * round that is not counted; the figures are the median of the rounds' mean
 * latencies. The spread of a case is the larger
 * of its rounds' relative range and tinybench's relative margin of error:
 * --compare flags a case as slower only when its mean grew by more than
 * max(3 %, 2 x (spread(baseline) + spread(now))), so the threshold comes from the
 * runs' own noise. The exit status is 1 if any case is flagged.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { open } from 'lmdb'
import { Bench } from 'tinybench'
import { RingConsumer, RingProducer, allocateRing } from 'native-free-ringbuffer'
import { LineStream, mulberry32 } from './lib/bodies.js'
import { LineProtocolParser } from '../workers/parsers/lineprotocol.js'
import { JsonSeriesCache, parseJsonBody } from '../workers/parsers/json.js'
import { CountingSink } from './lib/counting-sink.js'
import { encodeSegment, segmentBytes } from '../workers/storage.js'
import { decodeChunk, decodeChunkInto, encodeChunk } from '../workers/chunk/codec.js'
import { sortLastWins } from '../workers/read.js'
import { Buckets, decodeRow } from '../workers/rollup.js'
import { queryRange, type Matcher, type Querier, type SeriesData } from '../src/promql/index.js'
import { compare, table, type CaseResult } from './lib/micro-report.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

const { values: args } = parseArgs({
  options: {
    compare: { type: 'string' },
    filter: { type: 'string', default: '' },
    time: { type: 'string', default: '400' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help === true) {
  process.stdout.write('npm run bench -- [--compare baseline.json] [--filter TEXT] [--time MS] [--rounds N] [--json PATH]\n')
  process.exit(0)
}
const TIME_MS = Number(args.time)
const ROUNDS = Math.max(1, Number(args.rounds))

type Fn = () => unknown
interface Case { group: string, name: string, setup: () => Promise<Fn> | Fn, teardown?: () => Promise<void> }
const cases: Case[] = []
const add = (group: string, name: string, setup: Case['setup'], teardown?: Case['teardown']): void => { cases.push({ group, name, setup, ...(teardown === undefined ? {} : { teardown }) }) }

// --- ring ---
for (const perRecord of [false, true]) {
  add('ring', perRecord ? 'commit per record' : 'commit per 256 records', () => {
    const sab = allocateRing(1 << 20)
    const p = new RingProducer(sab)
    const c = new RingConsumer(sab)
    const f64 = p.f64
    let sum = 0
    return () => {
      for (let i = 0; i < 256; i++) {
        const off = p.tryReserve(32)
        f64[off >> 3] = i
        if (perRecord) p.commit()
      }
      if (!perRecord) p.commit()
      c.read((o) => { sum += o })
      c.release()
      return sum
    }
  })
}

// --- parse ---
function body100 (): { lp: Buffer, json: Buffer, ndjson: Buffer } {
  const stream = new LineStream({ hosts: 50 })
  const lines: string[] = []
  for (let i = 0; i < 100; i++) lines.push(stream.line())
  const objs: unknown[] = []
  for (const l of lines) {
    const [head, fields, ts] = l.trim().split(' ')
    const [name, ...tags] = head!.split(',')
    const labels = Object.fromEntries(tags.map((t) => t.split('=') as [string, string]))
    for (const f of fields!.split(',')) {
      const [k, v] = f.split('=')
      objs.push({ name: `${name}_${k}`, value: Number(v), timestamp: Number(ts), labels })
    }
  }
  return { lp: Buffer.from(lines.join('')), json: Buffer.from(JSON.stringify(objs)), ndjson: Buffer.from(objs.map((o) => JSON.stringify(o)).join('\n')) }
}
const bodies = body100()
add('parse', 'line protocol, 100 lines', () => {
  const sink = new CountingSink()
  const parser = new LineProtocolParser(sink)
  return () => parser.parse(bodies.lp, { precision: 'ms', nowMs: Date.now() })
})
add('parse', 'JSON array, same samples', () => {
  const sink = new CountingSink()
  const cache = new JsonSeriesCache()
  return () => parseJsonBody(bodies.json, 'json', sink, Date.now(), cache)
})
add('parse', 'NDJSON, same samples', () => {
  const sink = new CountingSink()
  const cache = new JsonSeriesCache()
  return () => parseJsonBody(bodies.ndjson, 'ndjson', sink, Date.now(), cache)
})

// --- wal ---
add('wal', 'encodeSegment, 4,096 samples', () => {
  const n = 4096
  const ids = Uint32Array.from({ length: n }, (_, i) => i % 1000)
  const ts = Float64Array.from({ length: n }, (_, i) => 1.7e12 + i)
  const vs = Float64Array.from({ length: n }, (_, i) => i * 0.25)
  const into = Buffer.allocUnsafeSlow(segmentBytes(n))
  return () => encodeSegment(ids, ts, vs, n, ts[0]!, ts[n - 1]!, into)
})

// --- chunk ---
function walk (n: number): { ts: Float64Array, vs: Float64Array } {
  const rand = mulberry32(7)
  const ts = new Float64Array(n)
  const vs = new Float64Array(n)
  let v = 50
  for (let i = 0; i < n; i++) {
    ts[i] = 1.7e12 + i * 15_000
    v = Math.min(100, Math.max(0, v + (rand() - 0.5) * 4))
    vs[i] = Number(v.toFixed(2))
  }
  return { ts, vs }
}
const series512 = walk(512)
const chunk512 = encodeChunk(series512.ts, series512.vs)
add('chunk', 'encodeChunk, 512 samples', () => () => encodeChunk(series512.ts, series512.vs))
add('chunk', 'decodeChunk (new arrays), 512 samples', () => () => decodeChunk(chunk512))
add('chunk', 'decodeChunkInto (arena), 512 samples', () => {
  const ts = new Float64Array(512)
  const vs = new Float64Array(512)
  return () => decodeChunkInto(chunk512, ts, vs, 0)
})

// --- sort ---
function resent (): { ts: Float64Array, vs: Float64Array } {
  const a = walk(200)
  const ts = new Float64Array(600)
  const vs = new Float64Array(600)
  for (let r = 0; r < 3; r++) { ts.set(a.ts, r * 200); vs.set(a.vs, r * 200) }
  return { ts, vs }
}
const unsorted = resent()
add('sort', 'sortLastWins, 600 samples in 3 runs', () => {
  const into = { ts: new Float64Array(600), values: new Float64Array(600) }
  return () => sortLastWins(unsorted.ts, unsorted.vs, into)
})
add('sort', 'Array.prototype.sort on index pairs', () => () => {
  const idx = Array.from({ length: 600 }, (_, i) => i)
  idx.sort((x, y) => unsorted.ts[x]! - unsorted.ts[y]! || x - y)
  return idx
})

// --- lmdb ---
let lmdbDir = ''
add('lmdb', 'put 64 KiB segment + commit (no fsync)', () => {
  lmdbDir = mkdtempSync(join(tmpdir(), 'ringest-micro-'))
  const env = open({ path: lmdbDir, noSync: true, mapSize: 2 ** 34 })
  const db = env.openDB<Buffer, number>({ name: 'segments', keyEncoding: 'uint32', encoding: 'binary' })
  const value = Buffer.alloc(64 * 1024, 7)
  let key = 0
  teardowns.push(async () => { await env.close(); rmSync(lmdbDir, { recursive: true, force: true }) })
  return async () => { await db.put(key++ % 4096, value) }
})
const teardowns: Array<() => Promise<void>> = []

// --- rollup ---
const rowBuckets = new Buckets()
rowBuckets.clear()
for (let i = 0; i < 24; i++) rowBuckets.add(i, 20, 1000 + i * 3.25, 40 + i * 0.5, 60 + i * 0.25, 50 + i * 0.75)
const rowBytes = rowBuckets.encode()!
add('rollup', 'encode a 24-bucket row', () => () => rowBuckets.encode())
add('rollup', 'decode a row, all 5 columns', () => { const into = new Float64Array(6 * 24); return () => decodeRow(rowBytes, into) })
add('rollup', 'decode a row, 1 column', () => { const into = new Float64Array(6 * 24); const only = new Set(['max'] as const); return () => decodeRow(rowBytes, into, only) })

// --- query ---
class MemQuerier implements Querier {
  constructor (private readonly data: SeriesData[]) {}
  async select (_m: Matcher[]): Promise<SeriesData[]> { return this.data }
}
function counters (n: number, samples: number): SeriesData[] {
  const rand = mulberry32(3)
  const out: SeriesData[] = []
  for (let s = 0; s < n; s++) {
    const ts = new Float64Array(samples)
    const vs = new Float64Array(samples)
    let v = 0
    for (let i = 0; i < samples; i++) { ts[i] = 1.7e12 + i * 15_000 - 8_000; v += Math.floor(rand() * 5); vs[i] = v }
    out.push({ labels: { __name__: 'x', host: `h${s}`, r: `r${s % 4}` }, timestamps: ts, values: vs })
  }
  return out
}
const qdata = counters(1000, 240)
const limits = { maxSeries: 1e9, maxSamples: 1e9, deadlineMs: Infinity }
const qEnd = 1.7e12 + 239 * 15_000
add('query', 'sum by (r) (rate(x[5m])), 1,000 series, 1 h', () => { const q = new MemQuerier(qdata); return async () => await queryRange(q, 'sum by (r) (rate(x[5m]))', qEnd - 3_600_000, qEnd, 15_000, { ...limits, deadlineMs: Date.now() + 60_000 }) })
add('query', 'rate(x[5m]), 1,000 series, 1 h', () => { const q = new MemQuerier(qdata); return async () => await queryRange(q, 'rate(x[5m])', qEnd - 3_600_000, qEnd, 15_000, { ...limits, deadlineMs: Date.now() + 60_000 }) })

// --- run ---

async function main (): Promise<void> {
  const selected = cases.filter((c) => `${c.group} ${c.name}`.includes(args.filter ?? ''))
  const fns = new Map<Case, Fn>()
  for (const c of selected) fns.set(c, await c.setup())
  const perRound = new Map<Case, Array<{ mean: number, rme: number }>>()
  // Round 0 only warms up (the JIT's tiers settle over the first second of a case) and is not counted.
  for (let r = -1; r < ROUNDS; r++) {
    const bench = new Bench({ time: TIME_MS, warmupTime: Math.min(200, TIME_MS / 2) })
    for (const c of selected) bench.add(`${c.group}: ${c.name}`, fns.get(c)! as () => void)
    await bench.run()
    if (r < 0) { process.stderr.write('warm-up round done\n'); continue }
    selected.forEach((c, i) => {
      const res = bench.tasks[i]!.result as { latency?: { mean: number, rme: number } } | undefined
      if (res?.latency === undefined) throw new Error(`${c.group}: ${c.name} did not run: ${JSON.stringify(bench.tasks[i]!.result)}`)
      const list = perRound.get(c) ?? []
      list.push({ mean: res.latency.mean * 1e6, rme: res.latency.rme })
      perRound.set(c, list)
    })
    process.stderr.write(`round ${r + 1}/${ROUNDS} done\n`)
  }
  for (const t of teardowns) await t()
  const results: CaseResult[] = selected.map((c) => {
    const rs = perRound.get(c)!
    const means = rs.map((x) => x.mean).sort((a, b) => a - b)
    const median = means[means.length >> 1]!
    const range = (means[means.length - 1]! - means[0]!) / median
    const rme = Math.max(...rs.map((x) => x.rme)) / 100
    return { group: c.group, name: c.name, meanNs: median, hz: 1e9 / median, spread: Math.max(range, rme), rme, rounds: rs.map((x) => x.mean) }
  })
  const at = new Date().toISOString()
  const out = { bench: 'micro', at, node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', timeMs: TIME_MS, rounds: ROUNDS, results }
  process.stdout.write(table(results) + '\n')
  let regressions = 0
  if (args.compare !== undefined) {
    const base = JSON.parse(readFileSync(args.compare, 'utf8')) as { at: string, results: CaseResult[] }
    const cmp = compare(base.results, results)
    regressions = cmp.regressions
    process.stdout.write(`\nagainst ${args.compare} (${base.at}):\n\n${cmp.text}\n`)
  }
  const path = args.json ?? join(ROOT, `bench/results/micro-${at.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.json`)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify(out, null, 2))
  process.stdout.write(`\nresults: ${path}\n${JSON.stringify(out)}\n`)
  if (regressions > 0) process.exitCode = 1
}

await main()
