/**
 * Number and timestamp scanning on raw bytes, shared by the body parsers.
 *
 * Every value comes out as the exact float64 that `Number(text)` would give
 * (correct rounding), without building a string in the common case:
 * Clinger's fast path takes an integer mantissa below 2^53 and a power of ten
 * within +-22 (both exact in float64), so one IEEE multiply or divide rounds
 * correctly. Anything else (more than 16 significant digits, a larger
 * exponent) falls back to `Number()` on the token's text, which V8 rounds
 * correctly too.
 *
 * The scanners return the index just past what they read, or a negative
 * ScanError; the value is left in `scanned.value` (one shared, monomorphic
 * object, so the hot path allocates nothing).
 */

const ZERO = 0x30
const NINE = 0x39
const MINUS = 0x2d
const PLUS = 0x2b
const DOT = 0x2e
const LOWER_E = 0x65
const UPPER_E = 0x45
const LOWER_I = 0x69
const LOWER_U = 0x75
const COMMA = 0x2c
const SPACE = 0x20
const LF = 0x0a
const CR = 0x0d

/** Why a scan failed. */
export const ScanError = {
  /** The bytes do not follow the grammar of the value. */
  SYNTAX: -1,
  /** Well formed, but outside the type's range (int64, uint64, finite float64). */
  RANGE: -2,
} as const

/** The kind of a line-protocol numeric field value. */
export const NumberKind = {
  FLOAT: 0,
  /** `123i`: int64. */
  INT: 1,
  /** `123u`: uint64. */
  UINT: 2,
} as const

/** Output of the last successful scan. */
export const scanned = { value: 0, kind: 0 as number }

/** 10^0 .. 10^22: every one of them is exact in float64. */
const POW10 = new Float64Array(23)
for (let i = 0, p = 1; i < POW10.length; i++, p *= 10) POW10[i] = p
const TWO_53 = 2 ** 53

const INT64_MAX = '9223372036854775807'
const INT64_MIN_ABS = '9223372036854775808'
const UINT64_MAX = '18446744073709551615'

/**
 * Buffer.prototype.latin1Slice: the fastest way from bytes to a one-byte
 * string (one native call, no Buffer object). It accepts any Uint8Array.
 */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice

/** The bytes [start, end) as a string, one char per byte (latin1). */
export function asciiSlice (b: Uint8Array, start: number, end: number): string {
  return latin1Slice.call(b, start, end)
}

/** Compares the digits [start, end) (no leading zeros, same length as `limit`) with `limit`. */
function digitsAbove (b: Uint8Array, start: number, limit: string): boolean {
  for (let i = 0; i < limit.length; i++) {
    const d = b[start + i]!
    const l = limit.charCodeAt(i)
    if (d !== l) return d > l
  }
  return false
}

/**
 * A line-protocol number at `p`: a float (`1`, `-1.5`, `.5`, `1.`, `1e4`,
 * `-0.64E-3`), an int64 (`-12i`) or a uint64 (`12u`). It must end at a field
 * terminator (`,`, space, CR, LF) or at `n`. Returns the index of that
 * terminator (past the `i`/`u` suffix), or a ScanError.
 *
 * i and u integers beyond 2^53 become the nearest float64 (samples are
 * float64); their range is still checked exactly on the digits.
 */
export function scanNumber (b: Uint8Array, p: number, n: number): number {
  const start = p
  let neg = false
  if (p < n && b[p] === MINUS) { neg = true; p++ }
  let mant = 0
  /** Significant digits seen (leading zeros excluded). */
  let sig = 0
  let exp10 = 0
  let c = 0
  const intStart = p
  let firstSig = -1
  while (p < n) {
    c = b[p]!
    const d = c - ZERO
    if (d < 0 || d > 9) break
    if (sig !== 0 || d !== 0) {
      if (sig === 0) firstSig = p
      sig++
      if (sig <= 16) mant = mant * 10 + d
      else exp10++
    }
    p++
  }
  const intEnd = p
  const intDigits = intEnd - intStart
  let fracDigits = 0
  let dot = false
  let exp = false
  if (p < n && b[p] === DOT) {
    dot = true
    p++
    while (p < n) {
      c = b[p]!
      const d = c - ZERO
      if (d < 0 || d > 9) break
      if (sig !== 0 || d !== 0) sig++
      if (sig <= 16) { mant = mant * 10 + d; exp10-- }
      fracDigits++
      p++
    }
  }
  if (intDigits + fracDigits === 0) return ScanError.SYNTAX
  if (p < n && (b[p] === LOWER_E || b[p] === UPPER_E)) {
    exp = true
    p++
    let eneg = false
    if (p < n && (b[p] === MINUS || b[p] === PLUS)) { eneg = b[p] === MINUS; p++ }
    const es = p
    let e = 0
    while (p < n) {
      const d = b[p]! - ZERO
      if (d < 0 || d > 9) break
      if (e < 1e6) e = e * 10 + d // past 1e6 the value is 0 or infinite anyway
      p++
    }
    if (p === es) return ScanError.SYNTAX
    exp10 += eneg ? -e : e
  }
  let kind: number = NumberKind.FLOAT
  const numEnd = p
  if (p < n) {
    c = b[p]!
    if (c === LOWER_I || c === LOWER_U) {
      if (dot || exp || intDigits === 0 || (c === LOWER_U && neg)) return ScanError.SYNTAX
      kind = c === LOWER_I ? NumberKind.INT : NumberKind.UINT
      p++
    }
  }
  if (p < n) {
    c = b[p]!
    if (c !== COMMA && c !== SPACE && c !== LF && c !== CR) return ScanError.SYNTAX
  }
  scanned.kind = kind
  if (kind !== NumberKind.FLOAT) {
    if (sig <= 15) {
      scanned.value = neg ? 0 - mant : mant // 0 - 0 is +0: "-0i" is the integer 0
      return p
    }
    const limit = kind === NumberKind.UINT ? UINT64_MAX : neg ? INT64_MIN_ABS : INT64_MAX
    if (sig > limit.length || (sig === limit.length && digitsAbove(b, firstSig, limit))) return ScanError.RANGE
    scanned.value = Number(asciiSlice(b, start, intEnd))
    return p
  }
  let v: number
  if (sig <= 16 && mant < TWO_53 && exp10 >= -22 && exp10 <= 22) {
    v = exp10 < 0 ? mant / POW10[-exp10]! : mant * POW10[exp10]!
    if (neg) v = -v
  } else {
    v = Number(asciiSlice(b, start, numEnd))
    if (v === Infinity || v === -Infinity) return ScanError.RANGE
  }
  scanned.value = v
  return p
}

/**
 * A decimal integer timestamp (digits [start, end), `neg` for a leading
 * minus) in a unit given by `drop` (ns: 6 digits, us: 3, otherwise 0) and
 * `mult` (s: 1000, m: 60000, h: 3600000, otherwise 1), converted to integer
 * milliseconds rounded toward negative infinity. Works on the digits, so ns
 * values above 2^53 convert exactly. Returns NaN when the result is beyond
 * +-maxMs.
 */
export function timestampDigitsToMs (b: Uint8Array, start: number, end: number, neg: boolean, drop: number, mult: number, maxMs: number): number {
  while (start < end && b[start] === ZERO) start++
  const qEnd = end - drop
  // 17 significant digits are at least 1e16 > maxMs in any unit.
  if (qEnd - start > 16) return NaN
  let q = 0
  for (let i = start; i < qEnd; i++) q = q * 10 + (b[i]! - ZERO)
  if (mult !== 1) {
    if (q > maxMs / mult) return NaN
    q *= mult
  }
  if (neg && drop > 0) {
    // floor(-x / 10^drop) = -ceil(x / 10^drop)
    for (let i = qEnd > start ? qEnd : start; i < end; i++) {
      if (b[i] !== ZERO) { q += 1; break }
    }
  }
  if (q > maxMs) return NaN
  return neg ? 0 - q : q
}

/** True if `c` is an ASCII digit. */
export function isDigit (c: number): boolean {
  return c >= ZERO && c <= NINE
}

/** `1.5`, `-2`, `.5`, `1e-3`, `+4`: the decimal forms a JSON string value may hold (no NaN, Infinity, hex). */
const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

/** A numeric string (JSON `"value": "1.5"`) as a finite float64, or NaN if it is not one. */
export function parseDecimalString (s: string): number {
  const t = s.trim()
  if (!DECIMAL_RE.test(t)) return NaN
  const v = Number(t)
  return Number.isFinite(v) ? v : NaN
}
