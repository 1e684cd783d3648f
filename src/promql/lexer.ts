/** PromQL tokens. Strings are unquoted here with Go's escape rules, as Prometheus does. */
import { badData } from './types.js'

export type TokenKind =
  | 'ident' | 'number' | 'duration' | 'string' | 'eof'
  | '(' | ')' | '{' | '}' | '[' | ']' | ',' | ':' | '=' | '@'
  | '+' | '-' | '*' | '/' | '%' | '^' | '==' | '!=' | '<=' | '<' | '>=' | '>' | '=~' | '!~'

export interface Token { kind: TokenKind, text: string, pos: number, /** numbers: the value; strings: unquoted text in `text` */ num?: number }

const IDENT_START = /[a-zA-Z_:]/
const IDENT_CHAR = /[a-zA-Z0-9_:]/
const DURATION_RE = /^(?:[0-9]+(?:ms|[smhdwy]))+/
const NUMBER_RE = /^(?:0[xX][0-9a-fA-F]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)/
const OPERATORS = ['==', '!=', '<=', '>=', '=~', '!~', '<', '>', '+', '-', '*', '/', '%', '^', '(', ')', '{', '}', '[', ']', ',', ':', '=', '@'] as const

const unquote = (src: string, start: number, quote: string): { text: string, end: number } => {
  let i = start + 1
  let out = ''
  const fail = (msg: string): never => { throw badData(`parse error at char ${start + 1}: ${msg}`) }
  for (;;) {
    const c = src[i]
    if (c === undefined || (c === '\n' && quote !== '`')) return fail('unterminated quoted string')
    if (c === quote) return { text: out, end: i + 1 }
    if (c !== '\\' || quote === '`') { out += c; i++; continue }
    const e = src[i + 1]
    i += 2
    switch (e) {
      case 'a': out += '\x07'; break
      case 'b': out += '\b'; break
      case 'f': out += '\f'; break
      case 'n': out += '\n'; break
      case 'r': out += '\r'; break
      case 't': out += '\t'; break
      case 'v': out += '\v'; break
      case '\\': out += '\\'; break
      case 'x': case 'u': case 'U': {
        const n = e === 'x' ? 2 : e === 'u' ? 4 : 8
        const digits = src.slice(i, i + n)
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(digits)) fail(`invalid escape sequence \\${e}${digits}`)
        const v = parseInt(digits, 16)
        if (e !== 'x' && (v > 0x10ffff || (v >= 0xd800 && v < 0xe000))) fail('invalid Unicode code point in escape sequence')
        out += e === 'x' ? String.fromCharCode(v) : String.fromCodePoint(v)
        i += n
        break
      }
      case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
        const digits = src.slice(i - 1, i + 2)
        if (!/^[0-7]{3}$/.test(digits)) fail(`invalid escape sequence \\${digits}`)
        const v = parseInt(digits, 8)
        if (v > 255) fail(`invalid escape sequence \\${digits}`)
        out += String.fromCharCode(v)
        i += 2
        break
      }
      default:
        if (e === quote) { out += e; break }
        fail(`unknown escape sequence \\${e ?? ''}`)
    }
  }
}

export function lex (src: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  let bracketDepth = 0
  const fail = (msg: string): never => { throw badData(`parse error at char ${i + 1}: ${msg}`) }
  while (i < src.length) {
    const c = src[i]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue }
    if (c === '#') { while (i < src.length && src[i] !== '\n') i++; continue }
    if (c === '"' || c === "'" || c === '`') {
      const { text, end } = unquote(src, i, c)
      tokens.push({ kind: 'string', text, pos: i })
      i = end
      continue
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const rest = src.slice(i, i + 256)
      const d = DURATION_RE.exec(rest)
      if (d !== null && !/[a-zA-Z0-9_.]/.test(rest[d[0].length] ?? '')) {
        tokens.push({ kind: 'duration', text: d[0], pos: i })
        i += d[0].length
        continue
      }
      const m = NUMBER_RE.exec(rest)
      if (m === null || /[a-zA-Z0-9_.]/.test(rest[m[0].length] ?? '')) fail(`bad number or duration syntax: "${rest.slice(0, (m?.[0].length ?? 0) + 1)}"`)
      const text = m![0]
      let num: number
      if (/^0[xX]/.test(text)) num = parseInt(text.slice(2), 16)
      else if (/^0[0-7]+$/.test(text)) num = parseInt(text, 8) // Go's ParseInt with base 0, as Prometheus
      else num = Number(text)
      tokens.push({ kind: 'number', text, pos: i, num })
      i += text.length
      continue
    }
    if (IDENT_START.test(c) && !(c === ':' && bracketDepth > 0)) {
      let j = i + 1
      while (j < src.length && IDENT_CHAR.test(src[j]!) && !(src[j] === ':' && bracketDepth > 0)) j++
      const text = src.slice(i, j)
      const lower = text.toLowerCase()
      if (lower === 'inf' || lower === 'nan') tokens.push({ kind: 'number', text, pos: i, num: lower === 'inf' ? Infinity : NaN })
      else tokens.push({ kind: 'ident', text, pos: i })
      i = j
      continue
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i))
    if (op === undefined) return fail(`unexpected character: ${JSON.stringify(c)}`)
    if (op === '[') bracketDepth++
    if (op === ']') bracketDepth = Math.max(0, bracketDepth - 1)
    tokens.push({ kind: op, text: op, pos: i })
    i += op.length
  }
  tokens.push({ kind: 'eof', text: '', pos: src.length })
  return tokens
}

const UNIT_MS: Record<string, number> = { y: 365 * 86400_000, w: 7 * 86400_000, d: 86400_000, h: 3600_000, m: 60_000, s: 1000, ms: 1 }
const UNIT_ORDER = ['y', 'w', 'd', 'h', 'm', 's', 'ms']

/** Prometheus's duration syntax: units in the order y w d h m s ms, each at most once. */
export function parseDuration (text: string): number {
  let total = 0
  let last = -1
  for (const m of text.matchAll(/([0-9]+)(ms|[smhdwy])/g)) {
    const idx = UNIT_ORDER.indexOf(m[2]!)
    if (idx <= last) throw badData(`not a valid duration string: "${text}"`)
    last = idx
    total += Number(m[1]) * UNIT_MS[m[2]!]!
  }
  if (!Number.isSafeInteger(total)) throw badData(`duration out of range: "${text}"`)
  return total
}
