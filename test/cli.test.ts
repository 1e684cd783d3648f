import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { OPTIONS } from '../dist/src/config.js'
import { createLogger } from '../dist/src/log.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = join(root, 'bin', 'ringest.js')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
let dir: string

beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'ringest-cli-')) })
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

/** Runs the installed command in a temp directory, with no RINGEST_* variables from the test's own environment. */
function ringest (args: string[], env: Record<string, string> = {}): { status: number | null, stdout: string, stderr: string } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RINGEST_')))
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, env: { ...clean, ...env }, encoding: 'utf8', timeout: 30_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('ringest', () => {
  it('--help lists the commands and exits 0', () => {
    const r = ringest(['--help'])
    expect(r.status).toBe(0)
    for (const command of ['serve', 'bench', 'query', 'export', 'import']) expect(r.stdout).toMatch(new RegExp(`^  ${command} `, 'm'))
    expect(r.stderr).toBe('')
  })

  it('--version prints the package version', () => {
    const r = ringest(['--version'])
    expect([r.status, r.stdout]).toEqual([0, `${pkg.version}\n`])
  })

  it('without a command prints the usage to stderr and exits 2', () => {
    const r = ringest([])
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/^Usage: ringest <command> \[options\]/)
  })

  it('refuses an unknown command with exit 2', () => {
    const r = ringest(['frobnicate'])
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/^ringest: unknown command 'frobnicate'/)
  })

  it('says the commands to come are not yet available (exit 2), and describes them on --help (exit 0)', () => {
    for (const command of ['import']) {
      const r = ringest([command])
      expect([command, r.status]).toEqual([command, 2])
      expect(r.stderr).toMatch(new RegExp(`^ringest ${command}: .*Not yet available`))
      expect(ringest([command, '--help']).status).toBe(0)
    }
  })
})

describe('ringest serve', () => {
  it('--help documents every option with its environment variable, and exits 0 without serving', () => {
    const r = ringest(['serve', '--help'])
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/^Usage: ringest serve \[options\]/)
    for (const spec of Object.values(OPTIONS)) {
      expect(r.stdout).toContain(`${spec.flag} `)
      expect(r.stdout).toContain(spec.env)
    }
    expect(ringest(['help', 'serve']).stdout).toBe(r.stdout)
    expect(ringest(['serve', '--listen', 'bad', '-h']).status).toBe(0)
  })

  it('a bad flag value: exit 2, the option, the source and the fix on stderr, nothing on stdout', () => {
    const r = ringest(['serve', '--ring-bytes', '100KiB'])
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(
      'ringest serve: configuration error: ringBytes: "100KiB" from flag --ring-bytes is not a power of two. ' +
      'Fix: use a power of two between 64KiB and 1GiB, e.g. 16MiB.\n' +
      'Run \'ringest serve --help\' to see every option.\n')
  })

  it('an unknown flag: exit 2 with the nearest option', () => {
    const r = ringest(['serve', '--data-dri', 'x'])
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/unknown flag --data-dri \(did you mean --data-dir\?\)/)
  })

  it('a bad environment variable: exit 2 naming the variable', () => {
    const r = ringest(['serve'], { RINGEST_ACK: 'maybe' })
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/ack: "maybe" from environment variable RINGEST_ACK is not one of the accepted values\. Fix: use one of durable, committed, received/)
  })

  it('a bad config file: exit 2 naming the key', () => {
    const file = join(dir, 'bad.json')
    writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:0', maxBody: 1 }))
    const r = ringest(['serve', '--config', file])
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/unknown key "maxBody" in the config file .*bad\.json/)
  })

  it('an unwritable log file: exit 2 before anything starts', () => {
    const notADir = join(dir, 'plain-file')
    writeFileSync(notADir, '')
    const r = ringest(['serve', '--listen', '0', '--data-dir', join(dir, 'data'), '--log-file', join(notADir, 'sub', 'r.log')])
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/configuration error: logFile: cannot open .*plain-file\/sub\/r\.log: .*ENOTDIR.*Fix: give --log-file a writable path/)
  })
})

describe('createLogger', () => {
  it('appends JSON lines with name and pid to the log file, creating its directory, at the configured level', async () => {
    const file = join(dir, 'logs', 'deep', 'ringest.log')
    const log = createLogger({ logLevel: 'info', logFile: file })
    log.debug('hidden')
    log.info({ answer: 42 }, 'hello')
    // Writes are asynchronous (sync: false) and pino's flush() does not wait for them: wait for the line itself.
    for (let i = 0; i < 500 && !readFileSync(file, 'utf8').endsWith('\n'); i++) await new Promise((resolve) => setTimeout(resolve, 10))
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ name: 'ringest', pid: process.pid, level: 30, msg: 'hello', answer: 42 })
    expect(lines[0]).not.toHaveProperty('hostname')
  })

  it('throws at once for a log file it cannot create', () => {
    const notADir = join(dir, 'plain-file-2')
    writeFileSync(notADir, '')
    expect(() => createLogger({ logLevel: 'info', logFile: join(notADir, 'x.log') })).toThrow(/ENOTDIR|EEXIST/)
  })
})
