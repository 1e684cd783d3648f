/**
 * The log file's thread: a pino transport. pino.transport() loads this module
 * in a worker thread (thread-stream); the main thread only copies each log
 * line into a shared buffer and never waits on the disk.
 *
 * Lines go to --log-file through rotating-file-stream, which rotates by size
 * (--log-file-max-bytes) and on UTC clock boundaries (--log-file-interval),
 * gzips the finished file with node:zlib here, in this thread, and keeps the
 * newest --log-file-keep rotated files (listed in <file>.history, which it
 * maintains). While a finished file is being compressed, new lines wait in
 * this thread's stream buffer and in the shared buffer, not on the main thread.
 *
 * Rotated files are named <file>-<UTC time>.gz, e.g.
 * ringest.log-20261124T000000Z.gz: the start of the period the file covers
 * (with -2, -3... for the size rotations within it), or the time of the
 * rotation when rotating by size only; `ls` lists them next to the live file.
 */
import { createStream, type RotatingFileStream } from 'rotating-file-stream'

/** What src/log.ts hands this thread (pino.transport's `options`). */
export interface LogFileOptions {
  file: string
  /** Rotate once the file reaches this size; 0 = never by size. */
  maxBytes: number
  /** rotating-file-stream's period ('1d', '6h'...); undefined = never by time. */
  interval: string | undefined
  /** Rotated files kept. */
  keep: number
}

/** <file>-20261124T000000Z.gz, or -N before .gz when that name is already taken. */
export function rotatedName (file: string, time: Date, index: number): string {
  const stamp = time.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  return `${file}-${stamp}${index > 1 ? `-${index}` : ''}.gz`
}

export default function logFile (o: LogFileOptions): RotatingFileStream {
  const stream = createStream((time, index) => time === null ? o.file : rotatedName(o.file, new Date(time), index ?? 1), {
    ...(o.maxBytes > 0 ? { size: `${o.maxBytes}B` } : {}),
    // intervalBoundary: a rotated file is named after the start of the period it covers (its size rotations
    // get -2, -3...); initialRotation: a file left by a run in an earlier period is rotated at start.
    ...(o.interval !== undefined ? { interval: o.interval, intervalUTC: true, intervalBoundary: true, initialRotation: true } : {}),
    compress: 'gzip',
    maxFiles: o.keep,
    history: `${o.file}.history`,
  })
  // A line near the top of each new file names the one before, so a reader can follow the chain back.
  stream.on('rotated', (previous: string) => {
    if (stream.writableEnded) return // rotated by the last lines, at exit: no new file will be written
    stream.write(`${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, name: 'ringest', previous, msg: 'log file rotated' })}\n`)
  })
  // Non-fatal trouble (a rotated file that could not be deleted): there is no logger here, stderr is what is left.
  stream.on('warning', (err: Error) => { process.stderr.write(`ringest: log file rotation: ${err.message}\n`) })
  return stream
}
