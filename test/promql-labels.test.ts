/** sortByString (the engine's series order) against compareStrings, code point order, with and without units from 0xD800 up. */
import { describe, expect, it } from 'vitest'
import { mulberry32 } from '../dist/src/bench/random.js'
import { canonicalLSet, compareStrings, labelsKey, sortByString } from '../dist/src/promql/labels.js'

const ALPHABETS = [
  ['a', 'b', 'z', '0', '\u0000', '\u0001', 'é'],
  ['a', 'b', '\uFF21', '\uE000', '😀', '𝄞', '\uFFFF'], // code unit order and code point order differ here
]

describe('sortByString', () => {
  for (const [i, alphabet] of ALPHABETS.entries()) {
    it(`sorts in code point order (alphabet ${i})`, () => {
      const rand = mulberry32(i + 1)
      for (let trial = 0; trial < 50; trial++) {
        const items = Array.from({ length: 1 + Math.floor(rand() * 200) }, () => {
          let s = 'prefix'
          const n = Math.floor(rand() * 6)
          for (let k = 0; k < n; k++) s += alphabet[Math.floor(rand() * alphabet.length)]!
          return { s }
        })
        const want = [...items].sort((a, b) => compareStrings(a.s, b.s)).map((x) => x.s)
        expect(sortByString([...items], (x) => x.s).map((x) => x.s)).toEqual(want)
      }
    })
  }
})

describe('canonicalLSet', () => {
  it('sorts labels, drops empty values and keys them as labelsKey', () => {
    const ls = canonicalLSet({ z: '1', __name__: 'm', a: '', b: '2' })
    expect(Object.keys(ls.labels)).toEqual(['__name__', 'b', 'z'])
    expect(ls.key).toBe(labelsKey({ __name__: 'm', b: '2', z: '1' }))
  })
})
