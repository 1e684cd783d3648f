/**
 * The strict (cache-miss) side of the line-protocol parser: unescaping,
 * UTF-8 validation and checks of the series key (`measurement,tag=value,...`)
 * and of field keys. Runs once per new series, so clarity beats speed here.
 *
 * Escapes: `\,` and `\ ` in the measurement; `\,`, `\=` and `\ ` in tag keys,
 * tag values and field keys; a backslash before any other character stays.
 * Identifiers cannot hold ASCII control characters (0x00-0x1F, 0x7F), as in
 * influxdata/line-protocol's grammar; NUL in particular would break the
 * series keys downstream.
 */
import type { Label } from './types.js'
import { asciiSlice } from './number.js'
import { compareLabels, hasControl } from './labels.js'

const SPACE = 0x20
const COMMA = 0x2c
const EQ = 0x3d
const BACKSLASH = 0x5c
/** Error messages quote at most this many characters of the offending text. */
export const QUOTE_CHARS = 64

const utf8 = new TextDecoder('utf-8', { fatal: true })
let scratch = new Uint8Array(1024)

/** Why the last decodeToken() returned null. */
export let tokenProblem = ''

/**
 * Unescapes the bytes [s, e) (`\,` and `\ `, plus `\=` if `eq`), rejects
 * control characters and decodes UTF-8 strictly. Null (tokenProblem set) if bad.
 */
export function decodeToken (b: Uint8Array, s: number, e: number, eq: boolean): string | null {
  let ascii = true
  let escapes = false
  for (let i = s; i < e; i++) {
    const c = b[i]!
    if (c < SPACE || c === 0x7f) {
      tokenProblem = c === 0 ? 'NUL character' : `control character 0x${c.toString(16).padStart(2, '0')}`
      return null
    }
    if (c >= 0x80) ascii = false
    else if (c === BACKSLASH) escapes = true
  }
  let bytes = b
  let from = s
  let to = e
  if (escapes) {
    if (scratch.length < e - s) scratch = new Uint8Array(Math.max(e - s, scratch.length * 2))
    const out = scratch
    let j = 0
    for (let i = s; i < e; i++) {
      const c = b[i]!
      if (c === BACKSLASH && i + 1 < e) {
        const d = b[i + 1]!
        if (d === COMMA || d === SPACE || (eq && d === EQ)) { out[j++] = d; i++; continue }
      }
      out[j++] = c
    }
    bytes = out
    from = 0
    to = j
  }
  if (ascii) return asciiSlice(bytes, from, to)
  try {
    return utf8.decode(bytes.subarray(from, to))
  } catch {
    tokenProblem = 'invalid UTF-8'
    return null
  }
}

/** Bytes as text for an error message (invalid UTF-8 shown as U+FFFD), JSON-quoted, cut to QUOTE_CHARS. */
export function quoteBytes (b: Uint8Array, s: number, e: number): string {
  const cut = e - s > QUOTE_CHARS * 4 ? s + QUOTE_CHARS * 4 : e
  const text = Buffer.from(b.buffer, b.byteOffset + s, cut - s).toString('utf8')
  return JSON.stringify(text.length > QUOTE_CHARS || cut < e ? text.slice(0, QUOTE_CHARS) + '...' : text)
}

export function quote (s: string): string {
  return JSON.stringify(s.length > QUOTE_CHARS ? s.slice(0, QUOTE_CHARS) + '...' : s)
}

/** A parsed series key. */
export interface SeriesKey {
  measurement: string
  /** Sorted by name, unique names, `db` added when asked. */
  labels: Label[]
}

/**
 * Parses `measurement,tag=value,...` in [ks, ke) (the bytes before the first
 * unescaped space) strictly. Returns the key, or the reason it is bad.
 * `db`, if not '', becomes the label `db` unless a tag `db` is present.
 */
export function parseSeriesKey (b: Uint8Array, ks: number, ke: number, db: string): SeriesKey | string {
  let p = ks
  while (p < ke) {
    const c = b[p]!
    if (c === COMMA) break
    if (c === BACKSLASH && p + 1 < ke) {
      const d = b[p + 1]!
      if (d === COMMA || d === SPACE) p++
    }
    p++
  }
  if (p === ks) return 'missing measurement name'
  const measurement = decodeToken(b, ks, p, false)
  if (measurement === null) return `${tokenProblem} in the measurement ${quoteBytes(b, ks, p)}`
  const labels: Label[] = []
  while (p < ke) {
    p++ // the comma
    const tks = p
    let c = 0
    while (p < ke) {
      c = b[p]!
      if (c === EQ || c === COMMA) break
      if (c === BACKSLASH && p + 1 < ke) {
        const d = b[p + 1]!
        if (d === COMMA || d === EQ || d === SPACE) p++
      }
      p++
    }
    const tke = p
    if (tke === tks) return p === ke || c === COMMA ? 'empty tag (a comma with no tag after it)' : 'empty tag key'
    if (p === ke || c !== EQ) return `tag ${quoteBytes(b, tks, tke)} has no "=value"`
    p++
    const tvs = p
    while (p < ke) {
      c = b[p]!
      if (c === COMMA || c === EQ) break
      if (c === BACKSLASH && p + 1 < ke) {
        const d = b[p + 1]!
        if (d === COMMA || d === EQ || d === SPACE) p++
      }
      p++
    }
    const tve = p
    const tagKey = decodeToken(b, tks, tke, true)
    if (tagKey === null) return `${tokenProblem} in tag key ${quoteBytes(b, tks, tke)}`
    if (p < ke && c === EQ) return `unescaped "=" in the value of tag ${quote(tagKey)} (escape it as \\=)`
    if (tve === tvs) return `empty value for tag ${quote(tagKey)}`
    const tagValue = decodeToken(b, tvs, tve, true)
    if (tagValue === null) return `${tokenProblem} in the value of tag ${quote(tagKey)}`
    if (tagKey === '__name__') return 'tag key "__name__" is reserved (it holds the metric name)'
    labels.push([tagKey, tagValue])
  }
  if (db !== '') {
    let has = false
    for (const [k] of labels) if (k === 'db') { has = true; break }
    if (!has) {
      if (hasControl(db)) return 'invalid db: it holds a control character'
      labels.push(['db', db])
    }
  }
  if (labels.length > 1) {
    labels.sort(compareLabels)
    for (let i = 1; i < labels.length; i++) {
      if (labels[i]![0] === labels[i - 1]![0]) return `duplicate tag key ${quote(labels[i]![0])}`
    }
  }
  return { measurement, labels }
}
