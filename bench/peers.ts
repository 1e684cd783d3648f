/**
 * ringest against its peers in one run: the bare node baseline (the ceiling),
 * ringest (default durable mode), VictoriaMetrics and InfluxDB 1.x, on the same
 * bodies (bench/lib/bodies.ts), with the runs of bench/ingest.ts
 * (bench/lib/run.ts), then bytes per sample on disk for the three stores
 * (bench/disk.sh). Writes bench/results/peers-<UTC>.{json,md,svg}, copies the
 * chart to bench/peers-latest.svg (tracked) and rewrites the README between
 * its bench:peers markers.
 *
 *   npm run bench:peers                          # 1 round, 2 M samples on disk: about 8 min
 *   npm run bench:peers -- --rounds 3 --disk-samples 20000000
 *   npm run bench:peers -- --help
 *
 * Installs victoria-metrics and influxdb from Debian packages if missing
 * (apt-get, as ../shared/peers/run.sh does).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULTS, UsageError, type Options } from './lib/cli.js'
import { summarize, type RunRecord } from './lib/report.js'
import { log, parseOrUsage, reportMissing, ROOT, runMatrix, versionOf } from './lib/run.js'
import { INFLUX_BIN, missing, onPath, type TargetName } from './lib/targets.js'
import { peersMarkdown, peersSvg, replaceBetweenMarkers, type DiskRow, type PeersResult } from './lib/peers-report.js'

const TARGETS: TargetName[] = ['baseline', 'ringest', 'vm', 'influx']
const PEER_DEFAULTS = Object.freeze({
  rounds: 1,
  diskSamples: 2_000_000, // distinct samples loaded into each store; 0 skips the disk part
  diskHosts: 10_000, // 8 series each
  readme: 'README.md', // relative to the project root; --no-readme leaves it alone
})
const CHART = 'bench/peers-latest.svg' // tracked copy of the last run's chart (bench/results/ is ignored)
const DISK_TIMEOUT_MS = 20 * 60_000 // bench/disk.sh for 2 M samples takes about 2 min

const USAGE = `npm run bench:peers -- [flags]

ringest, VictoriaMetrics, InfluxDB and a bare node server (the ceiling) on the same bodies
(1, 100 and 5,000 lines), then bytes per sample on disk; writes bench/results/peers-<UTC>.{json,md,svg},
${CHART} and the README's performance section.

  --rounds N          rounds, targets interleaved within each (default ${PEER_DEFAULTS.rounds})
  --duration S        measured window per run, seconds (default ${DEFAULTS.duration})
  --warmup S          load before the window, seconds (default ${DEFAULTS.warmup})
  --sizes LIST        lines per body (default ${DEFAULTS.sizes.join(',')})
  --disk-samples N    distinct samples for the disk part, 0 = skip (default ${PEER_DEFAULTS.diskSamples})
  --disk-hosts N      hosts in the disk data, 8 series each (default ${PEER_DEFAULTS.diskHosts})
  --port N            server port; 0 = any free port (default ${DEFAULTS.port})
  --no-readme         do not rewrite ${PEER_DEFAULTS.readme}
  --render FILE.json  run nothing: redraw the Markdown, the chart and the README section from a saved run
  --help`

interface PeerOptions { run: Options, diskSamples: number, diskHosts: number, readme: boolean, render: string | null }

function parse (argv: string[]): PeerOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, sizes: { type: 'string' },
      'disk-samples': { type: 'string' }, 'disk-hosts': { type: 'string' }, port: { type: 'string' },
      'no-readme': { type: 'boolean' }, render: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) return 'help'
  const num = (flag: string, raw: string | undefined, fallback: number, min: number): number => {
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} ${raw}: expected a whole number >= ${min}`)
    return n
  }
  const sizes = values.sizes === undefined ? DEFAULTS.sizes : values.sizes.split(',').map((s) => num('sizes', s.trim(), 0, 1))
  const run: Options = {
    ...DEFAULTS,
    targets: TARGETS,
    sizes,
    rounds: num('rounds', values.rounds, PEER_DEFAULTS.rounds, 1),
    duration: num('duration', values.duration, DEFAULTS.duration, 1),
    warmup: num('warmup', values.warmup, DEFAULTS.warmup, 0),
    port: num('port', values.port, DEFAULTS.port, 0),
  }
  return {
    run: Object.freeze(run),
    diskSamples: num('disk-samples', values['disk-samples'], PEER_DEFAULTS.diskSamples, 0),
    diskHosts: num('disk-hosts', values['disk-hosts'], PEER_DEFAULTS.diskHosts, 1),
    readme: values['no-readme'] !== true,
    render: values.render ?? null,
  }
}

/** apt-get install what is missing, as ../shared/peers/run.sh does. */
function installPeers (): void {
  const need = [['victoria-metrics', 'victoria-metrics'], [INFLUX_BIN, 'influxdb']].filter(([bin]) => !onPath(bin!)).map(([, pkg]) => pkg!)
  if (need.length === 0) return
  log(`installing ${need.join(', ')} (apt-get)`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const up = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env })
  const inst = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...need], { stdio: 'inherit', env })
  if (up.status !== 0 || inst.status !== 0) throw new Error(`apt-get install -y ${need.join(' ')} failed: install them by hand`)
}

/** bench/disk.sh N HOSTS: one JSON line per server. */
function diskRun (samples: number, hosts: number): DiskRow[] {
  log(`disk: ${samples.toLocaleString('en-US')} samples into ringest, VictoriaMetrics and InfluxDB (bench/disk.sh)`)
  const out = spawnSync('bash', [join(ROOT, 'bench/disk.sh'), String(samples), String(hosts)], {
    cwd: ROOT, encoding: 'utf8', timeout: DISK_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20,
  })
  if (out.status !== 0) throw new Error(`bench/disk.sh exited with ${out.status ?? out.signal}`)
  const rows: DiskRow[] = []
  for (const line of out.stdout.split('\n')) {
    if (!line.startsWith('{"server"')) continue
    const j = JSON.parse(line) as { server: DiskRow['server'], load: { samples: number }, bytes: number, bytes_per_sample: number, rss_peak_mb?: number }
    rows.push({ server: j.server, samples: j.load.samples, bytes: j.bytes, bytes_per_sample: j.bytes_per_sample, rss_peak_mb: j.rss_peak_mb ?? null })
  }
  if (rows.length !== 3) throw new Error(`bench/disk.sh reported ${rows.length} servers, expected 3:\n${out.stdout}`)
  return rows
}

async function main (): Promise<number> {
  const parsed = parseOrUsage(() => parse(process.argv.slice(2)), USAGE)
  if (parsed === null) return 2
  if (parsed === 'help') { console.log(USAGE); return 0 }
  const p: PeerOptions = parsed
  const o = p.run
  // Refuse before ten minutes of load, not after: the README must have its markers.
  const readmePath = join(ROOT, PEER_DEFAULTS.readme)
  if (p.readme) replaceBetweenMarkers(readFileSync(readmePath, 'utf8'), '')
  if (p.render !== null) {
    publish(JSON.parse(readFileSync(p.render, 'utf8')) as PeersResult, p.render.replace(/\.json$/, ''), p.readme ? readmePath : null)
    return 0
  }
  installPeers()
  if (reportMissing(o)) return 2

  const started = new Date()
  const stamp = started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  const tmp = mkdtempSync(join(tmpdir(), 'ringest-peers-'))
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))
  const t0 = Math.floor(started.getTime() / 1000) * 1000 - 3_600_000 // an hour ago, as gen.js
  log(`peers bench: ${o.targets.join(',')}, sizes ${o.sizes.join(',')}, ${o.rounds} round(s), ${o.warmup} s + ${o.duration} s per run, ` +
    `then ${p.diskSamples.toLocaleString('en-US')} samples on disk`)

  const runs = await runMatrix(o, tmp, t0, (r) => `p99 ${r.p99_ms} ms, RSS ${r.server_rss_peak_mib} MiB`)
  const disk = p.diskSamples > 0 ? diskRun(p.diskSamples, p.diskHosts) : null

  const dpkg = (pkg: string): string | null => versionOf('dpkg-query', ['-W', '-f=${Version}', pkg]) || null
  const result: PeersResult = {
    bench: 'peers',
    started: started.toISOString(),
    finished: new Date().toISOString(),
    command: `npm run bench:peers${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    machine: {
      cpu_model: cpus()[0]?.model ?? null, cpus: cpus().length, mem_gib: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version,
      // The Debian builds print no useful -version, so ask the package manager.
      vm_version: dpkg('victoria-metrics'), influx_version: dpkg('influxdb'),
    },
    options: {
      targets: o.targets, sizes: o.sizes, rounds: o.rounds, warmup: o.warmup, duration: o.duration, connections: o.connections,
      disk_samples: p.diskSamples, disk_hosts: p.diskHosts,
    },
    runs,
    summary: summarize(runs, o.targets, o.sizes),
    disk,
  }
  const dir = join(ROOT, 'bench/results')
  mkdirSync(dir, { recursive: true })
  const base = join(dir, `peers-${stamp}`)
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 2) + '\n')
  publish(result, base, p.readme ? readmePath : null)
  return runs.every((r) => r.ok) ? 0 : 1
}

/** BASE.md, BASE.svg, the tracked chart, and the README section (if readmePath) from one run. */
function publish (result: PeersResult, base: string, readmePath: string | null): void {
  const md = peersMarkdown(result)
  writeFileSync(`${base}.svg`, peersSvg(result))
  writeFileSync(`${base}.md`, `# ringest and its peers\n\n${md}\n\n![chart](${basename(base)}.svg)\n`)
  copyFileSync(`${base}.svg`, join(ROOT, CHART))
  if (readmePath !== null) {
    // Re-read just before writing: others may have edited the README during the run.
    const section = `${md}\n\n![samples/s, req/s, p99, RSS and bytes per sample](${CHART})\n\n` +
      `Reproduce with \`npm run bench:peers\` (about ${Math.round((Date.parse(result.finished) - Date.parse(result.started)) / 60_000)} min; ` +
      '`-- --rounds 3 --disk-samples 20000000` for steadier figures; `-- --help` for the flags). ' +
      'It installs `victoria-metrics` and `influxdb` with apt-get if missing, and rewrites this section.'
    writeFileSync(readmePath, replaceBetweenMarkers(readFileSync(readmePath, 'utf8'), section))
  }
  console.log(`\n${md}\n`)
  console.log(`results: ${base}.{json,md,svg}, chart: ${CHART}${readmePath !== null ? ', README section rewritten' : ''}`)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => { log(`${signal}: stopping the servers`); process.exit(130) })
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(err instanceof Error ? err.stack : err)
  process.exit(1)
})
