/**
 * Integer sequences (timestamps, decimal mantissas): x[0] is stored by the
 * caller; x[1..n-1] are written as one of
 *
 *   FOR           x[i] - min, i >= 1               (frame of reference, "order 0")
 *   DELTA_FOR     d[i] = x[i] - x[i-1] - min      (order 1)
 *   DOD_FOR       d[1], then dd[i] = d[i] - d[i-1] - min, i >= 2   (order 2)
 *   DELTA_VARBIT  d[i] in variable bit buckets
 *   DOD_VARBIT    d[1], then dd[i] in variable bit buckets (Gorilla's timestamps)
 *   DELTA_PFOR    d[i] - min in w bits, except for the few d[i] outside [min, min + 2^w)
 *                 (patched frame of reference: a counter reset, a missed scrape)
 *
 * FOR payload: svarint min, uvarint range (= max - min), then the items
 * minus min, packed. Packing is mixed-radix: with R = range + 1 values per
 * item, k consecutive items form one number below R^k written in
 * bitLength(R^k - 1) bits (k = 1: plain bit packing). k (1..8, R^k <= 2^53)
 * is whatever makes the fewest bits for this item count; the reader derives
 * the same k from (R, count). Why: a 2-decimal gauge moving by up to ±2.00
 * has R = 401 deltas; 9 bits each with k = 1, 26 bits per 3 (8.67) with k = 3,
 * close to the log2(401) = 8.65 bits of information. range 0 (a regular
 * interval, a constant rate) costs no bits at all.
 *
 * VARBIT payload (Prometheus's varbit integers, widths chosen for deltas of
 * small integers; two's complement in the bucket's width):
 *   0          -> '0'
 *   3 bits     -> '10'         + 3     [-4, 3]
 *   6 bits     -> '110'        + 6
 *   9 bits     -> '1110'       + 9
 *   12 bits    -> '11110'      + 12
 *   18 bits    -> '111110'     + 18
 *   25 bits    -> '1111110'    + 25
 *   56 bits    -> '1111111'    + 56    (every safe integer)
 *
 * PFOR payload: svarint min, u8 w, uvarint exceptionCount, per exception
 * (uvarint index gap, svarint d[i]), then every d[i] - min in w bits
 * (exceptions as 0). w and min are the ones that make the payload smallest.
 * PFOR is only tried when the deltas' range exceeds 16 mean absolute
 * deviations (it sorts them; uniform or normal deltas never qualify).
 *
 * The d[1] of the DOD modes is an svarint before the bit section. Every bit
 * section ends byte-aligned. A mode is only eligible when every value it
 * writes is a safe integer (the planner checks), so the reader's arithmetic
 * is exact.
 */
import { ChunkFormatError } from './errors.js'
import { ByteSink, ByteSource, bitLength, svarintBytes, uvarintBytes } from './bits.js'

export const IntSeq = {
  FOR: 1,
  DELTA_FOR: 2,
  DOD_FOR: 3,
  DELTA_VARBIT: 4,
  DOD_VARBIT: 5,
  DELTA_PFOR: 6,
} as const
export type IntSeqMode = typeof IntSeq[keyof typeof IntSeq]

const MAX_RADIX_GROUP = 8
const TWO_53 = 2 ** 53

export interface SeqPlan {
  mode: IntSeqMode
  /** Payload bytes. */
  bytes: number
  /** FOR modes: the frame (min and max - min of the packed items). PFOR: min and the width. */
  min: number
  range: number
}

/** Mean absolute deviation of the deltas of x[start..end) (at least 2 samples). */
function meanAbsDeviation (x: Float64Array, start: number, end: number): number {
  const count = end - start - 1
  const mean = (x[end - 1]! - x[start]!) / count
  let sum = 0
  for (let i = start + 1; i < end; i++) sum += Math.abs(x[i]! - x[i - 1]! - mean)
  return sum / count
}

/** The best PFOR frame for items d: bytes, min and width. */
function planPfor (d: Float64Array): { bytes: number, min: number, width: number } {
  const sorted = d.slice().sort()
  const count = sorted.length
  const maxWidth = bitLength(sorted[count - 1]! - sorted[0]!)
  let best = { bytes: Infinity, min: 0, width: 0 }
  for (let w = 0; w <= maxWidth; w++) {
    const span = 2 ** w
    let covered = 0
    let min = sorted[0]!
    for (let i = 0, j = 0; i < count && count - i > covered; i++) {
      if (j < i) j = i
      while (j < count && sorted[j]! - sorted[i]! < span) j++
      if (j - i > covered) { covered = j - i; min = sorted[i]! }
    }
    // Exact size for this (min, w).
    let bytes = svarintBytes(min) + 1 + uvarintBytes(count - covered) + padBytes(count * w)
    if (bytes >= best.bytes) continue
    let prev = -1
    for (let i = 0; i < count && bytes < best.bytes; i++) {
      const x = d[i]!
      if (x < min || x - min >= span) { bytes += uvarintBytes(i - prev - 1) + svarintBytes(x); prev = i }
    }
    if (bytes < best.bytes) best = { bytes, min, width: w }
  }
  return best
}

interface RadixPlan { k: number, width: number, tailWidth: number }

/** How `count` items of R = range + 1 values each are packed (see the header comment). */
function radixPlan (range: number, count: number): RadixPlan {
  const r = range + 1
  const pows = [1, r]
  let best: RadixPlan = { k: 1, width: bitLength(range), tailWidth: 0 }
  let bestBits = count * best.width
  if (range === 0) return best
  for (let k = 2; k <= MAX_RADIX_GROUP && k <= count; k++) {
    const p = pows[k - 1]! * r
    if (p > TWO_53) break
    pows.push(p)
    const width = bitLength(p - 1)
    const tailWidth = bitLength(pows[count % k]! - 1)
    const total = Math.floor(count / k) * width + tailWidth
    if (total < bestBits) { best = { k, width, tailWidth }; bestBits = total }
  }
  return best
}

function radixBits (range: number, count: number): number {
  const p = radixPlan(range, count)
  return Math.floor(count / p.k) * p.width + p.tailWidth
}

function varbitBits (v: number): number {
  if (v === 0) return 1
  const a = v < 0 ? -v - 1 : v
  if (a < 4) return 5
  if (a < 32) return 9
  if (a < 256) return 13
  if (a < 2048) return 17
  if (a < 131072) return 24
  if (a < 0x1000000) return 32
  return 63
}

const padBytes = (bits: number): number => Math.ceil(bits / 8)

/** The smallest eligible mode for x[start..end), or null when none is (values or differences beyond 2^53). */
export function planIntSeq (x: Float64Array, start: number, end: number): SeqPlan | null {
  const n = end - start
  if (n <= 1) return { mode: IntSeq.DELTA_FOR, bytes: 0, min: 0, range: 0 }
  let min0 = Infinity; let max0 = -Infinity
  let min1 = Infinity; let max1 = -Infinity
  let min2 = Infinity; let max2 = -Infinity
  let vb1 = 0; let vb2 = 0
  let safe = true
  let prev = x[start]!
  const d1 = x[start + 1]! - prev
  let prevD = d1
  for (let i = start + 1; i < end; i++) {
    const v = x[i]!
    if (v < min0) min0 = v
    if (v > max0) max0 = v
    if (!safe) continue
    const d = v - prev
    if (!Number.isSafeInteger(d)) { safe = false; continue }
    if (d < min1) min1 = d
    if (d > max1) max1 = d
    vb1 += varbitBits(d)
    if (i >= start + 2) {
      const dd = d - prevD
      if (!Number.isSafeInteger(dd)) { safe = false; continue }
      if (dd < min2) min2 = dd
      if (dd > max2) max2 = dd
      vb2 += varbitBits(dd)
    }
    prevD = d
    prev = v
  }
  let best: SeqPlan | null = null
  const consider = (mode: IntSeqMode, bytes: number, min: number, range: number): void => {
    if (best === null || bytes < best.bytes) best = { mode, bytes, min, range }
  }
  const forBytes = (min: number, range: number, count: number): number =>
    svarintBytes(min) + uvarintBytes(range) + padBytes(radixBits(range, count))
  const range0 = max0 - min0
  if (Number.isSafeInteger(range0)) consider(IntSeq.FOR, forBytes(min0, range0, n - 1), min0, range0)
  if (safe) {
    const range1 = max1 - min1
    if (Number.isSafeInteger(range1)) consider(IntSeq.DELTA_FOR, forBytes(min1, range1, n - 1), min1, range1)
    const head = svarintBytes(d1)
    if (n === 2) {
      consider(IntSeq.DOD_FOR, head, 0, 0)
    } else {
      const range2 = max2 - min2
      if (Number.isSafeInteger(range2)) consider(IntSeq.DOD_FOR, head + forBytes(min2, range2, n - 2), min2, range2)
    }
    consider(IntSeq.DELTA_VARBIT, padBytes(vb1), 0, 0)
    consider(IntSeq.DOD_VARBIT, head + padBytes(vb2), 0, 0)
    // PFOR pays off when a few deltas stretch the frame far beyond their
    // typical spread; only then is it worth sorting them (uniform or normal
    // deltas have a range below 16 mean absolute deviations).
    if (max1 - min1 >= 16 && max1 - min1 > 16 * meanAbsDeviation(x, start, end)) {
      const p = planPfor(items(x, start, end, 1))
      consider(IntSeq.DELTA_PFOR, p.bytes, p.min, p.width)
    }
  }
  return best
}

/** The items of the order-0 and order-1 modes: x[i], or d[i] = x[i] - x[i-1], for i >= 1. */
function items (x: Float64Array, start: number, end: number, order: 0 | 1): Float64Array {
  const out = new Float64Array(end - start - 1)
  for (let i = start + 1, j = 0; i < end; i++) out[j++] = order === 0 ? x[i]! : x[i]! - x[i - 1]!
  return out
}

export function writeIntSeq (sink: ByteSink, x: Float64Array, start: number, end: number, plan: SeqPlan): void {
  const n = end - start
  if (n <= 1) return
  const mode = plan.mode
  if (mode === IntSeq.DOD_FOR || mode === IntSeq.DOD_VARBIT) sink.svarint(x[start + 1]! - x[start]!)
  const it = mode === IntSeq.DOD_FOR || mode === IntSeq.DOD_VARBIT
    ? dods(x, start, end)
    : items(x, start, end, mode === IntSeq.FOR ? 0 : 1)
  if (mode === IntSeq.DELTA_VARBIT || mode === IntSeq.DOD_VARBIT) {
    for (let i = 0; i < it.length; i++) writeVarbit(sink, it[i]!)
    sink.align()
    return
  }
  if (it.length === 0) return
  if (mode === IntSeq.DELTA_PFOR) { writePfor(sink, it, plan.min, plan.range); return }
  sink.svarint(plan.min)
  sink.uvarint(plan.range)
  pack(sink, it, plan.min, plan.range)
}

function writePfor (sink: ByteSink, it: Float64Array, min: number, width: number): void {
  const span = 2 ** width
  const exceptions: number[] = []
  for (let i = 0; i < it.length; i++) {
    const x = it[i]!
    if (x < min || x - min >= span) exceptions.push(i)
  }
  sink.svarint(min)
  sink.byte(width)
  sink.uvarint(exceptions.length)
  let prev = -1
  for (const i of exceptions) { sink.uvarint(i - prev - 1); sink.svarint(it[i]!); prev = i }
  if (width === 0) return
  for (let i = 0; i < it.length; i++) {
    const x = it[i]! - min
    sink.bitsWide(x >= 0 && x < span ? x : 0, width)
  }
  sink.align()
}

function readPfor (src: ByteSource, it: Float64Array, count: number): void {
  const min = src.svarint()
  const width = src.byte()
  if (width > 53) throw new ChunkFormatError(`PFOR width ${width} beyond 53 bits`)
  const exceptionCount = src.uvarint()
  if (exceptionCount > count) throw new ChunkFormatError('more PFOR exceptions than items')
  const at = new Int32Array(exceptionCount)
  const value = new Float64Array(exceptionCount)
  let index = -1
  for (let j = 0; j < exceptionCount; j++) {
    index += src.uvarint() + 1
    if (index >= count) throw new ChunkFormatError('PFOR exception beyond the items')
    at[j] = index
    value[j] = src.svarint()
  }
  if (width === 0) {
    it.fill(min, 0, count)
  } else {
    for (let i = 0; i < count; i++) it[i] = (width <= 24 ? src.bits(width) : src.bitsWide(width)) + min
    src.align()
  }
  for (let j = 0; j < exceptionCount; j++) it[at[j]!] = value[j]!
}

/** dd[i] for i >= 2, as the difference of two deltas (each safe, so exact). */
function dods (x: Float64Array, start: number, end: number): Float64Array {
  const out = new Float64Array(Math.max(0, end - start - 2))
  for (let i = start + 2, j = 0; i < end; i++) out[j++] = (x[i]! - x[i - 1]!) - (x[i - 1]! - x[i - 2]!)
  return out
}

function pack (sink: ByteSink, it: Float64Array, min: number, range: number): void {
  const count = it.length
  const { k, width, tailWidth } = radixPlan(range, count)
  if (width === 0) return
  const r = range + 1
  let i = 0
  if (k === 1) {
    if (width <= 24) for (; i < count; i++) sink.bits(it[i]! - min, width)
    else for (; i < count; i++) sink.bitsWide(it[i]! - min, width)
  } else {
    for (; i + k <= count; i += k) {
      let acc = 0
      for (let j = k - 1; j >= 0; j--) acc = acc * r + (it[i + j]! - min)
      sink.bitsWide(acc, width)
    }
    if (i < count) {
      let acc = 0
      for (let j = count - 1; j >= i; j--) acc = acc * r + (it[j]! - min)
      sink.bitsWide(acc, tailWidth)
    }
  }
  sink.align()
}

/** Fill out[1..n-1] from the payload; out[0] is set by the caller. */
let work = new Float64Array(1024)

export function readIntSeq (src: ByteSource, out: Float64Array, n: number, mode: number): void {
  if (n <= 1) return
  const dod = mode === IntSeq.DOD_FOR || mode === IntSeq.DOD_VARBIT
  let d = 0
  let first = 1
  if (dod) {
    d = src.svarint()
    out[1] = out[0]! + d
    first = 2
  }
  const count = n - first
  if (count === 0) return
  // Items 0..count-1 of a work array kept between calls: a new Float64Array of over 64 bytes
  // lives outside V8's heap, and allocating one per chunk cost more than decoding a short chunk
  // (no view of it either: a typed array view is a large object, and a query makes one per chunk).
  if (work.length < count) work = new Float64Array(Math.max(count, 2 * work.length))
  const it = work
  if (mode === IntSeq.DELTA_VARBIT || mode === IntSeq.DOD_VARBIT) {
    for (let i = 0; i < count; i++) it[i] = readVarbit(src)
    src.align()
  } else if (mode === IntSeq.DELTA_PFOR) {
    readPfor(src, it, count)
  } else if (mode === IntSeq.FOR || mode === IntSeq.DELTA_FOR || mode === IntSeq.DOD_FOR) {
    const min = src.svarint()
    const range = src.uvarint()
    if (!Number.isSafeInteger(range) || !Number.isSafeInteger(min)) throw new ChunkFormatError('frame out of range')
    unpack(src, it, count, min, range)
  } else {
    throw new ChunkFormatError(`unknown integer sequence mode ${mode}`)
  }
  if (mode === IntSeq.FOR) {
    for (let i = 0; i < count; i++) out[i + 1] = it[i]!
  } else if (dod) {
    let prev = out[1]!
    for (let i = 0; i < count; i++) { d += it[i]!; prev += d; out[i + 2] = prev }
  } else {
    let prev = out[0]!
    for (let i = 0; i < count; i++) { prev += it[i]!; out[i + 1] = prev }
  }
}

/** Packed groups of unpack(), kept between calls (as `work`). */
let groupWork = new Float64Array(256)

/** Items 0..count-1 of `it` (which may be longer). */
function unpack (src: ByteSource, it: Float64Array, count: number, min: number, range: number): void {
  const { k, width, tailWidth } = radixPlan(range, count)
  if (width === 0) { it.fill(min, 0, count); return }
  if (k === 1) {
    src.bitsInto(it, 0, count, width)
    for (let i = 0; i < count; i++) {
      const v = it[i]!
      if (v > range) throw new ChunkFormatError('packed value beyond its frame')
      it[i] = v + min
    }
    src.align()
    return
  }
  const r = range + 1
  const groups = Math.floor(count / k)
  const tail = count - groups * k
  if (groupWork.length < groups + 1) groupWork = new Float64Array(Math.max(groups + 1, 2 * groupWork.length))
  const packed = groupWork
  src.bitsInto(packed, 0, groups, width)
  if (tail > 0) src.bitsInto(packed, groups, 1, tailWidth)
  // The digits by a multiplication with 1 / r instead of a division and a
  // remainder each. A group is below r^k <= 2^53 and q * r <= acc + r, so
  // all is exact below 2^52 (width <= 52): acc * inv is then within 1 of
  // acc / r, floor() may be one off, and the remainder's sign says which way.
  const fast = width <= 52 && tailWidth <= 52
  const inv = 1 / r
  for (let g = 0, i = 0; i < count; g++, i += k) {
    const t = Math.min(k, count - i)
    let acc = packed[g]!
    for (let j = 0; j < t; j++) {
      let digit: number
      if (fast) {
        let q = Math.floor(acc * inv)
        digit = acc - q * r
        if (digit < 0) { q--; digit += r } else if (digit >= r) { q++; digit -= r }
        acc = q
      } else {
        digit = acc % r
        acc = (acc - digit) / r
      }
      it[i + j] = digit + min
    }
    if (acc !== 0) throw new ChunkFormatError('packed group beyond its frame')
  }
  src.align()
}

const VARBIT_WIDTHS = [0, 3, 6, 9, 12, 18, 25, 56] as const
const TWO_28 = 2 ** 28

function writeVarbit (sink: ByteSink, v: number): void {
  if (v === 0) { sink.bits(0, 1); return }
  const a = v < 0 ? -v - 1 : v
  const b = a < 4 ? 1 : a < 32 ? 2 : a < 256 ? 3 : a < 2048 ? 4 : a < 131072 ? 5 : a < 0x1000000 ? 6 : 7
  // prefix: b ones then a zero; bucket 7 has no terminating zero
  if (b < 7) sink.bits(((1 << b) - 1) << 1, b + 1)
  else sink.bits(127, 7)
  const w = VARBIT_WIDTHS[b]!
  if (b < 7) {
    sink.bitsWide(v & ((1 << w) - 1), w)
  } else {
    const hi = Math.floor(v / TWO_28)
    sink.bitsWide(hi & (TWO_28 - 1), 28)
    sink.bitsWide(v - hi * TWO_28, 28)
  }
}

function readVarbit (src: ByteSource): number {
  let b = 0
  while (b < 7 && src.bits(1) === 1) b++
  if (b === 0) return 0
  if (b < 7) {
    const w = VARBIT_WIDTHS[b]!
    const u = src.bitsWide(w)
    return u >= 2 ** (w - 1) ? u - 2 ** w : u
  }
  let hi = src.bitsWide(28)
  if (hi >= 2 ** 27) hi -= TWO_28
  return hi * TWO_28 + src.bitsWide(28)
}
