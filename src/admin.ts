/**
 * PUT /admin/log-level: changes the log level of the running process, e.g.
 * `curl -X PUT 127.0.0.1:7070/admin/log-level -d '{"level":"debug"}'`.
 *
 * It has no authentication. It answers only requests from a loopback address
 * (127.0.0.0/8, ::1), whatever --listen says: ringest listens on 127.0.0.1
 * by default, and on a wider address anyone who can reach the port must not
 * be able to flood the log (debug) or blind it (silent). Behind a reverse
 * proxy on the same host every request looks local: do not forward /admin/.
 */
import type { IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import { HttpError } from './errors.js'
import { LOG_LEVELS, setLogLevel, type LevelChange, type LogLevel } from './log.js'

/** A body is {"level": "..."}: a few dozen bytes. */
const MAX_BODY_BYTES = 1024

export function isLoopback (address: string | undefined): boolean {
  if (address === undefined) return false
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  return v4.startsWith('127.') || address === '::1'
}

export async function putLogLevel (req: IncomingMessage, log: Logger): Promise<LevelChange> {
  if (!isLoopback(req.socket.remoteAddress)) {
    throw new HttpError('ERR_ADMIN_FORBIDDEN', `/admin/ is answered only on a loopback address, not to ${req.socket.remoteAddress ?? 'an unknown address'}`)
  }
  const level = parseLevel(await readSmallBody(req))
  return setLogLevel(log, level, 'PUT /admin/log-level')
}

function parseLevel (text: string): LogLevel {
  const usage = `the body must be {"level": L} with L one of ${LOG_LEVELS.join(', ')}`
  let body: unknown
  try { body = JSON.parse(text) } catch { throw new HttpError('ERR_BAD_LOG_LEVEL', `${usage}; it is not JSON`) }
  const level = (body as { level?: unknown } | null)?.level
  if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new HttpError('ERR_BAD_LOG_LEVEL', `${usage}; got ${JSON.stringify(level ?? null)}`)
  }
  return level as LogLevel
}

async function readSmallBody (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new HttpError('ERR_BODY_TOO_LARGE', `an /admin/ body is at most ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
