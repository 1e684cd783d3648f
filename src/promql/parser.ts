/**
 * A precedence-climbing PromQL parser for the supported subset, with
 * Prometheus's precedence (or < and/unless < comparisons < + - < * / % atan2
 * < ^, ^ right-associative, unary minus between * and ^) and its type checks.
 * Anything outside the subset is a bad_data PromQLError naming the part.
 */
import {
  AGGREGATIONS, FUNCTIONS, TYPE_NAMES, isComparison, typeOf,
  type AggregationOp, type BinaryOp, type Expr, type VectorMatching, type VectorSelector,
} from './ast.js'
import { lex, parseDuration, type Token, type TokenKind } from './lexer.js'
import { compileMatcher } from './matchers.js'
import { badData, type Matcher } from './types.js'

const PRECEDENCE: Record<string, number> = {
  or: 1, and: 2, unless: 2,
  '==': 3, '!=': 3, '<=': 3, '<': 3, '>=': 3, '>': 3,
  '+': 4, '-': 4,
  '*': 5, '/': 5, '%': 5, atan2: 5,
  '^': 6,
}
const UNARY_OPERAND_PRECEDENCE = 6 // unary minus binds like *, so only ^ binds tighter

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'atan2'])
const UNSUPPORTED_AGGREGATIONS = new Set(['group', 'stddev', 'stdvar', 'count_values', 'limitk', 'limit_ratio'])
/** Prometheus functions outside the subset, to tell "unsupported" from "unknown". */
const PROMETHEUS_FUNCTIONS = new Set(['absent', 'absent_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh',
  'changes', 'clamp', 'cos', 'cosh', 'count_values', 'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month',
  'deg', 'deriv', 'exp', 'histogram_count', 'histogram_fraction', 'histogram_quantile', 'histogram_sum', 'holt_winters',
  'hour', 'idelta', 'label_join', 'label_replace', 'ln', 'log10', 'log2', 'minute', 'month', 'pi', 'predict_linear',
  'present_over_time', 'rad', 'resets', 'scalar', 'sgn', 'sin', 'sinh', 'sort', 'sort_desc', 'sqrt', 'stddev_over_time',
  'stdvar_over_time', 'tan', 'tanh', 'time', 'timestamp', 'vector', 'year'])

const isKeyword = (t: Token, kw: string): boolean => t.kind === 'ident' && t.text.toLowerCase() === kw

class Parser {
  private readonly toks: Token[]
  private p = 0
  /** Selectors and subqueries that already carry an offset. */
  private readonly withOffset = new WeakSet<Expr>()

  constructor (src: string) {
    this.toks = lex(src)
  }

  private get cur (): Token { return this.toks[this.p]! }
  /** A method, not a property, so that TypeScript does not narrow it across next(). */
  private kind (): TokenKind { return this.toks[this.p]!.kind }
  private next (): Token { return this.toks[this.p++]! }
  private fail (msg: string, t: Token = this.cur): never {
    throw badData(`parse error at char ${t.pos + 1}: ${msg}`)
  }

  private describe (t: Token): string {
    if (t.kind === 'eof') return 'end of input'
    if (t.kind === 'string') return `string ${JSON.stringify(t.text)}`
    if (t.kind === 'ident') return KEYWORDS.has(t.text.toLowerCase()) ? `keyword "${t.text}"` : `identifier "${t.text}"`
    return `${t.kind} "${t.text}"`
  }

  private expect (kind: TokenKind, what: string): Token {
    if (this.kind() !== kind) this.fail(`unexpected ${this.describe(this.cur)}, expected ${what}`)
    return this.next()
  }

  parseTop (): Expr {
    const e = this.parseExpr(0)
    if (this.kind() !== 'eof') this.fail(`unexpected ${this.describe(this.cur)}`)
    return e
  }

  private binaryOp (): string | undefined {
    const t = this.cur
    if (t.kind === 'ident') {
      const kw = t.text.toLowerCase()
      return kw === 'and' || kw === 'or' || kw === 'unless' || kw === 'atan2' ? kw : undefined
    }
    return PRECEDENCE[t.kind] !== undefined ? t.kind : undefined
  }

  private parseExpr (minPrec: number): Expr {
    let lhs = this.parseUnary()
    for (;;) {
      const op = this.binaryOp()
      if (op === undefined) return lhs
      const prec = PRECEDENCE[op]!
      if (prec < minPrec) return lhs
      const opTok = this.next()
      if (op === 'and' || op === 'or' || op === 'unless' || op === 'atan2') this.fail(`unsupported binary operator "${op}"`, opTok)
      let returnBool = false
      if (isKeyword(this.cur, 'bool')) {
        this.next()
        returnBool = true
      }
      let matching: VectorMatching | undefined
      if (isKeyword(this.cur, 'on') || isKeyword(this.cur, 'ignoring')) {
        const on = this.next().text.toLowerCase() === 'on'
        matching = { on, labels: this.parseLabelList() }
      }
      if (isKeyword(this.cur, 'group_left') || isKeyword(this.cur, 'group_right')) this.fail(`unsupported vector matching modifier "${this.cur.text}" (many-to-one matching)`)
      const rhs = this.parseExpr(op === '^' ? prec : prec + 1)
      lhs = this.checkBinary({ kind: 'binary', op: op as BinaryOp, lhs, rhs, returnBool, matching }, opTok)
    }
  }

  private checkBinary (e: Expr & { kind: 'binary' }, at: Token): Expr {
    const lt = typeOf(e.lhs)
    const rt = typeOf(e.rhs)
    if ((lt !== 'scalar' && lt !== 'vector') || (rt !== 'scalar' && rt !== 'vector')) this.fail('binary expression must contain only scalar and instant vector types', at)
    if (e.returnBool && !isComparison(e.op)) this.fail('bool modifier can only be used on comparison operators', at)
    if (isComparison(e.op) && !e.returnBool && lt === 'scalar' && rt === 'scalar') this.fail('comparisons between scalars must use BOOL modifier', at)
    if (e.matching !== undefined && (lt !== 'vector' || rt !== 'vector')) this.fail('vector matching only allowed between instant vectors', at)
    return e
  }

  private parseUnary (): Expr {
    const t = this.cur
    if (t.kind === '-' || t.kind === '+') {
      this.next()
      const operand = this.parseExpr(UNARY_OPERAND_PRECEDENCE)
      const ty = typeOf(operand)
      if (ty !== 'scalar' && ty !== 'vector') this.fail(`unary expression only allowed on expressions of type scalar or instant vector, got "${ty === 'matrix' ? 'range vector' : ty}"`, t)
      if (operand.kind === 'number') return t.kind === '-' ? { kind: 'number', value: -operand.value } : operand
      return { kind: 'unary', op: t.kind, expr: operand }
    }
    return this.parsePostfix(this.parsePrimary())
  }

  private parsePostfix (e: Expr): Expr {
    for (;;) {
      const t = this.cur
      if (t.kind === '[') {
        this.next()
        const range = parseDuration(this.expect('duration', 'a duration').text)
        if (range === 0) this.fail('duration must be greater than 0', t)
        if (this.kind() === ':') {
          this.next()
          let step = 0
          if (this.kind() === 'duration') {
            step = parseDuration(this.next().text)
            if (step === 0) this.fail('step must be greater than 0 in a subquery', t)
          }
          this.expect(']', '"]"')
          if (typeOf(e) !== 'vector') this.fail(`subquery is only allowed on instant vector, got ${TYPE_NAMES[typeOf(e)]} instead`, t)
          e = { kind: 'subquery', expr: e, rangeMs: range, stepMs: step, offsetMs: 0 }
          continue
        }
        this.expect(']', '"]" or ":"')
        if (e.kind !== 'vector') this.fail('ranges only allowed for vector selectors', t)
        if (this.withOffset.has(e)) this.fail('no offset modifiers allowed before range', t)
        e = { kind: 'matrix', vector: e, rangeMs: range }
        continue
      }
      if (isKeyword(t, 'offset')) {
        this.next()
        let sign = 1
        if (this.kind() === '-') { this.next(); sign = -1 } else if (this.kind() === '+') this.next()
        const d = parseDuration(this.expect('duration', 'a duration after offset').text)
        if (sign < 0) this.fail('negative offset is disabled, use --enable-feature=promql-negative-offset', t)
        const target = e.kind === 'matrix' ? e.vector : e
        if (target.kind !== 'vector' && target.kind !== 'subquery') this.fail('offset modifier must be preceded by an instant vector selector or range vector selector or a subquery', t)
        if (this.withOffset.has(target)) this.fail('offset may not be set multiple times', t)
        this.withOffset.add(target)
        target.offsetMs = d
        continue
      }
      if (t.kind === '@') this.fail('unsupported modifier "@"', t)
      return e
    }
  }

  private parsePrimary (): Expr {
    const t = this.cur
    switch (t.kind) {
      case 'number': this.next(); return { kind: 'number', value: t.num! }
      case 'string': this.next(); return { kind: 'string', value: t.text }
      case '(': {
        this.next()
        const inner = this.parseExpr(0)
        this.expect(')', '")"')
        return { kind: 'paren', expr: inner }
      }
      case '{': return this.parseSelector(undefined)
      case 'ident': break
      case 'duration': return this.fail(`unexpected duration "${t.text}"`)
      default: return this.fail(`unexpected ${this.describe(t)}`)
    }
    const word = t.text
    const lower = word.toLowerCase()
    const afterIsParen = this.toks[this.p + 1]?.kind === '('
    const afterIsGrouping = this.toks[this.p + 1] !== undefined && (isKeyword(this.toks[this.p + 1]!, 'by') || isKeyword(this.toks[this.p + 1]!, 'without'))
    if ((AGGREGATIONS as readonly string[]).includes(lower) && (afterIsParen || afterIsGrouping)) return this.parseAggregate(lower as AggregationOp)
    if (UNSUPPORTED_AGGREGATIONS.has(lower) && (afterIsParen || afterIsGrouping)) this.fail(`unsupported aggregation "${word}"`)
    if (KEYWORDS.has(lower)) this.fail(`unexpected ${this.describe(t)}`)
    if (afterIsParen) return this.parseCall(word)
    this.next()
    if (this.kind() === '{') return this.parseSelector(word)
    return this.finishSelector(word, [], t)
  }

  private parseCall (name: string): Expr {
    const t = this.next()
    const spec = FUNCTIONS[name]
    if (spec === undefined) {
      if (PROMETHEUS_FUNCTIONS.has(name)) this.fail(`unsupported function "${name}"`, t)
      this.fail(`unknown function with name "${name}"`, t)
    }
    this.expect('(', '"("')
    const args = this.parseArgs(true)
    this.expect(')', '")" or ","')
    const min = spec!.args.length - spec!.optional
    if (args.length < min || args.length > spec!.args.length) {
      this.fail(`expected ${spec!.optional > 0 ? `at most ${spec!.args.length}` : spec!.args.length} argument(s) in call to "${name}", got ${args.length}`, t)
    }
    args.forEach((a, i) => {
      const want = spec!.args[i]!
      const got = typeOf(a)
      if (got !== want) this.fail(`expected type ${TYPE_NAMES[want]} in call to function "${name}", got ${TYPE_NAMES[got]}`, t)
    })
    return { kind: 'call', func: name, args }
  }

  /** Comma-separated expressions up to (not including) ')'; a function call refuses a trailing comma, as Prometheus does. */
  private parseArgs (rejectTrailingComma: boolean): Expr[] {
    const args: Expr[] = []
    if (this.kind() === ')') return args
    for (;;) {
      args.push(this.parseExpr(0))
      if (this.kind() !== ',') return args
      this.next()
      if (rejectTrailingComma && this.kind() === ')') this.fail('trailing commas not allowed in function call args')
    }
  }

  private parseAggregate (op: AggregationOp): Expr {
    const t = this.next()
    let grouping: string[] | undefined
    let without = false
    const grouping1 = (): void => {
      without = this.next().text.toLowerCase() === 'without'
      grouping = this.parseLabelList()
    }
    if (isKeyword(this.cur, 'by') || isKeyword(this.cur, 'without')) grouping1()
    this.expect('(', '"("')
    const args = this.parseArgs(false)
    this.expect(')', '")"')
    if (grouping === undefined && (isKeyword(this.cur, 'by') || isKeyword(this.cur, 'without'))) grouping1()
    const hasParam = op === 'topk' || op === 'bottomk' || op === 'quantile'
    const want = hasParam ? 2 : 1
    if (args.length !== want) this.fail(`wrong number of arguments for aggregate expression provided, expected ${want}, got ${args.length}`, t)
    const expr = args[want - 1]!
    const param = hasParam ? args[0] : undefined
    if (typeOf(expr) !== 'vector') this.fail(`expected type instant vector in aggregation expression, got ${TYPE_NAMES[typeOf(expr)]}`, t)
    if (param !== undefined && typeOf(param) !== 'scalar') this.fail(`expected type scalar in aggregation parameter, got ${TYPE_NAMES[typeOf(param)]}`, t)
    return { kind: 'aggregate', op, expr, param, grouping: grouping ?? [], without }
  }

  private parseLabelList (): string[] {
    this.expect('(', '"(" to start a label list')
    const out: string[] = []
    while (this.kind() !== ')') {
      const l = this.expect('ident', 'a label name')
      if (l.text.includes(':')) this.fail(`invalid label name "${l.text}"`, l)
      out.push(l.text)
      if (this.kind() === ',') this.next()
      else if (this.kind() !== ')') this.fail(`unexpected ${this.describe(this.cur)} in grouping opts, expected "," or ")"`)
    }
    this.next()
    return out
  }

  private parseSelector (name: string | undefined): Expr {
    const open = this.expect('{', '"{"')
    const matchers: Matcher[] = []
    while (this.kind() !== '}') {
      const l = this.expect('ident', 'a label name')
      if (l.text.includes(':')) this.fail(`invalid label name "${l.text}"`, l)
      const opTok = this.next()
      if (opTok.kind !== '=' && opTok.kind !== '!=' && opTok.kind !== '=~' && opTok.kind !== '!~') this.fail(`unexpected ${this.describe(opTok)} in label matching, expected one of "=", "!=", "=~" or "!~"`, opTok)
      const v = this.expect('string', 'a quoted label value')
      matchers.push({ name: l.text, type: opTok.kind as Matcher['type'], value: v.text })
      if (this.kind() === ',') this.next()
      else if (this.kind() !== '}') this.fail(`unexpected ${this.describe(this.cur)} in label matching, expected "," or "}"`)
    }
    this.next()
    return this.finishSelector(name, matchers, open)
  }

  private finishSelector (name: string | undefined, matchers: Matcher[], at: Token): VectorSelector {
    const all = [...matchers]
    if (name !== undefined) {
      const dup = matchers.find((m) => m.name === '__name__')
      if (dup !== undefined) this.fail(`metric name must not be set twice: "${name}" or "${dup.value}"`, at)
      all.push({ name: '__name__', type: '=', value: name })
    }
    // compileMatcher validates (and caches) every regex.
    const nonEmpty = all.filter((m) => !compileMatcher(m)(''))
    if (nonEmpty.length === 0) this.fail('vector selector must contain at least one non-empty matcher', at)
    return { kind: 'vector', name, matchers: all, offsetMs: 0 }
  }
}

export function parseExpr (expr: string): Expr {
  try {
    return new Parser(expr).parseTop()
  } catch (err) {
    // Recursive descent: absurd nesting overflows the stack, which is the query's fault.
    if (err instanceof RangeError) throw badData(`expression too deeply nested: ${err.message}`)
    throw err
  }
}

/** Parses a series selector as `match[]` takes it: `name{a="b"}` or `{a=~"x"}`. */
export function parseMatchers (selector: string): Matcher[] {
  const e = parseExpr(selector)
  if (e.kind !== 'vector' || e.offsetMs !== 0) throw badData(`invalid series selector ${JSON.stringify(selector)}: expected a vector selector such as name{label="value"}`)
  return e.matchers
}
