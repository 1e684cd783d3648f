/**
 * Cross-thread throughput of the ring against a hand-written raw
 * SharedArrayBuffer loop doing the same work, measured in the same run.
 *
 *   npm run bench:ring                      # from the repository root
 *   ROUNDS=5 RING_BYTES=1048576 BATCH=256 npm run bench:ring
 *
 * The main thread produces, a worker consumes. One tinybench iteration pushes
 * a fixed number of records and waits until the consumer has released them
 * all. Each (mode, size) is measured ROUNDS times, interleaved, and the median
 * of the per-round medians is reported. The last line of output is JSON.
 */
import { Worker } from 'node:worker_threads'
import { Bench } from 'tinybench'
import { RingProducer, allocateRing, HEADER_BYTES, Slot, WRAP_MARKER } from '../src/index.js'
import { Ctl, Mode, type ConsumerData } from './shared.js'

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const RING_BYTES = Number(process.env.RING_BYTES ?? 1 << 20)
const BATCH = Number(process.env.BATCH ?? 256)
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 1500)
const SIZES = (process.env.SIZES ?? '16,64,1024').split(',').map(Number)
/** Records per iteration: about 16 MiB of payload, at least 2^14 records. */
const recordsFor = (size: number): number => Math.max(1 << 14, Math.floor((16 << 20) / size))

interface Case { mode: Mode, size: number, produce: () => void, stop: () => Promise<number> }

async function startCase (mode: Mode, size: number): Promise<Case> {
  const ring = allocateRing(RING_BYTES)
  const ctlBuf = new SharedArrayBuffer(16)
  const ctl = new Int32Array(ctlBuf)
  const data: ConsumerData = { mode, ring, ctl: ctlBuf, size }
  const worker = new Worker(new URL('./consumer.js', import.meta.url), { workerData: data })
  const exited = new Promise<void>((resolve, reject) => { worker.once('exit', () => resolve()); worker.once('error', reject) })
  while (Atomics.load(ctl, Ctl.READY) === 0) await new Promise((resolve) => setTimeout(resolve, 1))
  const n = recordsFor(size)
  const words = size >> 3
  const head = new Int32Array(ring, 0, HEADER_BYTES >> 2)
  let seq = 0
  let produce: () => void
  if (mode === Mode.RING) {
    const p = new RingProducer(ring)
    const f64 = p.f64
    produce = () => {
      let k = 0
      for (let i = 0; i < n; i++) {
        let off = p.tryReserve(size)
        if (off < 0) {
          if (p.pending) { p.commit(); k = 0 }
          p.waitForSpace(size)
          off = p.tryReserve(size)
        }
        const o = off >> 3
        for (let j = 0; j < words; j++) f64[o + j] = seq
        seq++
        if (++k === BATCH) { p.commit(); k = 0 }
      }
      const end = p.pending ? p.commit() : p.writeIndex()
      while ((Atomics.load(head, Slot.READ) | 0) !== (end | 0)) { /* wait for the consumer to finish */ }
    }
  } else {
    const i32 = new Int32Array(ring)
    const f64 = new Float64Array(ring)
    const capacity = RING_BYTES
    const mask = capacity - 1
    const total = 8 + ((size + 7) & ~7)
    let w = 0
    let r = 0
    produce = () => {
      let k = 0
      for (let i = 0; i < n; i++) {
        let idx = w & mask
        const toEnd = capacity - idx
        const need = total <= toEnd ? total : toEnd + total
        while (((w - r) >>> 0) + need > capacity) {
          if (k !== 0) { Atomics.store(head, Slot.WRITE, w); k = 0 }
          r = Atomics.load(head, Slot.READ)
        }
        if (total > toEnd) {
          i32[(HEADER_BYTES + idx) >> 2] = WRAP_MARKER
          w = (w + toEnd) | 0
          idx = 0
        }
        const at = (HEADER_BYTES + idx) >> 2
        i32[at] = size
        const o = (at + 2) >> 1
        for (let j = 0; j < words; j++) f64[o + j] = seq
        seq++
        w = (w + total) | 0
        if (++k === BATCH) { Atomics.store(head, Slot.WRITE, w); k = 0 }
      }
      Atomics.store(head, Slot.WRITE, w)
      while (Atomics.load(head, Slot.READ) !== w) { /* wait for the consumer to finish */ }
    }
  }
  const stop = async (): Promise<number> => {
    Atomics.store(ctl, Ctl.STOP, 1)
    await exited
    return Atomics.load(ctl, Ctl.ERRORS)
  }
  return { mode, size, produce, stop }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const perRound: Record<string, number[]> = {}
for (let round = 0; round < ROUNDS; round++) {
  for (const size of SIZES) {
    for (const mode of [Mode.RING, Mode.RAW]) {
      const c = await startCase(mode, size)
      const bench = new Bench({ time: TIME_MS, iterations: 10, warmupTime: 300, warmupIterations: 3, throws: true })
      bench.add(`${mode} ${size}B`, c.produce)
      await bench.run()
      const errors = await c.stop()
      if (errors !== 0) throw new Error(`${mode} ${size}B: consumer saw ${errors} records out of sequence`)
      const result = bench.tasks[0]!.result
      if (result.state !== 'completed') throw new Error(`${mode} ${size}B: ${result.state}`)
      const rps = recordsFor(size) / (result.latency.p50 / 1000)
      ;(perRound[`${mode}:${size}`] ??= []).push(rps)
      process.stderr.write(`round ${round + 1}/${ROUNDS} ${mode.padEnd(4)} ${String(size).padStart(5)} B: ${(rps / 1e6).toFixed(2)} M records/s\n`)
    }
  }
}

const rows = []
const json: { ring: Record<string, number>, raw: Record<string, number>, ratio: Record<string, number>, rounds: number, ringBytes: number, batch: number, node: string } =
  { ring: {}, raw: {}, ratio: {}, rounds: ROUNDS, ringBytes: RING_BYTES, batch: BATCH, node: process.version }
for (const size of SIZES) {
  const ring = median(perRound[`ring:${size}`]!)
  const raw = median(perRound[`raw:${size}`]!)
  json.ring[size] = Math.round(ring)
  json.raw[size] = Math.round(raw)
  json.ratio[size] = Number((ring / raw).toFixed(3))
  rows.push({
    'record bytes': size,
    'ring M rec/s': (ring / 1e6).toFixed(2),
    'ring MB/s': (ring * size / 1e6).toFixed(0),
    'raw M rec/s': (raw / 1e6).toFixed(2),
    'raw MB/s': (raw * size / 1e6).toFixed(0),
    'ring / raw': (ring / raw).toFixed(2),
  })
}
console.log(`ring benchmark: ${ROUNDS} rounds, ring ${RING_BYTES} B, commit every ${BATCH} records, median of per-round medians (Node ${process.version})`)
console.table(rows)
console.log(JSON.stringify(json))
