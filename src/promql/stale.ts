/**
 * Prometheus marks the end of a series with a staleness marker: a NaN with
 * the bit pattern 0x7ff0000000000002. It is never a value: selectors and
 * range functions skip it (other NaNs are values).
 */
const STALE_NAN_HI = 0x7ff00000
const STALE_NAN_LO = 0x00000002
const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

export function isStaleNaN (v: number): boolean {
  if (!Number.isNaN(v)) return false
  f64[0] = v
  return LITTLE_ENDIAN ? u32[1] === STALE_NAN_HI && u32[0] === STALE_NAN_LO : u32[0] === STALE_NAN_HI && u32[1] === STALE_NAN_LO
}
