/** The PromQL parser and the RE2 -> JavaScript regex translation. */
import { describe, expect, it } from 'vitest'
import { compileMatcher, parseExpr, parseMatchers, PromQLError, translateRegex, type Expr } from '../dist/src/promql/index.js'

/** A compact rendering of the tree: (op lhs rhs), name{matchers}, fn(args). */
function show (e: Expr): string {
  switch (e.kind) {
    case 'number': return String(e.value)
    case 'string': return JSON.stringify(e.value)
    case 'paren': return show(e.expr)
    case 'vector': return `${e.name ?? ''}{${e.matchers.filter((m) => !(m.name === '__name__' && m.value === e.name)).map((m) => `${m.name}${m.type}${JSON.stringify(m.value)}`).join(',')}}${e.offsetMs > 0 ? ` offset ${e.offsetMs}` : ''}`
    case 'matrix': return `${show(e.vector)}[${e.rangeMs}]`
    case 'subquery': return `${show(e.expr)}[${e.rangeMs}:${e.stepMs}]${e.offsetMs > 0 ? ` offset ${e.offsetMs}` : ''}`
    case 'call': return `${e.func}(${e.args.map(show).join(', ')})`
    case 'aggregate': return `${e.op}${e.grouping.length > 0 || e.without ? ` ${e.without ? 'without' : 'by'}(${e.grouping.join(',')})` : ''}(${e.param !== undefined ? show(e.param) + ', ' : ''}${show(e.expr)})`
    case 'binary': return `(${e.op}${e.returnBool ? ' bool' : ''}${e.matching !== undefined ? ` ${e.matching.on ? 'on' : 'ignoring'}(${e.matching.labels.join(',')})` : ''} ${show(e.lhs)} ${show(e.rhs)})`
    case 'unary': return `(${e.op} ${show(e.expr)})`
  }
}

const badData = (expr: string): PromQLError => {
  try {
    parseExpr(expr)
  } catch (err) {
    expect(err).toBeInstanceOf(PromQLError)
    expect((err as PromQLError).errorType).toBe('bad_data')
    return err as PromQLError
  }
  throw new Error(`parsed without error: ${expr}`)
}

describe('precedence and associativity', () => {
  it.each([
    ['1 + 2 * 3', '(+ 1 (* 2 3))'],
    ['1 * 2 + 3', '(+ (* 1 2) 3)'],
    ['a - b - c', '(- (- a{} b{}) c{})'],
    ['a / b * c % d', '(% (* (/ a{} b{}) c{}) d{})'],
    ['2 ^ 3 ^ 2', '(^ 2 (^ 3 2))'],
    ['-2 ^ 2', '(- (^ 2 2))'],
    ['-a * b', '(* (- a{}) b{})'],
    ['-a ^ b', '(- (^ a{} b{}))'],
    ['2 ^ -1', '(^ 2 -1)'],
    ['a + b > c - d', '(> (+ a{} b{}) (- c{} d{}))'],
    ['a > bool 1 == bool 0', '(== bool (> bool a{} 1) 0)'],
    ['(1 + 2) * 3', '(* (+ 1 2) 3)'],
    ['a + on(x, y) b', '(+ on(x,y) a{} b{})'],
    ['a / ignoring(z) b', '(/ ignoring(z) a{} b{})'],
    ['a < bool on() b', '(< bool on() a{} b{})'],
    ['-x offset 5m', '(- x{} offset 300000)'],
    ['a + b offset 1m', '(+ a{} b{} offset 60000)'],
  ])('%s', (src, want) => {
    expect(show(parseExpr(src))).toBe(want)
  })
})

describe('selectors, durations, subqueries, aggregations', () => {
  it.each([
    ['http_requests_total{job="api", code!="500", path=~"/a.*", x!~"y",}', 'http_requests_total{job="api",code!="500",path=~"/a.*",x!~"y"}'],
    ['{__name__=~"a|b"}', '{__name__=~"a|b"}'],
    ['rate(x[5m])', 'rate(x{}[300000])'],
    ['x[1h30m]', 'x{}[5400000]'],
    ['x[1y2w3d4h5m6s7ms]', `x{}[${((((365 + 14 + 3) * 24 + 4) * 60 + 5) * 60 + 6) * 1000 + 7}]`],
    ['x[5m] offset 1w', 'x{} offset 604800000[300000]'],
    ['max_over_time(rate(x[5m])[30m:1m])', 'max_over_time(rate(x{}[300000])[1800000:60000])'],
    ['x[5m:]', 'x{}[300000:0]'],
    ['sum(x)[5m:30s] offset 2m', 'sum(x{})[300000:30000] offset 120000'],
    ['sum by (a, b) (x)', 'sum by(a,b)(x{})'],
    ['sum(x) without (a)', 'sum without(a)(x{})'],
    ['sum without () (x)', 'sum without()(x{})'],
    ['topk(3, x)', 'topk(3, x{})'],
    ['quantile by (le,) (0.9, x)', 'quantile by(le)(0.9, x{})'],
    ['SUM BY (job) (x)', 'sum by(job)(x{})'],
    ['round(x)', 'round(x{})'],
    ['round(x, 0.5)', 'round(x{}, 0.5)'],
    ['quantile_over_time(0.5, x[1m])', 'quantile_over_time(0.5, x{}[60000])'],
    ['x # a comment\n + 1 # another', '(+ x{} 1)'],
    ['job:request_rate:5m', 'job:request_rate:5m{}'],
  ])('%s', (src, want) => {
    expect(show(parseExpr(src))).toBe(want)
  })

  it('reads numbers as Prometheus does', () => {
    const num = (s: string): number => { const e = parseExpr(s); if (e.kind !== 'number') throw new Error(e.kind); return e.value }
    expect(num('0x1F')).toBe(31)
    expect(num('1e3')).toBe(1000)
    expect(num('.5')).toBe(0.5)
    expect(num('1.5e-3')).toBe(0.0015)
    expect(num('010')).toBe(8) // Go's ParseInt with base 0
    expect(num('Inf')).toBe(Infinity)
    expect(num('-inf')).toBe(-Infinity)
    expect(num('NaN')).toBeNaN()
  })

  it('reads strings with Go escapes', () => {
    const str = (s: string): string => { const e = parseExpr(s); if (e.kind !== 'string') throw new Error(e.kind); return e.value }
    expect(str('"a\\"b\\n\\t\\\\"')).toBe('a"b\n\t\\')
    expect(str("'it\\'s'")).toBe("it's")
    expect(str('`raw\\n`')).toBe('raw\\n')
    expect(str('"\\x41\\u00e9\\U0001F600\\101"')).toBe('Aé😀A')
    badData('"a\\qb"')
    badData('"unterminated')
    badData('"new\nline"')
  })

  it('parseMatchers reads match[] selectors', () => {
    expect(parseMatchers('up{job="a"}')).toEqual([{ name: 'job', type: '=', value: 'a' }, { name: '__name__', type: '=', value: 'up' }])
    expect(parseMatchers('{a=~"x.*"}')).toEqual([{ name: 'a', type: '=~', value: 'x.*' }])
    expect(() => parseMatchers('rate(x[5m])')).toThrow(PromQLError)
    expect(() => parseMatchers('{a=""}')).toThrow(/non-empty matcher/)
  })
})

describe('errors name the unsupported or invalid part', () => {
  it.each([
    ['histogram_quantile(0.9, x)', 'unsupported function "histogram_quantile"'],
    ['no_such_fn(x)', 'unknown function with name "no_such_fn"'],
    ['a and b', 'unsupported binary operator "and"'],
    ['a or b', 'unsupported binary operator "or"'],
    ['a unless b', 'unsupported binary operator "unless"'],
    ['a * on(x) group_left(y) b', 'group_left'],
    ['stddev(x)', 'unsupported aggregation "stddev"'],
    ['count_values("v", x)', 'unsupported aggregation "count_values"'],
    ['x @ 100', '"@"'],
    ['x offset -5m', 'negative offset'],
    ['{}', 'non-empty matcher'],
    ['x{a=""} + {b=~".*"}', 'non-empty matcher'],
    ['foo{__name__="bar"}', 'metric name must not be set twice'],
    ['1 > 2', 'BOOL modifier'],
    ['a + bool b', 'bool modifier can only be used on comparison operators'],
    ['1 + on(x) a', 'vector matching only allowed between instant vectors'],
    ['rate(x)', 'expected type range vector in call to function "rate", got instant vector'],
    ['abs(x[5m])', 'expected type instant vector'],
    ['abs(x, 1)', 'argument'],
    ['round(x, 1, 2)', 'argument'],
    ['rate(x[5m],)', 'trailing commas'],
    ['sum(x, y)', 'wrong number of arguments'],
    ['topk(x)', 'wrong number of arguments'],
    ['topk(x, y)', 'expected type scalar in aggregation parameter'],
    ['sum(x[5m])', 'expected type instant vector in aggregation expression'],
    ['x[5m] + 1', 'binary expression must contain only scalar and instant vector types'],
    ['-x[5m]', 'unary expression only allowed'],
    ['sum(x)[5m]', 'ranges only allowed for vector selectors'],
    ['x[5m][1m]', 'ranges only allowed for vector selectors'],
    ['x[5m:1m][10m:1m]', 'subquery is only allowed on instant vector'],
    ['x offset 1m [5m]', 'no offset modifiers allowed before range'],
    ['x offset 1m offset 2m', 'offset may not be set multiple times'],
    ['sum(x) offset 1m', 'offset modifier must be preceded by'],
    ['x[30m1h]', 'not a valid duration'],
    ['x[5]', 'expected a duration'],
    ['x[0s]', 'duration must be greater than 0'],
    ['sum(x', 'expected ")"'],
    ['x y', 'unexpected identifier "y"'],
    ['1 +', 'unexpected end of input'],
    ['x{a="b" c="d"}', 'expected "," or "}"'],
    ['x{a=b}', 'expected a quoted label value'],
    ['x{a=~"(?=b)"}', 'lookaround'],
    ['5m', 'unexpected duration'],
    ['1.2.3', 'bad number'],
    ['$x', 'unexpected character'],
  ])('%s', (src, named) => {
    expect(badData(src).message).toContain(named)
  })
})

it('absurd nesting is bad_data, not a crash', () => {
  expect(badData('('.repeat(100_000) + 'x' + ')'.repeat(100_000)).message).toContain('too deeply nested')
})

describe('regex translation (RE2 -> JavaScript)', () => {
  const m = (re: string) => compileMatcher({ name: 'l', type: '=~', value: re })

  it('anchors the whole pattern, alternations included', () => {
    expect(m('a')('a')).toBe(true)
    expect(m('a')('ba')).toBe(false)
    expect(m('a|b')('ab')).toBe(false)
    expect(m('a|b')('b')).toBe(true)
    expect(m('')('')).toBe(true)
    expect(m('.*')('')).toBe(true)
    expect(compileMatcher({ name: 'l', type: '!~', value: 'a.*' })('abc')).toBe(false)
  })

  it('reads characters and classes as Go does, not as JavaScript', () => {
    expect(m('.')('\n')).toBe(false) // Go's . excludes only \n
    expect(m('.')('\r')).toBe(true) // JavaScript's . would exclude \r, \u2028, \u2029
    expect(m('.')('\u2028')).toBe(true)
    expect(m('(?s).')('\n')).toBe(true)
    expect(m('(?s:.)a.')('\na\n')).toBe(false)
    expect(m('\\s')('\v')).toBe(false) // Go's \s is [\t\n\f\r ]
    expect(m('\\s')('\u00a0')).toBe(false)
    expect(m('\\S')('\v')).toBe(true)
    expect(m('\\d')('٣')).toBe(false)
    expect(m('\\w+')('héllo')).toBe(false)
    expect(m('[[:alpha:]]+')('abcXYZ')).toBe(true)
    expect(m('[[:^digit:]]')('a')).toBe(true)
    expect(m('[^a]')('\n')).toBe(true)
    expect(m('[]a]+')(']a')).toBe(true)
    expect(m('[a-]+')('a-')).toBe(true)
    expect(m('\\pL+')('héllo')).toBe(true)
    expect(m('\\p{Greek}+')('αβγ')).toBe(true)
    expect(m('\\PL')('1')).toBe(true)
    expect(m('\\x41\\x{263a}')('A☺')).toBe(true)
    expect(m('\\101')('A')).toBe(true)
    expect(m('a{2,3}')('aaa')).toBe(true)
    expect(m('a{2,3}')('aaaa')).toBe(false)
    expect(m('x{')('x{')).toBe(true) // not a repeat: a literal, as in Go
    expect(m('a{,2}')('a{,2}')).toBe(true)
    expect(m('\\.\\*\\[\\]\\{\\}\\-\\_')('.*[]{}-_')).toBe(true)
    expect(m('(?P<name>ab)+')('abab')).toBe(true)
    expect(m('(?i)abc')('AbC')).toBe(true)
    expect(m('(?is)a.c')('A\nC')).toBe(true)
    expect(m('(?m)a$\\n^b')('a\nb')).toBe(true)
    expect(m('(?U)a+')('aaa')).toBe(true)
    expect(m('\\Aab\\z')('ab')).toBe(true)
    // Go folds a class before negating it under (?i): \W and [[:^lower:]] match no letter at all.
    expect(m('(?i)\\W')('k')).toBe(false)
    expect(m('(?i)\\W')('\u212a')).toBe(false)
    expect(m('(?i)\\W')('-')).toBe(true)
    expect(m('(?i)[[:^lower:]]')('A')).toBe(false)
    expect(m('(?i)[^k]')('K')).toBe(false)
    expect(m('(?i)k')('\u212a')).toBe(true)
    expect(m('a\\b')('a')).toBe(true)
    expect(m('^*a')('a')).toBe(true)
    expect(m('😀+')('😀😀')).toBe(true)
    expect(m('[😀-😂]')('😁')).toBe(true)
  })

  it.each([
    ['(a)\\1', 'backreference'],
    ['(?=a)', 'lookaround'],
    ['(?!a)', 'lookaround'],
    ['(?<=a)b', 'lookaround'],
    ['(?<name>a)', 'lookaround'],
    ['\\Qa.b\\E', '\\Q'],
    ['a++', 'nested repetition'],
    ['a**', 'nested repetition'],
    ['a*??', 'nested repetition'],
    ['*a', 'missing argument'],
    ['a|*', 'missing argument'],
    ['a{1001}', 'invalid repeat count'],
    ['a{3,2}', 'invalid repeat count'],
    ['a(?i)b', '(?i)'],
    ['(?i:a)', '(?i)'],
    ['(?x)a', 'unsupported Perl syntax'],
    ['(a', 'missing closing )'],
    ['a)', 'unexpected )'],
    ['[a', 'missing closing ]'],
    ['[z-a]', 'invalid character class range'],
    ['\\C', '\\C'],
    ['\\Z', 'invalid escape'],
    ['\\e', 'invalid escape'],
    ['\\8', 'invalid escape'],
    ['a\\', 'trailing backslash'],
    ['[[:foo:]]', 'invalid character class range'],
    ['\\p{NoSuchScript}', 'invalid character class range'],
  ])('rejects %s', (re, named) => {
    expect(() => translateRegex(re)).toThrow(PromQLError)
    expect(() => translateRegex(re)).toThrow(named)
  })
})
