/** Label matchers as predicates over a label value (a missing label is the empty string). */
import { compileRegex } from './regex.js'
import type { Matcher } from './types.js'

export function compileMatcher (m: Matcher): (value: string) => boolean {
  switch (m.type) {
    case '=': { const v = m.value; return (x) => x === v }
    case '!=': { const v = m.value; return (x) => x !== v }
    case '=~': { const re = compileRegex(m.value); return (x) => re.test(x) }
    case '!~': { const re = compileRegex(m.value); return (x) => !re.test(x) }
  }
}
