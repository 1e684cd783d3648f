/**
 * A real Prometheus 2.42 for the PromQL compatibility suite: the data is
 * turned into TSDB blocks with promtool, then Prometheus serves them on an
 * ephemeral port with its own temp data dir. Always call stop().
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus'
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool'

export interface RunningPrometheus { url: string, stop (): Promise<void> }

/** The API's answer: success with `data`, or an error with Prometheus's errorType. */
export type ApiAnswer = { status: 'success', data: any } | { status: 'error', errorType: string, error: string }

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Builds blocks from OpenMetrics text (sorted per series, ending in `# EOF`) and starts Prometheus on them. */
export async function startPrometheus (openMetrics: string, readyTimeoutMs = 30_000): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'ringest-prom-'))
  const dataDir = join(dir, 'data')
  const input = join(dir, 'input.om')
  writeFileSync(input, openMetrics)
  const built = spawnSync(PROMTOOL_BIN, ['tsdb', 'create-blocks-from', 'openmetrics', input, dataDir], { encoding: 'utf8', timeout: 120_000 })
  if (built.status !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`promtool create-blocks-from failed (${built.status}): ${built.stderr}${built.stdout}`)
  }
  return await launch(dir, dataDir, 'global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\n', readyTimeoutMs)
}

/** Starts an empty Prometheus that scrapes `target` (host:port, path /metrics) every second as job "ringest". */
export async function startScrapingPrometheus (target: string, readyTimeoutMs = 30_000): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'ringest-prom-'))
  const config = 'global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n' +
    `scrape_configs:\n  - job_name: ringest\n    static_configs:\n      - targets: ['${target}']\n`
  return await launch(dir, join(dir, 'data'), config, readyTimeoutMs)
}

async function launch (dir: string, dataDir: string, configText: string, readyTimeoutMs: number): Promise<RunningPrometheus> {
  const config = join(dir, 'prometheus.yml')
  writeFileSync(config, configText)
  const port = await freePort()
  let log = ''
  const child: ChildProcess = spawn(PROMETHEUS_BIN, [
    `--config.file=${config}`,
    `--storage.tsdb.path=${dataDir}`,
    '--storage.tsdb.retention.time=30d',
    `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout!.on('data', (b: Buffer) => { log = (log + b.toString()).slice(-8000) })
  child.stderr!.on('data', (b: Buffer) => { log = (log + b.toString()).slice(-8000) })
  let exited = false
  const exitedP = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve() }))
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exitedP
      clearTimeout(t)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + readyTimeoutMs
  for (;;) {
    if (exited) { await stop(); throw new Error(`prometheus exited before it was ready:\n${log}`) }
    try {
      const r = await request(`${url}/-/ready`)
      await r.body.text()
      if (r.statusCode === 200) break
    } catch {}
    if (Date.now() > deadline) { await stop(); throw new Error(`prometheus not ready within ${readyTimeoutMs} ms:\n${log}`) }
    await sleep(100)
  }
  return { url, stop }
}

/** GET /api/v1/query or /api/v1/query_range; params are sent as given (times in unix seconds). */
export async function apiQuery (baseUrl: string, path: '/api/v1/query' | '/api/v1/query_range', params: Record<string, string>): Promise<ApiAnswer> {
  const r = await request(`${baseUrl}${path}?${new URLSearchParams(params).toString()}`)
  const text = await r.body.text()
  let body: any
  try { body = JSON.parse(text) } catch { throw new Error(`${path} ${r.statusCode}: not JSON: ${text.slice(0, 200)}`) }
  if (body.status === 'success') return { status: 'success', data: body.data }
  return { status: 'error', errorType: body.errorType, error: body.error }
}
