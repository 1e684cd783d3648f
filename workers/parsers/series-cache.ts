/**
 * The line-protocol parser's series cache: raw bytes of `measurement,tags`
 * (plus the request's db) -> what the strict parse made of them, and per raw
 * field key the sink's series id.
 *
 * Raw keys live in one byte arena, so a lookup hashes and compares bytes (32
 * bits at a time through DataViews) and builds no string. The table is open
 * addressing (linear probing, load <= 1/2) over `entries`; a slot holds the
 * entry's index + 1, 0 is empty. The cache is bounded by the number of
 * series (field ids) and entries, and by the arena's bytes; the parser
 * clears it whole, between two lines, when one bound is passed.
 */
import type { Label } from './types.js'
import { asciiSlice } from './number.js'

/** Bytes of raw keys kept at most; past it the cache is cleared before the next line. */
export const MAX_ARENA_BYTES = 32 << 20 // 32 MiB
/** Series keys longer than this are not cached (they are parsed strictly every time). */
export const MAX_CACHED_KEY_LEN = 64 << 10 // 64 KiB
/** An entry looks its field keys up in a Map (latin1 text -> index) past this many. */
const FIELD_SEARCH_LINEAR = 8


/** What the cache knows about one raw `measurement,tags` key. */
export class SeriesEntry {
  /** Arena offset and length of each field key's raw bytes, in the order first seen. */
  readonly fieldOff: number[] = []
  readonly fieldLen: number[] = []
  /** The sink's id of `prefix + field key`, same index. */
  readonly fieldIds: number[] = []
  /** latin1 raw field key -> index, once there are more than FIELD_SEARCH_LINEAR fields. */
  fieldIndex: Map<string, number> | null = null

  constructor (
    readonly hash: number,
    readonly db: string,
    /** Offset of the raw key in the arena, -1 if the entry is not cached (key too long). */
    readonly rawOff: number,
    readonly rawLen: number,
    /** `<measurement>_`, '' when `error` is set. */
    readonly prefix: string,
    readonly labels: readonly Label[],
    /** Why every line with this key is rejected, or null. */
    readonly error: string | null,
  ) {}
}

/** True if b[p, p+len) equals arena[off, off+len). */
export function equalBytes (dv: DataView, b: Uint8Array, p: number, adv: DataView, arena: Uint8Array, off: number, len: number): boolean {
  let k = 0
  while (k + 4 <= len) {
    if (dv.getInt32(p + k, true) !== adv.getInt32(off + k, true)) return false
    k += 4
  }
  while (k < len) {
    if (b[p + k] !== arena[off + k]) return false
    k++
  }
  return true
}

export class SeriesCache {
  arena = new Uint8Array(64 << 10)
  adv = new DataView(this.arena.buffer)
  private used = 0
  private table = new Int32Array(1024)
  private mask = 1023
  private entries: SeriesEntry[] = []
  /** Field ids cached. */
  private series = 0

  constructor (private readonly maxSeries: number) {}

  /** True when a bound is passed: clear before the next line. */
  get full (): boolean {
    return this.series >= this.maxSeries || this.entries.length >= this.maxSeries || this.used > MAX_ARENA_BYTES
  }

  clear (): void {
    if (this.arena.length > MAX_ARENA_BYTES) {
      this.arena = new Uint8Array(64 << 10)
      this.adv = new DataView(this.arena.buffer)
    }
    this.table.fill(0)
    this.entries = []
    this.used = 0
    this.series = 0
  }

  /** The entry of the raw key b[ks, ke) with hash `h` and db `db`, or null. */
  find (dv: DataView, b: Uint8Array, ks: number, ke: number, h: number, db: string): SeriesEntry | null {
    const len = ke - ks
    const table = this.table
    const mask = this.mask
    let slot = h & mask
    for (;;) {
      const idx = table[slot]!
      if (idx === 0) return null
      const e = this.entries[idx - 1]!
      if (e.hash === h && e.rawLen === len && e.db === db && equalBytes(dv, b, ks, this.adv, this.arena, e.rawOff, len)) return e
      slot = (slot + 1) & mask
    }
  }

  /** Caches (if not too long) and returns the entry of the raw key b[ks, ke). */
  add (b: Uint8Array, ks: number, ke: number, h: number, db: string, prefix: string, labels: readonly Label[], error: string | null): SeriesEntry {
    const len = ke - ks
    if (len > MAX_CACHED_KEY_LEN) return new SeriesEntry(h, db, -1, len, prefix, labels, error)
    const off = this.store(b, ks, ke)
    const e = new SeriesEntry(h, db, off, len, prefix, labels, error)
    this.entries.push(e)
    if (this.entries.length * 2 > this.table.length) {
      this.table = new Int32Array(this.table.length * 2)
      this.mask = this.table.length - 1
      for (let i = 0; i < this.entries.length; i++) this.insert(this.entries[i]!, i + 1)
    } else {
      this.insert(e, this.entries.length)
    }
    return e
  }

  /** The id of the raw field key b[fks, fke) of `e` by search, or -1. */
  findField (e: SeriesEntry, dv: DataView, b: Uint8Array, fks: number, fke: number): number {
    if (e.fieldIndex !== null) {
      const i = e.fieldIndex.get(asciiSlice(b, fks, fke))
      return i === undefined ? -1 : e.fieldIds[i]!
    }
    const len = fke - fks
    for (let i = 0; i < e.fieldOff.length; i++) {
      if (e.fieldLen[i] === len && equalBytes(dv, b, fks, this.adv, this.arena, e.fieldOff[i]!, len)) return e.fieldIds[i]!
    }
    return -1
  }

  /** Remembers the id of the raw field key b[fks, fke) of `e`. */
  addField (e: SeriesEntry, b: Uint8Array, fks: number, fke: number, id: number): void {
    if (e.rawOff < 0) return
    e.fieldOff.push(this.store(b, fks, fke))
    e.fieldLen.push(fke - fks)
    e.fieldIds.push(id)
    this.series++
    const n = e.fieldOff.length
    if (e.fieldIndex !== null) e.fieldIndex.set(asciiSlice(b, fks, fke), n - 1)
    else if (n > FIELD_SEARCH_LINEAR) {
      const index = new Map<string, number>()
      for (let i = 0; i < n; i++) index.set(asciiSlice(this.arena, e.fieldOff[i]!, e.fieldOff[i]! + e.fieldLen[i]!), i)
      e.fieldIndex = index
    }
  }

  private insert (e: SeriesEntry, index: number): void {
    const table = this.table
    const mask = this.mask
    let slot = e.hash & mask
    while (table[slot] !== 0) slot = (slot + 1) & mask
    table[slot] = index
  }

  /** Copies b[s, e) into the arena (growing it: never cleared here, offsets in use must stay valid). */
  private store (b: Uint8Array, s: number, e: number): number {
    const len = e - s
    if (this.used + len > this.arena.length) {
      let size = this.arena.length * 2
      while (size < this.used + len) size *= 2
      const grown = new Uint8Array(size)
      grown.set(this.arena.subarray(0, this.used))
      this.arena = grown
      this.adv = new DataView(grown.buffer)
    }
    const off = this.used
    const arena = this.arena
    if (len <= 64) {
      for (let i = 0; i < len; i++) arena[off + i] = b[s + i]!
    } else {
      arena.set(b.subarray(s, e), off)
    }
    this.used += len
    return off
  }
}
