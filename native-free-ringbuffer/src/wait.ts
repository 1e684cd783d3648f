/**
 * What every wait of the ring and the doorbell shares: timeout validation, and
 * an Atomics.waitAsync that keeps its thread alive until it settles.
 *
 * Node does not count a pending Atomics.waitAsync as pending work
 * (nodejs/node#61941, reported on Node 25, reproduced on 20.20): a worker, or
 * a main script, whose only pending work is `await consumer.waitForDataAsync()`
 * exits at once (code 13 from a top-level await) and the await never settles,
 * even with a timeout. So
 * while any async wait of this thread is pending we hold one ref'd interval
 * timer. It never fires (its period is ~12 days); it only tells the event
 * loop there is something to wait for. One shared timer, ref'd and unref'd,
 * so a wait costs no timer allocation.
 */
import { ErrorCodes, RingError } from './errors.js'

/**
 * A timeout is a number of milliseconds >= 0, or Infinity. Anything else is an
 * error, not a default: Atomics.wait reads NaN and undefined as "forever".
 */
export function checkTimeout (timeoutMs: number): void {
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new RingError(ErrorCodes.ERR_RING_INVALID_ARG, `timeout must be a number of milliseconds >= 0 (or Infinity), got ${String(timeoutMs)}`)
  }
}

const KEEPALIVE_MS = 2 ** 30 // ~12 days; Node caps timer delays at 2^31 - 1 ms

let pending = 0
let keepAlive: ReturnType<typeof setInterval> | undefined

function hold (): void {
  if (pending++ !== 0) return
  keepAlive ??= setInterval(() => {}, KEEPALIVE_MS)
  // Outside Node, timers have no ref(): nothing to do there.
  if (typeof keepAlive === 'object' && typeof keepAlive.ref === 'function') keepAlive.ref()
}

function drop (): void {
  if (--pending !== 0) return
  if (typeof keepAlive === 'object' && typeof keepAlive.unref === 'function') keepAlive.unref()
}

/**
 * Atomics.waitAsync(ctl, slot, value, timeoutMs) awaited with the thread kept
 * alive. `timeoutMs` Infinity waits without a timeout.
 */
export async function waitAsync (ctl: Int32Array, slot: number, value: number, timeoutMs: number): Promise<'ok' | 'not-equal' | 'timed-out'> {
  const r = Atomics.waitAsync(ctl, slot, value, timeoutMs === Infinity ? undefined : timeoutMs)
  if (!r.async) return r.value
  hold()
  try {
    return await r.value
  } finally {
    drop()
  }
}
