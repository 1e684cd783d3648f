/**
 * The ceiling of the ingest benchmark: what one Node main thread does with
 * node:http when it stores nothing. It reads every request body whole, counts
 * it, and answers 204. It never parses the body.
 *
 *   node dist/bench/baseline-server.js --port 18430 [--host 127.0.0.1] [--log-ms 250]
 *
 *   POST <any path>   reads the whole body, answers 204
 *   GET  <any path>   answers {"requests":N,"bytes":N} (so /healthz works too)
 *
 * Every --log-ms it prints "<epoch ms> <requests> <bytes>" to stdout. The
 * benchmark reads its counters from these lines, not over HTTP. A saturated
 * node:http server accepts a new connection only seconds later (see
 * ../shared/peers/RESULTS.md, surprise 3), and the line carries the time its
 * counters were read, so a late timer does not skew the rate.
 */
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    'log-ms': { type: 'string', default: '250' },
  },
})
const port = Number(values.port)
const logMs = Number(values['log-ms'])
if (!Number.isInteger(port) || port <= 0 || port > 65535 || !(logMs > 0)) {
  console.error('usage: node dist/bench/baseline-server.js --port PORT [--host 127.0.0.1] [--log-ms 250]')
  process.exit(2)
}

let requests = 0
let bytes = 0

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ requests, bytes }))
    return
  }
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    // Concatenated like a real server that hands the body on in one piece.
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
    requests++
    bytes += body.length
    res.writeHead(204)
    res.end()
  })
})
server.listen(port, values.host, () => {
  process.stdout.write(`${Date.now()} ${requests} ${bytes}\n`)
})

setInterval(() => process.stdout.write(`${Date.now()} ${requests} ${bytes}\n`), logMs)

// Nothing to flush: it keeps nothing.
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0))
