/**
 * The chunk codec (workers/chunk/codec.ts): size in bytes per sample (chunk
 * bytes only: no keys, no index) and encode/decode speed, one JSON line per
 * figure.
 *
 *   npx tsc -b && node dist/bench/chunks.bench.js
 *   HOSTS=10000 node dist/bench/chunks.bench.js       # gen.js at the disk test's full size
 *
 * Data sets:
 *   gen.js     the disk benchmark's data (../shared/peers/gen.js): HOSTS hosts x
 *              8 series, 250 rounds 10 s apart (250 points per series, as in
 *              the disk test; HOSTS=10000 is its 20 M samples), values random walks in [0, 100] by up to
 *              ±2.00, rounded to 2 decimals. The same generator math, series
 *              by series; checked against gen.js's own lines at start.
 *              Chunks of 120 and of 250 samples (full chunks only).
 *   chunk-size the gen.js walk on 400 series x 4,000 rounds, chunks of 60 to 4,000.
 *   counter    monotonic integers (+0..5,000 per scrape, a reset in 1 % of scrapes).
 *   floats     full-precision ratios (a random walk of a float64, never rounded).
 *   constant   one value per series.
 *   jitter     the gen.js walk on timestamps off by up to ±5 ms.
 * Speed: samples/s to encode and to decode the gen.js chunks of 120 and 250
 * samples of SPEED_SERIES series on one core, the median of ROUNDS timed
 * rounds (each over every chunk of those series once).
 */
import { createRequire } from 'node:module'
import { mulberry32 } from './lib/bodies.js'
import { chunkHeader, decodeChunk, encodeChunk } from '../workers/chunk/codec.js'

/** gen.js hosts (8 series each). 10,000 is the disk test's full 20 M samples (~20 s); bytes/sample is the same at 1,000. */
const HOSTS = Number(process.env.HOSTS ?? 1_000)
/** Series timed for speed (every round encodes and decodes all their chunks). */
const SPEED_SERIES = Number(process.env.SPEED_SERIES ?? 4_000)
const ROUNDS = Number(process.env.ROUNDS ?? 5)
const STEP_MS = 10_000
const T0 = Date.UTC(2026, 0, 1)
const FIELDS_PER_HOST = 8

interface SeriesSet {
  /** Samples of series s at round r: values[s * rounds + r]; every series shares the timestamps. */
  values: Float64Array
  timestamps: Float64Array
  series: number
  rounds: number
}

/**
 * gen.js's walk: rand() * 100 for each of 8 fields per host, then per round
 * and host a cpu line (fields 0-4) and a mem line (5-7), one rand() each.
 */
function genWalk (hosts: number, rounds: number, seed = 1): SeriesSet {
  const rand = mulberry32(seed)
  const series = hosts * FIELDS_PER_HOST
  const state = new Float64Array(series)
  for (let k = 0; k < series; k++) state[k] = rand() * 100
  const values = new Float64Array(series * rounds)
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < series; k++) {
      const v = Math.min(100, Math.max(0, state[k]! + (rand() - 0.5) * 4))
      state[k] = v
      values[k * rounds + r] = Number(v.toFixed(2))
    }
  }
  return { values, timestamps: regular(rounds), series, rounds }
}

function regular (rounds: number): Float64Array {
  return Float64Array.from({ length: rounds }, (_, i) => T0 + i * STEP_MS)
}

/** Compare genWalk with gen.js's own lines (same seed, 3 hosts, 4 rounds); false when gen.js is not there. */
function checkAgainstGenJs (): boolean {
  let makeStream: (o: object) => { body (lines: number): string }
  try {
    makeStream = createRequire(import.meta.url)('../../../shared/peers/gen.js').makeStream
  } catch {
    return false
  }
  const hosts = 3
  const rounds = 4
  const ours = genWalk(hosts, rounds)
  const lines = makeStream({ hosts, t0: T0, stepMs: STEP_MS, seed: 1 }).body(hosts * rounds * 2).trim().split('\n')
  for (const [g, line] of lines.entries()) {
    const host = (g >>> 1) % hosts
    const round = Math.floor((g >>> 1) / hosts)
    const fields = line.split(' ')[1]!.split(',').map(f => Number(f.split('=')[1]))
    const base = host * FIELDS_PER_HOST + (g & 1 ? 5 : 0)
    for (const [f, v] of fields.entries()) {
      if (ours.values[(base + f) * rounds + round] !== v) throw new Error(`generator differs from gen.js at line ${g} field ${f}`)
    }
  }
  return true
}

function makeSet (series: number, rounds: number, fill: (rand: () => number, out: Float64Array) => void, timestamps = regular(rounds)): SeriesSet {
  const rand = mulberry32(series + rounds)
  const values = new Float64Array(series * rounds)
  for (let s = 0; s < series; s++) fill(rand, values.subarray(s * rounds, (s + 1) * rounds))
  return { values, timestamps, series, rounds }
}

/** Every full chunk of `size` samples of every series. */
function encodeAll (set: SeriesSet, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = []
  for (let s = 0; s < set.series; s++) {
    const vs = set.values.subarray(s * set.rounds, (s + 1) * set.rounds)
    for (let at = 0; at + size <= set.rounds; at += size) chunks.push(encodeChunk(set.timestamps, vs, at, at + size))
  }
  return chunks
}

function sizeLine (dataset: string, set: SeriesSet, size: number): Uint8Array[] {
  const chunks = encodeAll(set, size)
  let bytes = 0
  const encodings: Record<string, number> = {}
  for (const c of chunks) {
    bytes += c.length
    const h = chunkHeader(c)
    const key = `ts${h.tsEncoding}/v${h.valueEncoding}`
    encodings[key] = (encodings[key] ?? 0) + 1
  }
  const samples = chunks.length * size
  console.log(JSON.stringify({ dataset, chunkSamples: size, chunks: chunks.length, samples, bytes, bytesPerSample: +(bytes / samples).toFixed(4), encodings }))
  return chunks
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]!
}

function speedLine (set: SeriesSet, size: number, chunks: Uint8Array[]): void {
  const samples = chunks.length * size
  const enc: number[] = []
  const dec: number[] = []
  let sink = 0
  for (let r = 0; r < ROUNDS; r++) {
    let t = process.hrtime.bigint()
    sink += encodeAll(set, size).length
    enc.push(samples / (Number(process.hrtime.bigint() - t) / 1e9))
    t = process.hrtime.bigint()
    for (const c of chunks) sink += decodeChunk(c).values.length
    dec.push(samples / (Number(process.hrtime.bigint() - t) / 1e9))
  }
  if (sink === 0) throw new Error('nothing decoded')
  console.log(JSON.stringify({ speed: 'gen.js', chunkSamples: size, samples, rounds: ROUNDS, encodeSamplesPerSec: Math.round(median(enc)), decodeSamplesPerSec: Math.round(median(dec)) }))
}

const checked = checkAgainstGenJs()
console.log(JSON.stringify({ node: process.version, hosts: HOSTS, genJsChecked: checked, date: new Date().toISOString() }))

const gen = genWalk(HOSTS, 250)
const gen120 = sizeLine('gen.js', gen, 120)
const gen250 = sizeLine('gen.js', gen, 250)

const sweep = genWalk(50, 4000, 2)
for (const size of [60, 120, 250, 500, 1000, 2000, 4000]) sizeLine('chunk-size', sweep, size)

const SERIES = 2000
const counters = makeSet(SERIES, 250, (rand, out) => {
  let c = Math.floor(rand() * 1e9)
  for (let i = 0; i < out.length; i++) out[i] = c = rand() < 0.01 ? 0 : c + Math.floor(rand() * 5000)
})
const floats = makeSet(SERIES, 250, (rand, out) => {
  let x = rand()
  for (let i = 0; i < out.length; i++) out[i] = x = Math.abs(x + (rand() - 0.5) * 0.01) / 1.0001
})
const constants = makeSet(SERIES, 250, (rand, out) => out.fill(Math.floor(rand() * 100)))
const jitterTs = (() => {
  const rand = mulberry32(77)
  return Float64Array.from({ length: 250 }, (_, i) => T0 + i * STEP_MS + Math.round((rand() - 0.5) * 10))
})()
const jitter = { ...genWalk(SERIES / 8, 250, 3), timestamps: jitterTs }
for (const [name, set] of [['counter', counters], ['floats', floats], ['constant', constants], ['jitter', jitter]] as const) {
  sizeLine(name, set, 120)
  sizeLine(name, set, 250)
}

const speedSet = { ...gen, series: Math.min(gen.series, SPEED_SERIES) }
speedLine(speedSet, 120, gen120.slice(0, 2 * speedSet.series))
speedLine(speedSet, 250, gen250.slice(0, speedSet.series))
