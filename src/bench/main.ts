/**
 * `ringest bench [options] <url>...` and `ringest bench compare a.json b.json`
 * (dispatched from src/cli.ts). Everything that can be wrong with the options
 * or the targets is found before any load: options, the dataset or bodies
 * file, each target's kind and ingest path. Then, for each target in turn:
 * /stats before (with --stats), the load, /stats after, the summary.
 *
 * Exit status: 0 done, 1 a run failed, 2 usage error, 3 a target could not be
 * reached (no answer at all).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus, platform, release } from 'node:os'
import { LoadRun } from './engine.js'
import { BENCH_HELP, parseBenchArgs, UsageError, type BenchOptions } from './options.js'
import { plotSvg } from './plot.js'
import { percentiles } from './recorder.js'
import { compareText, progressText, summaryText, type BenchResult, type RunResult } from './report.js'
import { loadDataset, replayWorkload, type ReplayPoint } from './replay.js'
import { closeProbes, detectKind, prepareTarget, readStats, resolveTarget, statsDelta, UnreachableError, type Kind, type Target } from './target.js'
import { generateWorkload, loadBodiesFile, WorkloadError, type Encoding, type Workload } from './workload.js'

const EXIT_OK = 0
const EXIT_FAILURE = 1
const EXIT_USAGE = 2
const EXIT_UNREACHABLE = 3
/** Replay: the dataset's offset 0 is due this long after its bodies are made, so the first ones are not late. */
const REPLAY_LEAD_MS = 200

const out = (text: string): void => { process.stdout.write(text.endsWith('\n') ? text : `${text}\n`) }
const err = (text: string): void => { process.stderr.write(text.endsWith('\n') ? text : `${text}\n`) }

function version (): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version
}

function wantsHelp (args: string[]): boolean {
  const end = args.indexOf('--')
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

export async function benchMain (args: string[]): Promise<number> {
  if (wantsHelp(args)) { out(BENCH_HELP); return EXIT_OK }
  if (args[0] === 'compare') return compare(args.slice(1))
  try {
    return await bench(parseBenchArgs(args), args)
  } catch (e) {
    if (e instanceof UsageError || e instanceof WorkloadError) {
      err(`ringest bench: ${e.message}\nRun 'ringest bench --help' to see every option.`)
      return EXIT_USAGE
    }
    if (e instanceof UnreachableError) { err(`ringest bench: ${e.message}`); return EXIT_UNREACHABLE }
    err(`ringest bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}`)
    return EXIT_FAILURE
  } finally {
    await closeProbes()
  }
}

function compare (args: string[]): number {
  if (args.length !== 2) { err('ringest bench compare: expected two result files: ringest bench compare a.json b.json'); return EXIT_USAGE }
  const read = (p: string): BenchResult => {
    const j = JSON.parse(readFileSync(p, 'utf8')) as BenchResult
    if (!Array.isArray(j.runs)) throw new Error(`${p}: not a result of ringest bench --json (no "runs")`)
    return j
  }
  let a: BenchResult, b: BenchResult
  try { a = read(args[0]!); b = read(args[1]!) } catch (e) { err(`ringest bench compare: ${(e as Error).message}`); return EXIT_USAGE }
  out(`a = ${args[0]}\nb = ${args[1]}\n`)
  out(compareText(a, b, args[0]!, args[1]!))
  return EXIT_OK
}

async function bench (o: BenchOptions, argv: string[]): Promise<number> {
  // Everything checked before any load: the dataset or bodies, then every target.
  const points: ReplayPoint[] | null = o.replay === null ? null : loadDataset(o.replay)
  const fileBodies = o.bodies === null ? null : loadBodiesFile(o.bodies, o.format)
  const targets: Target[] = []
  for (const url of o.urls) {
    const kind: Kind = o.targetKind === 'auto' ? await detectKind(url.origin) : o.targetKind
    targets.push(resolveTarget(url, kind, o.format))
  }
  const generated = new Map<Encoding, Workload>()
  /** The bodies for a target, and (replay) the epoch ms at which the dataset's offset 0 is due. */
  const workloadFor = (t: Target): [Workload, number | null] => {
    if (fileBodies !== null) return [fileBodies, null]
    if (points !== null) {
      const startMs = Date.now() + REPLAY_LEAD_MS
      return [replayWorkload(points, { samplesPerBody: o.samplesPerBody, speed: o.speed, startMs }, t.encoding), startMs]
    }
    let w = generated.get(t.encoding)
    if (w === undefined) {
      w = generateWorkload({ series: o.series, labels: o.labels, samplesPerBody: o.samplesPerBody, values: o.values, intervalMs: o.intervalMs, seed: o.seed, endMs: Date.now() }, t.encoding)
      generated.set(t.encoding, w)
    }
    return [w, null]
  }

  const runs: RunResult[] = []
  let status = EXIT_OK
  for (const t of targets) {
    await prepareTarget(t)
    const statsBefore = o.stats && t.kind === 'ringest' ? await readStats(t.origin) : null
    if (o.stats && t.kind !== 'ringest') err(`ringest bench: --stats: ${t.origin} is ${t.kind === 'unknown' ? 'not ringest' : t.kind}, it has no /stats; skipped`)
    const [workload, startEpochMs] = workloadFor(t)
    const run = new LoadRun({
      target: t,
      workload,
      mode: o.mode,
      client: o.client,
      connections: o.connections,
      rate: o.rate,
      durationMs: o.durationMs,
      requests: o.requests,
      warmupMs: o.warmupMs,
      timeoutMs: o.timeoutMs,
      retries: o.retries,
      headers: o.headers,
      startEpochMs,
      onSecond: o.quiet ? undefined : progress(o),
    })
    const onSigint = (): void => { err('\nringest bench: stopping (Ctrl-C again to quit now)'); run.stop() }
    process.once('SIGINT', onSigint)
    try {
      await run.run()
    } finally {
      process.removeListener('SIGINT', onSigint)
      if (!o.quiet && process.stderr.isTTY) err('')
      await run.close()
    }
    const statsAfter = statsBefore === null ? null : await readStats(t.origin)
    const startedAt = new Date(performance.timeOrigin + run.windowStart).toISOString()
    const r = result(o, t, run, workload, startedAt, statsBefore === null ? null : statsDelta(statsBefore, statsAfter))
    runs.push(r)
    out(`${summaryText(r)}\n`)
    if (r.ok + r.non2xx === 0 && r.socketErrors > 0) {
      err(`ringest bench: ${t.origin} never answered (${Object.keys(r.errors).join(', ')})`)
      status = EXIT_UNREACHABLE
    }
  }
  const doc: BenchResult = {
    tool: 'ringest bench',
    version: version(),
    createdAt: new Date().toISOString(),
    command: argv,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${platform()} ${release()}` },
    runs,
  }
  if (o.json !== null) { writeFileSync(o.json, `${JSON.stringify(doc, null, 2)}\n`); err(`ringest bench: result saved to ${o.json}`) }
  if (o.plot !== null) { writeFileSync(o.plot, plotSvg(runs, `ringest bench, ${doc.createdAt.slice(0, 19).replace('T', ' ')} UTC`)); err(`ringest bench: plot saved to ${o.plot}`) }
  return status
}

/** The progress line: once a second on stderr, rewritten in place on a terminal. */
function progress (o: BenchOptions): (row: ReturnType<LoadRun['rec']['endRow']> | null, run: LoadRun) => void {
  let second = 0
  let lastFinished = 0
  let lastAt = performance.now()
  const tty = process.stderr.isTTY
  return (row, run) => {
    second++
    const now = performance.now()
    const rate = row !== null ? (row.seconds > 0 ? row.ok / row.seconds : 0) : (run.finished - lastFinished) / ((now - lastAt) / 1000)
    lastFinished = run.finished
    lastAt = now
    const p = run.rec.total.count > 0 ? percentiles(run.rec.total).p99 : null
    const extra = o.mode === 'open' ? `  late ${run.rec.late}` : ''
    const text = progressText(second, row === null, rate, run.rec.errorCount + run.rec.non2xx, p, extra)
    process.stderr.write(tty ? `\r\x1b[K${text}` : `${text}\n`)
  }
}

function result (o: BenchOptions, t: Target, run: LoadRun, w: Workload, startedAt: string, serverStats: RunResult['serverStats']): RunResult {
  const rec = run.rec
  const s = run.elapsedS
  const per = (n: number): number => (s > 0 ? Math.round(n / s * 10) / 10 : 0)
  return {
    url: t.url.origin,
    kind: t.kind,
    path: t.path,
    format: t.encoding,
    mode: o.mode,
    client: o.client,
    connections: o.connections,
    rate: o.rate,
    replay: o.replay,
    startedAt,
    warmupSeconds: o.warmupMs / 1000,
    elapsedSeconds: Math.round(s * 1000) / 1000,
    body: { count: w.bodies.length, avgBytes: Math.round(w.bytes / w.bodies.length), avgSamples: Math.round(w.totalSamples / w.bodies.length * 10) / 10 },
    requests: rec.requests,
    ok: rec.ok,
    non2xx: rec.non2xx,
    socketErrors: rec.errorCount,
    requestsPerSecond: per(rec.ok),
    samplesPerSecond: per(rec.okSamples),
    bytesPerSecond: per(rec.okBytes),
    latencyMs: percentiles(rec.total),
    statuses: rec.statusCounts(),
    errors: rec.errors,
    retries: rec.retries,
    late: rec.late,
    unsent: rec.unsent,
    sent: run.sent,
    clientCpuCores: run.cpuCores === null ? null : Math.round(run.cpuCores * 100) / 100,
    perSecond: rec.rows,
    errorSamples: run.errorSamples,
    serverStats,
  }
}
