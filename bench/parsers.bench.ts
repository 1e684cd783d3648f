/**
 * Body parser throughput on one core, in samples/s, with the candidates side
 * by side in one run:
 *   lp          LineProtocolParser, warm series cache (the steady state)
 *   lp-cold     LineProtocolParser, a new parser and sink per iteration, so
 *               every series is a cache miss once (the strict path: series churn)
 *   lp-naive    the split-based parser of ../shared/peers/node-baseline.js
 *               (no escapes, no validation), decoding the body included
 *   json        parseJsonBody, a JSON array of {name, value, timestamp, labels}
 *   ndjson      parseJsonBody, the same objects one per line
 *
 *   npm run bench:parsers                   # from the repository root
 *   ROUNDS=5 LINES=100,5000 BENCH_TIME_MS=2000 npm run bench:parsers
 *
 * Bodies come from the same stream as ../shared/peers/gen.js (bench/lib/bodies.ts:
 * cpu lines with 5 fields and mem lines with 3, tags host/region/dc over
 * 10,000 hosts, ms timestamps, 2-decimal random-walk values). The JSON bodies
 * carry exactly the same samples. One tinybench iteration parses a pass of
 * consecutive bodies holding about ITER_LINES lines; samples/s = samples per
 * pass / median pass time. Each (candidate, size) runs ROUNDS times,
 * interleaved; the table shows the median of the per-round figures. The sink
 * resolves series through a Map (as the ring writer does) and sums values.
 * The last line of output is JSON.
 */
import { Bench } from 'tinybench'
import { LineStream } from './lib/bodies.js'
import { LineProtocolParser } from '../workers/parsers/lineprotocol.js'
import { JsonSeriesCache, parseJsonBody } from '../workers/parsers/json.js'
import { CountingSink } from './lib/counting-sink.js'

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 1000)
const LINES = (process.env.LINES ?? '100,5000').split(',').map(Number)
/** Lines in the whole generated stream (the peers use 200,000). */
const TOTAL_LINES = Number(process.env.TOTAL_LINES ?? 200_000)
/** Lines parsed per tinybench iteration. */
const ITER_LINES = Number(process.env.ITER_LINES ?? 20_000)
const T0 = Date.UTC(2026, 0, 1)

/** ../shared/peers/node-baseline.js's parser, as is: split on newline, space, comma, equals. */
function naiveParse (text: string): number {
  let n = 0
  let checksum = 0
  for (const line of text.split('\n')) {
    if (line === '' || line[0] === '#') continue
    const [key, fields, ts] = line.split(' ')
    const parts = key!.split(',')
    const series: { measurement: string, tags: Record<string, string> } = { measurement: parts[0]!, tags: {} }
    for (let i = 1; i < parts.length; i++) {
      const [k, v] = parts[i]!.split('=')
      series.tags[k!] = v!
    }
    const t = Number(ts)
    for (const field of fields!.split(',')) {
      const [name, value] = field.split('=')
      const x = parseFloat(value!)
      if (name !== undefined && name !== '' && !Number.isNaN(x)) { n++; checksum += x }
    }
    checksum += t > 0 ? 1 : 0
    if (series.measurement === '') checksum++
  }
  sink.sum += checksum
  return n
}

/** One generated line as a JSON entry (the stream has no escapes, so splitting is exact). */
function toEntries (line: string): object[] {
  const [key, fields, ts] = line.trimEnd().split(' ')
  const [measurement, ...tags] = key!.split(',')
  const labels: Record<string, string> = {}
  for (const t of tags) { const [k, v] = t.split('='); labels[k!] = v! }
  return fields!.split(',').map((f) => {
    const [name, value] = f.split('=')
    return { name: `${measurement!}_${name!}`, value: Number(value), timestamp: Number(ts), labels }
  })
}

interface BodySets { lp: Buffer[], json: Buffer[], ndjson: Buffer[], samples: number[], lpBytes: number, jsonBytes: number, ndjsonBytes: number }

function makeSets (linesPerBody: number): BodySets {
  const stream = new LineStream({ t0: T0 })
  const sets: BodySets = { lp: [], json: [], ndjson: [], samples: [], lpBytes: 0, jsonBytes: 0, ndjsonBytes: 0 }
  const bodies = Math.max(1, Math.floor(TOTAL_LINES / linesPerBody))
  for (let b = 0; b < bodies; b++) {
    let text = ''
    let samples = 0
    const entries: object[] = []
    for (let i = 0; i < linesPerBody; i++) {
      const line = stream.line()
      text += line
      samples += stream.lastSamples
      entries.push(...toEntries(line))
    }
    const lp = Buffer.from(text, 'latin1')
    const json = Buffer.from(JSON.stringify(entries))
    const ndjson = Buffer.from(entries.map((e) => JSON.stringify(e)).join('\n') + '\n')
    sets.lp.push(lp)
    sets.json.push(json)
    sets.ndjson.push(ndjson)
    sets.samples.push(samples)
    sets.lpBytes += lp.length
    sets.jsonBytes += json.length
    sets.ndjsonBytes += ndjson.length
  }
  return sets
}

const sink = new CountingSink()
const NOW = T0 + 3_600_000

type Candidate = 'lp' | 'lp-cold' | 'lp-naive' | 'json' | 'ndjson'
const CANDIDATES: Candidate[] = ['lp', 'lp-cold', 'lp-naive', 'json', 'ndjson']

/** A pass over `count` consecutive bodies (rotating over the set); returns the samples it parsed. */
function makeTask (c: Candidate, sets: BodySets, count: number): () => void {
  let next = 0
  const nBodies = sets.lp.length
  const lp = new LineProtocolParser(sink)
  const cache = new JsonSeriesCache()
  return () => {
    let got = 0
    let expected = 0
    const cold = c === 'lp-cold' ? new LineProtocolParser(new CountingSink()) : null
    for (let k = 0; k < count; k++) {
      const i = next
      next = next + 1 === nBodies ? 0 : next + 1
      expected += sets.samples[i]!
      switch (c) {
        case 'lp': got += lp.parse(sets.lp[i]!, { precision: 'ms', nowMs: NOW }).accepted; break
        case 'lp-cold': got += cold!.parse(sets.lp[i]!, { precision: 'ms', nowMs: NOW }).accepted; break
        case 'lp-naive': got += naiveParse(sets.lp[i]!.toString('utf8')); break
        case 'json': got += parseJsonBody(sets.json[i]!, 'json', sink, NOW, cache).accepted; break
        case 'ndjson': got += parseJsonBody(sets.ndjson[i]!, 'ndjson', sink, NOW, cache).accepted; break
      }
    }
    if (got !== expected) throw new Error(`${c}: parsed ${got} samples, expected ${expected}`)
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const perRound: Record<string, number[]> = {}
const setsBySize = new Map<number, BodySets>()
for (const lines of LINES) setsBySize.set(lines, makeSets(lines))

for (let round = 0; round < ROUNDS; round++) {
  for (const lines of LINES) {
    const sets = setsBySize.get(lines)!
    const count = Math.max(1, Math.round(ITER_LINES / lines))
    // Samples in one pass: the pass rotates, so use the mean per body.
    const meanSamples = sets.samples.reduce((a, b) => a + b, 0) / sets.samples.length
    for (const c of CANDIDATES) {
      const bench = new Bench({ time: TIME_MS, iterations: 10, warmupTime: 300, warmupIterations: 3, throws: true })
      bench.add(`${c} ${lines}`, makeTask(c, sets, count))
      await bench.run()
      const result = bench.tasks[0]!.result
      if (result.state !== 'completed') throw new Error(`${c} ${lines}: ${result.state}`)
      const sps = (meanSamples * count) / (result.latency.p50 / 1000)
      ;(perRound[`${c}:${lines}`] ??= []).push(sps)
      process.stderr.write(`round ${round + 1}/${ROUNDS} ${c.padEnd(8)} ${String(lines).padStart(5)} lines/body: ${(sps / 1e6).toFixed(2)} M samples/s\n`)
    }
  }
}

const rows = []
const json: { samplesPerSec: Record<string, Record<string, number>>, bytesPerSample: Record<string, number>, rounds: number, iterLines: number, node: string } =
  { samplesPerSec: {}, bytesPerSample: {}, rounds: ROUNDS, iterLines: ITER_LINES, node: process.version }
for (const lines of LINES) {
  const sets = setsBySize.get(lines)!
  const total = sets.samples.reduce((a, b) => a + b, 0)
  const naive = median(perRound[`lp-naive:${lines}`]!)
  for (const c of CANDIDATES) {
    const sps = median(perRound[`${c}:${lines}`]!)
    const bytes = c === 'json' ? sets.jsonBytes : c === 'ndjson' ? sets.ndjsonBytes : sets.lpBytes
    ;(json.samplesPerSec[c] ??= {})[lines] = Math.round(sps)
    json.bytesPerSample[c] = Number((bytes / total).toFixed(1))
    rows.push({
      parser: c,
      'lines/body': lines,
      'M samples/s': (sps / 1e6).toFixed(2),
      'MB/s': (sps * bytes / total / 1e6).toFixed(0),
      'vs lp-naive': (sps / naive).toFixed(2),
    })
  }
}
console.log(`parser benchmark: ${ROUNDS} rounds, ${ITER_LINES} lines per iteration, median of per-round medians, one core (Node ${process.version}; checksum ${sink.sum.toFixed(0)})`)
console.table(rows)
console.log(JSON.stringify(json))
