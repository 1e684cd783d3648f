// The pure half of `npm run bench:peers` (bench/lib/peers-report.ts): the Markdown and SVG made from
// a recorded run (test/fixtures/peers-result.json, a short real run, trimmed), and the README rewrite
// between the bench:peers markers. The benchmark itself is not run here.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  peersMarkdown, peersSvg, README_END, README_START, replaceBetweenMarkers, type PeersResult,
} from '../dist/bench/lib/peers-report.js'

const fixture = (): PeersResult => JSON.parse(readFileSync(new URL('./fixtures/peers-result.json', import.meta.url), 'utf8')) as PeersResult

describe('peersMarkdown', () => {
  it('has a row per size and server, the ringest ÷ peer ratios, and bytes per sample', () => {
    const md = peersMarkdown(fixture())
    expect(md).toContain('| lines/req | server | samples/s | req/s | p99 ms | peak RSS MiB |')
    expect(md).toContain('| 100 | ringest | 1,785,048 | 4,417 | 49.9 | 317 |')
    expect(md).toContain('| 1 | InfluxDB 1.x | 35,233 | 8,788 | 27.4 | 99 |')
    // 1,785,048 / 740,097 and 4,417 / 1,936 and 49.895 / 271.535 and 317 / 193
    expect(md).toContain('| ringest ÷ VictoriaMetrics | 100 | 2.41 | 2.28 | 0.18 | 1.64 |')
    expect(md).toContain('| ringest ÷ InfluxDB 1.x | 100 | 3.95 | 4.03 | 0.30 | 1.43 |')
    expect(md).toContain('| VictoriaMetrics | 12.78 | 1,277,952 | 1.31 |')
    expect(md).toContain('```sh\nnpm run bench:peers -- --duration 2')
    expect(md).toContain('2 × Intel(R) Xeon(R) Processor, 24 GiB RAM')
    expect(md).toContain('InfluxDB 1.6.7~rc0-1+b13')
    expect(md).not.toContain('FAILED')
  })

  it('names failed runs and leaves their cells empty', () => {
    const r = fixture()
    const run = r.runs.find((x) => x.target === 'vm' && x.lines === 100)!
    run.ok = false
    run.error = 'vm exited during the run (code 1)'
    r.summary.find((s) => s.target === 'vm' && s.lines === 100)!.rounds = 0
    const md = peersMarkdown(r)
    expect(md).toContain('- FAILED: round 1 VictoriaMetrics 100 line(s): vm exited during the run (code 1)')
    expect(md).toContain('| ringest ÷ VictoriaMetrics | 100 | – | – | – | – |')
  })

  it('leaves the disk table out when the disk part was skipped', () => {
    const r = { ...fixture(), disk: null }
    expect(peersMarkdown(r)).not.toContain('bytes/sample')
    expect(peersSvg(r)).not.toContain('bytes per sample')
  })
})

describe('peersSvg', () => {
  it('draws a bar per server and size in four panels, plus bytes per sample', () => {
    const svg = peersSvg(fixture())
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg.endsWith('</svg>\n')).toBe(true)
    for (const t of ['samples/s', 'requests/s', 'p99 latency, ms', 'peak RSS, MiB', 'bytes per sample on disk']) expect(svg).toContain(`>${t}`)
    // ringest's colour: its legend swatch, 2 sizes x 4 panels, 1 disk bar.
    expect(svg.match(/fill="#d62728"/g)?.length).toBe(1 + 2 * 4 + 1)
    expect(svg).toContain('>1.79M</text>')
    expect(svg).toContain('>12.8</text>')
    expect(svg).not.toMatch(/NaN|Infinity|undefined/)
  })

  it('escapes text it did not write', () => {
    const r = fixture()
    r.machine.cpu_model = 'A<B & "C"'
    const svg = peersSvg(r)
    expect(svg).toContain('A&lt;B &amp; &quot;C&quot;')
    expect(svg).not.toContain('A<B')
  })
})

describe('replaceBetweenMarkers', () => {
  const before = '# ringest\r\n\r\n## Benchmarks\n\nintro ⏱ text\n\n'
  const after = '\n\n### Next\ntrailing, no newline at the end'
  const doc = `${before}${README_START}\nold figures\n| a | b |\n${README_END}${after}`

  it('replaces only what lies between the markers, everything else byte for byte', () => {
    const out = replaceBetweenMarkers(doc, 'new figures\n\n| x |')
    expect(out).toBe(`${before}${README_START}\nnew figures\n\n| x |\n${README_END}${after}`)
    expect(out.startsWith(before + README_START)).toBe(true)
    expect(out.endsWith(README_END + after)).toBe(true)
    // Running twice gives the same text (no blank lines pile up).
    expect(replaceBetweenMarkers(out, 'new figures\n\n| x |\n\n\n')).toBe(out)
  })

  it('refuses when a marker is missing, doubled or out of order', () => {
    const cases = [
      doc.replace(README_START, ''),
      doc.replace(README_END, ''),
      'no markers at all',
      doc + README_END,
      `${before}${README_END}\nx\n${README_START}${after}`,
    ]
    for (const text of cases) {
      expect(() => replaceBetweenMarkers(text, 'x')).toThrow(expect.objectContaining({ code: 'ERR_BENCH_README_MARKERS' }))
    }
  })

  it('finds the markers in the project README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    expect(() => replaceBetweenMarkers(readme, '')).not.toThrow()
    expect(readme.indexOf(README_START)).toBeGreaterThan(readme.indexOf('## Benchmarks'))
  })
})
