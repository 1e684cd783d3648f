/**
 * The read side's series index: id -> labels and postings (label name ->
 * value -> ascending series ids), built in memory from the `series` database
 * and kept current incrementally. Series ids are dense and only grow (the
 * flush worker hands them out in order and never deletes one), so a refresh
 * reads just the ids above the last one seen.
 *
 * Label names and values are interned: every series holding `region=eu`
 * shares the same two strings, so 10,000 series of 8 labels cost a few
 * megabytes, not tens.
 */
import type { Store } from './storage.js'
import { SERIES_KEY_SEPARATOR } from './shared.js'

export type Labels = Record<string, string>
export interface LabelMatcher { name: string, type: '=' | '!=' | '=~' | '!~', value: string }
export type CompileMatcher = (m: LabelMatcher) => (value: string) => boolean

const EMPTY: readonly number[] = []

export class SeriesIndex {
  /** id -> interned [name, value, name, value, ...] including __name__ first; index 0 unused. */
  private readonly pairs: Array<readonly string[] | undefined> = [undefined]
  private readonly postings = new Map<string, Map<string, number[]>>()
  private readonly strings = new Map<string, string>()
  private lastId = 0

  get size (): number { return this.pairs.length - 1 }

  private intern (s: string): string {
    const known = this.strings.get(s)
    if (known !== undefined) return known
    this.strings.set(s, s)
    return s
  }

  /** Adds the series created since the last refresh. */
  refresh (store: Store): void {
    for (const { key: id, value } of store.series.getRange({ start: this.lastId + 1, snapshot: false })) {
      const parts = value.split(SERIES_KEY_SEPARATOR)
      const flat: string[] = ['__name__', this.intern(parts[0]!)]
      for (let i = 1; i + 1 < parts.length; i += 2) flat.push(this.intern(parts[i]!), this.intern(parts[i + 1]!))
      while (this.pairs.length < id) this.pairs.push(undefined)
      this.pairs[id] = flat
      for (let i = 0; i < flat.length; i += 2) {
        let values = this.postings.get(flat[i]!)
        if (values === undefined) this.postings.set(flat[i]!, values = new Map())
        const ids = values.get(flat[i + 1]!)
        if (ids === undefined) values.set(flat[i + 1]!, [id])
        else ids.push(id)
      }
      this.lastId = id
    }
  }

  labels (id: number): Labels {
    const flat = this.pairs[id]
    const out: Labels = {}
    if (flat !== undefined) for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!
    return out
  }

  private value (id: number, name: string): string {
    const flat = this.pairs[id]
    if (flat !== undefined) for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return flat[i + 1]!
    return ''
  }

  /**
   * Ids of the series matching every matcher (a missing label reads as ""),
   * ascending. Candidates come from the postings of the most selective
   * equality matcher (or the union of a regex's matching values); the rest
   * of the matchers filter them.
   */
  select (matchers: LabelMatcher[], compile: CompileMatcher): number[] {
    const tests = matchers.map((m) => ({ m, test: compile(m) }))
    let candidates: readonly number[] | undefined
    for (const { m, test } of tests) {
      if (test('')) continue // matches series without the label too: no postings list covers it
      const values = this.postings.get(m.name)
      let ids: readonly number[]
      if (m.type === '=') {
        ids = values?.get(m.value) ?? EMPTY
      } else {
        const lists: number[][] = []
        if (values !== undefined) for (const [v, list] of values) if (test(v)) lists.push(list)
        ids = lists.length === 1 ? lists[0]! : mergeSorted(lists)
      }
      if (candidates === undefined || ids.length < candidates.length) candidates = ids
      if (candidates.length === 0) return []
    }
    if (candidates === undefined) {
      candidates = []
      for (let id = 1; id < this.pairs.length; id++) if (this.pairs[id] !== undefined) (candidates as number[]).push(id)
    }
    const out: number[] = []
    outer: for (const id of candidates) {
      for (const { m, test } of tests) if (!test(this.value(id, m.name))) continue outer
      out.push(id)
    }
    return out
  }

  /** Label names present on the given series (all series when omitted), sorted. */
  labelNames (ids?: Iterable<number>): string[] {
    if (ids === undefined) return [...this.postings.keys()].sort()
    const names = new Set<string>()
    for (const id of ids) {
      const flat = this.pairs[id]
      if (flat !== undefined) for (let i = 0; i < flat.length; i += 2) names.add(flat[i]!)
    }
    return [...names].sort()
  }

  /** Values of one label on the given series (all series when omitted), sorted. */
  labelValues (name: string, ids?: Iterable<number>): string[] {
    if (ids === undefined) return [...(this.postings.get(name)?.keys() ?? [])].sort()
    const values = new Set<string>()
    for (const id of ids) {
      const v = this.value(id, name)
      if (v !== '') values.add(v)
    }
    return [...values].sort()
  }
}

function mergeSorted (lists: number[][]): number[] {
  const all: number[] = []
  for (const l of lists) for (const id of l) all.push(id)
  all.sort((a, b) => a - b)
  return all
}
