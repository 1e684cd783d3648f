/**
 * The micro benchmark comparison (bench/lib/micro-report.ts): slower only
 * beyond the noise threshold the two runs' own spreads give.
 */
import { describe, expect, it } from 'vitest'
import { compare, type CaseResult } from '../dist/bench/lib/micro-report.js'

const r = (name: string, meanNs: number, spread: number): CaseResult => ({ group: 'g', name, meanNs, hz: 1e9 / meanNs, spread, rme: spread, rounds: [meanNs] })

describe('micro benchmark compare', () => {
  it('flags a case slower beyond max(3 %, twice both spreads), and only that one', () => {
    const base = [r('steady', 1000, 0.01), r('noisy', 1000, 0.10), r('gone', 1000, 0.01), r('faster', 1000, 0.01)]
    const now = [r('steady', 1050, 0.01), r('noisy', 1150, 0.10), r('faster', 900, 0.01), r('new', 10, 0.01)]
    const c = compare(base, now)
    expect(c.regressions).toBe(1)
    const line = (name: string): string => c.text.split('\n').find((l) => l.includes(`| ${name} `))!
    expect(line('steady')).toMatch(/1\.050 .*±4\.0 %.*SLOWER/) // 5 % > max(3 %, 2 x (1 % + 1 %))
    expect(line('noisy')).toMatch(/1\.150 .*±40\.0 %.*same/) // 15 % < 2 x (10 % + 10 %)
    expect(line('faster')).toMatch(/0\.900 .*faster/)
    expect(line('new')).toMatch(/new/)
    expect(c.text).toMatch(/1 case\(s\) slower/)
  })
})
