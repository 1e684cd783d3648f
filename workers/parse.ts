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
import { Doorbell, RING_FULL, RingConsumer, RingProducer } from 'native-free-ringbuffer'
import { LineProtocolParser, parsePrecision } from './parsers/lineprotocol.js'
import { JsonSeriesCache, parseJsonBody } from './parsers/json.js'
import type { ParseResult } from './parsers/types.js'
import { RingFullError, RingWriter } from './ring-writer.js'
import {
  BODY_FORMATS, BodyFormat, BodyStatus, CLAIM_FREE, INBOX_HEADER_BYTES, LANE_LINGER_MS, LANE_MAX_DRAIN_MS, LANE_SLOTS, LaneSlot, LaneState,
  NO_DB, NO_PRECISION, OUTBOX_HEADER_BYTES, type BodyJob, type BodyOutcome, type ParseWorkerData, type TaskOutcome,
} from './shared.js'

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
const lanes = new Int32Array(data.lanes)
const utf8 = new TextDecoder()
const utf8Out = new TextEncoder()

/** Parses the bodies of a classic task (big bodies, transferred), or drains a lane (small bodies, copied into its inbox). */
export default function parseTask (task: { bodies: BodyJob[] } | { lane: number }): TaskOutcome | null {
  if ('lane' in task) { drainLane(task.lane); return null }
  const started = performance.now()
  const out = { ring: ringIndex, bodies: task.bodies.map(parseBody) }
  // One writer per slot (this ring's worker); the main thread only reads.
  busy[ringIndex] = busy[ringIndex]! + (performance.now() - started)
  return out
}

/**
 * Parses the bodies of lane `lane` as they come (see LaneSlot in shared.ts):
 * each body is read in place from the inbox, its outcome goes to the outbox,
 * and the inbox space is freed once its outcomes are published.
 */
function drainLane (lane: number): void {
  const state = lane * LANE_SLOTS + LaneSlot.STATE
  if (Atomics.compareExchange(lanes, state, LaneState.SCHEDULED, LaneState.DRAINING) !== LaneState.SCHEDULED) {
    throw new Error(`lane ${lane} was not scheduled (state ${Atomics.load(lanes, state)})`)
  }
  // Fresh views each time: another worker may have drained this lane since (positions live in the rings).
  const inbox = new RingConsumer(data.inboxes[lane]!)
  const outbox = new RingProducer(data.outboxes[lane]!)
  const until = performance.now() + LANE_MAX_DRAIN_MS
  const visit = (offset: number, length: number): void => {
    writeOutcome(outbox, parseBody(readJob(inbox, offset, length)))
    // Published per body: the next body may wait for ring space (the admission wait).
    outbox.commit()
  }
  for (;;) {
    const started = performance.now()
    if (inbox.read(visit, 64) > 0) {
      inbox.release()
      busy[ringIndex] = busy[ringIndex]! + (performance.now() - started)
      if (started < until) continue
    } else if (started < until && inbox.waitForData(LANE_LINGER_MS)) {
      continue
    }
    // Leave the lane, unless a body came in before the main thread saw it idle (then it posted no task).
    Atomics.store(lanes, state, LaneState.IDLE)
    if (inbox.available() === 0 || Atomics.compareExchange(lanes, state, LaneState.IDLE, LaneState.DRAINING) !== LaneState.IDLE) return
  }
}

/** The BodyJob of an inbox record; its body is a view of the inbox, valid until the record is released. */
function readJob (inbox: RingConsumer, offset: number, length: number): BodyJob {
  const u8 = inbox.u8
  const dv = inbox.dv
  const bodyLen = dv.getUint32(offset + 8, true)
  const precLen = u8[offset + 14]!
  const dbLen = dv.getUint16(offset + 16, true)
  let p = offset + INBOX_HEADER_BYTES
  let precision: string | undefined
  if (precLen !== NO_PRECISION) { precision = utf8.decode(u8.subarray(p, p + precLen)); p += precLen }
  let db: string | undefined
  if (dbLen !== NO_DB) { db = utf8.decode(u8.subarray(p, p + dbLen)); p += dbLen }
  if (p + bodyLen !== offset + length) throw new Error(`inbox record of ${length} bytes does not hold its ${bodyLen}-byte body`)
  return {
    body: u8.subarray(p, p + bodyLen),
    format: BODY_FORMATS[u8[offset + 12]!]!,
    gzip: u8[offset + 13] === 1,
    precision,
    db,
    nowMs: inbox.f64[offset >> 3]!,
  }
}

/** Appends a body's outcome to the outbox (committed by the caller). */
function writeOutcome (outbox: RingProducer, o: BodyOutcome): void {
  const extra = o.errors.length > 0 || o.detail !== undefined ? utf8Out.encode(JSON.stringify({ errors: o.errors, detail: o.detail })) : undefined
  const n = OUTBOX_HEADER_BYTES + (extra?.byteLength ?? 0)
  let at = outbox.tryReserve(n, o.status)
  if (at === RING_FULL) {
    // The main thread reads outcomes as they come; it is only behind, so wait for it.
    if (!outbox.waitForSpace(n, 60_000)) throw new Error('the main thread read no body outcome for 60 s')
    at = outbox.tryReserve(n, o.status)
  }
  const f64 = outbox.f64
  const i32 = outbox.i32
  f64[at >> 3] = o.end
  f64[(at >> 3) + 1] = o.start
  const w = (at + 16) >> 2
  i32[w] = ringIndex
  i32[w + 1] = o.accepted
  i32[w + 2] = o.rejected
  i32[w + 3] = o.skipped
  i32[w + 4] = extra?.byteLength ?? 0
  if (extra !== undefined) outbox.u8.set(extra, at + OUTBOX_HEADER_BYTES)
}
