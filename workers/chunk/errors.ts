/**
 * Errors of the chunk codec. Match on `code`, not on the class: classes do
 * not survive a postMessage between threads, codes do.
 */

/** A chunk that is truncated, corrupt, or of an unknown format version. */
export class ChunkFormatError extends Error {
  readonly code = 'ERR_CHUNK_FORMAT'
  override name = 'ChunkFormatError'
}

/** encodeChunk was given samples it cannot store (see encodeChunk's contract). */
export class ChunkInputError extends RangeError {
  readonly code = 'ERR_CHUNK_INPUT'
  override name = 'ChunkInputError'
}
