/**
 * ALTS record framing (docs/protocol.md §4.2, §4.5, §4.6): the wire constants and checks that the
 * record reader and writer share; pure functions, no crypto, no I/O.
 *
 * On the wire a frame is `u32le length | u32le type (= 6) | ciphertext | tag (16)`, where `length`
 * counts every byte that follows the length field (type + ciphertext + tag).
 */
import {
  MAX_FRAME_LENGTH_FIELD,
  MAX_WRITE_FRAME_SIZE,
  MIN_FRAME_SIZE,
  MIN_WRITE_FRAME_SIZE,
} from '../constants.js';
import { AltsError } from '../errors.js';

/** Size of the little-endian length field (go `MsgLenFieldSize`, java `HEADER_LEN_FIELD_BYTES`). */
export const FRAME_LENGTH_FIELD_SIZE = 4;
/** Size of the little-endian message type field (go `msgTypeFieldSize`, java `HEADER_TYPE_FIELD_BYTES`). */
export const FRAME_TYPE_FIELD_SIZE = 4;
/** Length field plus type field. */
export const FRAME_HEADER_SIZE = FRAME_LENGTH_FIELD_SIZE + FRAME_TYPE_FIELD_SIZE;
/** AES-GCM tag appended to every record (go `GcmTagSize`, core `kAesGcmTagLength`). */
export const FRAME_TAG_SIZE = 16;
/** Bytes a frame adds to its plaintext: header plus tag (docs/protocol.md §4.2: 24). */
export const FRAME_OVERHEAD = FRAME_HEADER_SIZE + FRAME_TAG_SIZE;
/** Smallest valid length field: type plus an empty ciphertext plus the tag (java `_frameTooSmall`). */
export const MIN_FRAME_LENGTH_FIELD = FRAME_TYPE_FIELD_SIZE + FRAME_TAG_SIZE;
/**
 * The only record message type (go `altsRecordMsgType`, java `HEADER_TYPE_DEFAULT`, core
 * `kZeroCopyFrameMessageType`).
 */
export const RECORD_MESSAGE_TYPE = 6;

/**
 * Validates a frame's length field as soon as its 4 bytes are known, so that an oversized or
 * undersized frame is rejected before anything is buffered for it (docs/hardening.md 4–6).
 * `length` must already be a u32 (as returned by `readUInt32LE`), so there are no sign issues.
 */
export function checkFrameLength(length: number): void {
  if (length < FRAME_TYPE_FIELD_SIZE) {
    throw new AltsError(
      'BAD_FRAME',
      `frame length ${length} is shorter than the message type field (${FRAME_TYPE_FIELD_SIZE})`,
    );
  }
  if (length < MIN_FRAME_LENGTH_FIELD) {
    throw new AltsError(
      'BAD_FRAME',
      `frame length ${length} leaves no room for the ${FRAME_TAG_SIZE}-byte tag (minimum ` +
        `${MIN_FRAME_LENGTH_FIELD})`,
    );
  }
  if (length > MAX_FRAME_LENGTH_FIELD) {
    throw new AltsError(
      'BAD_FRAME',
      `frame length ${length} is larger than the limit ${MAX_FRAME_LENGTH_FIELD}`,
    );
  }
}

/**
 * Validates the type field. All four bytes must equal 6 (java and core); grpc-go compares only the
 * low byte, which would accept 0x00000106. The strict check is safer and no peer sends anything else.
 */
export function checkFrameType(type: number): void {
  if (type !== RECORD_MESSAGE_TYPE) {
    throw new AltsError('BAD_FRAME', `frame has message type ${type}, expected ${RECORD_MESSAGE_TYPE}`);
  }
}

/** Writes the 8-byte header of a frame carrying `plaintextLength` bytes at the start of `target`. */
export function writeFrameHeader(target: Buffer, plaintextLength: number): void {
  target.writeUInt32LE(FRAME_TYPE_FIELD_SIZE + plaintextLength + FRAME_TAG_SIZE, 0);
  target.writeUInt32LE(RECORD_MESSAGE_TYPE, FRAME_LENGTH_FIELD_SIZE);
}

/** The 8-byte header of a frame carrying `plaintextLength` bytes. */
export function frameHeader(plaintextLength: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  writeFrameHeader(header, plaintextLength);
  return header;
}

/**
 * The total size (length field included) of the frames we write, from the peer's advertised `max_frame_size`
 * (the handshaker result's `max_frame_size`, 0 if the peer sent none) and ours. docs/protocol.md §4.6 TS
 * recommendation, the same rule as java and C-core: `peer ? max(16384, min(peer, local)) : 16384`, never
 * above 1 MiB. Counting the length field is the conservative reading (java, go).
 */
export function negotiateWriteFrameSize(peerMaxFrameSize: number, localMaxFrameSize: number): number {
  const local =
    Number.isFinite(localMaxFrameSize) && localMaxFrameSize > 0 ? localMaxFrameSize : MIN_FRAME_SIZE;
  const size =
    Number.isFinite(peerMaxFrameSize) && peerMaxFrameSize > 0
      ? Math.max(MIN_FRAME_SIZE, Math.min(peerMaxFrameSize, local))
      : MIN_FRAME_SIZE;
  return Math.min(Math.floor(size), MAX_WRITE_FRAME_SIZE);
}

/**
 * The smallest value of each frame size the library is handed (both end at {@link MAX_WRITE_FRAME_SIZE}).
 * Two quantities, two floors: the `maxFrameSize` we advertise starts at {@link MIN_FRAME_SIZE}, since
 * java and C-core never write smaller frames whatever we say; the protected stream's `writeFrameSize`
 * starts at {@link MIN_WRITE_FRAME_SIZE}, the smallest any peer writes (negotiation never goes below
 * MIN_FRAME_SIZE, so smaller ones come only from tests and the benchmark).
 */
const FRAME_SIZE_FLOORS = { maxFrameSize: MIN_FRAME_SIZE, writeFrameSize: MIN_WRITE_FRAME_SIZE } as const;

/**
 * Checks a frame size handed to the library (see {@link FRAME_SIZE_FLOORS}); throws `INVALID_ARGUMENT` naming
 * it.
 */
export function checkFrameSize(name: keyof typeof FRAME_SIZE_FLOORS, value: number): void {
  const min = FRAME_SIZE_FLOORS[name];
  if (!Number.isInteger(value) || value < min || value > MAX_WRITE_FRAME_SIZE) {
    throw new AltsError(
      'INVALID_ARGUMENT',
      `${name} must be an integer in [${min}, ${MAX_WRITE_FRAME_SIZE}], got ${value}`,
    );
  }
}
