/**
 * Byte and bit I/O for the chunk codec. Bits are written most significant
 * first; a bit section ends with align(), which pads with zero bits to a byte
 * boundary, so byte-level fields (varints, raw float64) always start aligned.
 *
 * Numbers are JS doubles throughout: integers are exact up to 2^53, so wide
 * fields (up to 56 bits) are split into 24-bit pieces with multiplications,
 * never with 32-bit shifts. The reader checks every byte it takes and throws
 * ChunkFormatError at the end of the input, so a corrupt chunk can never make
 * it read out of bounds.
 */
import { ChunkFormatError } from './errors.js'

const TWO_24 = 0x1000000
/** A varint holds at most 8 groups of 7 bits (56 bits: every value the format writes). */
const MAX_VARINT_BYTES = 8

export function uvarintBytes (x: number): number {
  let n = 1
  while (x >= 128) { x = Math.floor(x / 128); n++ }
  return n
}

/** Signed varint: first byte = sign (bit 0), 6 magnitude bits, continuation (bit 7); then a uvarint of magnitude / 64. */
export function svarintBytes (x: number): number {
  const mag = Math.abs(x)
  return mag < 64 ? 1 : 1 + uvarintBytes(Math.floor(mag / 64))
}

/** Bits (1..56) needed to write any integer in [0, x]. 0 for x = 0. */
export function bitLength (x: number): number {
  let n = 0
  while (x >= TWO_24) { x = Math.floor(x / TWO_24); n += 24 }
  return n + (x === 0 ? 0 : 32 - Math.clz32(x))
}

export class ByteSink {
  buf: Uint8Array
  len = 0
  /** Pending bits (fewer than 8), right-aligned. */
  private acc = 0
  private accBits = 0

  constructor (capacity: number) {
    this.buf = new Uint8Array(Math.max(64, capacity))
  }

  private ensure (extra: number): void {
    if (this.len + extra <= this.buf.length) return
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + extra))
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
  }

  byte (b: number): void {
    this.ensure(1)
    this.buf[this.len++] = b
  }

  /** Little-endian uint32. */
  u32 (x: number): void {
    this.ensure(4)
    const buf = this.buf
    buf[this.len++] = x & 255
    buf[this.len++] = (x >>> 8) & 255
    buf[this.len++] = (x >>> 16) & 255
    buf[this.len++] = x >>> 24
  }

  /** x: integer in [0, 2^56). */
  uvarint (x: number): void {
    this.ensure(MAX_VARINT_BYTES)
    while (x >= 128) {
      this.buf[this.len++] = (x % 128) | 128
      x = Math.floor(x / 128)
    }
    this.buf[this.len++] = x
  }

  /** x: integer, |x| < 2^62. -0 is written as 0. */
  svarint (x: number): void {
    const mag = Math.abs(x)
    const sign = x < 0 ? 1 : 0
    if (mag < 64) { this.byte((mag << 1) | sign); return }
    this.byte(128 | ((mag % 64) << 1) | sign)
    this.uvarint(Math.floor(mag / 64))
  }

  /** Append bytes (must be aligned). */
  bytes (src: Uint8Array): void {
    this.ensure(src.length)
    this.buf.set(src, this.len)
    this.len += src.length
  }

  /** Write the low w bits of v, 0 <= w <= 24, 0 <= v < 2^w. */
  bits (v: number, w: number): void {
    this.ensure(4)
    let acc = (this.acc << w) | v
    let accBits = this.accBits + w
    while (accBits >= 8) {
      accBits -= 8
      this.buf[this.len++] = (acc >>> accBits) & 255
    }
    this.acc = acc & ((1 << accBits) - 1)
    this.accBits = accBits
  }

  /** Write v in w bits, 0 <= w <= 56, v an integer in [0, 2^w) (exact as a double). */
  bitsWide (v: number, w: number): void {
    if (w <= 24) { this.bits(v, w); return }
    const hi = Math.floor(v / TWO_24)
    this.bitsWide(hi, w - 24)
    this.bits(v - hi * TWO_24, 24)
  }

  /** Pad the bit section with zeros to a byte boundary. */
  align (): void {
    if (this.accBits > 0) this.bits(0, 8 - this.accBits)
  }

  /** An exact-size copy of what was written. */
  finish (): Uint8Array {
    this.align()
    return this.buf.slice(0, this.len)
  }
}

export class ByteSource {
  pos: number
  private acc = 0
  private accBits = 0

  constructor (readonly buf: Uint8Array, pos = 0) {
    this.pos = pos
  }

  static truncated (): ChunkFormatError {
    return new ChunkFormatError('chunk truncated')
  }

  byte (): number {
    if (this.pos >= this.buf.length) throw ByteSource.truncated()
    return this.buf[this.pos++]!
  }

  u32 (): number {
    const buf = this.buf
    const p = this.pos
    if (p + 4 > buf.length) throw ByteSource.truncated()
    this.pos = p + 4
    return (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0
  }

  uvarint (): number {
    let x = 0
    let scale = 1
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.byte()
      x += (b & 127) * scale
      if (b < 128) return x
      scale *= 128
    }
    throw new ChunkFormatError('varint longer than 8 bytes')
  }

  svarint (): number {
    const b = this.byte()
    let mag = (b >>> 1) & 63
    if (b & 128) mag += this.uvarint() * 64
    if (b & 1) {
      if (mag === 0) throw new ChunkFormatError('negative zero varint')
      return -mag
    }
    return mag
  }

  /** Read w bits, 0 <= w <= 24. */
  bits (w: number): number {
    let acc = this.acc
    let accBits = this.accBits
    while (accBits < w) {
      if (this.pos >= this.buf.length) throw ByteSource.truncated()
      acc = (acc << 8) | this.buf[this.pos++]!
      accBits += 8
    }
    accBits -= w
    const v = (acc >>> accBits) & ((1 << w) - 1)
    this.acc = acc & ((1 << accBits) - 1)
    this.accBits = accBits
    return v
  }

  /** Read w bits, 0 <= w <= 56. */
  bitsWide (w: number): number {
    if (w <= 24) return this.bits(w)
    const hi = this.bitsWide(w - 24)
    return hi * TWO_24 + this.bits(24)
  }

  /**
   * `count` items of `width` bits each (1 <= width <= 53) into
   * out[at..at + count): what as many bitsWide(width) calls read, with the
   * reader's state in locals and the bounds checked once (a
   * 10,000-series query decodes 2.4 M packed values; the calls were most of
   * their cost).
   */
  bitsInto (out: Float64Array, at: number, count: number, width: number): void {
    const buf = this.buf
    let pos = this.pos
    let acc = this.acc
    let accBits = this.accBits
    if ((buf.length - pos) * 8 + accBits < count * width) throw ByteSource.truncated()
    // The first piece has 1 to 24 bits, then whole pieces of 24 (as bitsWide reads them).
    const first = width - 24 * Math.floor((width - 1) / 24)
    const rest = (width - first) / 24
    for (let i = 0; i < count; i++) {
      while (accBits < first) { acc = (acc << 8) | buf[pos++]!; accBits += 8 }
      accBits -= first
      let v = acc >>> accBits
      acc &= (1 << accBits) - 1
      for (let j = 0; j < rest; j++) {
        while (accBits < 24) { acc = (acc << 8) | buf[pos++]!; accBits += 8 }
        accBits -= 24
        v = v * TWO_24 + (acc >>> accBits)
        acc &= (1 << accBits) - 1
      }
      out[at + i] = v
    }
    this.pos = pos
    this.acc = acc
    this.accBits = accBits
  }

  /** End of a bit section: the padding bits must be zero. */
  align (): void {
    if (this.acc !== 0) throw new ChunkFormatError('nonzero padding bits')
    this.accBits = 0
  }
}
