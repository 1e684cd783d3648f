/**
 * parseJsonBody on its own: JSON (object, array, {"metrics": [...]}) and
 * NDJSON bodies, entry checks and their messages, timestamps, the series
 * cache, and bad input. Runs against the compiled parser (npm test builds first).
 */
import { describe, expect, it } from 'vitest'
import { JsonSeriesCache, parseJsonBody, parseTimestamp } from '../dist/workers/parsers/json.js'
import { MAX_REPORTED_ERRORS, MAX_TIMESTAMP_MS, type Label, type ParseResult, type SampleSink } from '../dist/workers/parsers/types.js'
import { RecordingSink, mulberry32 } from './helpers/sink.js'

const NOW = 1_700_000_000_000


interface Parsed extends ParseResult { samples: RecordingSink['samples'], sink: RecordingSink }

function parse (body: string | Uint8Array | unknown[] | object, kind: 'json' | 'ndjson' = 'json', sink = new RecordingSink(), cache?: JsonSeriesCache): Parsed {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body instanceof Uint8Array ? body : Buffer.from(JSON.stringify(body))
  const before = sink.samples.length
  const r = parseJsonBody(bytes, kind, sink, NOW, cache)
  expect(r.accepted).toBe(sink.samples.length - before)
  expect(r.skipped).toBe(0)
  expect(r.errors.length).toBeLessThanOrEqual(Math.min(r.rejected, MAX_REPORTED_ERRORS))
  return { ...r, samples: sink.samples, sink }
}

/** The message of the only error of a one-entry body. */
function error (entry: unknown): string {
  const r = parse([entry])
  expect(r.rejected).toBe(1)
  expect(r.accepted).toBe(0)
  expect(r.errors).toHaveLength(1)
  expect(r.errors[0]!.line).toBe(1)
  return r.errors[0]!.message
}


describe('body shapes', () => {
  const entry = { name: 'up', value: 1, timestamp: 5, labels: { job: 'a' } }
  const want = [{ series: 'up{job="a"}', t: 5, v: 1 }]

  it('one object, an array, {"metrics": [...]}', () => {
    expect(parse(entry).samples).toEqual(want)
    expect(parse([entry, entry]).samples).toEqual([...want, ...want])
    expect(parse({ metrics: [entry] }).samples).toEqual(want)
    expect(parse([]).accepted).toBe(0)
  })

  it('NDJSON: one object per line; blank lines and CRLF are fine', () => {
    const body = `${JSON.stringify(entry)}\r\n\n   \n${JSON.stringify({ ...entry, value: 2 })}\n`
    const r = parse(body, 'ndjson')
    expect(r.rejected).toBe(0)
    expect(r.samples.map((s) => s.v)).toEqual([1, 2])
  })

  it('an empty or blank body holds no entry', () => {
    for (const body of ['', '  \n', '\r\n']) {
      for (const kind of ['json', 'ndjson'] as const) {
        const r = parse(body, kind)
        expect([r.accepted, r.rejected, r.errors.length]).toEqual([0, 0, 0])
      }
    }
  })

  it('"metrics" that is not an array, and bodies that are not objects', () => {
    expect(parse({ metrics: 5 }).errors).toEqual([{ line: 1, message: '"metrics" must be an array, got number 5' }])
    expect(parse('5').errors).toEqual([{ line: 1, message: 'expected an object {"name", "value", "timestamp"?, "labels"?}, got number 5' }])
    expect(parse('"x"').errors[0]!.message).toMatch(/got the string "x"$/)
    expect(parse('null').errors[0]!.message).toMatch(/got null$/)
    expect(parse([[1]]).errors[0]!.message).toMatch(/got an array$/)
  })

  it('a syntax error rejects a JSON body whole, with line and column', () => {
    const r = parse('[\n{"name": "a", "value": 1},\n{"name": }\n]')
    expect(r.accepted).toBe(0)
    expect(r.rejected).toBe(1)
    expect(r.errors).toHaveLength(1)
    expect(r.errors[0]!.line).toBe(1)
    expect(r.errors[0]!.message).toMatch(/^invalid JSON: /)
    const truncated = parse('[{"name": "a", "value": 1}')
    expect(truncated.errors[0]!.message).toMatch(/^invalid JSON: /)
    const positioned = parse('{"name": "a",\n "value": 1,}')
    expect(positioned.errors[0]!.message).toMatch(/\(line 2, column 13\)$/)
  })

  it('NDJSON: a bad line is rejected alone, named by its line number', () => {
    const body = '{"name":"a","value":1}\n{"name":"b","value":\n\n{"name":"c","value":"x"}\n[1]\n{"name":"d","value":4}'
    const r = parse(body, 'ndjson')
    expect(r.samples.map((s) => s.series)).toEqual(['a{}', 'd{}'])
    expect(r.errors.map((e) => e.line)).toEqual([2, 4, 5])
    expect(r.errors[0]!.message).toMatch(/^invalid JSON: /)
    expect(r.errors[1]!.message).toBe('value "x" is not a finite decimal number')
    expect(r.errors[2]!.message).toBe('expected an object {"name", "value", "timestamp"?, "labels"?}, got an array')
  })

  it('entries of an array are named by their 1-based index', () => {
    const r = parse([{ name: 'a', value: 1 }, { name: 'b' }, { name: 'c', value: 3 }, { value: 4 }])
    expect(r.errors).toEqual([{ line: 2, message: 'missing "value"' }, { line: 4, message: 'missing "name" (or "metric")' }])
    expect(r.samples.map((s) => s.series)).toEqual(['a{}', 'c{}'])
  })

  it(`keeps the first ${MAX_REPORTED_ERRORS} errors and counts them all`, () => {
    const r = parse(Array.from({ length: 300 }, (_, i) => ({ name: 'x', value: i % 3 === 0 ? 'bad' : i })))
    expect(r.rejected).toBe(100)
    expect(r.accepted).toBe(200)
    expect(r.errors).toHaveLength(MAX_REPORTED_ERRORS)
    expect(r.errors[MAX_REPORTED_ERRORS - 1]!.line).toBe(298)
  })

  it('invalid UTF-8: the JSON body is rejected; in NDJSON only its line', () => {
    const bad = Buffer.concat([Buffer.from('{"name":"a'), Buffer.from([0xff]), Buffer.from('","value":1}')])
    expect(parse(bad).errors).toEqual([{ line: 1, message: 'the body is not valid UTF-8' }])
    const nd = Buffer.concat([Buffer.from('{"name":"ok","value":1}\n'), bad, Buffer.from('\n{"name":"ok2","value":2}\n')])
    const r = parse(nd, 'ndjson')
    expect(r.errors).toEqual([{ line: 2, message: 'the line is not valid UTF-8' }])
    expect(r.samples.map((s) => s.series)).toEqual(['ok{}', 'ok2{}'])
  })
})

describe('entries', () => {
  it('"name" or "metric"', () => {
    expect(parse({ metric: 'm', value: 1 }).samples[0]!.series).toBe('m{}')
    expect(parse({ name: 'm', metric: 'm', value: 1 }).samples[0]!.series).toBe('m{}')
    expect(error({ name: 'a', metric: 'b', value: 1 })).toBe('both "name" and "metric" are given and they differ')
    expect(error({ metric: { __name__: 'x' }, value: 1 })).toMatch(/^"metric" is an object: .*\/api\/v1\/import$/)
    expect(error({ name: 5, value: 1 })).toBe('"name" must be a string, got number 5')
    expect(error({ name: '', value: 1 })).toBe('empty metric name')
    expect(error({ name: 'a\u0000b', value: 1 })).toBe('NUL character in metric name "a\\u0000b"')
  })

  it('value: a finite number or a decimal string', () => {
    const cases: Array<[unknown, number]> = [[1.5, 1.5], [-0.25, -0.25], ['1.5', 1.5], [' -2e3 ', -2000], ['.5', 0.5], ['+4', 4], [0, 0]]
    for (const [v, want] of cases) expect(parse({ name: 'x', value: v }).samples[0]!.v, String(v)).toBe(want)
    expect(Object.is(parse({ name: 'x', value: -0 }).samples[0]!.v, 0)).toBe(true) // JSON.stringify(-0) is "0"
    expect(Object.is(parse('{"name":"x","value":-0}').samples[0]!.v, -0)).toBe(true)
    for (const bad of ['NaN', 'Inf', '+Inf', '-Infinity', 'Infinity', 'abc', '', '0x10', '1e400', '1,5']) {
      expect(error({ name: 'x', value: bad }), bad).toBe(`value ${JSON.stringify(bad)} is not a finite decimal number`)
    }
    expect(error({ name: 'x', value: true })).toBe('"value" must be a number, got boolean true')
    expect(error({ name: 'x', value: null })).toBe('"value" must be a number, got null')
    expect(error({ name: 'x', value: [1] })).toBe('"value" must be a number, got an array')
    expect(error({ name: 'x' })).toBe('missing "value"')
    expect(parse('[{"name":"x","value":1e400}]').errors[0]!.message).toBe('value is out of the float64 range')
  })

  it('values are exact float64 (JSON numbers and numeric strings)', () => {
    const rand = mulberry32(3)
    const bits = new Uint32Array(2)
    const f64 = new Float64Array(bits.buffer)
    const entries: object[] = []
    const want: number[] = []
    for (const x of [5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 2 ** 53, -(2 ** 53), 0.1, 0.30000000000000004]) {
      entries.push({ name: 'v', value: x }, { name: 'v', value: String(x) })
      want.push(x, x)
    }
    for (let i = 0; i < 2000; i++) {
      bits[0] = (rand() * 2 ** 32) >>> 0
      bits[1] = (rand() * 2 ** 32) >>> 0
      const x = f64[0]!
      if (!Number.isFinite(x)) continue
      entries.push({ name: 'v', value: x }, { name: 'v', value: x.toExponential(20) })
      want.push(x, Number(x.toExponential(20)))
    }
    expect(parse(entries).samples.map((s) => s.v)).toEqual(want)
    expect(parse('{"name":"v","value":9007199254740993}').samples[0]!.v).toBe(9007199254740992)
  })

  it('labels or tags: sorted, numbers and booleans stringified, empty values dropped', () => {
    const r = parse({ name: 'm', value: 1, labels: { z: 'last', a: 'first', n: 12.5, b: true, f: false, e: '' } })
    expect(r.samples[0]!.series).toBe('m{a="first",b="true",f="false",n="12.5",z="last"}')
    expect(parse({ name: 'm', value: 1, tags: { host: 'a' } }).samples[0]!.series).toBe('m{host="a"}')
    expect(parse({ name: 'm', value: 1, labels: null }).samples[0]!.series).toBe('m{}')
    expect(parse({ name: 'm', value: 1, labels: {} }).samples[0]!.series).toBe('m{}')
  })

  it('label errors', () => {
    expect(error({ name: 'm', value: 1, labels: { a: '1' }, tags: { b: '2' } })).toBe('give either "labels" or "tags", not both')
    expect(error({ name: 'm', value: 1, labels: [] })).toBe('"labels" must be an object, got an array')
    expect(error({ name: 'm', value: 1, labels: 'a=b' })).toBe('"labels" must be an object, got the string "a=b"')
    expect(error({ name: 'm', value: 1, labels: { a: { b: 1 } } })).toBe('label "a" must be a string, number or boolean, got an object')
    expect(error({ name: 'm', value: 1, labels: { a: null } })).toBe('label "a" must be a string, number or boolean, got null')
    expect(error({ name: 'm', value: 1, labels: { '': 'x' } })).toBe('empty label name')
    expect(error({ name: 'm', value: 1, labels: { a: 'x\u0000y' } })).toBe('NUL character in label "a"')
    expect(error({ name: 'm', value: 1, labels: { 'a\u0000': 'x' } })).toBe('NUL character in label "a\\u0000"')
  })

  it('__name__ in labels: dropped when it equals the name, rejected otherwise', () => {
    expect(parse({ name: 'm', value: 1, labels: { __name__: 'm', a: 'b' } }).samples[0]!.series).toBe('m{a="b"}')
    expect(error({ name: 'm', value: 1, labels: { __name__: 'other' } })).toBe('label "__name__" ("other") differs from the name "m"')
  })

  it('a series refused by the sink rejects its entry with the sink\'s reason', () => {
    class LimitedSink extends RecordingSink {
      override seriesId (name: string, labels: readonly Label[]): number {
        if (labels.length > 2) throw new Error(`series has ${labels.length} labels, more than the limit of 2`)
        return super.seriesId(name, labels)
      }
    }
    const r = parse([{ name: 'm', value: 1, labels: { a: 1, b: 2, c: 3 } }, { name: 'm', value: 2 }], 'json', new LimitedSink())
    expect(r.errors).toEqual([{ line: 1, message: 'series "m" refused: series has 3 labels, more than the limit of 2' }])
    expect(r.samples).toEqual([{ series: 'm{}', t: NOW, v: 2 }])
  })

  it('errors thrown by sink.sample() propagate', () => {
    const sink: SampleSink = { seriesId: () => 0, sample: () => { throw new RangeError('ring full') } }
    expect(() => parseJsonBody(Buffer.from('{"name":"a","value":1}'), 'json', sink, 0)).toThrow('ring full')
  })
})

describe('timestamps', () => {
  const ts = (t: unknown): number => parse({ name: 'x', value: 1, timestamp: t }).samples[0]!.t

  it('missing or null means now; numbers are epoch ms, floored', () => {
    expect(parse({ name: 'x', value: 1 }).samples[0]!.t).toBe(NOW)
    expect(ts(null)).toBe(NOW)
    expect(ts(1700000000123)).toBe(1700000000123)
    expect(ts(1.9)).toBe(1)
    expect(ts(-1.5)).toBe(-2)
    expect(Object.is(ts(-0.0), 0)).toBe(true)
    expect(ts('1700000000123')).toBe(1700000000123)
    expect(ts('12.7')).toBe(12)
  })

  it('RFC 3339 / ISO-8601 strings with a zone', () => {
    const cases: Array<[string, number]> = [
      ['2024-01-02T03:04:05Z', Date.UTC(2024, 0, 2, 3, 4, 5)],
      ['2024-01-02T03:04:05.678Z', Date.UTC(2024, 0, 2, 3, 4, 5, 678)],
      ['2024-01-02T03:04:05.678999999Z', Date.UTC(2024, 0, 2, 3, 4, 5, 678)],
      ['2024-01-02t03:04:05.6z', Date.UTC(2024, 0, 2, 3, 4, 5, 600)],
      ['2024-01-02 03:04:05Z', Date.UTC(2024, 0, 2, 3, 4, 5)],
      ['2024-01-02T03:04:05+02:00', Date.UTC(2024, 0, 2, 1, 4, 5)],
      ['2024-01-02T03:04:05-0130', Date.UTC(2024, 0, 2, 4, 34, 5)],
      ['2024-01-02T03:04:05+05', Date.UTC(2024, 0, 2, -2, 4, 5)],
      ['2024-01-02T03:04Z', Date.UTC(2024, 0, 2, 3, 4)],
      ['2024-02-29', Date.UTC(2024, 1, 29)],
      ['1969-12-31T23:59:59.999Z', -1],
      ['0001-01-01T00:00:00Z', Date.parse('0001-01-01T00:00:00Z')],
      ['0050-06-15T00:00:00Z', Date.parse('0050-06-15T00:00:00Z')],
      ['9999-12-31T23:59:59.999Z', Date.parse('9999-12-31T23:59:59.999Z')],
    ]
    for (const [text, want] of cases) expect(ts(text), text).toBe(want)
  })

  it('agrees with Date.parse on random ISO strings', () => {
    const rand = mulberry32(11)
    for (let i = 0; i < 2000; i++) {
      const ms = Math.floor((rand() - 0.3) * 2e13)
      const iso = new Date(ms).toISOString()
      if (iso.startsWith('+') || iso.startsWith('-')) continue
      expect(parseTimestamp(iso), iso).toBe(ms)
    }
  })

  it('rejects unzoned date-times, impossible dates and other text', () => {
    expect(error({ name: 'x', value: 1, timestamp: '2024-01-02T03:04:05' })).toBe('invalid timestamp "2024-01-02T03:04:05": a date-time needs a time zone (Z or +hh:mm); without one it would mean the server\'s local time')
    for (const bad of ['2023-02-29', '2024-13-01', '2024-00-10', '2024-04-31T00:00:00Z']) {
      expect(error({ name: 'x', value: 1, timestamp: bad }), bad).toBe(`invalid timestamp "${bad}": no such date`)
    }
    expect(error({ name: 'x', value: 1, timestamp: '2024-01-02T24:00:00Z' })).toMatch(/no such time of day$/)
    expect(error({ name: 'x', value: 1, timestamp: '2024-01-02T03:04:05+25:00' })).toMatch(/no such time zone offset$/)
    for (const bad of ['yesterday', 'March 7 2024', '2024/01/02', '', '1e12', '0x10', 'NaN']) {
      expect(error({ name: 'x', value: 1, timestamp: bad }), bad).toMatch(/expected epoch milliseconds or an RFC 3339 date-time/)
    }
    expect(error({ name: 'x', value: 1, timestamp: true })).toBe('"timestamp" must be epoch milliseconds or an RFC 3339 string, got boolean true')
  })

  it(`rejects timestamps beyond +-${MAX_TIMESTAMP_MS} ms`, () => {
    expect(ts(MAX_TIMESTAMP_MS)).toBe(MAX_TIMESTAMP_MS)
    expect(ts(-MAX_TIMESTAMP_MS)).toBe(-MAX_TIMESTAMP_MS)
    expect(error({ name: 'x', value: 1, timestamp: MAX_TIMESTAMP_MS + 1 })).toMatch(/^timestamp out of range/)
    expect(error({ name: 'x', value: 1, timestamp: -MAX_TIMESTAMP_MS - 1 })).toMatch(/^timestamp out of range/)
    expect(error({ name: 'x', value: 1, timestamp: '99999999999999999999' })).toMatch(/^timestamp out of range/)
    expect(parse('[{"name":"x","value":1,"timestamp":1e400}]').errors[0]!.message).toBe('timestamp is out of range')
  })
})

describe('series cache', () => {
  it('a cache reused across bodies asks the sink only on a miss and gives the same ids', () => {
    const sink = new RecordingSink()
    const cache = new JsonSeriesCache()
    const body = [
      { name: 'a', value: 1, labels: { x: '1', y: '2' } },
      { name: 'a', value: 2, labels: { y: '2', x: '1' } }, // other order: another cache key, same series
      { name: 'a', value: 3, labels: { x: 1, y: 2 } }, // numbers stringified: same series as the first
      { name: 'b', value: 4 },
    ]
    parse(body, 'json', sink, cache)
    expect(sink.keys).toEqual(['a{x="1",y="2"}', 'b{}'])
    const calls = sink.seriesCalls
    parse(body, 'json', sink, cache)
    expect(sink.seriesCalls).toBe(calls)
    expect(new Set(sink.samples.slice(0, 3).map((s) => s.series)).size).toBe(1)
    cache.clear()
    parse(body, 'json', sink, cache)
    expect(sink.seriesCalls).toBeGreaterThan(calls)
  })

  it('a bounded cache still gives the right ids', () => {
    const sink = new RecordingSink()
    const cache = new JsonSeriesCache(3)
    const body = Array.from({ length: 50 }, (_, i) => ({ name: `m${i % 7}`, value: i, labels: { k: String(i % 5) } }))
    const ref = parse(body)
    for (let round = 0; round < 3; round++) {
      sink.samples.length = 0
      expect(parse(body, 'json', sink, cache).samples).toEqual(ref.samples)
    }
    expect(cache.size).toBeLessThanOrEqual(3)
  })

  it('a NUL cannot make one series look like another through the cache key', () => {
    const cache = new JsonSeriesCache()
    const sink = new RecordingSink()
    parse({ name: 'a', value: 1, labels: { b: 'c' } }, 'json', sink, cache)
    const r = parse({ name: 'a\u0000b\u0000c', value: 2 }, 'json', sink, cache)
    expect(r.rejected).toBe(1)
  })
})

describe('bad input never throws', () => {
  it('random bytes and mangled JSON', () => {
    const rand = mulberry32(77)
    const sample = Buffer.from(JSON.stringify([{ name: 'a', value: 1.5, timestamp: '2024-01-02T03:04:05Z', labels: { x: 'y', n: 1 } }, { metric: 'b', value: '2', tags: { t: true } }]) + '\n{"name":"c","value":3}\n')
    for (let i = 0; i < 2000; i++) {
      let body: Uint8Array
      if (i % 2 === 0) {
        body = new Uint8Array(Math.floor(rand() * 200))
        for (let k = 0; k < body.length; k++) body[k] = Math.floor(rand() * 256)
      } else {
        body = Buffer.from(sample)
        for (let k = 0; k < 3; k++) body[Math.floor(rand() * body.length)] = Math.floor(rand() * 128)
        body = body.subarray(0, Math.floor(rand() * (body.length + 1)))
      }
      for (const kind of ['json', 'ndjson'] as const) {
        const sink = new RecordingSink()
        const r = parseJsonBody(body, kind, sink, NOW)
        expect(r.accepted).toBe(sink.samples.length)
      }
    }
  })

  it('deep nesting and big bodies', () => {
    expect(parse('['.repeat(100_000) + ']'.repeat(100_000)).rejected).toBe(1)
    expect(parse('['.repeat(100_000)).rejected).toBe(1)
    const big = Array.from({ length: 20_000 }, (_, i) => ({ name: 'm', value: i, labels: Object.fromEntries(Array.from({ length: 5 }, (_, k) => [`k${k}`, `${i % 100}`])) }))
    const r = parse(big)
    expect(r.accepted).toBe(20_000)
    expect(r.sink.keys).toHaveLength(100)
    const wide = parse({ name: 'm', value: 1, labels: Object.fromEntries(Array.from({ length: 10_000 }, (_, k) => [`l${k}`, 'v'])) })
    expect(wide.accepted).toBe(1)
    expect(parse({ name: 'x'.repeat(1 << 20), value: 1 }).accepted).toBe(1)
  })
})
