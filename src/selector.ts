/**
 * Series selectors as Prometheus writes them: `name{label="v", other!~"re.*"}`
 * or `{__name__="name", ...}`. Operators =, !=, =~, !~; regexes are fully
 * anchored, as in Prometheus. Values in double quotes, single quotes or
 * backticks, with Go-style escapes (\" \\ \n \t).
 */
export interface Matcher {
  name: string
  op: '=' | '!=' | '=~' | '!~'
  value: string
  re?: RegExp
}

export class SelectorError extends Error {}

const NAME_START = /[a-zA-Z_:]/
const NAME_CHAR = /[a-zA-Z0-9_:]/

export function parseSelector (src: string): Matcher[] {
  let i = 0
  const s = src.trim()
  const fail = (msg: string): never => { throw new SelectorError(`${msg} at position ${i} in selector ${JSON.stringify(src)}`) }
  const ws = (): void => { while (i < s.length && /\s/.test(s[i]!)) i++ }
  const ident = (labelOnly: boolean): string => {
    const start = i
    if (i >= s.length || !NAME_START.test(s[i]!) || (labelOnly && s[i] === ':')) fail('expected a name')
    i++
    while (i < s.length && NAME_CHAR.test(s[i]!) && !(labelOnly && s[i] === ':')) i++
    return s.slice(start, i)
  }
  const quoted = (): string => {
    const q = s[i]
    if (q !== '"' && q !== "'" && q !== '`') return fail('expected a quoted value')
    i++
    let out = ''
    while (i < s.length && s[i] !== q) {
      if (s[i] === '\\' && q !== '`') {
        i++
        const c = s[i]
        if (c === undefined) fail('unterminated escape')
        out += c === 'n' ? '\n' : c === 't' ? '\t' : c === 'r' ? '\r' : c
        i++
      } else {
        out += s[i]
        i++
      }
    }
    if (i >= s.length) fail('unterminated string')
    i++
    return out
  }
  const matchers: Matcher[] = []
  ws()
  if (i < s.length && s[i] !== '{') matchers.push({ name: '__name__', op: '=', value: ident(false) })
  ws()
  if (i < s.length && s[i] === '{') {
    i++
    ws()
    while (i < s.length && s[i] !== '}') {
      const name = ident(true)
      ws()
      let op: Matcher['op']
      if (s.startsWith('=~', i)) op = '=~'
      else if (s.startsWith('!~', i)) op = '!~'
      else if (s.startsWith('!=', i)) op = '!='
      else if (s[i] === '=') op = '='
      else return fail('expected one of =, !=, =~, !~')
      i += op.length
      ws()
      const value = quoted()
      const m: Matcher = { name, op, value }
      if (op === '=~' || op === '!~') {
        try {
          m.re = new RegExp(`^(?:${value})$`, 'u')
        } catch (err) {
          fail(`invalid regular expression ${JSON.stringify(value)}: ${(err as Error).message}`)
        }
      }
      matchers.push(m)
      ws()
      if (s[i] === ',') { i++; ws() } else if (s[i] !== '}') fail('expected , or }')
    }
    if (s[i] !== '}') fail('expected }')
    i++
  }
  ws()
  if (i !== s.length) fail('unexpected text')
  if (matchers.length === 0) fail('empty selector')
  // Like Prometheus: at least one matcher must not match the empty string.
  if (!matchers.some((m) => !matchesValue(m, ''))) {
    throw new SelectorError(`selector ${JSON.stringify(src)} must contain at least one matcher that does not match the empty string`)
  }
  return matchers
}

export function matchesValue (m: Matcher, v: string): boolean {
  switch (m.op) {
    case '=': return v === m.value
    case '!=': return v !== m.value
    case '=~': return m.re!.test(v)
    case '!~': return !m.re!.test(v)
  }
}

/** True when the series (name + labels) satisfies every matcher; a missing label reads as "". */
export function matchesSeries (matchers: Matcher[], name: string, labels: ReadonlyArray<readonly [string, string]>): boolean {
  for (const m of matchers) {
    let v = ''
    if (m.name === '__name__') v = name
    else for (const [k, lv] of labels) if (k === m.name) { v = lv; break }
    if (!matchesValue(m, v)) return false
  }
  return true
}

/** Prometheus/VictoriaMetrics time parameter: unix seconds (fractions allowed) or RFC 3339. Returns ms. */
export function parseTimeParam (v: string | null, fallback: number, what: string): number {
  if (v === null || v === '') return fallback
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(v)) {
    const ms = Math.round(Number(v) * 1000)
    if (Number.isFinite(ms)) return ms
  }
  if (/^\d{4}-\d{2}-\d{2}T/.test(v)) {
    const ms = Date.parse(v)
    if (!Number.isNaN(ms)) return ms
  }
  throw new SelectorError(`${what}=${JSON.stringify(v)} is neither unix seconds nor an RFC 3339 time`)
}
