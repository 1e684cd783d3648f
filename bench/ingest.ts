/**
 * End-to-end ingest benchmark: servers and the load generator in separate
 * processes, every server started fresh (new data folder) for each body size
 * and round, and figures taken over a measured window in the middle of the
 * load, the way ../shared/peers/run.sh measures ringest's peers.
 *
 *   npm run bench:ingest                                   # baseline,ringest; 1, 100, 5000 lines
 *   npm run bench:ingest -- --targets baseline,ringest,vm --rounds 3
 *   npm run bench:ingest -- --help
 *
 * Per run: start the server, wait for it, fork the load generator (which
 * generates its bodies, then loads for warmup + duration), read the server's
 * own counter, CPU and steal at the window's start and end, stop the load,
 * read peak RSS, stop the server (SIGTERM, then SIGKILL after 30 s).
 * Output: a table of every run, medians per target and size, same-round ratios,
 * the issue's goals when ringest and vm both ran, then one JSON line; the JSON
 * also goes to bench/results/ingest-<UTC stamp>.json. See bench/README.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseOptions, USAGE, type Options } from './lib/cli.js'
import { goals, goalsText, ratios, ratiosTable, runsTable, summarize, summaryTable, type RunRecord } from './lib/report.js'
import { log, parseOrUsage, reportMissing, ROOT, runMatrix, versionOf } from './lib/run.js'
import { missing } from './lib/targets.js'

async function main (): Promise<number> {
  const parsed = parseOrUsage(() => parseOptions(process.argv.slice(2)), USAGE)
  if (parsed === null) return 2
  if (parsed === 'help') { console.log(USAGE); return 0 }
  const o: Options = parsed
  if (reportMissing(o)) return 2

  const started = new Date()
  const stamp = started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  const tmp = mkdtempSync(join(tmpdir(), 'ringest-bench-'))
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))
  // Bodies' first timestamp: an hour ago, whole seconds (gen.js: now - 1 h), so every server's retention keeps them.
  const t0 = Math.floor(started.getTime() / 1000) * 1000 - 3_600_000
  const perRun = o.warmup + o.duration
  log(`ingest bench: targets ${o.targets.join(',')}, sizes ${o.sizes.join(',')}, ${o.rounds} round(s), ` +
    `${o.warmup} s warmup + ${o.duration} s window, ${o.connections} connections; about ` +
    `${Math.ceil(o.rounds * o.sizes.length * o.targets.length * (perRun + 4) / 60)} min`)

  const runs = await runMatrix(o, tmp, t0, (r) =>
    `p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, non-2xx ${r.non2xx_total}, socket errors ${r.sock_errors_total}, ` +
    `server ${r.server_cpu_cores} cores, loadgen ${r.loadgen_cpu_cores} cores, RSS ${r.server_rss_peak_mib} MiB`)

  const summary = summarize(runs, o.targets, o.sizes)
  const ratioRows = ratios(runs, o.targets, o.sizes, o.rounds)
  const goalRows = goals(ratioRows, summary)
  const command = `npm run bench:ingest -- ${process.argv.slice(2).join(' ')}`.trim()
  const out = {
    bench: 'ingest',
    started: started.toISOString(),
    finished: new Date().toISOString(),
    command,
    machine: {
      cpus: cpus().length, cpu_model: cpus()[0]?.model ?? null, mem_gib: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version,
      // The Debian build prints an empty -version, so ask the package manager too.
      vm_version: o.targets.includes('vm')
        ? (versionOf(o.vmBin, ['-version']) || versionOf('dpkg-query', ['-W', '-f=${Version}', 'victoria-metrics']) || null)
        : null,
    },
    options: o,
    runs,
    summary,
    ratios: ratioRows,
    goals: goalRows,
  }

  console.log(`\n## Runs (${command})\n\n${runsTable(runs)}`)
  console.log(`\n## Medians over rounds\n\n${summaryTable(summary)}`)
  if (ratioRows.length > 0) console.log(`\n## Same-round ratios (median [min–max] over rounds)\n\n${ratiosTable(ratioRows, o.sizes)}`)
  if (goalRows.length > 0) console.log(`\n## Goals (issue 3)\n\n${goalsText(goalRows)}`)
  const json = JSON.stringify(out)
  const dir = join(ROOT, 'bench/results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `ingest-${stamp}.json`)
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n')
  if (o.json !== null) writeFileSync(o.json, json + '\n')
  console.log(`\nresults: ${file}${o.json !== null ? ` and ${o.json}` : ''}\n`)
  console.log(json)
  return runs.every((r) => r.ok) ? 0 : 1
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => { log(`${signal}: stopping the servers`); process.exit(130) }) // the exit hooks kill children, remove tmp
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(err instanceof Error ? err.stack : err)
  process.exit(1)
})
