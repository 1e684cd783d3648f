/**
 * LineProtocolParser on its own: the grammar, the mapping to series, errors
 * and line numbers, exact values and timestamps, the series cache, limits and
 * fuzzing. Runs against the compiled parser (npm test builds first).
 */
import { describe, expect, it } from 'vitest'
import { LineProtocolParser, parsePrecision, type Precision } from '../dist/workers/parsers/lineprotocol.js'
import { MAX_REPORTED_ERRORS, MAX_TIMESTAMP_MS, type Label, type ParseResult, type SampleSink } from '../dist/workers/parsers/types.js'
import { RecordingSink, mulberry32 } from './helpers/sink.js'

const NOW = 1_700_000_000_000


interface Parsed extends ParseResult { samples: RecordingSink['samples'], sink: RecordingSink }

function parse (body: string | Uint8Array, opts: { precision?: Precision, db?: string, nowMs?: number } = {}, parser?: LineProtocolParser, sink?: RecordingSink): Parsed {
  const s = sink ?? new RecordingSink()
  const p = parser ?? new LineProtocolParser(s)
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  const before = s.samples.length
  const r = p.parse(bytes, { precision: opts.precision ?? 'ms', db: opts.db, nowMs: opts.nowMs ?? NOW })
  expect(r.accepted).toBe(s.samples.length - before)
  expect(r.errors.length).toBeLessThanOrEqual(Math.min(r.rejected, MAX_REPORTED_ERRORS))
  return { ...r, samples: s.samples, sink: s }
}

/** The value of the only sample of a one-field line `m v=<text>`. */
function value (text: string): number {
  const r = parse(`m v=${text}`)
  if (r.rejected !== 0) throw new Error(`rejected: ${r.errors[0]?.message}`)
  return r.samples[0]!.v
}

/** The message of the only error of a one-line body. */
function error (body: string, opts: { precision?: Precision, db?: string } = {}): string {
  const r = parse(body, opts)
  expect(r.rejected).toBe(1)
  expect(r.accepted).toBe(0)
  expect(r.errors).toHaveLength(1)
  expect(r.errors[0]!.line).toBe(1)
  return r.errors[0]!.message
}


describe('parsePrecision', () => {
  it('accepts the v2 names and the v1 spellings, defaults to ns', () => {
    const cases: Array<[string | null | undefined, Precision | undefined]> = [
      [undefined, 'ns'], [null, 'ns'], ['', 'ns'], ['ns', 'ns'], ['n', 'ns'],
      ['us', 'us'], ['u', 'us'], ['\u00b5', 'us'], ['\u03bc', 'us'],
      ['ms', 'ms'], ['s', 's'], ['m', 'm'], ['h', 'h'],
      ['NS', undefined], ['sec', undefined], ['mu', undefined], ['d', undefined], [' ms', undefined],
    ]
    for (const [input, want] of cases) expect(parsePrecision(input), String(input)).toBe(want)
  })
})

describe('mapping', () => {
  it('maps each numeric or boolean field to <measurement>_<field> with the tags as sorted labels', () => {
    const r = parse('cpu,region=x,host=a usage=1.5,idle=98i,up=t,count=7u 1700000000123')
    expect(r.rejected).toBe(0)
    expect(r.samples).toEqual([
      { series: 'cpu_usage{host="a",region="x"}', t: 1700000000123, v: 1.5 },
      { series: 'cpu_idle{host="a",region="x"}', t: 1700000000123, v: 98 },
      { series: 'cpu_up{host="a",region="x"}', t: 1700000000123, v: 1 },
      { series: 'cpu_count{host="a",region="x"}', t: 1700000000123, v: 7 },
    ])
  })

  it('a measurement without tags has no labels', () => {
    expect(parse('m f=2 5').samples).toEqual([{ series: 'm_f{}', t: 5, v: 2 }])
  })

  it('adds db=<db> unless the line has its own db tag', () => {
    const r = parse('m,host=a f=1 1\nm,db=own,host=a f=2 1\nm f=3 1', { db: 'telegraf' })
    expect(r.samples.map((s) => s.series)).toEqual([
      'm_f{db="telegraf",host="a"}',
      'm_f{db="own",host="a"}',
      'm_f{db="telegraf"}',
    ])
    expect(parse('m f=1 1', { db: '' }).samples[0]!.series).toBe('m_f{}')
  })

  it('keeps series of different dbs apart, through the cache too', () => {
    const sink = new RecordingSink()
    const p = new LineProtocolParser(sink)
    parse('m,h=a f=1 1', { db: 'one' }, p, sink)
    parse('m,h=a f=1 1', { db: 'two' }, p, sink)
    parse('m,h=a f=1 1', {}, p, sink)
    parse('m,h=a f=1 1', { db: 'one' }, p, sink)
    expect(sink.samples.map((s) => s.series)).toEqual(['m_f{db="one",h="a"}', 'm_f{db="two",h="a"}', 'm_f{h="a"}', 'm_f{db="one",h="a"}'])
  })

  it('skips string fields and counts them; a line of strings only is accepted with no sample', () => {
    const r = parse('m a="x",b=1,c="y, z = w" 1\nm s="only" 2')
    expect(r.rejected).toBe(0)
    expect(r.skipped).toBe(3)
    expect(r.samples).toEqual([{ series: 'm_b{}', t: 1, v: 1 }])
  })

  it('booleans in every spelling', () => {
    for (const t of ['t', 'T', 'true', 'True', 'TRUE']) expect(value(t), t).toBe(1)
    for (const f of ['f', 'F', 'false', 'False', 'FALSE']) expect(value(f), f).toBe(0)
    for (const bad of ['tru', 'TRue', 'yes', 'truee', 'FALSe', 'fa']) expect(error(`m v=${bad}`), bad).toBe(`invalid field value "${bad}" for field "v" (expected a float, an integer with i or u, a boolean, or a quoted string)`)
  })

  it('a repeated field gives two samples of one series, in order', () => {
    expect(parse('m a=1,a=2 1').samples).toEqual([{ series: 'm_a{}', t: 1, v: 1 }, { series: 'm_a{}', t: 1, v: 2 }])
  })
})

describe('whitespace, comments, line endings', () => {
  it('skips comments and blank lines, accepts CRLF, leading and trailing spaces, runs of spaces', () => {
    const body = '# a comment\r\n\r\n   \n  # indented comment\nm f=1 10\r\nm  g=2   20   \r\n   m h=3\r\n\nm i=4    \nm j=5'
    const r = parse(body)
    expect(r.rejected).toBe(0)
    expect(r.samples).toEqual([
      { series: 'm_f{}', t: 10, v: 1 },
      { series: 'm_g{}', t: 20, v: 2 },
      { series: 'm_h{}', t: NOW, v: 3 },
      { series: 'm_i{}', t: NOW, v: 4 },
      { series: 'm_j{}', t: NOW, v: 5 },
    ])
  })

  it('a final CR is a line end; a CR inside a line is an error', () => {
    expect(parse('m f=1 1\r').samples).toHaveLength(1)
    expect(error('m f=1 1\rm f=2 2')).toBe('carriage return not followed by a line feed')
    expect(error('m f=1\rx')).toBe('carriage return not followed by a line feed')
  })

  it('an empty body or only comments gives nothing', () => {
    for (const body of ['', '\n', '\r\n', '# x', '#x\n#y\n']) {
      const r = parse(body)
      expect([r.accepted, r.rejected, r.skipped, r.errors.length]).toEqual([0, 0, 0, 0])
    }
  })

  it('tab is not a separator', () => {
    expect(error('m\tf=1 1')).toMatch(/control character 0x09 in the measurement/)
    expect(error('m f=1\t1')).toMatch(/invalid field value "1\\t1"/)
  })
})

describe('escapes', () => {
  it('measurement: \\, and \\ are escapes, a backslash before anything else stays', () => {
    expect(parse('my\\ meas\\,x f=1 1').samples[0]!.series).toBe('my meas,x_f{}')
    expect(parse('a\\=b f=1 1').samples[0]!.series).toBe('a\\=b_f{}')
    expect(parse('a=b f=1 1').samples[0]!.series).toBe('a=b_f{}')
    expect(parse('a\\b\\\\c f=1 1').samples[0]!.series).toBe('a\\b\\\\c_f{}')
  })

  it('tag keys and values: \\, \\= and \\  are escapes', () => {
    const r = parse('m,k\\ 1\\,\\=x=v\\ 1\\,\\=y f=1 1')
    expect(r.samples[0]!.series).toBe('m_f{k 1,=x="v 1,=y"}')
  })

  it('field keys: \\, \\= and \\  are escapes', () => {
    expect(parse('m f\\ 1\\,\\=x=1 1').samples[0]!.series).toBe('m_f 1,=x{}')
  })

  it('a backslash before a backslash is literal: two\\\\ words is "two\\ words"', () => {
    expect(parse('m,t=two\\\\ words f=1 1').samples[0]!.series).toBe(`m_f{t=${JSON.stringify('two\\ words')}}`)
    expect(parse('m,t=a\\b\\"c f=1 1').samples[0]!.series).toBe('m_f{t="a\\\\b\\\\\\"c"}')
  })

  it('unicode in every part', () => {
    const r = parse('mésure,clé=välue,日本=語 fïeld=1 1')
    expect(r.samples[0]!.series).toBe('mésure_fïeld{clé="välue",日本="語"}')
  })
})

describe('quoted string fields', () => {
  it('may hold commas, spaces, equals, escaped quotes and backslashes', () => {
    const r = parse('m s="a, b = c \\"q\\" \\\\ d\\n",v=2 3\nm v=4 5')
    expect(r.rejected).toBe(0)
    expect(r.skipped).toBe(1)
    expect(r.samples).toEqual([{ series: 'm_v{}', t: 3, v: 2 }, { series: 'm_v{}', t: 5, v: 4 }])
  })

  it('a field set of quoted text that looks like line protocol stays one field', () => {
    const r = parse('m s="x y=1,z=2 3",v=1 7')
    expect(r.samples).toEqual([{ series: 'm_v{}', t: 7, v: 1 }])
  })

  it('accepts a raw newline inside a string (as InfluxDB does); later lines keep their physical numbers', () => {
    const r = parse('m s="first\nsecond\nthird",v=1 7\nbad\nm v=2 8')
    expect(r.samples).toEqual([{ series: 'm_v{}', t: 7, v: 1 }, { series: 'm_v{}', t: 8, v: 2 }])
    expect(r.errors).toEqual([{ line: 4, message: 'missing field set: a point needs at least one field, after a space following the measurement and tags' }])
  })

  it('an error in a point that spans lines names the line where it starts; the next line is parsed on its own', () => {
    const r = parse('m v=1 1\nm s="a\nb",v=x 2\nm v=3 3')
    const message = 'invalid field value "x" for field "v" (expected a float, an integer with i or u, a boolean, or a quoted string)'
    expect(r.errors).toEqual([{ line: 2, message }, { line: 3, message: 'field "2" has no "=value"' }])
    expect(r.samples.map((s) => s.v)).toEqual([1, 3])
  })

  it('a stray quote costs only its own line', () => {
    // Line 2's quote "closes" at line 4's, line 4's at line 6's; parsing goes on at lines 3 and 5.
    const r = parse('m v=1 1\nm s="open,v=2 2\nm v=3 3\nm s="again\nm v=4 4\nm s="more\nm v=5 5')
    expect(r.errors).toEqual([
      { line: 2, message: 'unexpected "again" after the string value of field "s" (expected "," or a space)' },
      { line: 4, message: 'unexpected "more" after the string value of field "s" (expected "," or a space)' },
      { line: 6, message: 'unterminated string value for field "s"' },
    ])
    expect(r.samples.map((s) => s.v)).toEqual([1, 3, 4, 5])
  })

  it('stays linear when stray quotes pair up across many lines', () => {
    const body = 'm s="x\n'.repeat(20_000) + '"' + ',a=1'.repeat(50_000) + ',a=x\nm v=1 1\n'
    const r = parse(body)
    expect(r.accepted).toBe(1)
    expect(r.rejected).toBeGreaterThan(1)
  })

  it('stays linear with many unterminated strings', () => {
    const body = 'm s="x\n'.repeat(50_000) + 'm v=1 1\n'
    const r = parse(body)
    expect(r.rejected).toBe(50_000)
    expect(r.accepted).toBe(1)
    expect(r.errors[99]!.line).toBe(100)
  })

  it('text right after the closing quote is an error', () => {
    expect(error('m s="x"y 1')).toBe('unexpected "y" after the string value of field "s" (expected "," or a space)')
  })

  it('invalid UTF-8 inside a string rejects the line', () => {
    const body = Buffer.concat([Buffer.from('m s="a'), Buffer.from([0xc3, 0x28]), Buffer.from('",v=1 1\nm v=2 2')])
    const r = parse(body)
    expect(r.errors).toEqual([{ line: 1, message: 'invalid UTF-8 in the string value of field "s"' }])
    expect(r.samples.map((s) => s.v)).toEqual([2])
  })
})

describe('numbers', () => {
  it('floats in every form of the grammar', () => {
    const cases: Array<[string, number]> = [
      ['1', 1], ['1.', 1], ['.5', 0.5], ['-.5', -0.5], ['1e4', 1e4], ['1E+4', 1e4], ['1.5e-3', 1.5e-3],
      ['-0.64', -0.64], ['000123', 123], ['-000.5', -0.5], ['1.e2', 100], ['0', 0], ['12345678.9', 12345678.9],
    ]
    for (const [text, want] of cases) expect(value(text), text).toBe(want)
    expect(Object.is(value('-0'), -0)).toBe(true)
    expect(Object.is(value('-0.0'), -0)).toBe(true)
  })

  it('rejects what is not a float of the grammar', () => {
    for (const bad of ['+1', '1.2.3', '1e', '1e+', '.', '-', '-.', 'e5', '.e5', '1_000', '0x10', 'NaN', 'nan', 'Inf', '-Inf', 'inf', 'Infinity', '1f', '1..', '--1', '1-', '١']) {
      expect(error(`m v=${bad}`), bad).toMatch(/^invalid field value ".*" for field "v"/)
    }
  })

  it('rejects floats beyond float64; tiny ones go to 0 as Number() does', () => {
    expect(error('m v=1e400')).toBe('field value "1e400" for field "v" is out of the float64 range')
    expect(error('m v=-1.8e308')).toBe('field value "-1.8e308" for field "v" is out of the float64 range')
    expect(value('1e-400')).toBe(0)
    expect(value('1e-99999999999')).toBe(0)
  })

  it('int64 with i: the full range, exactly checked; nearest float64 past 2^53', () => {
    expect(value('9223372036854775807i')).toBe(Number('9223372036854775807'))
    expect(value('-9223372036854775808i')).toBe(-9223372036854775808)
    expect(value('000000000000009223372036854775807i')).toBe(Number('9223372036854775807'))
    expect(value('9007199254740993i')).toBe(9007199254740992)
    expect(value('12i')).toBe(12)
    expect(Object.is(value('-0i'), 0)).toBe(true)
    expect(error('m v=9223372036854775808i')).toBe('field value "9223372036854775808i" for field "v" is out of the int64 range')
    expect(error('m v=-9223372036854775809i')).toBe('field value "-9223372036854775809i" for field "v" is out of the int64 range')
    expect(error('m v=99999999999999999999999i')).toMatch(/out of the int64 range/)
    for (const bad of ['1.5i', '9e10i', '1.i', '.5i', 'i', '-i', '1ii', '1iu', '+1i']) expect(error(`m v=${bad}`), bad).toMatch(/^invalid field value/)
  })

  it('uint64 with u: the full range, no sign', () => {
    expect(value('18446744073709551615u')).toBe(Number('18446744073709551615'))
    expect(value('0u')).toBe(0)
    expect(value('42u')).toBe(42)
    expect(error('m v=18446744073709551616u')).toBe('field value "18446744073709551616u" for field "v" is out of the uint64 range')
    expect(error('m v=-1u')).toBe('invalid field value "-1u" for field "v": an unsigned integer cannot be negative')
    for (const bad of ['1.5u', '1e3u', 'u', '+1u']) expect(error(`m v=${bad}`), bad).toMatch(/^invalid field value/)
  })

  it('values are exactly the float64 that Number() gives', () => {
    const fixed = [
      '5e-324', '-5e-324', '4.9406564584124654e-324', '2.2250738585072014e-308', '2.2250738585072011e-308',
      '1.7976931348623157e308', '-1.7976931348623157e308', '1.7976931348623158e308',
      '9007199254740992', '9007199254740993', '9007199254740991', '-9007199254740991', '18014398509481985',
      '0.1', '0.2', '0.3', '0.30000000000000004', '0.1e1', '123456789012345678901234567890',
      '3.141592653589793238462643383279', '2.718281828459045', '1e22', '1e23', '1e-22', '1e-23', '8.589973e9',
      '0.000000000000000000000000000001', '100000000000000000000000000000000000000000000000000000e-50',
      '7.038531e-26', '9.999999999999999e22', '1.00000000000000011102230246251565404236316680908203125',
      '1.00000000000000011102230246251565404236316680908203124', '4503599627370496.5', '4503599627370497.5',
    ]
    for (const text of fixed) expect(Object.is(value(text), Number(text)), text).toBe(true)
  })

  it('random doubles round-trip through their shortest, 17-digit and exponent forms', () => {
    const rand = mulberry32(42)
    const bits = new Uint32Array(2)
    const f64 = new Float64Array(bits.buffer)
    let lines = ''
    const want: number[] = []
    for (let i = 0; i < 3000; i++) {
      bits[0] = (rand() * 2 ** 32) >>> 0
      bits[1] = (rand() * 2 ** 32) >>> 0
      const x = f64[0]!
      if (!Number.isFinite(x)) continue
      for (const text of [String(x), x.toPrecision(17), x.toExponential(20)]) {
        lines += `m v=${text}\n`
        want.push(Number(text))
      }
    }
    const r = parse(lines)
    expect(r.rejected).toBe(0)
    expect(r.samples.map((s) => s.v)).toEqual(want)
  })

  it('random decimal strings (up to 30 digits, any exponent) parse as Number() does', () => {
    const rand = mulberry32(7)
    let lines = ''
    const want: number[] = []
    for (let i = 0; i < 5000; i++) {
      const digits = 1 + Math.floor(rand() * 30)
      let d = ''
      for (let k = 0; k < digits; k++) d += String(Math.floor(rand() * 10))
      const dot = Math.floor(rand() * (digits + 1))
      let text = (rand() < 0.3 ? '-' : '') + (dot === digits ? d : d.slice(0, dot) + '.' + d.slice(dot))
      if (rand() < 0.5) text += 'e' + String(Math.floor(rand() * 700) - 350)
      if (text.startsWith('.e') || text.startsWith('-.e')) continue
      const v = Number(text)
      if (!Number.isFinite(v)) continue
      lines += `m v=${text}\n`
      want.push(v)
    }
    const r = parse(lines)
    expect(r.errors).toEqual([])
    expect(r.samples.map((s) => s.v)).toEqual(want)
  })

  it('integers up to 2^53 are exact', () => {
    let lines = ''
    const want: number[] = []
    for (let e = 0; e <= 53; e++) {
      for (const x of [2 ** e - 1, 2 ** e, -(2 ** e)]) {
        lines += `m v=${x}\nm v=${x}i\n`
        want.push(x, x === 0 ? 0 : x)
      }
    }
    expect(parse(lines).samples.map((s) => s.v)).toEqual(want)
  })
})

describe('timestamps', () => {
  const instant = 1_700_000_123_456 // ms
  it('converts each precision to ms (v1 spellings included)', () => {
    const cases: Array<[string, string, number]> = [
      ['ns', '1700000123456789012', instant], ['n', '1700000123456789012', instant],
      ['us', '1700000123456789', instant], ['u', '1700000123456789', instant], ['\u00b5', '1700000123456789', instant], ['\u03bc', '1700000123456789', instant],
      ['ms', '1700000123456', instant],
      ['s', '1700000123', 1_700_000_123_000],
      ['m', '28333335', 28_333_335 * 60_000],
      ['h', '472222', 472_222 * 3_600_000],
    ]
    for (const [name, ts, want] of cases) {
      const precision = parsePrecision(name)!
      expect(parse(`m v=1 ${ts}`, { precision }).samples[0]!.t, name).toBe(want)
    }
  })

  it('ns and us are floored toward negative infinity', () => {
    const cases: Array<[Precision, string, number]> = [
      ['ns', '1999999', 1], ['ns', '999999', 0], ['ns', '-1', -1], ['ns', '-999999', -1], ['ns', '-1000000', -1], ['ns', '-1000001', -2],
      ['ns', '0', 0], ['ns', '-0', 0], ['us', '-1', -1], ['us', '-1000', -1], ['us', '-1001', -2], ['us', '1999', 1],
      ['ms', '-5', -5], ['s', '-2', -2000],
    ]
    for (const [precision, ts, want] of cases) {
      const t = parse(`m v=1 ${ts}`, { precision }).samples[0]!.t
      expect(Object.is(t, want), `${precision} ${ts} -> ${t}`).toBe(true)
    }
  })

  it('ns timestamps above 2^53 convert exactly (checked against BigInt)', () => {
    const rand = mulberry32(99)
    let lines = ''
    const want: number[] = []
    const fixed = ['9223372036854775807', '-9223372036854775808', '9007199254740993000', '1700000000123456789', '000001700000000123456789']
    for (let i = 0; i < 2000; i++) {
      let d = fixed[i] ?? String(1 + Math.floor(rand() * 9))
      if (i >= fixed.length) for (let k = 0; k < 18; k++) d += String(Math.floor(rand() * 10))
      if (i >= fixed.length && rand() < 0.3) d = '-' + d
      const x = BigInt(d)
      const q = x / 1_000_000n
      const floor = x < 0n && q * 1_000_000n !== x ? q - 1n : q
      lines += `m v=1 ${d}\n`
      want.push(Number(floor))
    }
    const r = parse(lines, { precision: 'ns' })
    expect(r.errors).toEqual([])
    expect(r.samples.map((s) => s.t)).toEqual(want)
  })

  it('missing timestamp means nowMs', () => {
    expect(parse('m v=1', { nowMs: 123 }).samples[0]!.t).toBe(123)
    expect(parse('m v=1   ', { nowMs: 123, precision: 's' }).samples[0]!.t).toBe(123)
  })

  it('rejects timestamps out of +-MAX_TIMESTAMP_MS', () => {
    expect(parse(`m v=1 ${MAX_TIMESTAMP_MS}`).samples[0]!.t).toBe(MAX_TIMESTAMP_MS)
    expect(parse(`m v=1 -${MAX_TIMESTAMP_MS}`).samples[0]!.t).toBe(-MAX_TIMESTAMP_MS)
    expect(error(`m v=1 ${MAX_TIMESTAMP_MS + 1}`)).toBe(`timestamp out of range: "${MAX_TIMESTAMP_MS + 1}" is beyond +-${MAX_TIMESTAMP_MS} ms from the epoch in this precision`)
    expect(error(`m v=1 -${MAX_TIMESTAMP_MS + 1}`)).toMatch(/^timestamp out of range/)
    expect(error('m v=1 8640000000001', { precision: 's' })).toMatch(/^timestamp out of range/)
    expect(parse('m v=1 8640000000000', { precision: 's' }).samples[0]!.t).toBe(MAX_TIMESTAMP_MS)
    expect(error('m v=1 2400000001', { precision: 'h' })).toMatch(/^timestamp out of range/)
    expect(error('m v=1 ' + '9'.repeat(100))).toMatch(/^timestamp out of range/)
    expect(parse('m v=1 ' + '0'.repeat(100) + '5').samples[0]!.t).toBe(5)
  })

  it('rejects timestamps that are not integers', () => {
    for (const bad of ['1.5', '12a', '-', '+5', '1e9', '0x10', '1 2', '--1', '5-']) {
      expect(error(`m v=1 ${bad}`), bad).toMatch(/^invalid timestamp ".*" \(expected an integer\)$/)
    }
    expect(error('m v=1 12a')).toBe('invalid timestamp "12a" (expected an integer)')
  })
})

describe('bad lines', () => {
  it('reasons name the offending part', () => {
    const cases: Array<[string, string]> = [
      ['m,a= f=1 1', 'empty value for tag "a"'],
      ['m,a=,b=c f=1 1', 'empty value for tag "a"'],
      ['m,a=b,a=c f=1 1', 'duplicate tag key "a"'],
      ['m,a=b,c=d,a=b f=1 1', 'duplicate tag key "a"'],
      ['m,=b f=1 1', 'empty tag key'],
      ['m, f=1 1', 'empty tag (a comma with no tag after it)'],
      ['m,a=b, f=1 1', 'empty tag (a comma with no tag after it)'],
      ['m,a f=1 1', 'tag "a" has no "=value"'],
      ['m,a=b=c f=1 1', 'unescaped "=" in the value of tag "a" (escape it as \\=)'],
      [',a=b f=1 1', 'missing measurement name'],
      ['m,__name__=x f=1 1', 'tag key "__name__" is reserved (it holds the metric name)'],
      ['m', 'missing field set: a point needs at least one field, after a space following the measurement and tags'],
      ['m   ', 'missing field set: a point needs at least one field, after a space following the measurement and tags'],
      ['m,a=b 1', 'field "1" has no "=value"'],
      ['m f', 'field "f" has no "=value"'],
      ['m f 1', 'field "f" has no "=value"'],
      ['m f=', 'missing value for field "f"'],
      ['m f= 1', 'missing value for field "f"'],
      ['m f=,g=1', 'missing value for field "f"'],
      ['m =1', 'empty field key'],
      ['m f=1,', 'empty field key'],
      ['m f=1,,g=2', 'empty field key'],
      ['m f=1, g=2', 'empty field key'],
      ['m usage=12x 1', 'invalid field value "12x" for field "usage" (expected a float, an integer with i or u, a boolean, or a quoted string)'],
      ['m f\\ k=12x 1', 'invalid field value "12x" for field "f\\\\ k" (expected a float, an integer with i or u, a boolean, or a quoted string)'],
      ['m f="x 1', 'unterminated string value for field "f"'],
      ['m f=1 1 2', 'invalid timestamp "1 2" (expected an integer)'],
    ]
    for (const [body, want] of cases) expect(error(body), body).toBe(want)
  })

  it('rejects control characters and NUL in identifiers', () => {
    expect(error('m,a=b\u0000c f=1 1')).toBe('NUL character in the value of tag "a"')
    expect(error('m,a\u0000=b f=1 1')).toBe('NUL character in tag key "a\\u0000"')
    expect(error('m\u0000 f=1 1')).toBe('NUL character in the measurement "m\\u0000"')
    expect(error('m f\u0000=1 1')).toBe('NUL character in field key "f\\u0000"')
    expect(error('m,a=b\u0001 f=1 1')).toBe('control character 0x01 in the value of tag "a"')
    expect(error('m,a=b\u007f f=1 1')).toBe('control character 0x7f in the value of tag "a"')
    expect(error('m f=1 1', { db: 'x\u0000' })).toBe('invalid db: it holds a control character')
  })

  it('rejects invalid UTF-8 in the measurement, tags and field keys', () => {
    const bad = (prefix: string, suffix: string): Buffer => Buffer.concat([Buffer.from(prefix), Buffer.from([0xff, 0xfe]), Buffer.from(suffix)])
    const cases: Array<[Buffer, RegExp]> = [
      [bad('m', ' f=1 1'), /^invalid UTF-8 in the measurement/],
      [bad('m,', '=v f=1 1'), /^invalid UTF-8 in tag key/],
      [bad('m,k=', ' f=1 1'), /^invalid UTF-8 in the value of tag "k"/],
      [bad('m f', '=1 1'), /^invalid UTF-8 in field key/],
      [Buffer.from([0x6d, 0x2c, 0x6b, 0x3d, 0xed, 0xa0, 0x80, 0x20, 0x66, 0x3d, 0x31]), /^invalid UTF-8 in the value of tag "k"/], // a surrogate
      [Buffer.from([0x6d, 0x2c, 0x6b, 0x3d, 0xc0, 0xaf, 0x20, 0x66, 0x3d, 0x31]), /^invalid UTF-8 in the value of tag "k"/], // overlong
    ]
    for (const [body, want] of cases) {
      const r = parse(body)
      expect(r.errors, body.toString('latin1')).toHaveLength(1)
      expect(r.errors[0]!.message).toMatch(want)
    }
  })

  it('a line is all or nothing: no sample of a bad line reaches the sink', () => {
    for (const body of ['m a=1,b=x 1', 'm a=1,b=2 bad', 'm a=1,b=2,c="open', 'm a=1,b=2i,c=1e999 5', 'm a=1 99999999999999999999']) {
      const r = parse(body)
      expect(r.samples, body).toEqual([])
      expect(r.rejected).toBe(1)
    }
  })

  it('bad lines mixed with good: the good are stored, the bad reported with their line numbers', () => {
    const body = [
      'cpu,host=a usage=1 1000', // 1
      'cpu,host=a usage=oops 1000', // 2
      '# comment', // 3
      '', // 4
      'cpu,host=b usage=2 2000', // 5
      'cpu,host= usage=3 3000', // 6
      'mem,host=a free=4i,total=8i 4000', // 7
      'mem,host=a free=4i,total=8q 4000', // 8
      'weather,loc=us\\ west temp=82,text="a b, c=d" 5000', // 9
      'bad line here', // 10
      'disk used=9 6000', // 11
    ].join('\r\n')
    const r = parse(body)
    expect(r.accepted).toBe(6)
    expect(r.rejected).toBe(4)
    expect(r.skipped).toBe(1)
    expect(r.errors).toEqual([
      { line: 2, message: 'invalid field value "oops" for field "usage" (expected a float, an integer with i or u, a boolean, or a quoted string)' },
      { line: 6, message: 'empty value for tag "host"' },
      { line: 8, message: 'invalid field value "8q" for field "total" (expected a float, an integer with i or u, a boolean, or a quoted string)' },
      { line: 10, message: 'field "line" has no "=value"' },
    ])
    expect(r.samples).toEqual([
      { series: 'cpu_usage{host="a"}', t: 1000, v: 1 },
      { series: 'cpu_usage{host="b"}', t: 2000, v: 2 },
      { series: 'mem_free{host="a"}', t: 4000, v: 4 },
      { series: 'mem_total{host="a"}', t: 4000, v: 8 },
      { series: 'weather_temp{loc="us west"}', t: 5000, v: 82 },
      { series: 'disk_used{}', t: 6000, v: 9 },
    ])
  })

  it(`keeps the first ${MAX_REPORTED_ERRORS} errors and counts them all`, () => {
    const body = Array.from({ length: 250 }, (_, i) => i % 2 === 0 ? `m v=x${i}` : `m v=${i}`).join('\n')
    const r = parse(body)
    expect(r.rejected).toBe(125)
    expect(r.accepted).toBe(125)
    expect(r.errors).toHaveLength(MAX_REPORTED_ERRORS)
    expect(r.errors[0]!.line).toBe(1)
    expect(r.errors[MAX_REPORTED_ERRORS - 1]!.line).toBe(2 * MAX_REPORTED_ERRORS - 1)
  })

  it('a series refused by the sink rejects its line with the sink\'s reason; later lines go on', () => {
    class LimitedSink extends RecordingSink {
      override seriesId (name: string, labels: readonly Label[]): number {
        if (labels.length > 3) throw new Error(`series has ${labels.length} labels, more than the limit of 3`)
        return super.seriesId(name, labels)
      }
    }
    const sink = new LimitedSink()
    const r = parse('m,a=1,b=2,c=3,d=4 v=1 1\nm,a=1 v=2 2\nm,a=1,b=2,c=3,d=4 v=1 1', {}, new LineProtocolParser(sink), sink)
    expect(r.errors).toEqual([
      { line: 1, message: 'series "m_v" refused: series has 4 labels, more than the limit of 3' },
      { line: 3, message: 'series "m_v" refused: series has 4 labels, more than the limit of 3' },
    ])
    expect(r.samples).toEqual([{ series: 'm_v{a="1"}', t: 2, v: 2 }])
  })

  it('errors thrown by sink.sample() propagate (the ring is full: the caller refuses the body)', () => {
    const sink: SampleSink = { seriesId: () => 0, sample: () => { throw new RangeError('ring full') } }
    expect(() => new LineProtocolParser(sink).parse(Buffer.from('m v=1 1'), { precision: 'ms', nowMs: 0 })).toThrow('ring full')
  })
})

describe('series cache', () => {
  const body = (): string => {
    const rand = mulberry32(5)
    let s = ''
    for (let i = 0; i < 3000; i++) {
      const host = Math.floor(rand() * 300)
      const fields = ['a', 'b', 'c', 'd'].filter(() => rand() < 0.7)
      if (fields.length === 0) fields.push('a')
      if (rand() < 0.3) fields.reverse()
      s += `cpu,host=h${host},dc=d${host % 7}${rand() < 0.1 ? ',x\\ y=z\\,w' : ''} ${fields.map((f) => `${f}=${i}`).join(',')},s="t" ${i}\n`
      if (rand() < 0.05) s += `cpu,host=h${host} a=bad ${i}\n`
    }
    return s
  }

  it('a warm cache gives exactly the ids a fresh parser gives, whatever its size', () => {
    const text = body()
    const reference = parse(text) // cold: one fresh parser over the body
    for (const maxCachedSeries of [1, 2, 7, 100, 100_000]) {
      const sink = new RecordingSink()
      const p = new LineProtocolParser(sink, { maxCachedSeries })
      for (let round = 0; round < 3; round++) {
        sink.samples.length = 0
        const r = parse(text, {}, p, sink)
        expect(r.samples, `max ${maxCachedSeries} round ${round}`).toEqual(reference.samples)
        expect(r.errors).toEqual(reference.errors)
      }
    }
  })

  it('asks the sink only on a miss', () => {
    const sink = new RecordingSink()
    const p = new LineProtocolParser(sink)
    const text = 'cpu,host=a u=1,s=2 1\ncpu,host=b u=1,s=2 1\nmem,host=a f=1 1\n'
    parse(text, {}, p, sink)
    expect(sink.seriesCalls).toBe(5)
    for (let i = 0; i < 10; i++) parse(text, {}, p, sink)
    expect(sink.seriesCalls).toBe(5)
    parse('cpu,host=a s=2,u=1 2\ncpu,host=a x=1 2', {}, p, sink) // other order: no new call; a new field: one
    expect(sink.seriesCalls).toBe(6)
    p.clearCache()
    parse(text, {}, p, sink)
    expect(sink.seriesCalls).toBe(11)
    expect(sink.keys).toHaveLength(6)
  })

  it('the same raw key in another body position or at the very end hits the same series', () => {
    const sink = new RecordingSink()
    const p = new LineProtocolParser(sink)
    parse('cpu,host=abcdefgh v=1 1', {}, p, sink)
    parse('x v=0 0\ncpu,host=abcdefgh v=2 2\ncpu,host=abcdefgh v=3', {}, p, sink)
    expect(new Set(sink.samples.filter((s) => s.series.startsWith('cpu')).map((s) => s.series)).size).toBe(1)
    expect(sink.keys).toHaveLength(2)
    expect(sink.seriesCalls).toBe(2) // cpu_v once: every position hashed the key alike
  })

  it('keys and field keys that extend cached ones are other series', () => {
    const sink = new RecordingSink()
    const p = new LineProtocolParser(sink)
    const r = parse('m,h=a ab=1 1\nm,h=a abc=2 2\nm,h=a a=3 3\nm,h=ab ab=4 4\nm,h=a abcdefgh=5,ab=6 5\nm,h=a abcdefghi=7 6', {}, p, sink)
    expect(r.errors).toEqual([])
    expect(r.samples.map((s) => `${s.series} ${s.v}`)).toEqual([
      'm_ab{h="a"} 1', 'm_abc{h="a"} 2', 'm_a{h="a"} 3', 'm_ab{h="ab"} 4', 'm_abcdefgh{h="a"} 5', 'm_ab{h="a"} 6', 'm_abcdefghi{h="a"} 7',
    ])
  })

  it('many distinct series each get their own id', () => {
    let text = ''
    for (let i = 0; i < 20_000; i++) text += `m,k=${i.toString(36)} v=${i} ${i}\n`
    const r = parse(text)
    expect(r.accepted).toBe(20_000)
    expect(r.sink.keys).toHaveLength(20_000)
    for (let i = 0; i < 20_000; i += 997) expect(r.samples[i]).toEqual({ series: `m_v{k="${i.toString(36)}"}`, t: i, v: i })
  })
})

describe('limits and fuzzing', () => {
  it('a 1 MiB tag value, field key, string and number', () => {
    const big = 'x'.repeat(1 << 20)
    expect(parse(`m,t=${big} v=1 1`).samples[0]!.series).toBe(`m_v{t="${big}"}`)
    expect(parse(`m ${big}=1 1`).samples[0]!.series).toBe(`m_${big}{}`)
    const s = parse(`m s="${big}",v=2 1`)
    expect([s.accepted, s.skipped]).toEqual([1, 1])
    const long = '1' + '0'.repeat(300) + '.5e-300'
    expect(value(long)).toBe(Number(long))
    expect(error(`m v=${'1'.repeat(1 << 20)}`)).toMatch(/out of the float64 range/)
    expect(error(`m v=1 ${'1'.repeat(1 << 20)}`)).toMatch(/^timestamp out of range/)
    expect(error(`m v=${big}`)).toMatch(/^invalid field value "x{64}\.\.\."/)
  })

  it('10,000 tags and 10,000 fields in one line', () => {
    const tags = Array.from({ length: 10_000 }, (_, i) => `t${i}=v${i}`)
    const r = parse(`m,${tags.reverse().join(',')} v=1 1`)
    expect(r.rejected).toBe(0)
    const series = r.samples[0]!.series
    expect(series.startsWith('m_v{t0="v0",t1="v1",t10="v10",t100="v100"')).toBe(true)
    const fields = Array.from({ length: 10_000 }, (_, i) => `f${i}=${i}`).join(',')
    const f = parse(`m ${fields} 1`)
    expect(f.accepted).toBe(10_000)
    expect(f.samples[9999]).toEqual({ series: 'm_f9999{}', t: 1, v: 9999 })
  })

  it('random bytes never throw', () => {
    const rand = mulberry32(1234)
    const alphabet = Buffer.from('m,= ."\\\n\r#-.0123456789eEiutTfF\x00\xff\xc3\xa9abc')
    const parser = new LineProtocolParser(new RecordingSink(), { maxCachedSeries: 50 })
    for (let i = 0; i < 3000; i++) {
      const len = Math.floor(rand() * 300)
      const body = new Uint8Array(len)
      for (let k = 0; k < len; k++) body[k] = rand() < 0.8 ? alphabet[Math.floor(rand() * alphabet.length)]! : Math.floor(rand() * 256)
      const lines = body.reduce((n, c) => n + (c === 0x0a ? 1 : 0), 1)
      for (const precision of ['ns', 's'] as const) {
        const r = parser.parse(body, { precision, nowMs: 0, db: i % 3 === 0 ? 'x' : undefined })
        for (let k = 0; k < r.errors.length; k++) {
          const e = r.errors[k]!
          expect(e.line).toBeGreaterThanOrEqual(k === 0 ? 1 : r.errors[k - 1]!.line + 1)
          expect(e.line).toBeLessThanOrEqual(lines)
          expect(e.message.length).toBeGreaterThan(0)
        }
      }
    }
  })

  it('a body cut at any byte: no throw, and every complete line before the cut is kept', () => {
    const text = 'cpu,host=a\\ b,dc=x usage=1.5,idle=2i,s="q\\"x, y",ok=t 1700000000000000000\r\nmem,host=a free=3u 1700000000000000001\n'
    const full = Buffer.from(text.repeat(3))
    for (let cut = 0; cut <= full.length; cut++) {
      const r = parse(full.subarray(0, cut), { precision: 'ns' })
      // Complete lines alternate: cpu (3 samples, 1 string), mem (1 sample); the cut line may count too.
      const complete = full.subarray(0, cut).toString('latin1').split('\n').length - 1
      const samples = 3 * Math.ceil(complete / 2) + Math.floor(complete / 2)
      expect(r.accepted, `cut ${cut}`).toBeGreaterThanOrEqual(samples)
      expect(r.accepted, `cut ${cut}`).toBeLessThanOrEqual(samples + 3)
      expect(r.rejected).toBeLessThanOrEqual(1)
    }
  })
})
