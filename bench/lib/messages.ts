/**
 * IPC messages between the benchmark's driver (bench/ingest.ts, parent) and
 * its load generator (bench/lib/loadgen.ts, a forked child process).
 *
 *   driver                      loadgen
 *     fork ------------------->
 *     CONFIG ----------------->  generates the bodies, opens the pool
 *            <----------------- READY (body statistics)
 *     START ------------------>  every connection posts back to back
 *     (reads server counters at windowStart and windowEnd)
 *     STOP ------------------->  no new requests; waits for those in flight
 *            <----------------- RESULT, then exits
 *            <----------------- FAILED at any point, then exits
 *
 * The window is given as wall-clock times, so the loadgen classifies each
 * response by its completion time without a message on the hot path.
 */
import type { LatencySummary } from './latency.js'

export const Msg = {
  CONFIG: 'config',
  READY: 'ready',
  START: 'start',
  STOP: 'stop',
  RESULT: 'result',
  FAILED: 'failed',
} as const

export interface ConfigMsg {
  kind: typeof Msg.CONFIG
  /** http://127.0.0.1:PORT */
  origin: string
  /** Path and query of every POST, e.g. /write?precision=ms */
  path: string
  linesPerBody: number
  /** Lines generated in all; bodies = totalLines / linesPerBody. */
  totalLines: number
  hosts: number
  /** Timestamp of the stream's first line, epoch ms. */
  t0: number
  seed: number
  connections: number
  /** Per-request headers and body timeout, ms (wrk's --timeout). */
  timeoutMs: number
  /** How long STOP waits for requests in flight before closing the sockets, ms. */
  drainMs: number
}

export interface ReadyMsg {
  kind: typeof Msg.READY
  bodies: number
  bodyBytesAvg: number
  samplesPerBody: number
  genMs: number
}

export interface StartMsg {
  kind: typeof Msg.START
  /** Epoch ms: responses completed in [windowStart, windowEnd) count as the window's. */
  windowStart: number
  windowEnd: number
}

export interface StopMsg { kind: typeof Msg.STOP }

/** Figures for one phase: the measured window, or the whole run. */
export interface PhaseCounts {
  /** Completed responses with a 2xx status. */
  ok: number
  /** Completed responses with another status, by status. */
  statuses: Record<string, number>
  /** Requests that ended in an error (socket, timeout), by error code. */
  errors: Record<string, number>
  /** Samples in the bodies that got a 2xx. */
  okSamples: number
  /** Bytes of the bodies that got a 2xx. */
  okBytes: number
}

export interface ResultMsg {
  kind: typeof Msg.RESULT
  window: PhaseCounts
  whole: PhaseCounts
  /** Latency of the 2xx responses completed in the window. */
  latency: LatencySummary
  /** The loadgen's own CPU over its timer-read window (process.cpuUsage), cores. */
  cpuCoresSelf: number | null
  /** Actual start and end of the loadgen's window timers, epoch ms. */
  cpuWindow: [number, number] | null
  /** Requests still in flight when the drain timed out (their sockets were closed). */
  abandoned: number
  /** A few response bodies of non-2xx answers, truncated, to show why. */
  errorSamples: string[]
}

export interface FailedMsg { kind: typeof Msg.FAILED, message: string }

export type ToLoadgen = ConfigMsg | StartMsg | StopMsg
export type FromLoadgen = ReadyMsg | ResultMsg | FailedMsg
