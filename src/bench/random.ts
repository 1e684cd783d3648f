/**
 * The seeded generator of every benchmark payload (bench/lib/bodies.ts, gen.js
 * in ../shared/peers, `ringest bench`): mulberry32, small and fast, so the same
 * seed gives the same bytes on every run and every machine.
 */

/** Returns a function that yields floats in [0, 1). */
export function mulberry32 (seed: number): () => number {
  let s = seed | 0
  return () => {
    s = (s + 0x6d2b79f5) | 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
