/**
 * Interned label sets. Every sample carries an LSet; `key` is a canonical
 * string (labels sorted by name) used for grouping, matching and dedup.
 */
import type { Labels } from './types.js'

export interface LSet {
  readonly labels: Labels
  readonly key: string
  /** Cached: this set without __name__. */
  noName?: LSet
  /** Cached: the last keep() of this set with a signature, and its result. */
  kept?: { by: string, ls: LSet }
}

const SEP_NAME = '\u0000'
const SEP_LABEL = '\u0001'

const sortedNames = (labels: Labels): string[] => Object.keys(labels).filter((n) => labels[n] !== '').sort(compareStrings)

/** The canonical key of a label set (LSet.key): names in code point order, empty values left out. */
export function labelsKey (labels: Labels): string {
  let key = ''
  for (const n of sortedNames(labels)) key += n + SEP_NAME + labels[n]! + SEP_LABEL
  return key
}

/** A label set as an interner would build it (sorted, no empty value), for a storage to keep and hand to adopt(). */
export function canonicalLSet (labels: Labels): LSet {
  const sorted: Labels = {}
  for (const n of sortedNames(labels)) sorted[n] = labels[n]!
  return { labels: sorted, key: labelsKey(sorted) }
}

export class LabelInterner {
  private readonly sets = new Map<string, LSet>()

  /**
   * `labels` need not be sorted; the LSet's labels are, and empty values are
   * dropped as Prometheus drops them. `key`, if given, must be labelsKey(labels)
   * (a storage that caches it per series saves building it per query).
   */
  intern (labels: Labels, key = labelsKey(labels)): LSet {
    let ls = this.sets.get(key)
    if (ls === undefined) {
      const sorted: Labels = {}
      for (const n of sortedNames(labels)) sorted[n] = labels[n]!
      ls = { labels: sorted, key }
      this.sets.set(key, ls)
    }
    return ls
  }

  /**
   * A label set built outside this interner (canonicalLSet), kept by its
   * storage across queries: it is used as it is (its cached noName too),
   * unless this interner already has a set of that key.
   */
  adopt (ls: LSet): LSet {
    const known = this.sets.get(ls.key)
    if (known !== undefined) return known
    this.sets.set(ls.key, ls)
    return ls
  }

  dropName (ls: LSet): LSet {
    if (ls.noName !== undefined) return ls.noName
    if (ls.labels.__name__ === undefined) { ls.noName = ls; return ls }
    // An LSet's labels are sorted and have no empty value: the rest is too, so its key is
    // built in order and nothing is sorted (this runs once per series of a range function).
    const rest: Labels = {}
    let key = ''
    for (const n in ls.labels) {
      if (n === '__name__') continue
      const v = ls.labels[n]!
      rest[n] = v
      key += n + SEP_NAME + v + SEP_LABEL
    }
    let out = this.sets.get(key)
    if (out === undefined) this.sets.set(key, out = { labels: rest, key })
    ls.noName = out
    return out
  }

  /**
   * Only the listed labels (`on`, `by`). `by`, if given, names the list
   * (the same string for the same names): the result is then cached on `ls`,
   * which for a set a storage keeps (adopt) saves building the group's key
   * for every series of every query.
   */
  keep (ls: LSet, names: readonly string[], by?: string): LSet {
    if (by !== undefined && ls.kept !== undefined && ls.kept.by === by) return this.adopt(ls.kept.ls)
    const out: Labels = {}
    for (const n of names) { const v = ls.labels[n]; if (v !== undefined) out[n] = v }
    const kept = this.intern(out)
    if (by !== undefined) ls.kept = { by, ls: kept }
    return kept
  }

  /** Without the listed labels (`ignoring`, `without`). */
  remove (ls: LSet, names: readonly string[]): LSet {
    const out: Labels = { ...ls.labels }
    for (const n of names) delete out[n]
    return this.intern(out)
  }
}

/** Byte order on UTF-16 code units is not Go's byte order for all strings; code point order is. */
export function compareStrings (a: string, b: string): number {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i)!
    const cb = b.codePointAt(i)!
    if (ca !== cb) return ca - cb
    if (ca > 0xffff) i++
  }
  return a.length - b.length
}

/**
 * Sorts items by a string in code point order (compareStrings). When no
 * string has a UTF-16 unit from 0xD800 up, code unit order is code point
 * order, and the engine's own string comparison is used: sorting 10,000
 * series keys that share a long prefix took several milliseconds through
 * compareStrings.
 */
export function sortByString<T> (items: T[], key: (item: T) => string): T[] {
  let plain = true
  for (const item of items) if (HIGH_UNIT.test(key(item))) { plain = false; break }
  if (!plain) return items.sort((a, b) => compareStrings(key(a), key(b)))
  return items.sort((a, b) => {
    const x = key(a)
    const y = key(b)
    return x < y ? -1 : x > y ? 1 : 0
  })
}
const HIGH_UNIT = /[\uD800-\uFFFF]/

/** Prometheus's order of label sets: label by label, name then value. */
export function compareLabels (a: Labels, b: Labels): number {
  const an = Object.keys(a).sort(compareStrings)
  const bn = Object.keys(b).sort(compareStrings)
  const n = Math.min(an.length, bn.length)
  for (let i = 0; i < n; i++) {
    const c = compareStrings(an[i]!, bn[i]!)
    if (c !== 0) return c
    const d = compareStrings(a[an[i]!]!, b[bn[i]!]!)
    if (d !== 0) return d
  }
  return an.length - bn.length
}
