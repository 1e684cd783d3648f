/**
 * What the benchmark's producer (main thread) and consumer (worker) share:
 * the workload definition and the control words.
 */
export const Mode = { RING: 'ring', RAW: 'raw' } as const
export type Mode = typeof Mode[keyof typeof Mode]

/** Int32 slots of the benchmark's control buffer. */
export const Ctl = {
  /** Set to 1 by the main thread to make the consumer exit. */
  STOP: 0,
  /** Records the consumer found out of sequence (must stay 0). */
  ERRORS: 1,
  /** Set to 1 by the consumer once attached. */
  READY: 2,
} as const

export interface ConsumerData {
  mode: Mode
  ring: SharedArrayBuffer
  ctl: SharedArrayBuffer
  size: number
}
