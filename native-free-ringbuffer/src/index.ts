export { allocateRing, isCovered, RingObserver, RingProducer, RingConsumer, RING_FULL } from './ring.js'
export type { AllocateOptions, RecordVisitor } from './ring.js'
export { Doorbell, DoorbellSlot, allocateDoorbell, DOORBELL_BYTES } from './doorbell.js'
export { RingError, ErrorCodes } from './errors.js'
export type { ErrorCode } from './errors.js'
export {
  Slot, HEADER_BYTES, RECORD_HEADER_BYTES, RECORD_ALIGN, MIN_CAPACITY, MAX_CAPACITY,
  WRAP_MARKER, MAGIC_VALUE, LAYOUT_VERSION, bufferBytesFor, recordBytes,
} from './layout.js'
