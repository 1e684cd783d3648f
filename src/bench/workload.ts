/**
 * The request bodies of `ringest bench`, all made before the timed phase so
 * that making them costs nothing while the load runs.
 *
 * Series model (--series, --labels): labels form a hierarchy given outermost
 * first, `region:4,host:25` = 4 regions of 25 hosts each, 100 label sets. The
 * innermost label's values are unique (host-0 .. host-99); an outer label's
 * value follows from it (host-37 is in region-1). Series i has label set
 * i mod L and metric floor(i / L) (L = label sets, or --series if fewer), so
 * 1,000 series over 100 hosts are 10 metrics per host: bench_m0 .. bench_m9.
 *
 * The sample stream walks every series at one timestamp, then steps the time by
 * --interval; bodies are consecutive runs of --samples-per-body samples of it,
 * rotated during the run. The pool spans at most POOL_MAX_SPAN_MS so that a
 * server with an out-of-order window (ringest: 1 h) keeps every resent sample.
 */
import { readFileSync } from 'node:fs'
import { makeGenerator, isGap, type ValueKind } from './values.js'

export const FORMATS = ['lp', 'json', 'ndjson'] as const
export type Format = typeof FORMATS[number]

/** What goes on the wire: ringest's formats, and VictoriaMetrics' /api/v1/import lines for NDJSON to VictoriaMetrics. */
export const Encoding = { LP: 'lp', JSON: 'json', NDJSON: 'ndjson', VM_IMPORT: 'vm-import' } as const
export type Encoding = typeof Encoding[keyof typeof Encoding]

export const POOL_MIN_SAMPLES = 200_000 // as bench:ingest: 200,000 lines per body size
export const POOL_MAX_SPAN_MS = 30 * 60_000 // 30 min of timestamps at most (unless a body needs more)
export const MEASUREMENT = 'bench'

export interface LabelLevel { name: string, count: number }

export interface Workload {
  bodies: Buffer[]
  /** Samples in each body. */
  samples: Uint32Array
  bytes: number
  totalSamples: number
  /** Replay: when each body is due, ms after the start (already divided by --speed). null: bodies are rotated. */
  dueMs: Float64Array | null
}

export class WorkloadError extends Error {}

/** `region:4,host:25`: names and counts, outermost first. */
export function parseLabels (spec: string): LabelLevel[] {
  const levels: LabelLevel[] = []
  for (const part of spec.split(',')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*):([1-9]\d*)$/.exec(part.trim())
    if (m === null) throw new WorkloadError(`--labels ${spec}: "${part}" is not name:count (e.g. region:4,host:25)`)
    if (levels.some((l) => l.name === m[1])) throw new WorkloadError(`--labels ${spec}: label ${m[1]} twice`)
    levels.push({ name: m[1]!, count: Number(m[2]) })
  }
  return levels
}

export const labelSetCount = (levels: LabelLevel[]): number => levels.reduce((n, l) => n * l.count, 1)

// Line protocol escaping: measurement (commas, spaces), tag keys and values, field keys (also '=').
const escMeasurement = (s: string): string => s.replace(/[, \\]/g, (c) => `\\${c}`)
const escKey = (s: string): string => s.replace(/[,= \\]/g, (c) => `\\${c}`)

/**
 * The text every sample of one series starts with, in one encoding:
 * lp `measurement,tags field=`, json/ndjson `"name":..,"labels":{..}`, vm-import `"metric":{..}`.
 * For line protocol the name is split at its last '_' into measurement and field, so that ringest and
 * VictoriaMetrics (which name a series `<measurement>_<field>`) store it under the same name
 * (`cpu_usage_user`: measurement cpu_usage, field user); a name without '_' gets the field `value`.
 */
export function seriesPrefix (encoding: Encoding, name: string, labels: ReadonlyArray<readonly [string, string]>): string {
  switch (encoding) {
    case Encoding.LP: {
      const cut = name.lastIndexOf('_')
      const [measurement, field] = cut > 0 && cut < name.length - 1 ? [name.slice(0, cut), name.slice(cut + 1)] : [name, 'value']
      let s = escMeasurement(measurement)
      for (const [k, v] of labels) s += `,${escKey(k)}=${escKey(v)}`
      return `${s} ${escKey(field)}=`
    }
    case Encoding.JSON:
    case Encoding.NDJSON:
      return `"name":${JSON.stringify(name)},"labels":{${labels.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`
    case Encoding.VM_IMPORT:
      return `"metric":{"__name__":${JSON.stringify(name)}${labels.map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`).join('')}}`
  }
}

/** Appends bodies of samples in one encoding. */
export class BodyWriter {
  readonly #bodies: Buffer[] = []
  readonly #samples: number[] = []
  #text = ''
  #n = 0
  #bytes = 0
  #totalSamples = 0

  constructor (readonly encoding: Encoding) {}

  /** Samples in the body being written. */
  get pending (): number { return this.#n }

  /** Bodies ended so far. */
  get count (): number { return this.#bodies.length }

  add (prefix: string, value: number, t: number): void {
    switch (this.encoding) {
      case Encoding.LP: this.#text += `${prefix}${value} ${t}\n`; break
      case Encoding.JSON: this.#text += `${this.#n === 0 ? '[' : ','}{${prefix},"value":${value},"timestamp":${t}}`; break
      case Encoding.NDJSON: this.#text += `{${prefix},"value":${value},"timestamp":${t}}\n`; break
      case Encoding.VM_IMPORT: this.#text += `{${prefix},"values":[${value}],"timestamps":[${t}]}\n`; break
    }
    this.#n++
  }

  /** Ends the body being written (if it has samples). */
  flush (): void {
    if (this.#n === 0) return
    const body = Buffer.from(this.encoding === Encoding.JSON ? `${this.#text}]` : this.#text, 'utf8')
    this.#bodies.push(body)
    this.#samples.push(this.#n)
    this.#bytes += body.length
    this.#totalSamples += this.#n
    this.#text = ''
    this.#n = 0
  }

  done (dueMs: Float64Array | null = null): Workload {
    this.flush()
    return { bodies: this.#bodies, samples: Uint32Array.from(this.#samples), bytes: this.#bytes, totalSamples: this.#totalSamples, dueMs }
  }
}

export interface GeneratorOptions {
  series: number
  labels: LabelLevel[]
  samplesPerBody: number
  values: ValueKind
  intervalMs: number
  seed: number
  /** Timestamp of the pool's last step, epoch ms (now). */
  endMs: number
}

/** The rotation of bodies for closed and open loops (see the header comment). */
export function generateWorkload (o: GeneratorOptions, encoding: Encoding): Workload {
  const sets = Math.min(labelSetCount(o.labels), o.series)
  // Per label set, its labels (outer values follow from the innermost's index); per series, its prefix.
  const below = o.labels.map((_, k) => o.labels.slice(k + 1).reduce((n, l) => n * l.count, 1))
  const prefixes: string[] = new Array<string>(o.series)
  for (let i = 0; i < o.series; i++) {
    const set = i % sets
    const labels = o.labels.map((l, k) => [l.name, `${l.name}-${Math.floor(set / below[k]!)}`] as const)
    prefixes[i] = seriesPrefix(encoding, `${MEASUREMENT}_m${Math.floor(i / sets)}`, labels)
  }
  const maxSteps = Math.max(1, Math.floor(POOL_MAX_SPAN_MS / o.intervalMs))
  const steps = Math.max(Math.ceil(o.samplesPerBody / o.series), Math.min(maxSteps, Math.ceil(POOL_MIN_SAMPLES / o.series)))
  const wanted = Math.max(1, Math.floor(steps * o.series / o.samplesPerBody))
  const gen = makeGenerator(o.values, o.series, o.seed, o.intervalMs)
  const w = new BodyWriter(encoding)
  const t0 = o.endMs - (steps - 1) * o.intervalMs
  // Gaps (spiky) leave some steps short, so the stream may run a few steps past `steps`.
  for (let step = 0; w.count < wanted; step++) {
    const t = t0 + step * o.intervalMs
    for (let i = 0; i < o.series && w.count < wanted; i++) {
      const v = gen.next(i, t)
      if (isGap(v)) continue
      w.add(prefixes[i]!, v, t)
      if (w.pending === o.samplesPerBody) w.flush()
    }
  }
  return w.done()
}

/**
 * Samples in a body read from a file. Line protocol: the fields of each line (the commas of its
 * second space-separated token, plus one: an estimate that an escaped space can fool, not a parser);
 * NDJSON: lines; JSON: `"value"` keys.
 */
export function countSamples (body: string, format: Format): number {
  let n = 0
  for (const line of body.split('\n')) {
    const l = line.trim()
    if (l === '' || l.startsWith('#')) continue
    if (format === 'ndjson') { n++; continue }
    if (format === 'json') { n += l.split('"value"').length - 1; continue }
    const fields = l.split(' ')[1] ?? ''
    n += fields.split(',').length
  }
  return n
}

/**
 * --bodies FILE: the bodies of ../shared/peers' wrk script (and bench/wrk-post.lua), separated by
 * an empty line, so that wrk and `ringest bench` post exactly the same bytes.
 */
export function loadBodiesFile (path: string, format: Format): Workload {
  let text: string
  try { text = readFileSync(path, 'utf8') } catch (e) { throw new WorkloadError(`--bodies ${path}: ${(e as Error).message}`) }
  const bodies: Buffer[] = []
  const samples: number[] = []
  let bytes = 0
  let totalSamples = 0
  for (const piece of text.split('\n\n')) {
    if (piece.trim() === '') continue
    const body = piece.endsWith('\n') ? piece : `${piece}\n`
    const k = countSamples(body, format)
    bodies.push(Buffer.from(body, 'utf8'))
    bytes += bodies[bodies.length - 1]!.length
    samples.push(k)
    totalSamples += k
  }
  if (bodies.length === 0) throw new WorkloadError(`--bodies ${path}: no bodies (they are separated by an empty line)`)
  return { bodies, samples: Uint32Array.from(samples), bytes, totalSamples, dueMs: null }
}
