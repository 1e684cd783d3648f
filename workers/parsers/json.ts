/**
 * JSON and NDJSON bodies -> samples (runs in the parse workers).
 *
 *   {"name"|"metric": string, "value": number, "timestamp"?: ms | RFC 3339,
 *    "labels"|"tags"?: {name: string | number | boolean}}
 *
 * A JSON body is one such object, an array of them, or {"metrics": [...]};
 * an NDJSON body has one object per line (blank lines skipped). The native
 * JSON.parse does the tokenising; this module checks each entry and resolves
 * its series through a small cache.
 *
 * Decisions:
 * - An entry is rejected whole with a reason; `line` is the 1-based index of
 *   the entry in a JSON array (1 for a single object), the 1-based line for
 *   NDJSON. A syntax error in a JSON body rejects the body: one error at
 *   line 1 (the message gives the line and column), rejected = 1.
 * - An empty (or whitespace-only) body holds no entry: nothing accepted,
 *   nothing rejected, as an empty line-protocol body.
 * - value: a finite JSON number, or a string holding a decimal number
 *   ("1.5", "-2e3"); NaN, Infinity, booleans and null are rejected.
 * - timestamp: epoch milliseconds (a number, or a string of digits;
 *   fractions are floored), or an RFC 3339 / ISO-8601 date-time with a zone
 *   (`Z` or +-hh:mm; a date alone is midnight UTC). A date-time without a zone
 *   is rejected: it would mean the server's local time. Absent or null means
 *   `nowMs`. Beyond +-MAX_TIMESTAMP_MS is rejected.
 * - labels (or tags; not both): values that are numbers or booleans are
 *   stringified (`String(v)`); a label with an empty value is dropped (in
 *   Prometheus an empty label value is the same as no label); `__name__` is
 *   accepted only when it equals the name (it is then redundant) and
 *   rejected otherwise; names and values may hold any text but NUL (the
 *   separator of series keys downstream), names cannot be empty.
 */
import { MAX_REPORTED_ERRORS, MAX_TIMESTAMP_MS, type Label, type ParseError, type ParseResult, type SampleSink } from './types.js'
import { parseDecimalString } from './number.js'
import { compareLabels } from './labels.js'

/**
 * name + labels (in the entry's own order, values stringified) -> sink id.
 * Keep one per sink to reuse ids across bodies; clear it when the sink
 * forgets its ids.
 */
export class JsonSeriesCache {
  private readonly map = new Map<string, number>()
  constructor (private readonly maxEntries = 100_000) {}
  get (key: string): number | undefined { return this.map.get(key) }
  set (key: string, id: number): void {
    if (this.map.size >= this.maxEntries) this.map.clear()
    this.map.set(key, id)
  }

  clear (): void { this.map.clear() }
  get size (): number { return this.map.size }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
/** Error messages quote at most this many characters of the offending text. */
const QUOTE_CHARS = 64

class Run {
  accepted = 0
  rejected = 0
  errors: ParseError[] = []
  constructor (readonly sink: SampleSink, readonly nowMs: number, readonly cache: JsonSeriesCache) {}

  fail (line: number, message: string): void {
    this.rejected++
    if (this.errors.length < MAX_REPORTED_ERRORS) this.errors.push({ line, message })
  }

  result (): ParseResult {
    return { accepted: this.accepted, rejected: this.rejected, skipped: 0, errors: this.errors }
  }

  /**
   * One line of VictoriaMetrics' export format (what GET /api/v1/export
   * writes): {"metric": {"__name__": ..., labels}, "values": [...],
   * "timestamps": [...]}. Values are numbers or the strings "NaN", "Inf",
   * "+Inf", "-Inf"; timestamps are epoch milliseconds. A line is taken or
   * rejected whole.
   */
  importEntry (v: unknown, line: number): void {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.fail(line, `expected an object {"metric", "values", "timestamps"}, got ${describe(v)}`)
      return
    }
    const o = v as Record<string, unknown>
    const metric = o.metric
    if (metric === null || typeof metric !== 'object' || Array.isArray(metric)) { this.fail(line, `"metric" must be an object of labels, got ${describe(metric)}`); return }
    const m = metric as Record<string, unknown>
    const name = m.__name__
    if (typeof name !== 'string' || name === '') { this.fail(line, 'missing "__name__" in "metric"'); return }
    const values = o.values
    const timestamps = o.timestamps
    if (!Array.isArray(values) || !Array.isArray(timestamps)) { this.fail(line, '"values" and "timestamps" must be arrays'); return }
    if (values.length !== timestamps.length) { this.fail(line, `${values.length} values but ${timestamps.length} timestamps`); return }
    const pairs: Label[] = []
    for (const k in m) {
      if (k === '__name__') continue
      const s = m[k]
      if (typeof s !== 'string') { this.fail(line, `label ${quote(k)} must be a string, got ${describe(s)}`); return }
      if (k === '' || k.includes('\0') || s.includes('\0')) { this.fail(line, `invalid label ${quote(k)}`); return }
      if (s !== '') pairs.push([k, s])
    }
    if (name.includes('\0')) { this.fail(line, `NUL character in metric name ${quote(name)}`); return }
    const vs = new Float64Array(values.length)
    for (let i = 0; i < values.length; i++) {
      const x = values[i]
      const f = typeof x === 'number' ? x : x === 'NaN' ? NaN : x === 'Inf' || x === '+Inf' ? Infinity : x === '-Inf' ? -Infinity : undefined
      if (f === undefined) { this.fail(line, `values[${i}] must be a number or "NaN", "Inf", "-Inf", got ${describe(x)}`); return }
      vs[i] = f
      const t = timestamps[i]
      if (typeof t !== 'number' || !Number.isInteger(t) || t > MAX_TIMESTAMP_MS || t < -MAX_TIMESTAMP_MS) {
        this.fail(line, `timestamps[${i}] must be integer epoch milliseconds within +-${MAX_TIMESTAMP_MS}, got ${describe(t)}`)
        return
      }
    }
    pairs.sort(compareLabels)
    let id: number
    try {
      id = this.sink.seriesId(name, pairs)
    } catch (e) {
      this.fail(line, `series ${quote(name)} refused: ${e instanceof Error ? e.message : String(e)}`)
      return
    }
    for (let i = 0; i < vs.length; i++) this.sink.sample(id, (timestamps[i] as number) + 0, vs[i]!)
    this.accepted += vs.length
  }

  /** Checks one entry and hands its sample to the sink; a reason on failure. */
  entry (v: unknown, line: number): void {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.fail(line, `expected an object {"name", "value", "timestamp"?, "labels"?}, got ${describe(v)}`)
      return
    }
    const o = v as Record<string, unknown>
    let name = o.name
    const metric = o.metric
    if (name === undefined) name = metric
    else if (metric !== undefined && metric !== name) { this.fail(line, 'both "name" and "metric" are given and they differ'); return }
    if (typeof name !== 'string') {
      if (name === undefined) this.fail(line, 'missing "name" (or "metric")')
      else if (name !== null && typeof name === 'object' && !Array.isArray(name) && name === metric) {
        this.fail(line, '"metric" is an object: this endpoint takes {"metric": "<name>", "labels": {...}}; the VictoriaMetrics import format goes to /api/v1/import')
      } else this.fail(line, `"name" must be a string, got ${describe(name)}`)
      return
    }
    if (name === '') { this.fail(line, 'empty metric name'); return }
    if (name.includes('\0')) { this.fail(line, `NUL character in metric name ${quote(name)}`); return }

    const rawValue = o.value
    let value: number
    if (typeof rawValue === 'number') {
      if (!Number.isFinite(rawValue)) { this.fail(line, 'value is out of the float64 range'); return }
      value = rawValue
    } else if (typeof rawValue === 'string') {
      value = parseDecimalString(rawValue)
      if (value !== value) { this.fail(line, `value ${quote(rawValue)} is not a finite decimal number`); return }
    } else {
      this.fail(line, rawValue === undefined ? 'missing "value"' : `"value" must be a number, got ${describe(rawValue)}`)
      return
    }

    const t = o.timestamp
    let ts: number
    if (t === undefined || t === null) ts = this.nowMs
    else if (typeof t === 'number') {
      if (!Number.isFinite(t)) { this.fail(line, 'timestamp is out of range'); return }
      ts = Math.floor(t) + 0 // + 0 turns -0 into 0
    } else if (typeof t === 'string') {
      ts = parseTimestamp(t)
      if (ts !== ts) {
        this.fail(line, `invalid timestamp ${quote(t)}: ${timestampProblem}`)
        return
      }
    } else {
      this.fail(line, `"timestamp" must be epoch milliseconds or an RFC 3339 string, got ${describe(t)}`)
      return
    }
    if (ts > MAX_TIMESTAMP_MS || ts < -MAX_TIMESTAMP_MS) { this.fail(line, `timestamp out of range: ${String(t)} is beyond +-${MAX_TIMESTAMP_MS} ms from the epoch`); return }

    let labels = o.labels
    if (labels === undefined) labels = o.tags
    else if (o.tags !== undefined) { this.fail(line, 'give either "labels" or "tags", not both'); return }
    let key = name
    if (labels !== undefined && labels !== null) {
      if (typeof labels !== 'object' || Array.isArray(labels)) { this.fail(line, `"labels" must be an object, got ${describe(labels)}`); return }
      const l = labels as Record<string, unknown>
      for (const k in l) {
        const s = labelValue(l[k])
        if (s === undefined) { this.fail(line, `label ${quote(k)} must be a string, number or boolean, got ${describe(l[k])}`); return }
        if (k === '') { this.fail(line, 'empty label name'); return }
        if (s === '') continue
        if (k === '__name__') {
          if (s !== name) { this.fail(line, `label "__name__" (${quote(s)}) differs from the name ${quote(name)}`); return }
          continue
        }
        if (k.includes('\0') || s.includes('\0')) { this.fail(line, `NUL character in label ${quote(k)}`); return }
        key += '\0' + k + '\0' + s
      }
    }
    let id = this.cache.get(key)
    if (id === undefined) {
      const pairs: Label[] = []
      if (labels !== undefined && labels !== null) {
        const l = labels as Record<string, unknown>
        for (const k in l) {
          const s = labelValue(l[k])!
          if (s !== '' && k !== '__name__') pairs.push([k, s])
        }
        pairs.sort(compareLabels)
      }
      try {
        id = this.sink.seriesId(name, pairs)
      } catch (e) {
        // The sink refuses a series (too many labels, key too long): the entry is rejected with its reason.
        this.fail(line, `series ${quote(name)} refused: ${e instanceof Error ? e.message : String(e)}`)
        return
      }
      this.cache.set(key, id)
    }
    this.sink.sample(id, ts, value)
    this.accepted++
  }
}

/**
 * Parses a JSON or NDJSON body. Never throws for any input; exceptions from
 * sink.sample() propagate. Without `seriesCache`, ids are cached for this
 * body only.
 */
export function parseJsonBody (body: Uint8Array, kind: 'json' | 'ndjson' | 'import', sink: SampleSink, nowMs: number, seriesCache?: JsonSeriesCache): ParseResult {
  const run = new Run(sink, nowMs, seriesCache ?? new JsonSeriesCache())
  let text: string | undefined
  try {
    text = utf8.decode(body)
  } catch {
    text = undefined
  }
  if (kind === 'json') {
    if (text === undefined) { run.fail(1, 'the body is not valid UTF-8'); return run.result() }
    if (isBlank(text, 0, text.length)) return run.result()
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch (e) {
      run.fail(1, `invalid JSON: ${syntaxMessage(e, text)}`)
      return run.result()
    }
    if (Array.isArray(doc)) {
      for (let i = 0; i < doc.length; i++) run.entry(doc[i], i + 1)
    } else if (doc !== null && typeof doc === 'object' && 'metrics' in doc) {
      const metrics = (doc as { metrics: unknown }).metrics
      if (!Array.isArray(metrics)) run.fail(1, `"metrics" must be an array, got ${describe(metrics)}`)
      else for (let i = 0; i < metrics.length; i++) run.entry(metrics[i], i + 1)
    } else {
      run.entry(doc, 1)
    }
    return run.result()
  }
  if (text !== undefined) {
    let start = 0
    let line = 1
    const n = text.length
    while (start <= n) {
      let end = text.indexOf('\n', start)
      if (end < 0) end = n
      if (!isBlank(text, start, end)) ndjsonLine(run, text.slice(start, end), line, kind === 'import')
      start = end + 1
      line++
    }
    return run.result()
  }
  // Invalid UTF-8 somewhere: decode line by line so only the bad lines are rejected.
  let start = 0
  let line = 1
  const n = body.length
  while (start <= n) {
    let end = body.indexOf(0x0a, start)
    if (end < 0) end = n
    let s: string | undefined
    try {
      s = utf8.decode(body.subarray(start, end))
    } catch {
      s = undefined
    }
    if (s === undefined) run.fail(line, 'the line is not valid UTF-8')
    else if (!isBlank(s, 0, s.length)) ndjsonLine(run, s, line, kind === 'import')
    start = end + 1
    line++
  }
  return run.result()
}

function ndjsonLine (run: Run, s: string, line: number, isImport: boolean): void {
  let v: unknown
  try {
    v = JSON.parse(s)
  } catch (e) {
    run.fail(line, `invalid JSON: ${syntaxMessage(e, s)}`)
    return
  }
  if (isImport) run.importEntry(v, line)
  else run.entry(v, line)
}

/** JSON whitespace only (space, tab, CR, LF)? */
function isBlank (s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i)
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false
  }
  return true
}

function labelValue (v: unknown): string | undefined {
  switch (typeof v) {
    case 'string': return v
    case 'number': return Number.isFinite(v) ? String(v) : undefined
    case 'boolean': return v ? 'true' : 'false'
    default: return undefined
  }
}

/** V8's SyntaxError message, plus line and column when it gives a position. */
function syntaxMessage (e: unknown, text: string): string {
  let msg = e instanceof Error ? e.message : String(e)
  if (msg.length > 200) msg = msg.slice(0, 200) + '...'
  const m = /at position (\d+)/.exec(msg)
  if (m !== null) {
    const pos = Number(m[1])
    let line = 1
    let lineStart = 0
    for (let i = 0; i < pos && i < text.length; i++) {
      if (text.charCodeAt(i) === 0x0a) { line++; lineStart = i + 1 }
    }
    msg += ` (line ${line}, column ${pos - lineStart + 1})`
  }
  return msg
}

function describe (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  switch (typeof v) {
    case 'string': return `the string ${quote(v)}`
    case 'number': case 'boolean': return `${typeof v} ${String(v)}`
    case 'object': return 'an object'
    default: return typeof v
  }
}

function quote (s: string): string {
  return JSON.stringify(s.length > QUOTE_CHARS ? s.slice(0, QUOTE_CHARS) + '...' : s)
}

/** Why the last parseTimestamp() returned NaN. */
let timestampProblem = ''

const EPOCH_MS_RE = /^-?\d+(?:\.\d*)?$/
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/

/** Epoch ms (digits) or an RFC 3339 / ISO-8601 date-time -> epoch ms (floored); NaN with timestampProblem set. */
export function parseTimestamp (s: string): number {
  const t = s.trim()
  if (EPOCH_MS_RE.test(t)) return Math.floor(Number(t)) + 0
  const m = RFC3339_RE.exec(t)
  if (m === null) { timestampProblem = 'expected epoch milliseconds or an RFC 3339 date-time such as 2024-01-02T03:04:05.678Z'; return NaN }
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) { timestampProblem = 'no such date'; return NaN }
  let ms = daysFromCivil(year, month, day) * 86_400_000
  if (m[4] !== undefined) {
    const hour = Number(m[4])
    const minute = Number(m[5])
    const second = m[6] === undefined ? 0 : Number(m[6])
    if (hour > 23 || minute > 59 || second > 60) { timestampProblem = 'no such time of day'; return NaN }
    const zone = m[8]
    if (zone === undefined) { timestampProblem = 'a date-time needs a time zone (Z or +hh:mm); without one it would mean the server\'s local time'; return NaN }
    ms += hour * 3_600_000 + minute * 60_000 + second * 1000
    const frac = m[7]
    if (frac !== undefined) ms += Number((frac + '00').slice(0, 3)) // truncation = floor: the fraction is positive
    if (zone !== 'Z' && zone !== 'z') {
      const sign = zone[0] === '-' ? -1 : 1
      const zh = Number(zone.slice(1, 3))
      const zm = zone.length > 3 ? Number(zone.slice(zone.length - 2)) : 0
      if (zh > 23 || zm > 59) { timestampProblem = 'no such time zone offset'; return NaN }
      ms -= sign * (zh * 3_600_000 + zm * 60_000)
    }
  }
  return ms
}

function isLeap (y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
}

function daysInMonth (y: number, m: number): number {
  return m === 2 ? (isLeap(y) ? 29 : 28) : m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil (y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}
