/**
 * RE2 (Go regexp) syntax translated to an equivalent JavaScript RegExp.
 *
 * Prometheus anchors every label regex (`^(?:re)$`) and compiles it with Go's
 * regexp package. JavaScript reads the same text differently in many places
 * (`.` and `\s` cover other characters, `$` and `^` under (?m), no inline
 * flags, backreferences and lookaround exist), so the pattern is parsed here
 * and re-emitted token by token with the 'u' flag: literals as \u{...}
 * escapes, Perl and POSIX classes as explicit ranges. Whatever Go rejects, or
 * cannot be reproduced exactly in JavaScript, throws a bad_data PromQLError.
 */
import { badData } from './types.js'

const MAX_CODE_POINT = 0x10ffff
const MAX_REPEAT = 1000 // Go's limit on {n,m} counts

type Range = [number, number]

const r = (a: string, b: string = a): Range => [a.codePointAt(0)!, b.codePointAt(0)!]

/** Go's Perl classes (ASCII only, unlike JavaScript's \s). */
const PERL: Record<string, Range[]> = {
  d: [r('0', '9')],
  s: [[9, 10], [12, 13], [32, 32]],
  w: [r('0', '9'), r('A', 'Z'), r('_'), r('a', 'z')],
}

const POSIX: Record<string, Range[]> = {
  alnum: [r('0', '9'), r('A', 'Z'), r('a', 'z')],
  alpha: [r('A', 'Z'), r('a', 'z')],
  ascii: [[0, 0x7f]],
  blank: [[9, 9], [32, 32]],
  cntrl: [[0, 0x1f], [0x7f, 0x7f]],
  digit: [r('0', '9')],
  graph: [[0x21, 0x7e]],
  lower: [r('a', 'z')],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[9, 13], [32, 32]],
  upper: [r('A', 'Z')],
  word: [r('0', '9'), r('A', 'Z'), r('_'), r('a', 'z')],
  xdigit: [r('0', '9'), r('A', 'F'), r('a', 'f')],
}

/** General categories JavaScript and Go agree on ('C' differs: JS adds Cn, so it is spelled out). */
const CATEGORIES = new Set(['L', 'Lu', 'Ll', 'Lt', 'Lm', 'Lo', 'M', 'Mn', 'Mc', 'Me', 'N', 'Nd', 'Nl', 'No',
  'P', 'Pc', 'Pd', 'Ps', 'Pe', 'Pi', 'Pf', 'Po', 'S', 'Sm', 'Sc', 'Sk', 'So', 'Z', 'Zs', 'Zl', 'Zp',
  'Cc', 'Cf', 'Cs', 'Co'])

const complement = (ranges: Range[]): Range[] => {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0])
  const out: Range[] = []
  let next = 0
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1])
    next = Math.max(next, hi + 1)
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT])
  return out
}

/**
 * Go negates a class after case-folding it under (?i); JavaScript folds the
 * explicit set it is given. So a set is folded here before it is complemented:
 * ASCII letters gain their other case, s gains U+017F and k gains U+212A.
 */
const foldAscii = (ranges: Range[]): Range[] => {
  const out: Range[] = [...ranges]
  const has = (c: number): boolean => ranges.some(([lo, hi]) => lo <= c && c <= hi)
  for (let c = 0x41; c <= 0x5a; c++) {
    if (has(c) || has(c + 0x20)) out.push([c, c], [c + 0x20, c + 0x20])
  }
  if (has(0x73) || has(0x53)) out.push([0x17f, 0x17f])
  if (has(0x6b) || has(0x4b)) out.push([0x212a, 0x212a])
  return out
}

const hex = (c: number): string => `\\u{${c.toString(16)}}`
const rangesToClassBody = (ranges: Range[]): string =>
  ranges.map(([lo, hi]) => lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`).join('')

const SAFE_LITERAL = /^[A-Za-z0-9 _,;:'"<>=!@#%&~`-]$/u

interface Flags { s: boolean, m: boolean, U: boolean }

export interface TranslatedRegex { source: string, flags: string }

/** Translates an unanchored RE2 pattern; the result is anchored as Prometheus anchors it. */
export function translateRegex (pattern: string): TranslatedRegex {
  const cps = Array.from(pattern)
  let i = 0
  const fail = (msg: string): never => { throw badData(`invalid regular expression ${JSON.stringify(pattern)}: ${msg}`) }
  const peek = (k = 0): string | undefined => cps[i + k]

  // A leading (?i) (alone or with other flags) makes the whole regex case-insensitive,
  // which maps to JavaScript's 'i' flag. (?i) anywhere else cannot be reproduced exactly.
  let ignoreCase = false
  const leading = /^\(\?([imsU]*)\)/u.exec(pattern)
  if (leading !== null && leading[1]!.includes('i')) ignoreCase = true

  const negateClass = (ranges: Range[]): Range[] => complement(ignoreCase ? foldAscii(ranges) : ranges)

  const flagStack: Flags[] = []
  let flags: Flags = { s: false, m: false, U: false }

  const parseFlags = (atStart: boolean): 'group' | 'set' => {
    // at i: after '(?'
    let negate = false
    let sawFlag = false
    const next: Flags = { ...flags }
    for (;;) {
      const c = peek()
      if (c === undefined) return fail('missing closing )')
      i++
      if (c === 'i' || c === 'm' || c === 's' || c === 'U') {
        sawFlag = true
        if (c === 'i') {
          if (negate || !atStart || !ignoreCase) fail('inline flag (?i) is only supported at the start of the regex')
        } else {
          next[c] = !negate
        }
      } else if (c === '-') {
        if (negate) fail('invalid or unsupported Perl syntax: (?-')
        negate = true
        sawFlag = false
      } else if (c === ')' || c === ':') {
        if (negate && !sawFlag) fail('invalid or unsupported Perl syntax: missing flag after -')
        if (c === ')') { flags = next; return 'set' }
        flagStack.push(flags)
        flags = next
        return 'group'
      } else {
        return fail(`invalid or unsupported Perl syntax: (?${c}`)
      }
    }
  }

  /** Parses one escape after '\'. Returns a code point, or ranges / a property for classes. */
  const parseEscape = (inClass: boolean): { cp: number } | { ranges: Range[] } | { prop: string, neg: boolean } | { assert: string } => {
    const c = peek()
    if (c === undefined) return fail('trailing backslash at end of expression')
    i++
    switch (c) {
      case 'a': return { cp: 7 }
      case 'f': return { cp: 12 }
      case 't': return { cp: 9 }
      case 'n': return { cp: 10 }
      case 'r': return { cp: 13 }
      case 'v': return { cp: 11 }
      case 'd': case 's': case 'w': return { ranges: PERL[c]! }
      case 'D': case 'S': case 'W': return { ranges: negateClass(PERL[c.toLowerCase()]!) }
      case 'x': {
        if (peek() === '{') {
          i++
          let digits = ''
          while (peek() !== undefined && peek() !== '}') { digits += peek(); i++ }
          if (peek() !== '}' || !/^[0-9a-fA-F]+$/.test(digits)) fail('invalid escape sequence \\x{')
          i++
          const v = parseInt(digits, 16)
          if (v > MAX_CODE_POINT) fail('invalid escape sequence \\x{')
          return { cp: v }
        }
        const d = (peek() ?? '') + (peek(1) ?? '')
        if (!/^[0-9a-fA-F]{2}$/.test(d)) fail('invalid escape sequence \\x')
        i += 2
        return { cp: parseInt(d, 16) }
      }
      case 'p': case 'P': {
        let name: string
        if (peek() === '{') {
          i++
          name = ''
          while (peek() !== undefined && peek() !== '}') { name += peek(); i++ }
          if (peek() !== '}') fail('invalid character class range')
          i++
        } else {
          name = peek() ?? fail('invalid character class range')
          i++
        }
        let neg = c === 'P'
        if (name.startsWith('^')) { neg = !neg; name = name.slice(1) }
        return { prop: name, neg }
      }
      case 'A': case 'z': case 'b': case 'B':
        if (inClass) fail(`invalid escape sequence \\${c}`)
        return { assert: c }
      case 'Q': case 'E': return fail(`unsupported escape \\${c} (quote with backslashes instead)`)
      case 'C': return fail('unsupported escape \\C (any byte)')
      case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
        if (c !== '0' && !/[0-7]/.test(peek() ?? '')) fail(`backreferences are not supported: \\${c}`)
        let v = c.charCodeAt(0) - 48
        for (let k = 1; k < 3 && /[0-7]/.test(peek() ?? ''); k++) { v = v * 8 + peek()!.charCodeAt(0) - 48; i++ }
        return { cp: v }
      }
      default: {
        const cp = c.codePointAt(0)!
        if (cp < 0x80 && !/[A-Za-z0-9]/.test(c)) return { cp }
        return fail(`invalid escape sequence \\${c}`)
      }
    }
  }

  const propClassItem = (name: string, neg: boolean, inClass: boolean): string => {
    if (name === 'Any') {
      if (neg) return inClass ? '' : '[^\\u{0}-\\u{10ffff}]'
      return inClass ? '\\u{0}-\\u{10ffff}' : '[\\u{0}-\\u{10ffff}]'
    }
    if (name === 'C') {
      const body = '\\p{Cc}\\p{Cf}\\p{Co}\\p{Cs}'
      if (inClass && neg) fail('\\PC inside a character class is not supported')
      return inClass ? body : `[${neg ? '^' : ''}${body}]`
    }
    let js: string
    if (CATEGORIES.has(name)) {
      js = name
    } else {
      js = `Script=${name}`
      try { new RegExp(`\\p{${js}}`, 'u') } catch { return fail(`invalid character class range \\p{${name}}`) }
    }
    return `\\${neg ? 'P' : 'p'}{${js}}`
  }

  const parseClass = (): string => {
    // at i: after '['
    let negated = false
    if (peek() === '^') { negated = true; i++ }
    const items: string[] = []
    let first = true
    const classChar = (): number | string => {
      const c = peek()
      if (c === undefined) return fail('missing closing ]')
      if (c === '[' && peek(1) === ':') {
        const rest = cps.slice(i).join('')
        const m = /^\[:(\^?)([a-z]+):\]/.exec(rest)
        if (m !== null) {
          const ranges = POSIX[m[2]!]
          if (ranges === undefined) fail(`invalid character class range ${m[0]}`)
          i += Array.from(m[0]).length
          return rangesToClassBody(m[1] === '^' ? negateClass(ranges!) : ranges!)
        }
      }
      i++
      if (c !== '\\') return c.codePointAt(0)!
      const e = parseEscape(true)
      if ('cp' in e) return e.cp
      if ('ranges' in e) return rangesToClassBody(e.ranges)
      if ('prop' in e) return propClassItem(e.prop, e.neg, true)
      return fail('invalid escape in character class')
    }
    for (;;) {
      const c = peek()
      if (c === undefined) return fail('missing closing ]')
      if (c === ']' && !first) { i++; break }
      first = false
      const lo = classChar()
      if (typeof lo === 'string') { items.push(lo); continue }
      if (peek() === '-' && peek(1) !== undefined && peek(1) !== ']') {
        i++
        const hi = classChar()
        if (typeof hi === 'string') fail('invalid character class range')
        if ((hi as number) < lo) fail('invalid character class range')
        items.push(`${hex(lo)}-${hex(hi as number)}`)
      } else {
        items.push(hex(lo))
      }
    }
    return `[${negated ? '^' : ''}${items.join('')}]`
  }

  let out = ''
  /** True when the last emitted item can take a quantifier. */
  let canRepeat = false
  let lastWasRepeat = false
  let depth = 0

  const emitAtom = (s: string, assertion = false): void => {
    out += assertion ? `(?:${s})` : s
    canRepeat = true
    lastWasRepeat = false
  }

  while (i < cps.length) {
    const c = cps[i]!
    switch (c) {
      case '(': {
        const atStart = i === 0
        i++
        if (peek() === '?') {
          i++
          const k = peek()
          if (k === 'P' && peek(1) === '<') {
            i += 2
            let name = ''
            while (peek() !== undefined && peek() !== '>') { name += peek(); i++ }
            if (peek() !== '>' || !/^[A-Za-z0-9_]+$/.test(name)) fail('invalid named capture')
            i++
            flagStack.push(flags)
            out += '(?:'
          } else if (k === '=' || k === '!' || k === '<') {
            fail('lookaround and (?<name> groups are not supported by RE2')
          } else {
            const kind = parseFlags(atStart)
            if (kind === 'set') { canRepeat = false; lastWasRepeat = false; continue }
            out += '(?:'
          }
        } else {
          flagStack.push(flags)
          out += '(?:'
        }
        depth++
        canRepeat = false
        lastWasRepeat = false
        continue
      }
      case ')': {
        i++
        if (depth === 0) fail('unexpected )')
        depth--
        flags = flagStack.pop()!
        out += ')'
        canRepeat = true
        lastWasRepeat = false
        continue
      }
      case '|':
        i++
        out += '|'
        canRepeat = false
        lastWasRepeat = false
        continue
      case '*': case '+': case '?': case '{': {
        let q: string
        if (c === '{') {
          const m = /^\{(\d+)(,(\d*))?\}/.exec(cps.slice(i, i + 24).join(''))
          if (m === null) { i++; emitAtom(hex(0x7b)); continue } // not a repeat: a literal '{', as in Go
          const lo = Number(m[1])
          const hi = m[3] === undefined ? lo : m[3] === '' ? -1 : Number(m[3])
          if (lo > MAX_REPEAT || hi > MAX_REPEAT || (hi !== -1 && hi < lo)) fail(`invalid repeat count ${m[0]}`)
          q = m[0]
          i += m[0].length
        } else {
          q = c
          i++
        }
        if (lastWasRepeat) fail(`invalid nested repetition operator ${q}`)
        if (!canRepeat) fail(`missing argument to repetition operator ${q}`)
        let lazy = false
        if (peek() === '?') { lazy = true; i++ }
        if (flags.U) lazy = !lazy
        out += q + (lazy ? '?' : '')
        lastWasRepeat = true
        continue
      }
      case '.':
        i++
        emitAtom(flags.s ? '[^]' : '[^\\n]')
        continue
      case '^':
        i++
        emitAtom(flags.m ? '^|(?<=\\n)' : '^', true)
        continue
      case '$':
        i++
        emitAtom(flags.m ? '$|(?=\\n)' : '$', true)
        continue
      case '[':
        i++
        emitAtom(parseClass())
        continue
      case '\\': {
        i++
        const e = parseEscape(false)
        if ('cp' in e) emitAtom(hex(e.cp))
        else if ('ranges' in e) emitAtom(`[${rangesToClassBody(e.ranges)}]`)
        else if ('prop' in e) {
          const item = propClassItem(e.prop, e.neg, false)
          emitAtom(item.startsWith('[') ? item : `[${item}]`)
        } else {
          const a = e.assert === 'A' ? '^' : e.assert === 'z' ? '$' : `\\${e.assert}`
          emitAtom(a, true)
        }
        continue
      }
      default:
        i++
        emitAtom(SAFE_LITERAL.test(c) ? c : hex(c.codePointAt(0)!))
    }
  }
  if (depth !== 0) fail('missing closing )')
  const source = `^(?:${out})$`
  const jsFlags = ignoreCase ? 'iu' : 'u'
  try {
    new RegExp(source, jsFlags)
  } catch (err) {
    fail(`cannot be translated exactly (${(err as Error).message})`)
  }
  return { source, flags: jsFlags }
}

const cache = new Map<string, RegExp>()
const CACHE_MAX = 1000

/** A cached, anchored JavaScript RegExp equivalent to Prometheus's regex `pattern`. */
export function compileRegex (pattern: string): RegExp {
  let re = cache.get(pattern)
  if (re === undefined) {
    const t = translateRegex(pattern)
    re = new RegExp(t.source, t.flags)
    if (cache.size >= CACHE_MAX) cache.clear()
    cache.set(pattern, re)
  }
  return re
}
