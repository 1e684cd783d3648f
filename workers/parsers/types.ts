/**
 * What a body parser produces. Parsers run in the parse workers; they never
 * build per-sample objects: they resolve each series to a small local id
 * (through the sink, only on their own cache misses) and then stream
 * (id, timestamp, value) triples into the sink.
 */

/** A label pair [name, value]. */
export type Label = readonly [name: string, value: string]

export interface SampleSink {
  /**
   * Returns the local id of the series `name` + `labels`. `labels` is sorted
   * by name, without duplicate names, without empty names or values. Called
   * only when the parser's own cache misses, so it may be slowish.
   */
  seriesId (name: string, labels: readonly Label[]): number
  /** One sample: series id, timestamp in integer milliseconds since the epoch, float64 value. */
  sample (id: number, timestampMs: number, value: number): void
}

/** One rejected line (line protocol, NDJSON) or entry (JSON array: 1-based index). */
export interface ParseError {
  line: number
  message: string
}

/** At most this many errors are kept per body (the rest are only counted). */
export const MAX_REPORTED_ERRORS = 100

export interface ParseResult {
  /** Samples handed to the sink. */
  accepted: number
  /** Lines (or JSON entries) rejected whole; none of their samples reached the sink. */
  rejected: number
  /** Field values that are not samples (Influx string fields), skipped and counted. */
  skipped: number
  /** The first MAX_REPORTED_ERRORS errors, in line order. */
  errors: ParseError[]
}

/** Timestamps outside +-MAX_TIMESTAMP_MS (the range of a JS Date, +-8.64e15 ms) are rejected. */
export const MAX_TIMESTAMP_MS = 8.64e15
