/**
 * The real CLI end to end: `ringest serve` from package.json's bin logs its
 * effective configuration in one line, takes writes in each --ack mode,
 * serves them back, and stops cleanly on SIGTERM.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, it } from 'vitest'
import { exportSeries, get, post } from './helpers/server.js'

const BIN = fileURLToPath(new URL('../bin/ringest.js', import.meta.url))
const dirs: string[] = []
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

async function serve (args: string[], env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ringest-cli-'))
  dirs.push(dir)
  const proc = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--data-dir', dir, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: Array<Record<string, unknown>> = []
  let buf = ''
  const exited = once(proc, 'exit') as Promise<[number | null]>
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('ringest serve did not start in 20 s')), 20_000)
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>
        buf = buf.slice(nl + 1)
        lines.push(line)
        if (line.msg === 'started') { clearTimeout(timer); resolve(line.url as string) }
      }
    })
    void exited.then(([code]) => { clearTimeout(timer); reject(new Error(`exited ${code}`)) })
  })
  return { proc, url, lines, exited, dir }
}

it.each(['durable', 'committed', 'received'])('--ack %s: logs its configuration, stores, serves back, stops with 0 on SIGTERM', async (ack) => {
  const s = await serve(['--ack', ack], { RINGEST_MAX_BODY_BYTES: '8MiB' })
  const starting = s.lines.find((l) => l.msg === 'started')!
  expect(starting).toBeDefined()
  const config = starting.config as Record<string, unknown>
  expect(config.ack).toBe(ack)
  expect(config.maxBodyBytes).toBe(8 * 1024 * 1024)
  expect(config.dataDir).toBe(s.dir)
  expect((starting.sources as Record<string, string>).maxBodyBytes).toBe('env')
  expect((await post(`${s.url}/write?precision=s`, `cli,mode=${ack} v=1 1700000000`)).status).toBe(204)
  expect((await get(`${s.url}/readyz`)).status).toBe(200)
  expect((await get(`${s.url}/stats`)).json().ack).toBe(ack)
  // --ack received answers before the commit: the sample becomes readable a moment later.
  let out = await exportSeries(s.url, `cli_v{mode="${ack}"}`)
  for (let i = 0; ack === 'received' && out.length === 0 && i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    out = await exportSeries(s.url, `cli_v{mode="${ack}"}`)
  }
  expect(out[0]!.timestamps).toEqual([1700000000000])
  s.proc.kill('SIGTERM')
  const [code] = await s.exited
  expect(code).toBe(0)
  expect(s.lines.some((l) => l.msg === 'stopped')).toBe(true)
})

it('exits 1 with a clear message when the port is taken, instead of hanging with its workers up', async () => {
  const s = await serve([])
  try {
    const dir = mkdtempSync(join(tmpdir(), 'ringest-cli-'))
    dirs.push(dir)
    const listen = new URL(s.url).host
    const proc = spawn(process.execPath, [BIN, 'serve', '--listen', listen, '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000)
    const [code] = await once(proc, 'exit') as [number | null]
    clearTimeout(timer)
    expect(code).toBe(1)
    expect(stderr).toMatch(/failed to start: listen EADDRINUSE/)
  } finally {
    s.proc.kill('SIGTERM')
    await s.exited
  }
})
