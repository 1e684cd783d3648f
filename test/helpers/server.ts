/**
 * Starts a real ringest server in this process (real workers, real LMDB in a
 * temp dir, an ephemeral port) for tests, and small HTTP helpers on undici.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { request } from 'undici'
import { startServer, type RunningServer, type ServerConfig } from '../../dist/src/server.js'
import { loadConfig } from '../../dist/src/config.js'

/**
 * Small, fast settings shared with the child-process fixture (test/fixtures/test-config.json),
 * over the defaults of every option (so an option added later is never missing here: a
 * missing --query-cpu-percent once made every query sleep forever).
 */
const BASE: Omit<ServerConfig, 'dataDir'> = {
  ...loadConfig([], {}),
  ...JSON.parse(readFileSync(new URL('../fixtures/test-config.json', import.meta.url), 'utf8')),
}

export const testConfig = (dataDir: string, overrides: Partial<ServerConfig> = {}): ServerConfig => ({ ...BASE, dataDir, ...overrides })

export interface TestServer extends RunningServer { dataDir: string, stop (): Promise<void> }

export async function startTestServer (overrides: Partial<ServerConfig> = {}, dataDir?: string): Promise<TestServer> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'ringest-test-'))
  const s = await startServer(testConfig(dir, overrides), pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }))
  return {
    ...s,
    dataDir: dir,
    stop: async () => { await s.close('test'); if (dataDir === undefined) rmSync(dir, { recursive: true, force: true }) },
  }
}

export interface Reply { status: number, headers: Record<string, string | string[] | undefined>, text: string, json: () => any }

export async function post (url: string, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Reply> {
  const r = await request(url, { method: 'POST', body, headers })
  const text = await r.body.text()
  return { status: r.statusCode, headers: r.headers, text, json: () => JSON.parse(text) }
}

export async function get (url: string): Promise<Reply> {
  const r = await request(url)
  const text = await r.body.text()
  return { status: r.statusCode, headers: r.headers, text, json: () => JSON.parse(text) }
}

export interface ExportedSeries { metric: Record<string, string>, values: number[], timestamps: number[] }

export async function exportSeries (base: string, match: string, extra = ''): Promise<ExportedSeries[]> {
  const r = await get(`${base}/api/v1/export?match[]=${encodeURIComponent(match)}${extra}`)
  if (r.status !== 200) throw new Error(`export ${r.status}: ${r.text}`)
  return r.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ExportedSeries)
}
