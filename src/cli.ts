/**
 * `ringest <command> [options]`. main() returns the exit status:
 * 0 success, 1 runtime failure (the server failed to start, or shutdown did not
 * finish within --shutdown-timeout-ms), 2 usage or configuration error.
 *
 * serve: SIGTERM or SIGINT stops accepting, lets in-flight requests finish,
 * commits and closes the store (server.close), then exits 0. A second signal
 * exits 1 at once; acknowledged samples are safe either way (they are committed).
 */
import { readFileSync } from 'node:fs'
import { ConfigError, describeOptions, effectiveConfigForLog, loadConfig, type Config } from './config.js'
import { createLogger } from './log.js'

const COMMANDS = {
  serve: { available: true, summary: 'run the ingestion server (HTTP ingest, LMDB store, export)' },
  bench: { available: false, summary: 'run the ingest load generator against a server' },
  query: { available: false, summary: 'evaluate a PromQL query against a server' },
  export: { available: false, summary: 'stream series from a server as NDJSON' },
  import: { available: false, summary: 'send NDJSON series to a server' },
} as const

type Command = keyof typeof COMMANDS

const EXIT_OK = 0
const EXIT_FAILURE = 1
const EXIT_USAGE = 2

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

function usage (): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  const lines = ['Usage: ringest <command> [options]', '', 'Commands:']
  for (const [name, c] of Object.entries(COMMANDS)) {
    lines.push(`  ${name.padEnd(width)}  ${c.summary}${c.available ? '' : ' (not yet available)'}`)
  }
  lines.push('', 'Options:',
    '  --help     show this help; ringest <command> --help shows a command\'s options',
    '  --version  print the version', '')
  return lines.join('\n')
}

function serveHelp (): string {
  return [
    'Usage: ringest serve [options]',
    '',
    'Runs the ingestion server: Influx line protocol on POST /write and /api/v2/write, JSON and NDJSON on',
    'POST /api/v1/ingest, read-back on GET /api/v1/export, /healthz, /stats and /metrics. By default a',
    'write is answered 204 only once it is fsync\'d in the LMDB store (--ack durable).',
    'SIGTERM or SIGINT stops it cleanly (exit 0); a second signal exits at once (exit 1).',
    '',
    describeOptions(),
  ].join('\n')
}

/** Options end at `--`; a --help after it is a value, not a request for help. */
function wantsHelp (args: string[]): boolean {
  const end = args.indexOf('--')
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

function out (text: string): void { process.stdout.write(text.endsWith('\n') ? text : `${text}\n`) }
function err (text: string): void { process.stderr.write(text.endsWith('\n') ? text : `${text}\n`) }

export async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined) { err(usage()); return EXIT_USAGE }
  if (command === '--version') { out(version()); return EXIT_OK }
  if (command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined
    if (topic === 'serve') out(serveHelp())
    else out(usage())
    return EXIT_OK
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    err(`ringest: unknown ${command.startsWith('-') ? 'option' : 'command'} '${command}'\n\n${usage()}`)
    return EXIT_USAGE
  }
  const name = command as Command
  if (name === 'serve') {
    if (wantsHelp(rest)) { out(serveHelp()); return EXIT_OK }
    return await serve(rest)
  }
  const summary = `ringest ${name}: ${COMMANDS[name].summary}. Not yet available in ringest ${version()}.`
  if (wantsHelp(rest)) { out(summary); return EXIT_OK }
  err(summary)
  return EXIT_USAGE
}

async function serve (args: string[]): Promise<number> {
  let config: Config
  try {
    config = loadConfig(args, process.env)
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    const hint = e.message.includes('--help') ? '' : '\nRun \'ringest serve --help\' to see every option.'
    err(`ringest serve: configuration error: ${e.message}${hint}`)
    return EXIT_USAGE
  }
  let logger: ReturnType<typeof createLogger>
  try {
    logger = createLogger(config)
  } catch (e) {
    err(`ringest serve: configuration error: logFile: cannot open ${config.logFile ?? 'stdout'}: ${(e as Error).message}. Fix: give --log-file a writable path, or omit it to log to stdout.`)
    return EXIT_USAGE
  }
  logger.info({ version: version(), node: process.version, ...effectiveConfigForLog(config) }, 'starting')

  const { startServer } = await import('./server.js')
  let server: Awaited<ReturnType<typeof startServer>>
  try {
    server = await startServer(config, logger)
  } catch (e) {
    logger.fatal({ err: e }, 'failed to start')
    err(`ringest serve: failed to start: ${(e as Error).message}`)
    return EXIT_FAILURE
  }
  const running = server

  return await new Promise<number>((resolve) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.error({ signal }, 'second signal: exiting at once, shutdown unfinished')
        process.exit(EXIT_FAILURE)
      }
      stopping = true
      logger.info({ signal }, 'stopping')
      const deadline = setTimeout(() => {
        logger.error({ signal, shutdownTimeoutMs: config.shutdownTimeoutMs }, 'shutdown did not finish within shutdownTimeoutMs; exiting')
        process.exit(EXIT_FAILURE)
      }, config.shutdownTimeoutMs)
      const finish = (code: number): void => {
        clearTimeout(deadline)
        // The process should now end by itself; if a stray handle keeps it alive, end it anyway.
        setTimeout(() => {
          logger.warn('still running after shutdown (a handle keeps the event loop alive); exiting')
          process.exit(code)
        }, 2000).unref()
        resolve(code)
      }
      running.close(signal).then(() => finish(EXIT_OK), (e: unknown) => {
        logger.error({ err: e }, 'shutdown failed')
        finish(EXIT_FAILURE)
      })
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}
