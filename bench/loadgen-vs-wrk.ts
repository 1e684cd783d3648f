/**
 * Is `ringest bench` the bottleneck? It and wrk post the same bodies (one
 * file, read by both: `--bodies` and bench/wrk-post.lua) over the same number
 * of keep-alive connections to the bare node:http baseline
 * (bench/baseline-server.ts), alternating, for a few rounds. The request rate
 * is the baseline's own counter over a window in the middle of each run (the
 * same ruler for both tools), and CPU is read from /proc for the server and
 * the tool. The issue's goal: ringest bench >= 0.8x wrk's requests/s. Both of
 * its clients are measured: undici's Pool (the default) and --client net.
 *
 *   npm run bench:loadgen                              # 3 rounds x (wrk, ringest bench x 2 clients) x 10 s, 1-line bodies
 *   npm run bench:loadgen -- --sizes 1,100 --rounds 5  # more
 *
 * Bodies: the peers' payload (bench/lib/bodies.ts: host-agent line protocol, 4
 * samples a line), 200,000 lines per size. Results go to stdout and to
 * bench/results/loadgen-vs-wrk-<UTC stamp>.json.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { makeBodies } from './lib/bodies.js'
import { cpuSeconds, freePort, hostCpu, sleep, startProcess, stopProcess, waitHttp, type Child } from './lib/proc.js'
import { launch, type Counter } from './lib/targets.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const LINES = 200_000 // per size, as bench:ingest and ../shared/peers
const LEAD_S = 2 // load before the window (connections, JIT)
const TAIL_S = 1 // load after the window, so it ends while both tools are still at full speed
const TOOLS = ['wrk', 'ringest bench', 'ringest bench --client net'] as const
const OURS = ['ringest bench', 'ringest bench --client net'] as const
type Tool = typeof TOOLS[number]

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' }, // s, the measured window
    connections: { type: 'string', default: '64' },
    sizes: { type: 'string', default: '1' }, // lines per body
    help: { type: 'boolean' },
  },
})
if (flags.help === true) {
  console.log('usage: node dist/bench/loadgen-vs-wrk.js [--rounds 3] [--duration 10] [--connections 64] [--sizes 1,100]')
  process.exit(0)
}
const rounds = Number(flags.rounds)
const duration = Number(flags.duration)
const connections = Number(flags.connections)
const sizes = flags.sizes!.split(',').map(Number)
if (![rounds, duration, connections, ...sizes].every((n) => Number.isInteger(n) && n > 0)) {
  console.error('--rounds, --duration, --connections and --sizes take whole numbers above 0')
  process.exit(2)
}
if (spawnSync('wrk', ['--version']).error !== undefined) {
  console.error('wrk is not installed: apt-get install -y wrk')
  process.exit(2)
}

const log = (msg: string): void => { process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`) }

interface Row {
  round: number
  size: number
  tool: Tool
  /** Requests/s counted by the server over the window. */
  rps: number
  toolCpu: number
  serverCpu: number
  /** The rest of the machine's busy CPU, and the hypervisor's steal, cores. */
  otherCpu: number
  steal: number
  /** The tool's own figure over its whole run. */
  toolRps: number | null
}

async function measure (tool: Tool, round: number, size: number, server: Child, counter: Counter, url: string, file: string, work: string): Promise<Row> {
  const total = LEAD_S + duration + TAIL_S
  const out = join(work, 'tool.json')
  const child = tool === 'wrk'
    ? startProcess('wrk', 'wrk', ['-t1', `-c${connections}`, `-d${total}s`, '--timeout', '30s', '-s', join(ROOT, 'bench/wrk-post.lua'), url, '--', file], { logPath: join(work, 'wrk.log'), pipeStdout: true })
    : startProcess(tool, process.execPath, [join(ROOT, 'bin/ringest.js'), 'bench', '--client', tool === 'ringest bench' ? 'undici' : 'net', '--connections', String(connections), '--duration', `${total}s`, '--bodies', file, '--quiet', '--json', out, url], { logPath: join(work, 'ringest-bench.log') })
  let stdout = ''
  child.proc.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  await sleep(LEAD_S * 1000)
  // The baseline's counter line carries its own time; CPU is read at once after it.
  const snap = async (): Promise<{ c: Awaited<ReturnType<Counter['read']>>, tool: number | null, server: number | null, host: ReturnType<typeof hostCpu>, t: number }> => {
    const c = await counter.read()
    return { c, tool: cpuSeconds(child.pid), server: cpuSeconds(server.pid), host: hostCpu(), t: performance.now() }
  }
  const a = await snap()
  await sleep(duration * 1000)
  const b = await snap()
  const exit = await Promise.race([child.exited, sleep((TAIL_S + 60) * 1000).then(() => null)])
  if (exit === null) { await stopProcess(child, 5_000); throw new Error(`${tool} did not end`) }
  const wall = (b.t - a.t) / 1000
  const cores = (x: number | null, y: number | null): number => (x === null || y === null ? NaN : (y - x) / wall)
  const toolCpu = cores(a.tool, b.tool)
  const serverCpu = cores(a.server, b.server)
  const busy = a.host !== null && b.host !== null ? (b.host.busy - a.host.busy) / wall : NaN
  let toolRps: number | null = null
  try {
    toolRps = tool === 'wrk'
      ? (JSON.parse(stdout.trim().split('\n').pop() ?? '') as { rps: number }).rps
      : (JSON.parse(readFileSync(out, 'utf8')) as { runs: Array<{ requestsPerSecond: number }> }).runs[0]!.requestsPerSecond
  } catch { /* no figure of its own: the server's count still stands */ }
  return {
    round,
    size,
    tool,
    rps: Math.round((b.c.value - a.c.value) / ((b.c.t - a.c.t) / 1000)),
    toolCpu: round2(toolCpu),
    serverCpu: round2(serverCpu),
    otherCpu: round2(busy - toolCpu - serverCpu),
    steal: a.host !== null && b.host !== null ? round2((b.host.steal - a.host.steal) / wall) : NaN,
    toolRps: toolRps === null ? null : Math.round(toolRps),
  }
}

const round2 = (x: number): number => Math.round(x * 100) / 100
const median = (xs: number[]): number => { const s = [...xs].sort((p, q) => p - q); return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2 }

async function main (): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'loadgen-vs-wrk-'))
  const rows: Row[] = []
  const started = new Date()
  try {
    for (const size of sizes) {
      const set = makeBodies(size, LINES, { hosts: 10_000, t0: Date.now() - 3_600_000, seed: 1 })
      const file = join(work, `bodies-${size}.lp`)
      writeFileSync(file, set.bodies.map((b) => `${b.toString('latin1')}\n`).join(''))
      const port = await freePort()
      const l = launch('baseline', { port, dataDir: work, root: ROOT, ringestArgs: [], vmBin: '' })
      const server = startProcess('baseline', l.cmd, l.args, { cwd: l.cwd, logPath: join(work, 'baseline.log'), pipeStdout: true })
      const counter = l.counter(server, `http://127.0.0.1:${port}`)
      try {
        await waitHttp(`http://127.0.0.1:${port}${l.readyPath}`, 30_000, server)
        const url = `http://127.0.0.1:${port}${l.writePath}`
        for (let r = 1; r <= rounds; r++) {
          // Rotate the order, so no tool always gets the fresher machine.
          for (let k = 0; k < TOOLS.length; k++) {
            const tool = TOOLS[(k + r - 1) % TOOLS.length]!
            log(`size ${size}, round ${r}: ${tool}`)
            const row = await measure(tool, r, size, server, counter, url, file, work)
            rows.push(row)
            log(`  ${row.rps.toLocaleString('en-US')} req/s (server's count), tool ${row.toolCpu} cores, server ${row.serverCpu}, other ${row.otherCpu}, steal ${row.steal}`)
            await sleep(1_000)
          }
        }
      } finally {
        await counter.close()
        await stopProcess(server, 5_000)
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }

  const lines = ['| lines/body | round | tool | req/s (server count) | tool CPU | server CPU | other CPU | steal | tool\'s own req/s |', '|--:|--:|---|--:|--:|--:|--:|--:|--:|']
  for (const r of rows) lines.push(`| ${r.size} | ${r.round} | ${r.tool} | ${r.rps.toLocaleString('en-US')} | ${r.toolCpu} | ${r.serverCpu} | ${r.otherCpu} | ${r.steal} | ${r.toolRps?.toLocaleString('en-US') ?? '-'} |`)
  lines.push('')
  const summary = sizes.map((size) => {
    const of = (tool: Tool, f: (x: Row) => number): number => round2(median(rows.filter((x) => x.size === size && x.tool === tool).map(f)))
    const wrk = { rps: of('wrk', (x) => x.rps), toolCpu: of('wrk', (x) => x.toolCpu), serverCpu: of('wrk', (x) => x.serverCpu) }
    lines.push(`${size} line(s)/body: wrk ${wrk.rps.toLocaleString('en-US')} req/s at ${wrk.toolCpu} cores (server ${wrk.serverCpu}), ${round2(wrk.toolCpu / wrk.rps * 1e6)} us of client CPU per request (medians)`)
    return {
      size,
      wrk,
      ours: OURS.map((tool) => {
        const ratios: number[] = []
        for (let r = 1; r <= rounds; r++) {
          const w = rows.find((x) => x.size === size && x.round === r && x.tool === 'wrk')
          const g = rows.find((x) => x.size === size && x.round === r && x.tool === tool)
          if (w !== undefined && g !== undefined && w.rps > 0) ratios.push(round2(g.rps / w.rps))
        }
        const m = { tool, ratios, medianRatio: round2(median(ratios)), rps: of(tool, (x) => x.rps), toolCpu: of(tool, (x) => x.toolCpu), serverCpu: of(tool, (x) => x.serverCpu) }
        lines.push(`  ${tool}: ${m.rps.toLocaleString('en-US')} req/s at ${m.toolCpu} cores (server ${m.serverCpu}), ${round2(m.toolCpu / m.rps * 1e6)} us per request; ` +
          `/ wrk per round ${ratios.join(', ')}, median ${m.medianRatio} (goal >= 0.8: ${m.medianRatio >= 0.8 ? 'met' : 'missed'})`)
        return m
      }),
    }
  })
  console.log(lines.join('\n'))
  const doc = {
    command: `node dist/bench/loadgen-vs-wrk.js ${process.argv.slice(2).join(' ')}`.trim(),
    started: started.toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    rounds, duration, connections, sizes, rows, summary,
  }
  const dir = join(ROOT, 'bench/results')
  mkdirSync(dir, { recursive: true })
  const path = join(dir, `loadgen-vs-wrk-${started.toISOString().replace(/[-:]/g, '').slice(0, 15)}Z.json`)
  writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`)
  log(`saved ${path}`)
}

main().catch((e: unknown) => { console.error(e); process.exit(1) })
