/**
 * The compressed chunk: the samples of one series over a time range, encoded
 * whole when the chunk is sealed. Pure functions, no state, any thread.
 *
 *   encodeChunk(timestamps, values, start?, end?) -> Uint8Array (an exact-size copy)
 *   decodeChunk(chunk)  -> { timestamps, values }      bit-exact round trip
 *   chunkHeader(chunk)  -> { count, minTs, maxTs, ... } reads the first ~20 bytes only
 *
 * Contract: timestamps are integer milliseconds with |t| <= 2^53, strictly
 * ascending, 1 to MAX_CHUNK_SAMPLES of them (else ChunkInputError,
 * ERR_CHUNK_INPUT). Values are any float64: -0, NaN payloads (Prometheus's
 * stale marker 0x7ff0000000000002), ±Infinity and subnormals come back bit
 * for bit. decodeChunk and chunkHeader throw ChunkFormatError
 * (ERR_CHUNK_FORMAT) on a truncated, corrupt or unknown-version chunk; they
 * never read past the input, and every loop is bounded by the sample count.
 * There is no checksum: a corruption that still parses (a flipped payload bit)
 * can decode to other samples. Checks that do catch most of it: the decoded
 * timestamps must ascend and end at the header's maxTs, packed values must fit
 * their frame, padding bits must be zero, and the chunk must end exactly where
 * the value payload does.
 *
 * Layout (varints: see bits.ts; svarint = sign in bit 0 of the first byte):
 *
 *   +---------+-------------------+---------+------------+------------------+------------+---------------+
 *   | version | enc               | count   | minTs      | span             | timestamps | values        |
 *   | u8 = 1  | u8: ts | value<<4 | uvarint | svarint    | uvarint          | payload    | payload       |
 *   |         |                   |         |            | (ts RAW: svarint |            |               |
 *   |         |                   |         |            |  maxTs instead)  |            |               |
 *   +---------+-------------------+---------+------------+------------------+------------+---------------+
 *
 * Timestamp payloads (TsEncoding): one of the integer sequence modes of
 * intseq.ts on the timestamps (x[0] = minTs), or RAW: float64 LE of
 * timestamps 1..count-2 (first and last are in the header); RAW is for spans
 * beyond 2^53 only.
 *
 * Value payloads (ValueEncoding):
 *   CONST    one float64 LE: every value has these 64 bits
 *   DECIMAL  u8 (e | intseqMode << 4), uvarint exceptionCount, per exception
 *            (uvarint index gap, float64 LE), svarint m[0], integer sequence
 *            payload of m. Value i is m[i] / 10^e, except at the exceptions.
 *   XOR      Gorilla XOR bit stream (values.ts)
 *   RAW      count float64 LE
 * The encoder computes the size of every eligible encoding and keeps the
 * smallest (ties go to the one that decodes faster: CONST, DECIMAL, XOR, RAW).
 */
import { ByteSink, ByteSource, svarintBytes, uvarintBytes } from './bits.js'
import { ChunkFormatError, ChunkInputError } from './errors.js'
import { IntSeq, planIntSeq, readIntSeq, writeIntSeq, type SeqPlan } from './intseq.js'
import { HI, LO, MAX_DECIMAL_EXPONENT, POW10, findDecimal, readXor, words, writeXor } from './values.js'

export { ChunkFormatError, ChunkInputError } from './errors.js'
export { IntSeq } from './intseq.js'

export const CHUNK_FORMAT_VERSION = 1
/** Samples per chunk, at most. Bounds what a corrupt count can make decodeChunk allocate (16 MiB). */
export const MAX_CHUNK_SAMPLES = 1 << 20
/** Largest |timestamp|: integers beyond it are not all representable as float64. */
export const MAX_ABS_TIMESTAMP = 2 ** 53

export const TsEncoding = {
  RAW: 0,
  ...IntSeq,
} as const
export const ValueEncoding = {
  RAW: 0,
  CONST: 1,
  XOR: 2,
  DECIMAL: 3,
} as const

export interface ChunkHeader {
  count: number
  minTs: number
  maxTs: number
  tsEncoding: number
  valueEncoding: number
}

export interface DecodedChunk {
  timestamps: Float64Array
  values: Float64Array
}

export function encodeChunk (timestamps: Float64Array, values: Float64Array, start = 0, end = timestamps.length): Uint8Array {
  checkInput(timestamps, values, start, end)
  const n = end - start
  const minTs = timestamps[start]!
  const maxTs = timestamps[end - 1]!

  const tsPlan = Number.isSafeInteger(maxTs - minTs) ? planIntSeq(timestamps, start, end) : null
  const tsRawBytes = Math.max(0, n - 2) * 8
  const tsEncoding = tsPlan !== null && tsPlan.bytes <= tsRawBytes ? tsPlan.mode : TsEncoding.RAW

  const v = planValues(values, start, end)
  const sink = new ByteSink(24 + (tsPlan?.bytes ?? tsRawBytes) + v.bytes)
  sink.byte(CHUNK_FORMAT_VERSION)
  sink.byte(tsEncoding | (v.encoding << 4))
  sink.uvarint(n)
  sink.svarint(minTs)
  if (tsEncoding === TsEncoding.RAW) {
    sink.svarint(maxTs)
    const u = words(timestamps)
    for (let i = start + 1; i < end - 1; i++) { sink.u32(u[2 * i + LO]!); sink.u32(u[2 * i + HI]!) }
  } else {
    sink.uvarint(maxTs - minTs)
    writeIntSeq(sink, timestamps, start, end, tsPlan!)
  }
  writeValues(sink, values, start, end, v)
  return sink.finish()
}

function checkInput (timestamps: Float64Array, values: Float64Array, start: number, end: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > timestamps.length || end > values.length) {
    throw new ChunkInputError(`range [${start}, ${end}) is outside the samples (${timestamps.length} timestamps, ${values.length} values)`)
  }
  const n = end - start
  if (n < 1 || n > MAX_CHUNK_SAMPLES) throw new ChunkInputError(`a chunk holds 1 to ${MAX_CHUNK_SAMPLES} samples, not ${n}`)
  // One cheap pass; the message is built only on failure.
  let prev = -Infinity
  let ok = true
  for (let i = start; i < end; i++) {
    const t = timestamps[i]!
    if (!(t > prev && t <= MAX_ABS_TIMESTAMP && t >= -MAX_ABS_TIMESTAMP && Math.floor(t) === t)) { ok = false; break }
    prev = t
  }
  if (!ok) {
    prev = -Infinity
    for (let i = start; i < end; i++) {
      const t = timestamps[i]!
      if (!Number.isInteger(t) || Math.abs(t) > MAX_ABS_TIMESTAMP) throw new ChunkInputError(`timestamp ${t} at ${i} is not an integer within ±2^53`)
      if (!(t > prev)) throw new ChunkInputError(`timestamp ${t} at ${i} does not ascend (previous ${prev})`)
      prev = t
    }
  }
}

type ValuePlan =
  | { encoding: typeof ValueEncoding.RAW | typeof ValueEncoding.CONST, bytes: number }
  | { encoding: typeof ValueEncoding.XOR, bytes: number, xor: Uint8Array }
  | { encoding: typeof ValueEncoding.DECIMAL, bytes: number, e: number, m: Float64Array, exceptions: number[], seq: SeqPlan }

function planValues (values: Float64Array, start: number, end: number): ValuePlan {
  const n = end - start
  const u = words(values)
  const h0 = u[2 * start + HI]!
  const l0 = u[2 * start + LO]!
  let constant = true
  for (let i = start + 1; i < end && constant; i++) constant = u[2 * i + HI] === h0 && u[2 * i + LO] === l0
  if (constant) return { encoding: ValueEncoding.CONST, bytes: 8 }

  let best: ValuePlan = { encoding: ValueEncoding.RAW, bytes: 8 * n }
  const dec = findDecimal(values, start, end)
  if (dec !== null) {
    const seq = planIntSeq(dec.m, 0, n)
    if (seq !== null) {
      let bytes = 1 + uvarintBytes(dec.exceptions.length) + svarintBytes(dec.m[0]!) + seq.bytes
      let prev = -1
      for (const x of dec.exceptions) { bytes += uvarintBytes(x - prev - 1) + 8; prev = x }
      if (bytes <= best.bytes) best = { encoding: ValueEncoding.DECIMAL, bytes, e: dec.e, m: dec.m, exceptions: dec.exceptions, seq }
    }
  }
  // XOR is tried only when the others need more than 2 bytes a sample: below
  // that it does not win on real data (measured on gauges, counters and
  // constants in bench/chunks.bench.ts), and trying it doubles the encode time.
  if (best.bytes > 2 * n) {
    const sink = new ByteSink(best.bytes + 16)
    writeXor(sink, u, start, end)
    if (sink.len < best.bytes) best = { encoding: ValueEncoding.XOR, bytes: sink.len, xor: sink.buf.subarray(0, sink.len) }
  }
  return best
}

function writeValues (sink: ByteSink, values: Float64Array, start: number, end: number, plan: ValuePlan): void {
  const u = words(values)
  switch (plan.encoding) {
    case ValueEncoding.CONST:
      sink.u32(u[2 * start + LO]!); sink.u32(u[2 * start + HI]!)
      return
    case ValueEncoding.RAW:
      for (let i = start; i < end; i++) { sink.u32(u[2 * i + LO]!); sink.u32(u[2 * i + HI]!) }
      return
    case ValueEncoding.XOR:
      sink.bytes(plan.xor)
      return
    case ValueEncoding.DECIMAL: {
      sink.byte(plan.e | (plan.seq.mode << 4))
      sink.uvarint(plan.exceptions.length)
      let prev = -1
      for (const x of plan.exceptions) {
        sink.uvarint(x - prev - 1)
        prev = x
        const i = start + x
        sink.u32(u[2 * i + LO]!); sink.u32(u[2 * i + HI]!)
      }
      sink.svarint(plan.m[0]!)
      writeIntSeq(sink, plan.m, 0, plan.m.length, plan.seq)
    }
  }
}

function readHeader (src: ByteSource): ChunkHeader {
  const version = src.byte()
  if (version !== CHUNK_FORMAT_VERSION) throw new ChunkFormatError(`unknown chunk format version ${version}`)
  const enc = src.byte()
  const tsEncoding = enc & 15
  const valueEncoding = enc >>> 4
  if (tsEncoding > TsEncoding.DELTA_PFOR) throw new ChunkFormatError(`unknown timestamp encoding ${tsEncoding}`)
  if (valueEncoding > ValueEncoding.DECIMAL) throw new ChunkFormatError(`unknown value encoding ${valueEncoding}`)
  const count = src.uvarint()
  if (count < 1 || count > MAX_CHUNK_SAMPLES) throw new ChunkFormatError(`sample count ${count} out of range`)
  const minTs = src.svarint()
  const maxTs = tsEncoding === TsEncoding.RAW ? src.svarint() : minTs + src.uvarint()
  if (Math.abs(minTs) > MAX_ABS_TIMESTAMP || Math.abs(maxTs) > MAX_ABS_TIMESTAMP || maxTs - minTs < count - 1 || (count === 1 && maxTs !== minTs)) {
    throw new ChunkFormatError(`time range [${minTs}, ${maxTs}] does not hold ${count} samples`)
  }
  return { count, minTs, maxTs, tsEncoding, valueEncoding }
}

export function chunkHeader (chunk: Uint8Array): ChunkHeader {
  return readHeader(new ByteSource(chunk))
}

export function decodeChunk (chunk: Uint8Array): DecodedChunk {
  const n = chunkHeader(chunk).count
  const timestamps = new Float64Array(n)
  const values = new Float64Array(n)
  decodeChunkInto(chunk, timestamps, values, 0)
  return { timestamps, values }
}

/**
 * decodeChunk into the caller's arrays, from index `at` (they must have
 * room for the header's count from there); returns the count. Lets a reader
 * decode many chunks into one pair of arrays: a Float64Array of more than
 * 64 bytes has its memory outside V8's heap, and allocating two per chunk
 * cost more than decoding a 24-sample chunk.
 */
export function decodeChunkInto (chunk: Uint8Array, ts: Float64Array, vs: Float64Array, at: number): number {
  const src = new ByteSource(chunk)
  const h = readHeader(src)
  const n = h.count
  if (at < 0 || at + n > ts.length || at + n > vs.length) throw new RangeError(`no room for ${n} samples at ${at}`)
  const timestamps = at === 0 && ts.length === n ? ts : ts.subarray(at, at + n)
  timestamps[0] = h.minTs
  if (h.tsEncoding === TsEncoding.RAW) {
    const u = words(timestamps)
    for (let i = 1; i < n - 1; i++) { u[2 * i + LO] = src.u32(); u[2 * i + HI] = src.u32() }
    timestamps[n - 1] = h.maxTs
  } else {
    readIntSeq(src, timestamps, n, h.tsEncoding)
  }
  let prev = -Infinity
  for (let i = 0; i < n; i++) {
    const t = timestamps[i]!
    if (!(t > prev) || !Number.isInteger(t)) throw new ChunkFormatError(`timestamp ${i} does not ascend`)
    prev = t
  }
  if (prev !== h.maxTs) throw new ChunkFormatError('last timestamp differs from the header')

  readValues(src, at === 0 && vs.length === n ? vs : vs.subarray(at, at + n), h.valueEncoding)
  if (src.pos !== chunk.length) throw new ChunkFormatError(`${chunk.length - src.pos} bytes after the last sample`)
  return n
}

const NO_EXCEPTIONS = new Int32Array(0)
const NO_RAW = new Uint32Array(0)

function readValues (src: ByteSource, values: Float64Array, encoding: number): void {
  const n = values.length
  switch (encoding) {
    case ValueEncoding.CONST: {
      const u = words(values)
      const lo = src.u32()
      const hi = src.u32()
      for (let i = 0; i < n; i++) { u[2 * i + LO] = lo; u[2 * i + HI] = hi }
      return
    }
    case ValueEncoding.RAW: {
      const u = words(values)
      for (let i = 0; i < n; i++) { u[2 * i + LO] = src.u32(); u[2 * i + HI] = src.u32() }
      return
    }
    case ValueEncoding.XOR:
      readXor(src, words(values), n)
      return
    case ValueEncoding.DECIMAL: {
      const b = src.byte()
      const e = b & 15
      const mode = b >>> 4
      if (e > MAX_DECIMAL_EXPONENT) throw new ChunkFormatError(`decimal exponent ${e} out of range`)
      const exceptionCount = src.uvarint()
      if (exceptionCount > n) throw new ChunkFormatError('more exceptions than samples')
      // Most chunks have none: no arrays (nor a words view) for them.
      const at = exceptionCount === 0 ? NO_EXCEPTIONS : new Int32Array(exceptionCount)
      const raw = exceptionCount === 0 ? NO_RAW : new Uint32Array(2 * exceptionCount)
      let index = -1
      for (let j = 0; j < exceptionCount; j++) {
        index += src.uvarint() + 1
        if (index >= n) throw new ChunkFormatError('exception index beyond the samples')
        at[j] = index
        raw[2 * j] = src.u32()
        raw[2 * j + 1] = src.u32()
      }
      values[0] = src.svarint()
      readIntSeq(src, values, n, mode)
      const p = POW10[e]!
      for (let i = 0; i < n; i++) values[i] = values[i]! / p
      if (exceptionCount === 0) return
      const u = words(values)
      for (let j = 0; j < exceptionCount; j++) {
        const i = at[j]!
        u[2 * i + LO] = raw[2 * j]!
        u[2 * i + HI] = raw[2 * j + 1]!
      }
      return
    }
    default:
      throw new ChunkFormatError(`unknown value encoding ${encoding}`)
  }
}
