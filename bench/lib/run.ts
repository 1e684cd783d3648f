/**
 * One run of the end-to-end ingest benchmark (a fresh server, a forked load
 * generator, figures over a measured window), shared by bench/ingest.ts
 * (`npm run bench:ingest`) and bench/peers.ts (`npm run bench:peers`).
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { UsageError, type Options } from './cli.js'
import { Msg, type ConfigMsg, type FromLoadgen, type ReadyMsg, type ResultMsg, type ToLoadgen } from './messages.js'
import {
  acceptQueue, cpuSeconds, freePort, hostCpu, peakRssMiB, portIsFree, sleep, startProcess, stopProcess,
  waitHttp, withTimeout, type Child,
} from './proc.js'
import type { RunRecord } from './report.js'
import { startObservers, type Observers } from './observers.js'
import { launch, missing, Unit, type Counter, type CounterReading, type TargetName } from './targets.js'

/** The project's root: this file runs as dist/bench/lib/run.js. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const LOADGEN = join(ROOT, 'dist/bench/lib/loadgen.js')

const SERVER_READY_MS = 60_000 // a fresh server must answer its health check within 60 s
const SERVER_STOP_GRACE_MS = 30_000 // SIGTERM, then SIGKILL after 30 s (ringest drains and commits first)
const LOADGEN_READY_MS = 120_000 // body generation: ~1 s for 200,000 lines
const LOADGEN_DRAIN_MS = 30_000 // requests in flight after STOP get this long, then their sockets close
const COUNTER_READ_MS = 20_000 // one read of a server counter
const SEED = 1 // the bodies' random walk, as gen.js

export const log = (msg: string): void => { process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`) }

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

export async function runOne (o: Options, tmp: string, t0: number, round: number, target: TargetName, lines: number): Promise<RunRecord> {
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
    if (l.setup !== undefined) await withTimeout(l.setup(origin), COUNTER_READ_MS, `${target}: setup`)
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
    const toSamples = ca.unit === Unit.REQUESTS ? ready.samplesPerBody : ca.unit === Unit.LINES ? ready.samplesPerBody / lines : 1
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
    if (!cb.present) throw new Error(`the server's counter (${l.counterName}) is absent after the load (${res.window.ok} requests got a 2xx in the window)`)
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

export function versionOf (cmd: string, args: string[]): string | null {
  try {
    const out = spawnSync(cmd, args, { timeout: 5_000, encoding: 'utf8' })
    return `${out.stdout ?? ''}\n${out.stderr ?? ''}`.trim().split('\n')[0] ?? null
  } catch { return null }
}


/**
 * Every (round, size, target) run of `o`, rounds outermost and targets
 * interleaved within a size, each logged as it ends (`detail` adds figures).
 */
export async function runMatrix (o: Options, tmp: string, t0: number, detail: (r: RunRecord) => string): Promise<RunRecord[]> {
  const runs: RunRecord[] = []
  for (let round = 1; round <= o.rounds; round++) {
    for (const lines of o.sizes) {
      for (const target of o.targets) {
        const r = await runOne(o, tmp, t0, round, target, lines)
        runs.push(r)
        log(r.ok
          ? `round ${round} ${target} L=${lines}: ${r.samples_per_s?.toLocaleString('en-US')} samples/s, ${r.rps?.toLocaleString('en-US')} req/s, ${detail(r)}`
          : `round ${round} ${target} L=${lines}: FAILED: ${r.error}`)
      }
    }
  }
  return runs
}

/** The targets of `o` that cannot run here, printed with their fixes; true if there is any. */
export function reportMissing (o: Options): boolean {
  const problems = o.targets.map((t) => [t, missing(t, { root: ROOT, vmBin: o.vmBin })] as const).filter(([, m]) => m !== null)
  for (const [t, m] of problems) console.error(`target ${t}: ${m}`)
  return problems.length > 0
}

/** Parses a driver's arguments; a usage error is printed with the usage (the caller exits 2: null). */
export function parseOrUsage<T> (parse: () => T | 'help', usage: string): T | 'help' | null {
  try {
    return parse()
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      console.error(`${(err as Error).message}\n\n${usage}`)
      return null
    }
    throw err
  }
}
