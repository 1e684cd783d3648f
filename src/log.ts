/**
 * The process logger: pino, JSON lines, to stdout or to --log-file.
 *
 * Neither blocks the main thread on the disk. stdout goes through sonic-boom
 * with sync: false (writes are issued asynchronously and buffered meanwhile).
 * A log file goes through a pino transport: a worker thread
 * (workers/log-file.ts) that writes, rotates and compresses, fed through a
 * shared buffer. pino flushes what is buffered when the process exits,
 * process.exit() included.
 *
 * Worker threads have no logger of their own: they post what is worth
 * logging to the main thread (FlushMessage.WARN and friends), which logs it,
 * so a level set here applies to every line ringest writes.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { pino, type Logger } from 'pino'
import { OPTIONS } from './config.js'
import { rotationInterval } from './log-rotation.js'
import type { LogFileOptions } from '../workers/log-file.js'

export type LogLevel = typeof OPTIONS.logLevel.values[number]
export const LOG_LEVELS: readonly LogLevel[] = OPTIONS.logLevel.values

/** The log options of Config; the rotation ones default as the options do. */
export interface LogConfig {
  logLevel: LogLevel
  logFile?: string | undefined
  logFileMaxBytes?: number
  logFileInterval?: number
  logFileKeep?: number
}

export function createLogger (config: LogConfig): Logger {
  const options = { name: 'ringest', level: config.logLevel, base: { pid: process.pid } }
  if (config.logFile === undefined) return pino(options, pino.destination({ fd: process.stdout.fd, sync: false }))
  // Opened once here, synchronously, although the log thread writes the file:
  // a bad path fails at start with a clear error instead of in that thread later.
  mkdirSync(dirname(config.logFile), { recursive: true })
  closeSync(openSync(config.logFile, 'a'))
  const file: LogFileOptions = {
    file: config.logFile,
    maxBytes: config.logFileMaxBytes ?? OPTIONS.logFileMaxBytes.default,
    interval: rotationInterval(config.logFileInterval ?? OPTIONS.logFileInterval.default),
    keep: config.logFileKeep ?? OPTIONS.logFileKeep.default,
  }
  const transport = pino.transport({ target: new URL('../workers/log-file.js', import.meta.url).href, options: file })
  // Without a listener an error in the log thread (disk full, file removed with its directory) would end the
  // process. Said once: after the first, every later line raises 'the worker has exited' again.
  let told = false
  transport.on('error', (err: Error) => {
    if (told) return
    told = true
    process.stderr.write(`ringest: writing the log file ${file.file} failed: ${err.message}; later log lines are lost\n`)
  })
  return pino(options, transport)
}

/** A level change: what it is now and what it was. */
export interface LevelChange { level: string, previous: string }

/**
 * Sets the level of `log` and logs the change in one line (with `via`: what
 * asked for it). The line is written at info, before the change when the new
 * level is quieter and after it when it is more verbose, so it shows whenever
 * either level shows info.
 */
export function setLogLevel (log: Logger, level: LogLevel, via: string): LevelChange {
  const previous = log.level
  // 'silent' has no number in pino's table: it is quieter than every level.
  const rank = (l: string): number => log.levels.values[l] ?? Infinity
  const louder = rank(level) < rank(previous)
  if (louder) log.level = level
  // logLevel, not level: pino's own `level` field is the line's level.
  log.info({ logLevel: level, previous, via }, 'log level changed')
  if (!louder) log.level = level
  return { level, previous }
}

/**
 * SIGUSR2: debug if the level is anything else, back to the configured level
 * if it is debug. Turning debug on and off again needs nothing but `kill`.
 */
export function toggleDebug (log: Logger, configured: LogLevel): LevelChange {
  return setLogLevel(log, log.level === 'debug' ? (configured === 'debug' ? 'info' : configured) : 'debug', 'SIGUSR2')
}
