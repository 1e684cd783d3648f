/**
 * Parse worker (a Piscina worker). At start it claims one ring for itself
 * (single producer), then each task decodes a batch of request bodies and
 * encodes their samples straight into that ring, one commit per body.
 *
 * A task carries several bodies because Piscina costs tens of microseconds of
 * main-thread time per task: the main thread batches the bodies that arrived
 * in one event-loop turn.
 */
import { threadId, workerData } from 'node:worker_threads'
import { gunzipSync } from 'node:zlib'
import { Doorbell, RingProducer } from 'native-free-ringbuffer'
import { LineProtocolParser, parsePrecision } from './parsers/lineprotocol.js'
import { JsonSeriesCache, parseJsonBody } from './parsers/json.js'
import type { ParseResult } from './parsers/types.js'
import { RingFullError, RingWriter } from './ring-writer.js'
import { BodyFormat, BodyStatus, CLAIM_FREE, type BodyJob, type BodyOutcome, type ParseWorkerData, type TaskOutcome } from './shared.js'

const data = workerData as ParseWorkerData
const claims = new Int32Array(data.claims)

/** Claims a free ring; waits (bounded) for one if a replaced worker has not released its claim yet. */
function claimRing (): number {
  const deadline = performance.now() + 10_000
  for (;;) {
    for (let i = 0; i < claims.length; i++) {
      if (Atomics.compareExchange(claims, i, CLAIM_FREE, threadId) === CLAIM_FREE) return i
    }
    if (performance.now() > deadline) throw new Error('parse worker found no free ring to claim')
    Atomics.wait(claims, 0, Atomics.load(claims, 0), 50)
  }
}

const ringIndex = claimRing()
const producer = new RingProducer(data.rings[ringIndex]!, { doorbell: new Doorbell(data.doorbell) })
const writer = new RingWriter(producer)
writer.reset(60_000)
const lineProtocol = new LineProtocolParser(writer)
const jsonSeries = new JsonSeriesCache()

function failed (status: BodyStatus, detail: string): BodyOutcome {
  return { status, accepted: 0, rejected: 0, skipped: 0, errors: [], end: -1, start: 0, detail }
}

function parseBody (job: BodyJob): BodyOutcome {
  let body = job.body
  if (job.gzip) {
    try {
      body = gunzipSync(body, { maxOutputLength: data.maxBodyBytes })
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
        return failed(BodyStatus.TOO_LARGE, `decompressed body is larger than ${data.maxBodyBytes} bytes`)
      }
      return failed(BodyStatus.BAD_ENCODING, `invalid gzip body: ${e.message}`)
    }
  }
  if (body.byteLength > data.maxBodyBytes) {
    return failed(BodyStatus.TOO_LARGE, `body is larger than ${data.maxBodyBytes} bytes`)
  }
  writer.beginBody(data.admissionWaitMs)
  let result: ParseResult
  try {
    if (job.format === BodyFormat.LINE_PROTOCOL) {
      const precision = job.precision === undefined || job.precision === '' ? 'ns' : parsePrecision(job.precision)
      if (precision === undefined) {
        return failed(BodyStatus.BAD_PRECISION, `unknown precision "${job.precision}" (use ns, us, ms, s, m or h)`)
      }
      result = lineProtocol.parse(body, { precision, db: job.db, nowMs: job.nowMs })
    } else {
      result = parseJsonBody(body, job.format, writer, job.nowMs, jsonSeries)
    }
  } catch (err) {
    if (err instanceof RingFullError && !writer.publishedPart) {
      writer.abortBody()
      return failed(BodyStatus.OVERLOAD, 'ingest rings are full: the flush to disk is behind')
    }
    // A body published in part cannot be refused whole any more: report what is durable.
    const end = writer.finishBody()
    return { ...failed(BodyStatus.OVERLOAD, `ingest stalled part-way: ${(err as Error).message}`), end, start: writer.bodyStart, accepted: writer.bodySamples }
  }
  const end = writer.finishBody()
  return {
    status: result.rejected > 0 ? BodyStatus.PARTIAL : BodyStatus.OK,
    accepted: result.accepted,
    rejected: result.rejected,
    skipped: result.skipped,
    errors: result.errors,
    end,
    start: writer.bodyStart,
  }
}

const busy = new Float64Array(data.busy)

export default function parseTask (task: { bodies: BodyJob[] }): TaskOutcome {
  const started = performance.now()
  const out = { ring: ringIndex, bodies: task.bodies.map(parseBody) }
  // One writer per slot (this ring's worker); the main thread only reads.
  busy[ringIndex] = busy[ringIndex]! + (performance.now() - started)
  return out
}
