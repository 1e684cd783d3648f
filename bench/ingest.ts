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
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseOptions, UsageError, USAGE, type Options } from './lib/cli.js'
import { Msg, type ConfigMsg, type FromLoadgen, type ReadyMsg, type ResultMsg, type ToLoadgen } from './lib/messages.js'
import {
  acceptQueue, cpuSeconds, freePort, hostCpu, peakRssMiB, portIsFree, sleep, startProcess, stopProcess,
  waitHttp, withTimeout, type Child,
} from './lib/proc.js'
import { goals, goalsText, ratios, ratiosTable, runsTable, summarize, summaryTable, type RunRecord } from './lib/report.js'
import { startObservers, type Observers } from './lib/observers.js'
import { launch, missing, RINGEST_COUNTER, Unit, VM_COUNTER, type Counter, type CounterReading, type TargetName } from './lib/targets.js'

/** The project's root: this file runs as dist/bench/ingest.js. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const LOADGEN = join(ROOT, 'dist/bench/lib/loadgen.js')

const SERVER_READY_MS = 60_000 // a fresh server must answer its health check within 60 s
const SERVER_STOP_GRACE_MS = 30_000 // SIGTERM, then SIGKILL after 30 s (ringest drains and commits first)
const LOADGEN_READY_MS = 120_000 // body generation: ~1 s for 200,000 lines
const LOADGEN_DRAIN_MS = 30_000 // requests in flight after STOP get this long, then their sockets close
const COUNTER_READ_MS = 20_000 // one read of a server counter
const SEED = 1 // the bodies' random walk, as gen.js

const log = (msg: string): void => { process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`) }

/** Messages from the load generator, awaited by kind; FAILED or its exit rejects the wait. */
class Inbox {
  readonly #got: FromLoadgen[] = []
  #wake: (() => void) | null = null

  constructor (readonly child: Child) {
    child.proc.on('message', (m: FromLoadgen) => { this.#got.push(m); this.#wake?.() })
    void child.exited.then(() => this.#wake?.())
  }

  send (m: ToLoadgen): void { this.child.proc.send(m) }

  /** Throws if the load generator has failed or exited. */
  check (): void {
    const failed = this.#got.find((m) => m.kind === Msg.FAILED)
    if (failed !== undefined && failed.kind === Msg.FAILED) throw new Error(`load generator failed: ${failed.message}`)
    if (this.child.exit !== null) throw new Error(`load generator exited early (code ${this.child.exit.code})`)
  }

  async waitFor<K extends FromLoadgen['kind']> (kind: K, timeoutMs: number): Promise<Extract<FromLoadgen, { kind: K }>> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.#got.findIndex((m) => m.kind === kind)
      if (i >= 0) return this.#got.splice(i, 1)[0] as Extract<FromLoadgen, { kind: K }>
      this.check()
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`load generator sent no ${kind} within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#wake = () => { clearTimeout(timer); resolve() }
      })
      this.#wake = null
    }
  }
}

interface Snapshot { t: number, server: number | null, loadgen: number | null, host: ReturnType<typeof hostCpu>, driver: NodeJS.CpuUsage }

function snapshot (server: Child, loadgen: Child): Snapshot {
  return { t: Date.now(), server: cpuSeconds(server.pid), loadgen: cpuSeconds(loadgen.pid), host: hostCpu(), driver: process.cpuUsage() }
}

const sleepUntil = (epochMs: number): Promise<void> => sleep(Math.max(0, epochMs - Date.now()))
const per = (a: number | null, b: number | null, seconds: number): number | null =>
  a === null || b === null || seconds <= 0 ? null : (b - a) / seconds
const r2 = (x: number | null): number | null => (x === null ? null : Math.round(x * 100) / 100)
const r0 = (x: number | null): number | null => (x === null ? null : Math.round(x))
const sum = (m: Record<string, number>): number => Object.values(m).reduce((n, v) => n + v, 0)

function tail (path: string, lines: number): string {
  try { return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') } catch { return '' }
}

function emptyRecord (round: number, target: TargetName, lines: number, port: number, o: Options): RunRecord {
  return {
    round, target, lines, ok: false, error: null, port, window_s: o.duration, counter_window_s: null,
    samples_per_s: null, rps: null, acked_samples_per_s: null, mb_per_s: null,
    p50_ms: null, p90_ms: null, p99_ms: null, max_ms: null, mean_ms: null, latency_count: 0,
    non2xx: {}, non2xx_total: 0, sock_errors: {}, sock_errors_total: 0,
    server_cpu_cores: null, loadgen_cpu_cores: null, loadgen_cpu_cores_self: null, driver_cpu_cores: null, other_cpu_cores: null, steal_cores: null,
    samples_per_server_cpu_s: null, server_rss_peak_mib: null, accept_queue_end: null, counter_read_ms: null,
    whole_run: { ok: 0, non2xx: 0, sock_errors: 0 }, abandoned: null, bodies: null, body_gen_ms: null,
    server_ready_ms: null, server_stop: null, error_samples: [],
  }
}

async function runOne (o: Options, tmp: string, t0: number, round: number, target: TargetName, lines: number): Promise<RunRecord> {
  const port = o.port === 0 ? await freePort() : o.port
  const rec = emptyRecord(round, target, lines, port, o)
  const dir = join(tmp, `r${round}-${target}-${lines}`)
  const dataDir = join(dir, 'data')
  mkdirSync(dataDir, { recursive: true })
  const origin = `http://127.0.0.1:${port}`
  const serverLog = join(dir, 'server.log')
  let server: Child | null = null
  let loadgen: Child | null = null
  let counter: Counter | null = null
  let observers: Observers | null = null
  try {
    if (!(await portIsFree(port))) throw new Error(`port ${port} on 127.0.0.1 is busy: pass --port N (or --port 0 for any free one)`)
    const l = launch(target, { port, dataDir, root: ROOT, ringestArgs: o.ringestArgs, vmBin: o.vmBin })
    server = startProcess(target, l.cmd, l.args, { cwd: l.cwd, logPath: serverLog, pipeStdout: l.pipeStdout })
    if (l.pipeStdout) counter = l.counter(server, origin) // the baseline's counter lines start at once
    rec.server_ready_ms = await waitHttp(origin + l.readyPath, SERVER_READY_MS, server)
    counter ??= l.counter(server, origin)
    await withTimeout(counter.read(), COUNTER_READ_MS, `${target}: first counter read`) // opens the keep-alive connection
    if (target === 'ringest-observed') observers = startObservers(origin)

    loadgen = startProcess('loadgen', process.execPath, [LOADGEN], { cwd: ROOT, logPath: join(dir, 'loadgen.log'), ipc: true })
    const inbox = new Inbox(loadgen)
    const config: ConfigMsg = {
      kind: Msg.CONFIG, origin, path: l.writePath, linesPerBody: lines, totalLines: o.lines, hosts: o.hosts, t0, seed: SEED,
      connections: o.connections, timeoutMs: o.timeout * 1000, drainMs: LOADGEN_DRAIN_MS,
    }
    inbox.send(config)
    const ready: ReadyMsg = await inbox.waitFor(Msg.READY, LOADGEN_READY_MS)
    rec.bodies = { count: ready.bodies, bytes_avg: Math.round(ready.bodyBytesAvg), samples_avg: ready.samplesPerBody }
    rec.body_gen_ms = ready.genMs

    const windowStart = Date.now() + o.warmup * 1000
    const windowEnd = windowStart + o.duration * 1000
    inbox.send({ kind: Msg.START, windowStart, windowEnd })
    await sleepUntil(windowStart)
    inbox.check()
    const a = snapshot(server, loadgen)
    const ca: CounterReading = await withTimeout(counter.read(), COUNTER_READ_MS, `${target}: counter at the window's start`)
    await sleepUntil(windowEnd)
    inbox.check()
    const b = snapshot(server, loadgen)
    rec.accept_queue_end = acceptQueue(port)
    const cb: CounterReading = await withTimeout(counter.read(), COUNTER_READ_MS, `${target}: counter at the window's end`)
    inbox.send({ kind: Msg.STOP })
    const res: ResultMsg = await inbox.waitFor(Msg.RESULT, LOADGEN_DRAIN_MS + 15_000)
    rec.server_rss_peak_mib = r0(peakRssMiB(server.pid))

    const cpuWindow = (b.t - a.t) / 1000
    const counterWindow = (cb.t - ca.t) / 1000
    const toSamples = ca.unit === Unit.REQUESTS ? ready.samplesPerBody : 1
    rec.counter_window_s = r2(counterWindow)
    rec.counter_read_ms = [ca.readMs, cb.readMs]
    rec.samples_per_s = counterWindow > 0 && cb.present ? r0((cb.value - ca.value) * toSamples / counterWindow) : null
    rec.rps = r0(res.window.ok / o.duration)
    rec.acked_samples_per_s = r0(res.window.okSamples / o.duration)
    rec.mb_per_s = r2(res.window.okBytes / 1e6 / o.duration)
    rec.p50_ms = res.latency.p50_ms
    rec.p90_ms = res.latency.p90_ms
    rec.p99_ms = res.latency.p99_ms
    rec.max_ms = res.latency.max_ms
    rec.mean_ms = res.latency.mean_ms
    rec.latency_count = res.latency.count
    rec.non2xx = res.window.statuses
    rec.non2xx_total = sum(res.window.statuses)
    rec.sock_errors = res.window.errors
    rec.sock_errors_total = sum(res.window.errors)
    rec.server_cpu_cores = r2(per(a.server, b.server, cpuWindow))
    rec.loadgen_cpu_cores = r2(per(a.loadgen, b.loadgen, cpuWindow))
    rec.loadgen_cpu_cores_self = r2(res.cpuCoresSelf)
    const dDriver = (b.driver.user + b.driver.system - a.driver.user - a.driver.system) / 1e6
    rec.driver_cpu_cores = r2(cpuWindow > 0 ? dDriver / cpuWindow : null)
    rec.steal_cores = r2(per(a.host?.steal ?? null, b.host?.steal ?? null, cpuWindow))
    const busy = per(a.host?.busy ?? null, b.host?.busy ?? null, cpuWindow)
    if (busy !== null && rec.server_cpu_cores !== null && rec.loadgen_cpu_cores !== null && rec.driver_cpu_cores !== null) {
      // Clamped: the four readings are not taken at the same instant.
      rec.other_cpu_cores = r2(Math.max(0, busy - rec.server_cpu_cores - rec.loadgen_cpu_cores - rec.driver_cpu_cores))
    }
    const srvCores = rec.server_cpu_cores
    rec.samples_per_server_cpu_s = rec.samples_per_s !== null && srvCores !== null && srvCores > 0 ? r0(rec.samples_per_s / srvCores) : null
    rec.whole_run = { ok: res.whole.ok, non2xx: sum(res.whole.statuses), sock_errors: sum(res.whole.errors) }
    rec.abandoned = res.abandoned
    rec.error_samples = res.errorSamples
    if (observers !== null) {
      rec.observed = { ...observers.counts }
      // The dashboard's stream sends an event a second: a run that got few did not measure watching.
      if (observers.counts.events < o.duration / 2 || observers.counts.scrapes < o.duration / 2) {
        throw new Error(`observers got ${observers.counts.events} stream events and ${observers.counts.scrapes} /metrics answers in a ${o.duration} s window (${observers.counts.errors} errors)`)
      }
    }
    // Checks after the figures, so that a failed run still shows what the client saw.
    if (!cb.present) throw new Error(`GET /metrics has no series named ${target === 'vm' ? VM_COUNTER : RINGEST_COUNTER} after the load (${res.window.ok} requests got a 2xx in the window)`)
    if (server.exit !== null) throw new Error(`${target} exited during the run (code ${server.exit.code}, signal ${server.exit.signal})`)
    rec.ok = true
  } catch (err) {
    rec.ok = false
    rec.error = err instanceof Error ? err.message : String(err)
    const t = tail(serverLog, 15)
    if (t !== '') log(`${target} log, last lines:\n${t}`)
  } finally {
    if (observers !== null) await observers.stop()
    if (counter !== null) await counter.close()
    if (loadgen !== null) await stopProcess(loadgen, 2_000)
    if (server !== null) {
      const s = await stopProcess(server, SERVER_STOP_GRACE_MS)
      rec.server_stop = { ms: s.ms, killed: s.killed, code: s.exit?.code ?? null, signal: s.exit?.signal ?? null }
      if (s.killed) log(`${target} did not exit within ${SERVER_STOP_GRACE_MS} ms of SIGTERM: killed`)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  return rec
}

function versionOf (cmd: string, args: string[]): string | null {
  try {
    const out = spawnSync(cmd, args, { timeout: 5_000, encoding: 'utf8' })
    return `${out.stdout ?? ''}\n${out.stderr ?? ''}`.trim().split('\n')[0] ?? null
  } catch { return null }
}

async function main (): Promise<number> {
  let o: Options
  try {
    const parsed = parseOptions(process.argv.slice(2))
    if (parsed === 'help') { console.log(USAGE); return 0 }
    o = parsed
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      console.error(`${(err as Error).message}\n\n${USAGE}`)
      return 2
    }
    throw err
  }
  const problems = o.targets.map((t) => [t, missing(t, { root: ROOT, vmBin: o.vmBin })] as const).filter(([, m]) => m !== null)
  for (const [t, m] of problems) console.error(`target ${t}: ${m}`)
  if (problems.length > 0) return 2

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

  const runs: RunRecord[] = []
  for (let round = 1; round <= o.rounds; round++) {
    for (const lines of o.sizes) {
      for (const target of o.targets) {
        const r = await runOne(o, tmp, t0, round, target, lines)
        runs.push(r)
        log(r.ok
          ? `round ${round} ${target} L=${lines}: ${r.samples_per_s?.toLocaleString('en-US')} samples/s, ${r.rps?.toLocaleString('en-US')} req/s, ` +
            `p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, non-2xx ${r.non2xx_total}, socket errors ${r.sock_errors_total}, ` +
            `server ${r.server_cpu_cores} cores, loadgen ${r.loadgen_cpu_cores} cores, RSS ${r.server_rss_peak_mib} MiB`
          : `round ${round} ${target} L=${lines}: FAILED: ${r.error}`)
      }
    }
  }

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
