/**
 * Influx line-protocol bodies shaped like a host agent's pushes: the same
 * stream as ../shared/peers/gen.js (same seed, same lines), so ringest is fed
 * what its peers were fed.
 *
 *   cpu,host=host-<i>,region=<1 of 4>,dc=<1 of 8> usage_user=..,usage_system=..,usage_idle=..,usage_iowait=..,usage_irq=.. <ts ms>
 *   mem,host=host-<i>,region=..,dc=.. used_percent=..,available_percent=..,cached_percent=.. <ts ms>
 *
 * The stream walks host 0..H-1 (a cpu line, then a mem line per host), then
 * starts the next round with the timestamp advanced by stepMs, so every
 * (series, timestamp) pair is distinct within one pass. A line carries 5 or 3
 * samples, 4 on average. Values are per-host random walks with 2 decimals.
 */
import { mulberry32 } from '../../src/bench/random.js'

/** The seeded generator gen.js uses; `ringest bench` (src/bench/) uses it too. */
export { mulberry32 }

const REGIONS = ['us-east', 'us-west', 'eu-central', 'ap-south'] as const
const CPU_FIELDS = ['usage_user', 'usage_system', 'usage_idle', 'usage_iowait', 'usage_irq'] as const
const MEM_FIELDS = ['used_percent', 'available_percent', 'cached_percent'] as const
/** Values kept per host: 5 cpu fields, then 3 mem fields. */
const FIELDS_PER_HOST = CPU_FIELDS.length + MEM_FIELDS.length

export interface StreamOptions {
  /** Distinct hosts; each contributes 8 series. */
  hosts: number
  /** Timestamp of the first round, epoch ms. */
  t0: number
  /** Time between two rounds over all hosts, ms. */
  stepMs: number
  seed: number
}

export const STREAM_DEFAULTS: StreamOptions = Object.freeze({
  hosts: 10_000,
  t0: 0, // callers pass a time near now (gen.js: now - 1 h), so servers with retention keep it
  stepMs: 10_000, // 10 s, a typical agent interval
  seed: 1,
})

/** An endless line stream; `line()` returns the next line (with its '\n') and its sample count. */
export class LineStream {
  readonly #hosts: number
  readonly #t0: number
  readonly #stepMs: number
  readonly #rand: () => number
  readonly #tags: string[] = []
  readonly #state: Float64Array
  /** Index of the next line in the whole stream. */
  #g = 0
  /** Samples in the last line returned. */
  lastSamples = 0

  constructor (options: Partial<StreamOptions> = {}) {
    const o = { ...STREAM_DEFAULTS, ...options }
    this.#hosts = o.hosts
    this.#t0 = o.t0
    this.#stepMs = o.stepMs
    this.#rand = mulberry32(o.seed)
    this.#state = new Float64Array(o.hosts * FIELDS_PER_HOST)
    for (let i = 0; i < o.hosts; i++) {
      this.#tags.push(`host=host-${i},region=${REGIONS[i % 4]},dc=dc-${(i >> 2) % 8}`)
      for (let f = 0; f < FIELDS_PER_HOST; f++) this.#state[i * FIELDS_PER_HOST + f] = this.#rand() * 100
    }
  }

  #step (k: number): string {
    const v = Math.min(100, Math.max(0, this.#state[k]! + (this.#rand() - 0.5) * 4))
    this.#state[k] = v
    return v.toFixed(2)
  }

  line (): string {
    const g = this.#g++
    const hostRound = g >>> 1
    const host = hostRound % this.#hosts
    const ts = this.#t0 + Math.floor(hostRound / this.#hosts) * this.#stepMs
    const isMem = (g & 1) === 1
    const names = isMem ? MEM_FIELDS : CPU_FIELDS
    const base = host * FIELDS_PER_HOST + (isMem ? CPU_FIELDS.length : 0)
    let s = (isMem ? 'mem,' : 'cpu,') + this.#tags[host]! + ' '
    for (let f = 0; f < names.length; f++) s += (f > 0 ? ',' : '') + names[f]! + '=' + this.#step(base + f)
    this.lastSamples = names.length
    return s + ' ' + ts + '\n'
  }
}

export interface BodySet {
  /** Request bodies, rotated over by the load generator. */
  bodies: Buffer[]
  /** Samples in each body (5 per cpu line, 3 per mem line). */
  samples: Uint32Array
  /** Sum of all body sizes, bytes. */
  bytes: number
  /** Sum of `samples`. */
  totalSamples: number
}

/**
 * floor(totalLines / linesPerBody) bodies (at least 1) of linesPerBody lines
 * each, cut from one stream. With the peers' 200,000 lines: 200,000 bodies of
 * 1 line, 2,000 of 100, 40 of 5,000.
 */
export function makeBodies (linesPerBody: number, totalLines: number, options: Partial<StreamOptions> = {}): BodySet {
  const stream = new LineStream(options)
  const n = Math.max(1, Math.floor(totalLines / linesPerBody))
  const bodies: Buffer[] = new Array<Buffer>(n)
  const samples = new Uint32Array(n)
  let bytes = 0
  let totalSamples = 0
  for (let b = 0; b < n; b++) {
    let text = ''
    let k = 0
    for (let i = 0; i < linesPerBody; i++) {
      text += stream.line()
      k += stream.lastSamples
    }
    const body = Buffer.from(text, 'latin1') // the stream is ASCII
    bodies[b] = body
    samples[b] = k
    bytes += body.length
    totalSamples += k
  }
  return { bodies, samples, bytes, totalSamples }
}
