/**
 * Consumer thread of the ring benchmark. Checks that every record carries the
 * next sequence number in its first and last float64 (so a lost, duplicated or
 * torn record is counted in Ctl.ERRORS), the same work in both modes.
 */
import { workerData } from 'node:worker_threads'
import { RingConsumer, HEADER_BYTES, Slot, WRAP_MARKER } from '../src/index.js'
import { Ctl, Mode, type ConsumerData } from './shared.js'

const { mode, ring, ctl: ctlBuf, size } = workerData as ConsumerData
const ctl = new Int32Array(ctlBuf)
const lastWord = (size >> 3) - 1
let expected = 0
let errors = 0

if (mode === Mode.RING) {
  const c = new RingConsumer(ring)
  const f64 = c.f64
  const visit = (offset: number): void => {
    const o = offset >> 3
    if (f64[o] !== expected || f64[o + lastWord] !== expected) errors++
    expected++
  }
  Atomics.store(ctl, Ctl.READY, 1)
  for (;;) {
    if (!c.waitForData(20)) {
      if (Atomics.load(ctl, Ctl.STOP) !== 0) break
      continue
    }
    c.read(visit)
    c.release()
  }
} else {
  // The raw loop: plain Int32 indexes, no API, no checks, spinning.
  const head = new Int32Array(ring, 0, HEADER_BYTES >> 2)
  const i32 = new Int32Array(ring)
  const f64 = new Float64Array(ring)
  const capacity = head[Slot.CAPACITY]!
  const mask = capacity - 1
  let r = Atomics.load(head, Slot.READ)
  Atomics.store(ctl, Ctl.READY, 1)
  for (;;) {
    const w = Atomics.load(head, Slot.WRITE)
    if (w === r) {
      if (Atomics.load(ctl, Ctl.STOP) !== 0) break
      continue
    }
    while (r !== w) {
      const idx = r & mask
      const at = (HEADER_BYTES + idx) >> 2
      const len = i32[at]!
      if (len === WRAP_MARKER) { r = (r + capacity - idx) | 0; continue }
      const o = (at + 2) >> 1
      if (f64[o] !== expected || f64[o + lastWord] !== expected) errors++
      expected++
      r = (r + 8 + ((len + 7) & ~7)) | 0
    }
    Atomics.store(head, Slot.READ, r)
  }
}
Atomics.store(ctl, Ctl.ERRORS, errors)
