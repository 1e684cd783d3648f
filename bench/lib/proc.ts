/**
 * Process helpers for the ingest benchmark: start and stop child processes
 * (always by the PID we started, never by name), wait for HTTP readiness, and
 * read what Linux says about a process from /proc, the way
 * ../shared/peers/run.sh does.
 *
 * Every wait has a timeout. Every child started here is SIGKILLed when the
 * driver exits, whatever the reason.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { openSync, closeSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { request } from 'undici'

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Rejects with a message naming `what` if `p` takes longer than `ms`. */
export async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  try { return await Promise.race([p, timeout]) } finally { clearTimeout(timer) }
}

/** Clock ticks per second of /proc/<pid>/stat times (100 on every usual Linux). */
export const CLK_TCK = ((): number => {
  try { return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100 } catch { return 100 }
})()

const readOr = (path: string): string | null => { try { return readFileSync(path, 'utf8') } catch { return null } }

/**
 * CPU seconds (user + system) the process has used so far, all its threads
 * included (the thread-group leader's stat sums them). null if it is gone.
 */
export function cpuSeconds (pid: number): number | null {
  const s = readOr(`/proc/${pid}/stat`)
  if (s === null) return null
  // Fields after the command name (which may hold spaces) start at field 3; utime is 14, stime 15.
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / CLK_TCK
}

/** Peak resident set (VmHWM) in MiB, or null if the process is gone. */
export function peakRssMiB (pid: number): number | null {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readOr(`/proc/${pid}/status`) ?? '')
  return m === null ? null : Number(m[1]) / 1024
}

export interface HostCpu {
  /** CPU seconds spent on anything but idle and iowait, all CPUs, since boot. */
  busy: number
  /** CPU seconds the hypervisor gave to other guests ("steal"). */
  steal: number
}

/** The machine's CPU counters from /proc/stat, or null. */
export function hostCpu (): HostCpu | null {
  const line = (readOr('/proc/stat') ?? '').split('\n', 1)[0] ?? ''
  const f = line.trim().split(/\s+/)
  if (f[0] !== 'cpu' || f.length < 9) return null
  // user nice system idle iowait irq softirq steal [guest guest_nice: already in user and nice]
  const [user, nice, system, , , irq, softirq, steal] = f.slice(1, 9).map(Number) as [number, number, number, number, number, number, number, number]
  return { busy: (user + nice + system + irq + softirq) / CLK_TCK, steal: steal / CLK_TCK }
}

/** Connections waiting in the accept queue of the IPv4 socket listening on `port` (ss -ltn's Recv-Q). */
export function acceptQueue (port: number): number | null {
  const table = readOr('/proc/net/tcp')
  if (table === null) return null
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f[3] !== '0A') continue // LISTEN
    if (parseInt(f[1]?.split(':')[1] ?? '', 16) !== port) continue
    return parseInt(f[4]?.split(':')[1] ?? '', 16)
  }
  return null
}

/** True if nothing listens on host:port (we can bind it, then let it go). */
export function portIsFree (port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, host, () => s.close(() => resolve(true)))
  })
}

/** An ephemeral port that was free a moment ago. */
export function freePort (host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const a = s.address()
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))))
    })
  })
}

export interface ExitInfo { code: number | null, signal: NodeJS.Signals | null }

export interface Child {
  readonly name: string
  readonly proc: ChildProcess
  readonly pid: number
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitInfo>
  /** Set once it has exited. */
  exit: ExitInfo | null
}

const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const p of live) { try { p.kill('SIGKILL') } catch { /* already gone */ } }
})

export interface StartOptions {
  cwd?: string
  /** File that gets the child's stderr (and its stdout unless piped). */
  logPath: string
  /** Pipe stdout to the driver instead of the log file. */
  pipeStdout?: boolean
  /** Extra `stdio` entry for an IPC channel (child_process.fork style). */
  ipc?: boolean
}

export function startProcess (name: string, cmd: string, args: string[], o: StartOptions): Child {
  const log = openSync(o.logPath, 'a')
  let proc: ChildProcess
  try {
    proc = spawn(cmd, args, {
      cwd: o.cwd,
      stdio: ['ignore', o.pipeStdout === true ? 'pipe' : log, log, ...(o.ipc === true ? ['ipc' as const] : [])],
      env: process.env,
    })
  } finally {
    closeSync(log) // the child has its own copy
  }
  if (proc.pid === undefined) {
    // spawn failed (ENOENT...): the 'error' event says why
    throw new Error(`could not start ${name}: ${cmd} ${args.join(' ')}`)
  }
  live.add(proc)
  const child: Child = {
    name,
    proc,
    pid: proc.pid,
    exit: null,
    exited: new Promise<ExitInfo>((resolve) => {
      proc.once('exit', (code, signal) => {
        live.delete(proc)
        child.exit = { code, signal }
        resolve(child.exit)
      })
    }),
  }
  proc.on('error', () => { /* reported through 'exit' or the failed wait */ })
  return child
}

/**
 * SIGTERM, wait up to graceMs for a clean exit, then SIGKILL (and wait up to
 * 5 s more). Only this child's PID is signalled.
 */
export async function stopProcess (child: Child, graceMs: number): Promise<{ exit: ExitInfo | null, ms: number, killed: boolean }> {
  const t = performance.now()
  if (child.exit !== null) return { exit: child.exit, ms: 0, killed: false }
  child.proc.kill('SIGTERM')
  const graceful = await Promise.race([child.exited, sleep(graceMs).then(() => null)])
  if (graceful !== null) return { exit: graceful, ms: Math.round(performance.now() - t), killed: false }
  child.proc.kill('SIGKILL')
  const exit = await Promise.race([child.exited, sleep(5_000).then(() => null)])
  return { exit, ms: Math.round(performance.now() - t), killed: true }
}

/**
 * Polls `url` with GET every 100 ms until it answers 2xx; fails if `child`
 * exits first or after timeoutMs. Returns the milliseconds it took.
 */
export async function waitHttp (url: string, timeoutMs: number, child: Child): Promise<number> {
  const t = performance.now()
  const deadline = t + timeoutMs
  let last = ''
  while (performance.now() < deadline) {
    if (child.exit !== null) throw new Error(`${child.name} exited (code ${child.exit.code}, signal ${child.exit.signal}) before ${url} answered`)
    try {
      const res = await request(url, { signal: AbortSignal.timeout(2_000), reset: true })
      await res.body.dump()
      if (res.statusCode >= 200 && res.statusCode < 300) return Math.round(performance.now() - t)
      last = `status ${res.statusCode}`
    } catch (err) {
      last = (err as { code?: string }).code ?? String(err)
    }
    await sleep(100)
  }
  throw new Error(`${url} did not answer 2xx within ${timeoutMs} ms (last: ${last})`)
}
