/**
 * Value encodings other than the integer sequences: Gorilla XOR, "decimal"
 * detection, and the raw float64 words. Values are handled as two uint32
 * words (a Uint32Array view of the caller's Float64Array), so NaN payloads,
 * -0 and subnormals pass through bit for bit: no value is ever produced by
 * float arithmetic except decimal's m / 10^e, which the encoder verifies.
 */
import { ChunkFormatError } from './errors.js'
import type { ByteSink, ByteSource } from './bits.js'

/** Index of the low and high uint32 word of a float64 in a Uint32Array view (host byte order). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1
export const LO = LITTLE_ENDIAN ? 0 : 1
export const HI = LITTLE_ENDIAN ? 1 : 0

export function words (values: Float64Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length * 2)
}

/** Largest decimal exponent tried: values m / 10^e with e in 0..9. */
export const MAX_DECIMAL_EXPONENT = 9
export const POW10: readonly number[] = Array.from({ length: MAX_DECIMAL_EXPONENT + 1 }, (_, e) => 10 ** e)

// ---- Gorilla XOR (as Prometheus's XOR chunk) --------------------------------
//   first value: 64 bits
//   then per value, x = value XOR previous:
//     x == 0                                  '0'
//     x fits the previous meaningful window   '10' + (64 - lead - trail) bits of the window
//     else                                    '11' + 5 bits lead (capped at 31) + 6 bits width (64 -> 0) + width bits

function clz64 (hi: number, lo: number): number {
  return hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo)
}

function ctz32 (x: number): number {
  return x === 0 ? 32 : 31 - Math.clz32(x & -x)
}

function ctz64 (hi: number, lo: number): number {
  return lo !== 0 ? ctz32(lo) : 32 + ctz32(hi)
}

/** Write bits [t, t + w) of the 64-bit hi:lo, w >= 1. */
function writeWindow (sink: ByteSink, hi: number, lo: number, t: number, w: number): void {
  let h: number
  let l: number
  if (t === 0) { h = hi; l = lo } else if (t < 32) { l = ((lo >>> t) | (hi << (32 - t))) >>> 0; h = hi >>> t } else { l = hi >>> (t - 32); h = 0 }
  if (w > 32) { write32(sink, h, w - 32); write32(sink, l, 32) } else write32(sink, l, w)
}

/** v: uint32 below 2^w, w <= 32. */
function write32 (sink: ByteSink, v: number, w: number): void {
  if (w <= 24) { sink.bits(v, w); return }
  sink.bits(v >>> 24, w - 24)
  sink.bits(v & 0xffffff, 24)
}

function read32 (src: ByteSource, w: number): number {
  if (w <= 24) return src.bits(w)
  const hi = src.bits(w - 24)
  return (hi * 0x1000000 + src.bits(24)) >>> 0
}

export function writeXor (sink: ByteSink, u: Uint32Array, start: number, end: number): void {
  let ph = u[2 * start + HI]!
  let pl = u[2 * start + LO]!
  write32(sink, ph, 32)
  write32(sink, pl, 32)
  let lead = -1 // no window yet
  let trail = 0
  for (let i = start + 1; i < end; i++) {
    const h = u[2 * i + HI]!
    const l = u[2 * i + LO]!
    const xh = (h ^ ph) >>> 0
    const xl = (l ^ pl) >>> 0
    ph = h
    pl = l
    if (xh === 0 && xl === 0) { sink.bits(0, 1); continue }
    let lz = clz64(xh, xl)
    const tz = ctz64(xh, xl)
    if (lz > 31) lz = 31
    if (lead >= 0 && lz >= lead && tz >= trail) {
      sink.bits(0b10, 2)
      writeWindow(sink, xh, xl, trail, 64 - lead - trail)
    } else {
      lead = lz
      trail = tz
      const w = 64 - lz - tz
      sink.bits(0b11, 2)
      sink.bits(lz, 5)
      sink.bits(w & 63, 6)
      writeWindow(sink, xh, xl, tz, w)
    }
  }
  sink.align()
}

export function readXor (src: ByteSource, u: Uint32Array, n: number): void {
  let ph = read32(src, 32)
  let pl = read32(src, 32)
  u[HI] = ph
  u[LO] = pl
  let lead = -1
  let trail = 0
  for (let i = 1; i < n; i++) {
    if (src.bits(1) === 1) {
      if (src.bits(1) === 1) {
        lead = src.bits(5)
        const w = src.bits(6) || 64
        trail = 64 - lead - w
        if (trail < 0) throw new ChunkFormatError('XOR window beyond 64 bits')
      } else if (lead < 0) {
        throw new ChunkFormatError('XOR window reused before it was set')
      }
      const w = 64 - lead - trail
      let h = 0
      let l: number
      if (w > 32) { h = read32(src, w - 32); l = read32(src, 32) } else l = read32(src, w)
      const t = trail
      if (t > 0) {
        if (t < 32) { h = ((h << t) | (l >>> (32 - t))) >>> 0; l = (l << t) >>> 0 } else { h = (l << (t - 32)) >>> 0; l = 0 }
      }
      ph = (ph ^ h) >>> 0
      pl = (pl ^ l) >>> 0
    }
    u[2 * i + HI] = ph
    u[2 * i + LO] = pl
  }
  src.align()
}

// ---- decimal -----------------------------------------------------------------

/** m such that m / 10^e reproduces v bit for bit, or NaN. m is never -0 (it is stored as an integer). */
function mantissa (v: number, p: number): number {
  const m = Math.round(v * p) + 0
  return Number.isSafeInteger(m) && Object.is(m / p, v) ? m : NaN
}

export interface Decimal {
  e: number
  /** m[i] for every value; an exception's m repeats its neighbour's, so it costs no delta bits. */
  m: Float64Array
  /** Indexes (ascending) of the values that are not m / 10^e: NaN, ±Infinity, -0, too precise. */
  exceptions: number[]
}

/**
 * The smallest e for which values[start..end) are m / 10^e with safe integers
 * m, except for at most about one value in eight (stored raw). null when
 * there are more exceptions than that (XOR will be smaller).
 */
export function findDecimal (values: Float64Array, start: number, end: number): Decimal | null {
  const n = end - start
  const maxExceptions = (n >>> 3) + 1
  let e = 0
  let exceptionCount = 0
  for (let i = start; i < end; i++) {
    const v = values[i]!
    if (!Number.isNaN(mantissa(v, POW10[e]!))) continue
    let e2 = e + 1
    while (e2 <= MAX_DECIMAL_EXPONENT && Number.isNaN(mantissa(v, POW10[e2]!))) e2++
    if (e2 <= MAX_DECIMAL_EXPONENT) e = e2
    else if (++exceptionCount > maxExceptions) return null
  }
  // Second pass at the final e. A value that fits a smaller e fits a larger one
  // too (m * 10^k / 10^(e+k) is the same rational), but this verifies it.
  const p = POW10[e]!
  const m = new Float64Array(n)
  const exceptions: number[] = []
  let last = NaN
  for (let i = 0; i < n; i++) {
    const mi = mantissa(values[start + i]!, p)
    if (Number.isNaN(mi)) {
      exceptions.push(i)
      m[i] = last
    } else {
      if (Number.isNaN(last)) m.fill(mi, 0, i) // leading exceptions take the first regular m
      m[i] = last = mi
    }
  }
  if (Number.isNaN(last) || exceptions.length > maxExceptions) return null
  return { e, m, exceptions }
}
