/**
 * The micro benchmark suite's table and its comparison with a baseline run
 * (bench/micro.ts): a case is SLOWER only when its mean grew by more than
 * max(3 %, 2 x (spread(baseline) + spread(now))), each spread being the larger of
 * the case's relative range over its rounds and tinybench's relative margin
 * of error, so the threshold is the runs' own noise (twice it: an A/A run of the same code
 * differed by more than one spread sum on this shared machine).
 */
export interface CaseResult { group: string, name: string, meanNs: number, hz: number, spread: number, rme: number, rounds: number[] }

const fmtNs = (ns: number): string => ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`
const pct = (x: number): string => `${(100 * x).toFixed(1)} %`

export function table (rs: CaseResult[]): string {
  const rows = rs.map((r) => [r.group, r.name, fmtNs(r.meanNs), Math.round(r.hz).toLocaleString('en-US'), pct(r.spread)])
  return markdown(['group', 'case', 'mean', 'ops/s', 'spread'], rows)
}

/** Each case of `now` against `base`: ratio of means, the noise threshold, and whether it got slower beyond it. */
export function compare (base: CaseResult[], now: CaseResult[]): { text: string, regressions: number } {
  let regressions = 0
  const rows: string[][] = []
  for (const r of now) {
    const b = base.find((x) => x.group === r.group && x.name === r.name)
    if (b === undefined) { rows.push([r.group, r.name, '–', fmtNs(r.meanNs), '–', '–', 'new']); continue }
    const ratio = r.meanNs / b.meanNs
    // Twice the two spreads: an A/A run of the same code on this shared machine differed by 17 % where
    // the spreads summed to 11.5 % (the load between two runs changes more than within one).
    const threshold = Math.max(0.03, 2 * (b.spread + r.spread))
    const verdict = ratio > 1 + threshold ? 'SLOWER' : ratio < 1 - threshold ? 'faster' : 'same (within noise)'
    if (verdict === 'SLOWER') regressions++
    rows.push([r.group, r.name, fmtNs(b.meanNs), fmtNs(r.meanNs), ratio.toFixed(3), `±${pct(threshold)}`, verdict])
  }
  return { text: markdown(['group', 'case', 'baseline', 'now', 'now ÷ baseline', 'noise threshold', 'verdict'], rows) + `\n\n${regressions} case(s) slower beyond their noise threshold`, regressions }
}

function markdown (head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

