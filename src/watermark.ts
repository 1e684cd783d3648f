/**
 * Resolves "my body, which ends at ring index E, is durable" for many
 * requests with one Atomics.waitAsync per ring (not one per request): the
 * flush worker's commits cover requests in ring order, so each ring keeps a
 * FIFO of waiters and one loop that wakes when the watermark moves.
 */
import { RingObserver, isCovered } from 'native-free-ringbuffer'

interface Waiter { end: number, resolve: () => void }

class RingWaiters {
  private readonly observer: RingObserver
  private readonly queue: Waiter[] = []
  private head = 0
  private running = false

  constructor (observer: RingObserver) { this.observer = observer }

  get size (): number { return this.queue.length - this.head }

  wait (end: number): Promise<void> {
    if (this.observer.isSafe(end)) return Promise.resolve()
    return new Promise<void>((resolve) => {
      this.queue.push({ end, resolve })
      if (!this.running) void this.run()
    })
  }

  private settle (): void {
    const w = this.observer.watermark()
    while (this.head < this.queue.length && isCovered(w, this.queue[this.head]!.end)) {
      this.queue[this.head++]!.resolve()
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
        // Wait for the oldest; a timeout keeps the loop honest if a notify is ever missed.
        await this.observer.waitForWatermark(this.queue[this.head]!.end, 1000)
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

  /** Resolves once ring `ring`'s watermark covers `end`. */
  wait (ring: number, end: number): Promise<void> {
    return this.rings[ring]!.wait(end)
  }

  pending (): number {
    let n = 0
    for (const r of this.rings) n += r.size
    return n
  }
}
