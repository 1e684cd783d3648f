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
