import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

const FIXTURE = fileURLToPath(new URL('../fixtures/server-child.mjs', import.meta.url))

export interface Child { proc: ChildProcess, url: string, exited: Promise<[number | null, NodeJS.Signals | null]>, stderr: () => string }

/** Starts ringest in a child process and resolves once it listens (bounded). */
export async function startChild (config: Record<string, unknown>): Promise<Child> {
  const proc = spawn(process.execPath, [FIXTURE], { env: { ...process.env, RINGEST_TEST_CONFIG: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`child did not start in 20 s: ${err}`)), 20_000)
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf('\n')
      if (nl >= 0) { clearTimeout(timer); resolve(JSON.parse(out.slice(0, nl)).url as string) }
    })
    void exited.then(([code]) => { clearTimeout(timer); reject(new Error(`child exited with ${code} before listening: ${err}`)) })
  })
  return { proc, url, exited, stderr: () => err }
}

export interface CliRun { status: number | null, stdout: string, stderr: string }

const BIN = fileURLToPath(new URL('../../bin/ringest.js', import.meta.url))

/** Runs the installed command (`bin/ringest.js ...args`) without RINGEST_* variables from the test's environment; killed after 30 s. */
export async function runCli (args: string[]): Promise<CliRun> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RINGEST_')))
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.on('error', reject)
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}
