/**
 * Influx line protocol -> samples, on raw bytes (runs in the parse workers).
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * Mapping (as VictoriaMetrics does): each numeric or boolean field becomes the
 * series `<measurement>_<field>` with the tags as labels (sorted by name) and,
 * when the request names a database, `db=<db>` unless the line has its own
 * `db` tag. Booleans are 1/0. String fields are not samples: they are skipped
 * and counted in `skipped` (a line with only string fields is accepted with
 * no sample).
 *
 * Grammar decisions (influxdata/line-protocol's EBNF and the InfluxDB server):
 * - Escapes: see lp-key.ts. A backslash before any other character is kept,
 *   so `a\\ b` is the one token `a\ b`.
 * - String field values unescape only `\"` and `\\` (the InfluxDB server's
 *   rule, not the v2 reference decoder's `\n \r \t`); they are skipped, but
 *   checked (closing quote, valid UTF-8). A raw newline inside a quoted string
 *   is accepted, as InfluxDB accepts it (Telegraf does not escape newlines in
 *   string fields): the point then spans several physical lines, and its
 *   errors name the line where it starts.
 * - Recovery: after an error, parsing resumes on the next physical line. When
 *   the bad point spans several lines (a stray quote opens a "string" that
 *   closes lines later, or never), it resumes on the line after the point's
 *   first line, so a stray quote costs only its own line; the lines in
 *   between are parsed again as points of their own. That re-parsing is
 *   bounded to one body length in all (past it, parsing resumes after the
 *   line where the error was found), and a quote that opens after a string
 *   which reached the end of the body fails at once (the backslash runs
 *   before later quotes are the same, so it cannot close either): the parse
 *   stays linear in the body's size.
 * - Numbers: floats `1`, `1.`, `.5`, `1e4`, `-0.64` (no `+`, NaN or Inf;
 *   leading zeros allowed); `i` int64 and `u` uint64 integers, range-checked
 *   exactly, stored as the nearest float64 past 2^53; booleans t/T/true/
 *   True/TRUE and f/F/false/False/FALSE.
 * - Timestamps: an optional signed integer in the request's precision,
 *   converted to integer ms, floored (for ns and us), exactly (on the digits,
 *   no BigInt); beyond +-MAX_TIMESTAMP_MS is an error; absent means nowMs.
 * - A point needs at least one field; fields are separated by `,`, the field
 *   set from the tags and the timestamp by one or more spaces; spaces may
 *   lead a line and trail it; `#` (after optional spaces) starts a comment
 *   line; lines end with LF or CRLF. Tab is not a separator.
 * - A repeated field key in one line gives two samples of one series at one
 *   timestamp; the later one wins in storage, as the later field wins in
 *   InfluxDB.
 *
 * A line is all or nothing: every field and the timestamp are checked before
 * any of its samples reaches the sink. A bad line is reported (1-based line
 * number, the reason naming the offending part) and the next line is parsed.
 *
 * Speed: the hot path builds no string and allocates nothing per sample.
 * The bytes of `measurement,tags` are scanned 32 bits at a time for their
 * end (SWAR: a word with no byte <= 0x20 and no backslash is hashed whole)
 * and looked up in the SeriesCache; a hit gives the parsed measurement and
 * labels and, per raw field key, the sink's series id (field keys are first
 * compared with the key seen at the same position last time). Only a miss
 * does the strict work (lp-key.ts, sink.seriesId), and the bytes of a key
 * fully determine its result, so a hit gives exactly the ids a miss would.
 */
import { MAX_REPORTED_ERRORS, MAX_TIMESTAMP_MS, type ParseError, type ParseResult, type SampleSink } from './types.js'
import { NumberKind, ScanError, asciiSlice, scanNumber, scanned, timestampDigitsToMs } from './number.js'
import { decodeToken, parseSeriesKey, quote, quoteBytes, tokenProblem } from './lp-key.js'
import { SeriesCache, equalBytes, type SeriesEntry } from './series-cache.js'

export type Precision = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h'

/**
 * The `precision` query parameter: ns, us, ms, s, and the v1 spellings n, u,
 * µ (U+00B5), μ (U+03BC), m, h. Absent or empty means ns. Undefined for
 * anything else.
 */
export function parsePrecision (s: string | null | undefined): Precision | undefined {
  switch (s) {
    case undefined: case null: case '': case 'ns': case 'n': return 'ns'
    case 'us': case 'u': case '\u00b5': case '\u03bc': return 'us'
    case 'ms': return 'ms'
    case 's': return 's'
    case 'm': return 'm'
    case 'h': return 'h'
    default: return undefined
  }
}

export interface LineProtocolOptions {
  /** Series (measurement + tags + field) whose ids are cached; the cache is cleared when full. Default 100,000. */
  maxCachedSeries?: number
}

export interface LineProtocolParseOptions {
  precision: Precision
  /** Database (Influx `db` or `bucket`), added as the label `db` unless a line has a `db` tag. '' = none. */
  db?: string | undefined
  /** Timestamp (epoch ms) of points without one. */
  nowMs: number
}

const LF = 0x0a
const CR = 0x0d
const SPACE = 0x20
const QUOTE = 0x22
const HASH = 0x23
const COMMA = 0x2c
const MINUS = 0x2d
const DOT = 0x2e
const EQ = 0x3d
const BACKSLASH = 0x5c
const ZERO = 0x30
const NINE = 0x39

const DEFAULT_MAX_CACHED_SERIES = 100_000

// SWAR constants: a word has a byte < 0x21 if ((x - 0x21212121) & ~x & 0x80808080) != 0,
// a backslash if the same holds for x ^ 0x5c5c5c5c with 0x01010101 (exact tests, for bytes < 0x80;
// ~x drops bytes >= 0x80, which are never special).
const LOW_21 = 0x21212121
const ONES = 0x01010101
const BACKSLASHES = 0x5c5c5c5c
const HIGH_BITS = 0x80808080 | 0

const FNV_OFFSET = 0x811c9dc5 | 0
const FNV_PRIME = 0x01000193

/** Why a line was rejected; the message is built only for the reported errors. */
const Err = {
  NONE: 0,
  /** Message already in `errText`. */
  TEXT: 1,
  NO_FIELDS: 2,
  LONE_CR: 3,
  FIELD_KEY_NO_EQ: 4,
  EMPTY_FIELD_KEY: 5,
  NO_FIELD_VALUE: 6,
  BAD_FIELD_VALUE: 7,
  FIELD_VALUE_RANGE: 8,
  UNTERMINATED_STRING: 9,
  AFTER_STRING: 10,
  STRING_UTF8: 11,
  BAD_TIMESTAMP: 12,
  TIMESTAMP_RANGE: 13,
} as const

const utf8 = new TextDecoder('utf-8', { fatal: true })

export class LineProtocolParser {
  private readonly sink: SampleSink
  private readonly cache: SeriesCache

  // The samples of the line being checked (kept until the whole line is good).
  private ids = new Int32Array(256)
  private vals = new Float64Array(256)

  // Details of the current line's error.
  private errText = ''
  private errAt = 0
  private errEnd = 0
  private errFieldStart = 0
  private errFieldEnd = 0

  constructor (sink: SampleSink, options: LineProtocolOptions = {}) {
    this.sink = sink
    const max = options.maxCachedSeries ?? DEFAULT_MAX_CACHED_SERIES
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxCachedSeries must be a positive integer, got ${max}`)
    this.cache = new SeriesCache(max)
  }

  /** Forgets every cached series id (call it when the sink forgets its ids). */
  clearCache (): void {
    this.cache.clear()
  }

  /** Parses a whole body. Never throws for any input; exceptions from sink.sample() propagate. */
  parse (body: Uint8Array, opts: LineProtocolParseOptions): ParseResult {
    const b = body
    const n = b.length
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
    const sink = this.sink
    const cache = this.cache
    const nowMs = opts.nowMs
    const db = opts.db ?? ''
    let drop = 0
    let mult = 1
    switch (opts.precision) {
      case 'ns': drop = 6; break
      case 'us': drop = 3; break
      case 'ms': break
      case 's': mult = 1000; break
      case 'm': mult = 60_000; break
      case 'h': mult = 3_600_000; break
      default: throw new TypeError(`unknown precision ${String(opts.precision)}`)
    }
    let seed = FNV_OFFSET
    for (let i = 0; i < db.length; i++) seed = Math.imul(seed ^ db.charCodeAt(i), FNV_PRIME)

    let accepted = 0
    let rejected = 0
    let skipped = 0
    const errors: ParseError[] = []
    /** No string opened at or after this offset can close (an earlier one reached the end of the body). */
    let noCloseFrom = n + 1
    /** Bytes that may still be parsed twice after errors in points spanning lines. */
    let reparseBudget = n

    let p = 0
    let line = 1
    while (p < n) {
      let c = b[p]!
      while (c === SPACE) {
        if (++p === n) break
        c = b[p]!
      }
      if (p === n) break
      if (c === LF) { p++; line++; continue }
      if (c === CR && (p + 1 === n || b[p + 1] === LF)) { p += 2; line++; continue }
      if (c === HASH) {
        while (p < n && b[p] !== LF) p++
        continue
      }

      const startLine = line
      const ps = p
      let err: number = Err.NONE
      let fks = 0
      let fke = 0

      point: {
        if (cache.full) cache.clear()
        // The series key: up to the first unescaped space. A space is escaped
        // iff a backslash precedes it (no escape pair ends with a backslash).
        const ks = p
        let h = seed
        while (p + 4 <= n) {
          const x = dv.getInt32(p, true)
          const y = x ^ BACKSLASHES
          if (((((x - LOW_21) & ~x) | ((y - ONES) & ~y)) & HIGH_BITS) !== 0) break
          h = Math.imul(h ^ x, FNV_PRIME)
          p += 4
        }
        c = 0
        while (p < n) {
          c = b[p]!
          if (c <= SPACE) {
            if (c === SPACE || c === LF || c === CR) break
          } else if (c === BACKSLASH && p + 1 < n && b[p + 1] === SPACE) {
            h = Math.imul(h ^ c, FNV_PRIME)
            p++
            c = SPACE
          }
          h = Math.imul(h ^ c, FNV_PRIME)
          p++
        }
        const ke = p
        if (p === n || c !== SPACE) {
          err = c === CR && p + 1 < n && b[p + 1] !== LF ? Err.LONE_CR : Err.NO_FIELDS
          break point
        }
        // Finish the hash (murmur3's fmix32): words only mix upward, the table index uses low bits.
        h ^= h >>> 16
        h = Math.imul(h, 0x85ebca6b)
        h ^= h >>> 13
        h = Math.imul(h, 0xc2b2ae35)
        h ^= h >>> 16

        let entry = cache.find(dv, b, ks, ke, h, db)
        if (entry === null) {
          const key = parseSeriesKey(b, ks, ke, db)
          entry = typeof key === 'string'
            ? cache.add(b, ks, ke, h, db, '', [], key)
            : cache.add(b, ks, ke, h, db, key.measurement + '_', key.labels, null)
        }
        if (entry.error !== null) { err = Err.TEXT; this.errText = entry.error; break point }

        while (p < n && b[p] === SPACE) p++
        if (p === n || b[p] === LF || b[p] === CR) { err = Err.NO_FIELDS; break point }

        // Fields: check each one, keep (id, value) until the whole line is known good.
        const fieldOff = entry.fieldOff
        const fieldLen = entry.fieldLen
        let ns = 0
        let strings = 0
        for (;;) {
          fks = p
          // Fast path: the raw key seen at this position last time, followed by '='.
          let id = -1
          if (ns < fieldOff.length) {
            const len = fieldLen[ns]!
            const e = p + len
            // (cache.arena is read each time: a new field may have grown it.)
            if (e < n && b[e] === EQ && equalBytes(dv, b, p, cache.adv, cache.arena, fieldOff[ns]!, len)) {
              id = entry.fieldIds[ns]!
              p = e
            }
          }
          if (id < 0) {
            while (p < n) {
              c = b[p]!
              if (c === EQ || c === COMMA || c === SPACE || c === LF || c === CR) break
              if (c === BACKSLASH && p + 1 < n) {
                const d = b[p + 1]!
                if (d === COMMA || d === EQ || d === SPACE) p++
              }
              p++
            }
            if (p === fks) { err = Err.EMPTY_FIELD_KEY; break point }
            fke = p
            if (p === n || c !== EQ) { err = Err.FIELD_KEY_NO_EQ; break point }
          } else {
            fke = p
          }
          p++ // '='
          if (p === n) { err = Err.NO_FIELD_VALUE; break point }
          c = b[p]!
          if (c === QUOTE) {
            const open = p
            let hi = 0
            p = p + 1 < noCloseFrom ? p + 1 : n
            while (p < n) {
              c = b[p]!
              if (c === QUOTE) break
              if (c === BACKSLASH && p + 1 < n) {
                const d = b[p + 1]!
                if (d === QUOTE || d === BACKSLASH) p++
              } else if (c === LF) {
                line++
              }
              hi |= c
              p++
            }
            if (p >= n) {
              if (open + 1 < noCloseFrom) noCloseFrom = open + 1
              err = Err.UNTERMINATED_STRING
              break point
            }
            if ((hi & 0x80) !== 0 && !validUtf8(b, open + 1, p)) { err = Err.STRING_UTF8; break point }
            p++
            strings++
            if (p < n) {
              c = b[p]!
              if (c !== COMMA && c !== SPACE && c !== LF && c !== CR) { err = Err.AFTER_STRING; this.errAt = p; break point }
            }
          } else {
            const vs = p
            const e = (c >= ZERO && c <= NINE) || c === MINUS || c === DOT ? scanNumber(b, p, n) : scanBool(b, p, n)
            if (e < 0) { err = e === ScanError.RANGE ? Err.FIELD_VALUE_RANGE : Err.BAD_FIELD_VALUE; this.errAt = vs; break point }
            p = e
            if (id < 0) {
              id = cache.findField(entry, dv, b, fks, fke)
              if (id < 0) {
                id = this.newField(entry, b, fks, fke)
                if (id < 0) { err = Err.TEXT; break point }
              }
            }
            if (ns === this.ids.length) this.growScratch()
            this.ids[ns] = id
            this.vals[ns] = scanned.value
            ns++
          }
          if (p === n) break
          c = b[p]!
          if (c === COMMA) { p++; continue }
          break
        }

        // Optional timestamp after one or more spaces, then optional spaces.
        let ts = nowMs
        if (p < n && b[p] === SPACE) {
          while (p < n && b[p] === SPACE) p++
          if (p < n && b[p] !== LF && b[p] !== CR) {
            const tstart = p
            const neg = b[p] === MINUS
            if (neg) p++
            const ds = p
            while (p < n) {
              c = b[p]!
              if (c < ZERO || c > NINE) break
              p++
            }
            const de = p
            while (p < n && b[p] === SPACE) p++
            if (de === ds || (p < n && b[p] !== LF && b[p] !== CR)) { err = Err.BAD_TIMESTAMP; this.errAt = tstart; break point }
            ts = timestampDigitsToMs(b, ds, de, neg, drop, mult, MAX_TIMESTAMP_MS)
            if (ts !== ts) { err = Err.TIMESTAMP_RANGE; this.errAt = tstart; this.errEnd = de; break point }
          }
        }
        // End of line: LF, CRLF, a CR ending the body, or the end of the body.
        if (p < n) {
          if (b[p] === CR) {
            if (p + 1 < n && b[p + 1] !== LF) { err = Err.LONE_CR; break point }
            p++
          }
          if (p < n) { p++; line++ }
        }

        const ids = this.ids
        const vals = this.vals
        for (let k = 0; k < ns; k++) sink.sample(ids[k]!, ts, vals[k]!)
        accepted += ns
        skipped += strings
        continue
      }

      // The line is rejected.
      rejected++
      if (errors.length < MAX_REPORTED_ERRORS) {
        this.errFieldStart = fks
        this.errFieldEnd = fke
        errors.push({ line: startLine, message: this.describe(err, b, n) })
      }
      if (err === Err.UNTERMINATED_STRING || (line > startLine && reparseBudget > 0)) {
        // The point spans lines: go on with the line after its first one.
        let r = ps
        while (r < n && b[r] !== LF) r++
        // An unterminated string is not charged: quotes past noCloseFrom fail at once,
        // and a re-parsed point that spans lines and fails otherwise is charged then.
        if (err !== Err.UNTERMINATED_STRING) reparseBudget -= p - r
        p = r
        line = startLine
      } else {
        while (p < n && b[p] !== LF) p++
      }
      if (p < n) { p++; line++ }
    }
    return { accepted, rejected, skipped, errors }
  }

  /** Strict path of a field key not cached yet: its series id, or -1 with errText set. */
  private newField (entry: SeriesEntry, b: Uint8Array, fks: number, fke: number): number {
    const key = decodeToken(b, fks, fke, true)
    if (key === null) { this.errText = `${tokenProblem} in field key ${quoteBytes(b, fks, fke)}`; return -1 }
    const name = entry.prefix + key
    let id: number
    try {
      id = this.sink.seriesId(name, entry.labels)
    } catch (e) {
      // The sink refuses the series (too many labels, key too long): the line is rejected with its reason.
      this.errText = `series ${quote(name)} refused: ${e instanceof Error ? e.message : String(e)}`
      return -1
    }
    this.cache.addField(entry, b, fks, fke, id)
    return id
  }

  private growScratch (): void {
    const ids = new Int32Array(this.ids.length * 2)
    ids.set(this.ids)
    this.ids = ids
    const vals = new Float64Array(this.vals.length * 2)
    vals.set(this.vals)
    this.vals = vals
  }

  /** The message of the current line's error. */
  private describe (err: number, b: Uint8Array, n: number): string {
    const field = (): string => quoteBytes(b, this.errFieldStart, this.errFieldEnd)
    const valueText = (): string => quoteBytes(b, this.errAt, tokenEnd(b, this.errAt, n))
    switch (err) {
      case Err.TEXT: return this.errText
      case Err.NO_FIELDS: return 'missing field set: a point needs at least one field, after a space following the measurement and tags'
      case Err.LONE_CR: return 'carriage return not followed by a line feed'
      case Err.FIELD_KEY_NO_EQ: return `field ${field()} has no "=value"`
      case Err.EMPTY_FIELD_KEY: return 'empty field key'
      case Err.NO_FIELD_VALUE: return `missing value for field ${field()}`
      case Err.BAD_FIELD_VALUE: {
        const end = tokenEnd(b, this.errAt, n)
        if (end === this.errAt) return `missing value for field ${field()}`
        if (b[this.errAt] === MINUS && b[end - 1] === 0x75) return `invalid field value ${valueText()} for field ${field()}: an unsigned integer cannot be negative`
        return `invalid field value ${valueText()} for field ${field()} (expected a float, an integer with i or u, a boolean, or a quoted string)`
      }
      case Err.FIELD_VALUE_RANGE: {
        const last = b[tokenEnd(b, this.errAt, n) - 1]
        const what = last === 0x75 ? 'uint64' : last === 0x69 ? 'int64' : 'float64'
        return `field value ${valueText()} for field ${field()} is out of the ${what} range`
      }
      case Err.UNTERMINATED_STRING: return `unterminated string value for field ${field()}`
      case Err.AFTER_STRING: return `unexpected ${valueText()} after the string value of field ${field()} (expected "," or a space)`
      case Err.STRING_UTF8: return `invalid UTF-8 in the string value of field ${field()}`
      case Err.BAD_TIMESTAMP: {
        let end = this.errAt
        while (end < n && b[end] !== LF && b[end] !== CR) end++
        while (end > this.errAt && b[end - 1] === SPACE) end--
        return `invalid timestamp ${quoteBytes(b, this.errAt, end)} (expected an integer)`
      }
      case Err.TIMESTAMP_RANGE: return `timestamp out of range: ${quoteBytes(b, this.errAt, this.errEnd)} is beyond +-${MAX_TIMESTAMP_MS} ms from the epoch in this precision`
      default: return 'invalid line'
    }
  }
}

/** A boolean field value at `p`; returns the index of its terminator, or ScanError.SYNTAX. */
function scanBool (b: Uint8Array, p: number, n: number): number {
  const e = tokenEnd(b, p, n)
  const len = e - p
  let v = -1
  if (len === 1) {
    const c = b[p]!
    if (c === 0x74 || c === 0x54) v = 1 // t T
    else if (c === 0x66 || c === 0x46) v = 0 // f F
  } else if (len === 4 || len === 5) {
    const w = asciiSlice(b, p, e)
    if (w === 'true' || w === 'True' || w === 'TRUE') v = 1
    else if (w === 'false' || w === 'False' || w === 'FALSE') v = 0
  }
  if (v < 0) return ScanError.SYNTAX
  scanned.value = v
  scanned.kind = NumberKind.FLOAT
  return e
}

/** End of an unquoted field value: the next `,`, space, CR or LF. */
function tokenEnd (b: Uint8Array, p: number, n: number): number {
  while (p < n) {
    const c = b[p]!
    if (c === COMMA || c === SPACE || c === LF || c === CR) break
    p++
  }
  return p
}

function validUtf8 (b: Uint8Array, s: number, e: number): boolean {
  try {
    utf8.decode(b.subarray(s, e))
    return true
  } catch {
    return false
  }
}
