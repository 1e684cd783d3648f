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
 * - Escapes: `\,` and `\ ` in the measurement; `\,`, `\=` and `\ ` in tag
 *   keys, tag values and field keys. A backslash before any other character
 *   is kept literally, so `a\\ b` is the one token `a\ b`.
 * - String field values unescape only `\"` and `\\` (the InfluxDB server's
 *   rule, not the v2 reference decoder's `\n \r \t`). A raw newline inside a
 *   quoted string is accepted, as InfluxDB accepts it (Telegraf does not
 *   escape newlines in string fields): the point then spans several physical
 *   lines and its errors name the line where it starts. An unterminated
 *   string is an error of the line where it opens, and parsing resumes on the
 *   next physical line, so one stray quote does not swallow the rest of the
 *   body. A quote that opens after an earlier unterminated one cannot close
 *   either (same backslash runs), which keeps that recovery linear.
 * - Identifiers may hold any UTF-8 except ASCII control characters
 *   (0x00-0x1F, 0x7F; NUL separates the parts of a series key downstream).
 *   Tag values cannot be empty, tag keys must be unique, and the tag key
 *   `__name__` is reserved (it is the metric name label).
 * - A point needs at least one field; fields are separated by `,`, the field
 *   set from the tags and the timestamp by one or more spaces; spaces may
 *   lead a line and trail it; `#` starts a comment line; lines end with LF or
 *   CRLF. Tab is not a separator.
 * - A repeated field key in one line gives two samples of one series at one
 *   timestamp; the later one wins in storage, as the later field wins in
 *   InfluxDB.
 *
 * A line is all or nothing: every field and the timestamp are checked before
 * any of its samples reaches the sink. A bad line is reported (1-based line
 * number and the reason) and the next line is parsed as usual.
 *
 * Speed: the hot path never builds a string. The bytes of `measurement,tags`
 * are hashed while they are scanned for their end and looked up in a cache of
 * recently seen series keys; a hit gives the parsed measurement and labels
 * and, per field key, the sink's series id. Only a miss does the strict work
 * (unescaping, UTF-8 validation, sorting labels, sink.seriesId), and the
 * bytes of a key fully determine that work's result, so a hit gives exactly
 * the ids a miss would.
 */
import { MAX_REPORTED_ERRORS, MAX_TIMESTAMP_MS, type Label, type ParseError, type ParseResult, type SampleSink } from './types.js'
import { NumberKind, ScanError, asciiSlice, scanNumber, scanned, timestampDigitsToMs } from './number.js'
import { compareLabels, hasControl } from './labels.js'

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
  /** Series (measurement, tags, field) kept in the id cache; the cache is cleared when full. Default 100,000. */
  maxCachedSeries?: number
}

export interface LineProtocolParseOptions {
  precision: Precision
  /** Database (Influx `db` or `bucket`), added as the label `db` unless a line has a `db` tag. */
  db?: string | undefined
  /** Timestamp, epoch ms, of points without one. */
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
/** Bytes of raw series keys kept in the cache at most (the cache is cleared past it). */
const MAX_CACHED_KEY_BYTES = 32 << 20 // 32 MiB
/** Series keys longer than this are not cached (parsed strictly every time). */
const MAX_CACHED_KEY_LEN = 64 << 10 // 64 KiB
/** An entry switches from a linear search of its field keys to a Map past this many. */
const FIELD_SEARCH_LINEAR = 8
/** Error messages quote at most this many characters of the offending text. */
const QUOTE_CHARS = 64

const FNV_OFFSET = 0x811c9dc5
const FNV_PRIME = 0x01000193

/** Why a line was rejected (the message is built only for the errors that are reported). */
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

/** What the cache knows about one raw `measurement,tags` key. */
class SeriesEntry {
  /** latin1 text of each field key's raw bytes, in the order first seen. */
  readonly fieldRaw: string[] = []
  /** Sink id of `prefix + field key`, same index as fieldRaw. */
  readonly fieldIds: number[] = []
  /** raw field key -> index, once the entry has more than FIELD_SEARCH_LINEAR fields. */
  fieldIndex: Map<string, number> | null = null

  constructor (
    readonly hash: number,
    readonly db: string,
    /** Offset of the raw key bytes in the cache's arena. */
    readonly rawOff: number,
    readonly rawLen: number,
    /** `<measurement>_`, or '' when `error` is set. */
    readonly prefix: string,
    readonly labels: readonly Label[],
    /** Why every line with this key is rejected, or null. */
    readonly error: string | null,
  ) {}
}

const NO_LABELS: readonly Label[] = Object.freeze([])

export class LineProtocolParser {
  private readonly sink: SampleSink
  private readonly maxSeries: number

  // The series cache: open addressing over `entries` (slot value = index + 1).
  private table = new Int32Array(1024)
  private mask = 1023
  private entries: SeriesEntry[] = []
  private arena = new Uint8Array(64 << 10)
  private arenaUsed = 0
  private cachedSeries = 0

  // Per line scratch: the samples of the line being checked.
  private ids = new Int32Array(256)
  private vals = new Float64Array(256)
  /** Unescaped bytes of one token (miss path). */
  private scratch = new Uint8Array(1024)

  // Error details of the current line.
  private errText = ''
  private errA = 0
  private errB = 0
  private errFieldStart = 0
  private errFieldEnd = 0

  constructor (sink: SampleSink, options: LineProtocolOptions = {}) {
    this.sink = sink
    const max = options.maxCachedSeries ?? DEFAULT_MAX_CACHED_SERIES
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxCachedSeries must be a positive integer, got ${max}`)
    this.maxSeries = max
  }

  /** Forgets every cached series id (call it when the sink forgets its ids). */
  clearCache (): void {
    this.table.fill(0)
    this.entries = []
    this.arenaUsed = 0
    this.cachedSeries = 0
  }

  /** Parses a whole body. Never throws for any input; exceptions from sink.sample() propagate. */
  parse (body: Uint8Array, opts: LineProtocolParseOptions): ParseResult {
    const b = body
    const n = b.length
    const sink = this.sink
    const nowMs = opts.nowMs
    const db = opts.db === undefined || opts.db === null ? '' : opts.db
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
    /** No string opened at or after this offset can close (an earlier scan reached the end). */
    let noCloseFrom = n + 1

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
      let err: number = Err.NONE
      /** Where to resume after an error: -1 = after the physical line of `p`. */
      let resume = -1
      let resumeLine = 0

      point: {
        if (this.cachedSeries >= this.maxSeries || this.entries.length >= this.maxSeries) this.clearCache()
        // The series key: measurement and tags, up to the first unescaped space.
        const ks = p
        let h = seed
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

        // Cache lookup.
        const len = ke - ks
        const mask = this.mask
        const table = this.table
        let slot = h & mask
        let entry: SeriesEntry | null = null
        for (;;) {
          const idx = table[slot]!
          if (idx === 0) break
          const cand = this.entries[idx - 1]!
          if (cand.hash === h && cand.rawLen === len && cand.db === db) {
            const arena = this.arena
            const off = cand.rawOff - ks
            let i = ks
            while (i < ke && b[i] === arena[off + i]) i++
            if (i === ke) { entry = cand; break }
          }
          slot = (slot + 1) & mask
        }
        if (entry === null) entry = this.resolveKey(b, ks, ke, h, db)
        if (entry.error !== null) { err = Err.TEXT; this.errText = entry.error; break point }

        while (p < n && b[p] === SPACE) p++
        if (p === n || b[p] === LF || b[p] === CR) { err = Err.NO_FIELDS; break point }

        // Fields: check each and keep (id, value) until the line is known good.
        let ns = 0
        let strings = 0
        for (;;) {
          const fks = p
          while (p < n) {
            c = b[p]!
            if (c === EQ || c === COMMA || c === SPACE || c === LF || c === CR) break
            if (c === BACKSLASH && p + 1 < n) {
              const d = b[p + 1]!
              if (d === COMMA || d === EQ || d === SPACE) p++
            }
            p++
          }
          const fke = p
          this.errFieldStart = fks
          this.errFieldEnd = fke
          if (fke === fks) { err = Err.EMPTY_FIELD_KEY; this.errA = p; break point }
          if (p === n || c !== EQ) { err = Err.FIELD_KEY_NO_EQ; this.errA = p; break point }
          p++
          if (p === n) { err = Err.NO_FIELD_VALUE; break point }
          c = b[p]!
          if (c === QUOTE) {
            const open = p
            const openLine = line
            let hi = 0
            p++
            if (p >= noCloseFrom) p = n
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
              // Resume on the line after the one where the string opened.
              line = openLine
              let r = open
              while (r < n && b[r] !== LF) r++
              resume = r
              resumeLine = openLine
              break point
            }
            if ((hi & 0x80) !== 0 && !validUtf8(b, open + 1, p)) { err = Err.STRING_UTF8; break point }
            p++
            strings++
            if (p < n) {
              c = b[p]!
              if (c !== COMMA && c !== SPACE && c !== LF && c !== CR) { err = Err.AFTER_STRING; this.errA = p; break point }
            }
          } else {
            const vs = p
            let e: number
            if ((c >= ZERO && c <= NINE) || c === MINUS || c === DOT) {
              e = scanNumber(b, p, n)
            } else {
              e = scanBool(b, p, n)
            }
            if (e < 0) { err = e === ScanError.RANGE ? Err.FIELD_VALUE_RANGE : Err.BAD_FIELD_VALUE; this.errA = vs; break point }
            p = e
            // The field's series id: same position as last time, else a search, else the strict path.
            let id = -1
            const raw = entry.fieldRaw
            const flen = fke - fks
            if (ns < raw.length) {
              const s = raw[ns]!
              if (s.length === flen) {
                let k = 0
                while (k < flen && s.charCodeAt(k) === b[fks + k]) k++
                if (k === flen) id = entry.fieldIds[ns]!
              }
            }
            if (id < 0) {
              id = this.fieldId(entry, b, fks, fke)
              if (id < 0) { err = Err.TEXT; break point }
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
            while (p < n && b[p]! >= ZERO && b[p]! <= NINE) p++
            const de = p
            while (p < n && b[p] === SPACE) p++
            if (de === ds || (p < n && b[p] !== LF && b[p] !== CR)) { err = Err.BAD_TIMESTAMP; this.errA = tstart; break point }
            ts = timestampDigitsToMs(b, ds, de, neg, drop, mult, MAX_TIMESTAMP_MS)
            if (ts !== ts) { err = Err.TIMESTAMP_RANGE; this.errA = tstart; this.errB = de; break point }
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
        errors.push({ line: startLine, message: this.describe(err, b, n) })
      }
      if (resume >= 0) { p = resume; line = resumeLine }
      else {
        while (p < n && b[p] !== LF) p++
      }
      if (p < n) { p++; line++ }
    }
    return { accepted, rejected, skipped, errors }
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
    const field = (): string => quoted(this.decodeLoose(b, this.errFieldStart, this.errFieldEnd))
    switch (err) {
      case Err.TEXT: return this.errText
      case Err.NO_FIELDS: return 'missing field set: a point needs at least one field after the measurement and tags (separated by a space)'
      case Err.LONE_CR: return 'carriage return not followed by a line feed'
      case Err.FIELD_KEY_NO_EQ: return `field ${field()} has no "=value"`
      case Err.EMPTY_FIELD_KEY: return 'empty field key'
      case Err.NO_FIELD_VALUE: return `missing value for field ${field()}`
      case Err.BAD_FIELD_VALUE: {
        const v = this.decodeLoose(b, this.errA, tokenEnd(b, this.errA, n))
        return v === ''
          ? `missing value for field ${field()}`
          : `invalid field value ${quoted(v)} for field ${field()} (expected a float, an integer with i or u, a boolean, or a quoted string)`
      }
      case Err.FIELD_VALUE_RANGE: {
        const v = this.decodeLoose(b, this.errA, tokenEnd(b, this.errA, n))
        const what = v.endsWith('u') ? 'uint64' : v.endsWith('i') ? 'int64' : 'float64'
        return `field value ${quoted(v)} for field ${field()} is out of the ${what} range`
      }
      case Err.UNTERMINATED_STRING: return `unterminated string value for field ${field()}`
      case Err.AFTER_STRING: return `unexpected ${quoted(this.decodeLoose(b, this.errA, tokenEnd(b, this.errA, n)))} after the string value of field ${field()} (expected "," or a space)`
      case Err.STRING_UTF8: return `invalid UTF-8 in the string value of field ${field()}`
      case Err.BAD_TIMESTAMP: return `invalid timestamp ${quoted(this.decodeLoose(b, this.errA, lineEnd(b, this.errA, n)).trimEnd())} (expected an integer)`
      case Err.TIMESTAMP_RANGE: return `timestamp out of range: ${quoted(this.decodeLoose(b, this.errA, this.errB))} is beyond +-${MAX_TIMESTAMP_MS} ms from the epoch in this precision`
      default: return 'invalid line'
    }
  }

  /** Bytes as text for an error message (invalid UTF-8 shown as U+FFFD), cut to QUOTE_CHARS. */
  private decodeLoose (b: Uint8Array, s: number, e: number): string {
    const cut = e - s > QUOTE_CHARS * 4 ? s + QUOTE_CHARS * 4 : e
    const text = Buffer.from(b.buffer, b.byteOffset + s, cut - s).toString('utf8')
    return text.length > QUOTE_CHARS || cut < e ? text.slice(0, QUOTE_CHARS) + '...' : text
  }

  /**
   * The miss path of the series cache: parses `measurement,tags` strictly,
   * asks nothing of the sink yet (ids are per field), and caches the result,
   * an error included.
   */
  private resolveKey (b: Uint8Array, ks: number, ke: number, h: number, db: string): SeriesEntry {
    let prefix = ''
    let labels: readonly Label[] = NO_LABELS
    const error = this.parseKey(b, ks, ke, db)
    if (error === null) {
      prefix = this.keyMeasurement + '_'
      labels = this.keyLabels
    }
    const len = ke - ks
    if (len > MAX_CACHED_KEY_LEN) return new SeriesEntry(h, db, 0, len, prefix, labels, error)
    if (this.arenaUsed + len > this.arena.length) {
      if (this.arenaUsed + len > MAX_CACHED_KEY_BYTES) this.clearCache()
      if (this.arenaUsed + len > this.arena.length) {
        let size = this.arena.length * 2
        while (size < this.arenaUsed + len) size *= 2
        const grown = new Uint8Array(size)
        grown.set(this.arena.subarray(0, this.arenaUsed))
        this.arena = grown
      }
    }
    const off = this.arenaUsed
    this.arena.set(b.subarray(ks, ke), off)
    this.arenaUsed += len
    const entry = new SeriesEntry(h, db, off, len, prefix, labels, error)
    this.entries.push(entry)
    if (this.entries.length * 2 > this.table.length) this.growTable()
    else this.insert(entry, this.entries.length)
    return entry
  }

  private insert (entry: SeriesEntry, index: number): void {
    const table = this.table
    const mask = this.mask
    let slot = entry.hash & mask
    while (table[slot] !== 0) slot = (slot + 1) & mask
    table[slot] = index
  }

  private growTable (): void {
    this.table = new Int32Array(this.table.length * 2)
    this.mask = this.table.length - 1
    for (let i = 0; i < this.entries.length; i++) this.insert(this.entries[i]!, i + 1)
  }

  /** The field's series id through the entry's search, or the strict path; -1 (errText set) if the field key is bad. */
  private fieldId (entry: SeriesEntry, b: Uint8Array, fks: number, fke: number): number {
    const raw = entry.fieldRaw
    const flen = fke - fks
    if (entry.fieldIndex !== null) {
      const i = entry.fieldIndex.get(latin1(b, fks, fke))
      if (i !== undefined) return entry.fieldIds[i]!
    } else {
      for (let i = 0; i < raw.length; i++) {
        const s = raw[i]!
        if (s.length !== flen) continue
        let k = 0
        while (k < flen && s.charCodeAt(k) === b[fks + k]) k++
        if (k === flen) return entry.fieldIds[i]!
      }
    }
    const key = this.decodeToken(b, fks, fke, true)
    if (key === null) { this.errText = `${this.errText} in field key ${quoted(this.decodeLoose(b, fks, fke))}`; return -1 }
    const name = entry.prefix + key
    let id: number
    try {
      id = this.sink.seriesId(name, entry.labels)
    } catch (e) {
      // The sink refuses a series (too many labels, key too long): the line is rejected with its reason.
      this.errText = `series ${quoted(name)} refused: ${e instanceof Error ? e.message : String(e)}`
      return -1
    }
    const rawText = latin1(b, fks, fke)
    raw.push(rawText)
    entry.fieldIds.push(id)
    this.cachedSeries++
    if (entry.fieldIndex !== null) entry.fieldIndex.set(rawText, raw.length - 1)
    else if (raw.length > FIELD_SEARCH_LINEAR) {
      entry.fieldIndex = new Map()
      for (let i = 0; i < raw.length; i++) entry.fieldIndex.set(raw[i]!, i)
    }
    return id
  }

  // Results of parseKey (miss path only).
  private keyMeasurement = ''
  private keyLabels: Label[] = []

  /** Strict parse of `measurement,tag=value,...`; null if good (results in keyMeasurement/keyLabels), else the reason. */
  private parseKey (b: Uint8Array, ks: number, ke: number, db: string): string | null {
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
    const measurement = this.decodeToken(b, ks, p, false)
    if (measurement === null) return `${this.errText} in the measurement ${quoted(this.decodeLoose(b, ks, p))}`
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
      if (p === ke || c !== EQ) return `tag ${quoted(this.decodeLoose(b, tks, tke))} has no "=value"`
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
      const tagKey = this.decodeToken(b, tks, tke, true)
      if (tagKey === null) return `${this.errText} in tag key ${quoted(this.decodeLoose(b, tks, tke))}`
      if (p < ke && c === EQ) return `unescaped "=" in the value of tag ${quoted(tagKey)} (escape it as \\=)`
      if (tve === tvs) return `empty value for tag ${quoted(tagKey)}`
      const tagValue = this.decodeToken(b, tvs, tve, true)
      if (tagValue === null) return `${this.errText} in the value of tag ${quoted(tagKey)}`
      if (tagKey === '__name__') return 'tag key "__name__" is reserved (it holds the metric name)'
      labels.push([tagKey, tagValue])
    }
    if (db !== '') {
      let has = false
      for (const [k] of labels) if (k === 'db') { has = true; break }
      if (!has) {
        if (hasControl(db)) return 'invalid db: it contains a control character'
        labels.push(['db', db])
      }
    }
    if (labels.length > 1) {
      labels.sort(compareLabels)
      for (let i = 1; i < labels.length; i++) {
        if (labels[i]![0] === labels[i - 1]![0]) return `duplicate tag key ${quoted(labels[i]![0])}`
      }
    }
    this.keyMeasurement = measurement
    this.keyLabels = labels
    return null
  }

  /**
   * Unescapes [s, e) (`\,` and `\ `, plus `\=` if `eq`), rejects control
   * characters and decodes UTF-8 strictly. Null (reason in errText) if bad.
   */
  private decodeToken (b: Uint8Array, s: number, e: number, eq: boolean): string | null {
    let ascii = true
    let escapes = false
    for (let i = s; i < e; i++) {
      const c = b[i]!
      if (c < SPACE || c === 0x7f) {
        this.errText = c === 0 ? 'NUL character' : `control character 0x${c.toString(16).padStart(2, '0')}`
        return null
      }
      if (c >= 0x80) ascii = false
      else if (c === BACKSLASH) escapes = true
    }
    let bytes = b
    let from = s
    let to = e
    if (escapes) {
      if (this.scratch.length < e - s) this.scratch = new Uint8Array(Math.max(e - s, this.scratch.length * 2))
      const out = this.scratch
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
      this.errText = 'invalid UTF-8'
      return null
    }
  }
}

/** A boolean field value at `p`; returns the index of its terminator, or ScanError.SYNTAX. */
function scanBool (b: Uint8Array, p: number, n: number): number {
  const e = tokenEnd(b, p, n)
  const len = e - p
  const c = b[p]!
  let v = -1
  if (len === 1) {
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

/** End of an unquoted field value token: the next `,`, space, CR or LF. */
function tokenEnd (b: Uint8Array, p: number, n: number): number {
  while (p < n) {
    const c = b[p]!
    if (c === COMMA || c === SPACE || c === LF || c === CR) break
    p++
  }
  return p
}

function lineEnd (b: Uint8Array, p: number, n: number): number {
  while (p < n && b[p] !== LF && b[p] !== CR) p++
  return p
}

function latin1 (b: Uint8Array, s: number, e: number): string {
  return Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('latin1')
}

function validUtf8 (b: Uint8Array, s: number, e: number): boolean {
  try {
    utf8.decode(b.subarray(s, e))
    return true
  } catch {
    return false
  }
}

function quoted (s: string): string {
  return JSON.stringify(s)
}
