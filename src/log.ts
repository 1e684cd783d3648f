/**
 * The process logger: pino, JSON lines, to stdout or appended to --log-file.
 * Asynchronous writes (sync: false) keep logging off the request path; pino
 * flushes what is buffered when the process exits, process.exit() included.
 */
import { mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { pino, type Logger } from 'pino'

export function createLogger (config: { logLevel: string, logFile?: string | undefined }): Logger {
  let fd: number = process.stdout.fd
  if (config.logFile !== undefined) {
    // Opened here, synchronously, rather than by pino (which opens a path
    // asynchronously): a bad path fails at start with a clear error instead of
    // a stream error later, and the logger is ready at once.
    mkdirSync(dirname(config.logFile), { recursive: true })
    fd = openSync(config.logFile, 'a')
  }
  const destination = pino.destination({ fd, sync: false })
  return pino({ name: 'ringest', level: config.logLevel, base: { pid: process.pid } }, destination)
}
