/**
 * Resolves "my body, which ends at ring index E, is durable" for many
 * requests with one Atomics.waitAsync per ring (not one per request): the
 * flush worker's commits cover requests in ring order, so each ring keeps a
 * FIFO of waiters and one loop that wakes when the watermark moves.
 */
import { RingObserver, isCovered } from 'native-free-ringbuffer'

interface Waiter { end: number, deadline: number, resolve: () => void, reject: (err: Error) => void }

class RingWaiters {
  private readonly observer: RingObserver
  private readonly queue: Waiter[] = []
  private head = 0
  private running = false

  constructor (observer: RingObserver) { this.observer = observer }

  get size (): number { return this.queue.length - this.head }

  wait (end: number, timeoutMs: number, onTimeout: () => Error): Promise<void> {
    if (this.observer.isSafe(end)) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ end, deadline: performance.now() + timeoutMs, resolve, reject: (err) => reject(err) })
      this.onTimeout = onTimeout
      if (!this.running) void this.run()
    })
  }

  private onTimeout: () => Error = () => new Error('timed out')

  private settle (): void {
    const w = this.observer.watermark()
    while (this.head < this.queue.length && isCovered(w, this.queue[this.head]!.end)) {
      this.queue[this.head++]!.resolve()
    }
    // Waiters are in ring order, which is arrival order: the oldest is at the head.
    const now = performance.now()
    while (this.head < this.queue.length && this.queue[this.head]!.deadline <= now) {
      this.queue[this.head++]!.reject(this.onTimeout())
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
  }

  private async run (): Promise<void> {
    this.running = true
    try {
      for (;;) {
        this.settle()
        if (this.head >= this.queue.length) break
        // Wait for the oldest, at most until its deadline (and 1 s, to keep the loop honest).
        const oldest = this.queue[this.head]!
        await this.observer.waitForWatermark(oldest.end, Math.max(0, Math.min(1000, oldest.deadline - performance.now())))
      }
    } finally {
      this.running = false
    }
  }
}

export class WatermarkWatcher {
  private readonly rings: RingWaiters[]
  constructor (observers: RingObserver[]) {
    this.rings = observers.map((o) => new RingWaiters(o))
  }

  /** Resolves once ring `ring`'s watermark covers `end`; rejects with onTimeout() after timeoutMs. One timer-free queue per ring: no setTimeout per request. */
  wait (ring: number, end: number, timeoutMs: number, onTimeout: () => Error): Promise<void> {
    return this.rings[ring]!.wait(end, timeoutMs, onTimeout)
  }

  pending (): number {
    let n = 0
    for (const r of this.rings) n += r.size
    return n
  }
}
