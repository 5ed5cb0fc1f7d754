/**
 * The record writer (docs/protocol.md §4.2, §4.6): seals plaintext into frames of at most the
 * negotiated size and hands their bytes to a sink (the socket). No I/O of its own and no flow
 * control: the protected stream decides how much to seal at a time.
 */
import type { RecordCrypter } from './crypter.js';
import { FRAME_HEADER_SIZE, FRAME_OVERHEAD, frameHeader, writeFrameHeader } from './frame.js';

/**
 * Gathered writes averaging less than this per part are concatenated and sealed by one cipher call:
 * each `update()` costs a native call plus two allocations, more than copying a few KiB. Above it
 * (HTTP/2 DATA payloads of 16 KiB between 9-byte headers), the parts are sealed one update each.
 */
const MIN_SEAL_PART_AVERAGE = 4 * 1024;

/**
 * Frames up to this size (header and tag included) are written as one buffer: header, ciphertext
 * and tag copied together. Node's `Buffer.allocUnsafe` serves sizes below half its 8 KiB pool
 * (`Buffer.poolSize >>> 1`) from the shared pool, so such a frame costs no allocation of its own, and
 * the socket gets one write instead of three (each a Writable entry and a writev slot). Larger
 * frames keep their pieces: copying them would cost more than the writes it saves.
 */
const MAX_COPIED_FRAME_SIZE = 4 * 1024 - 1;

/** The outbound half of a crypter. */
export type RecordSealer = Pick<RecordCrypter, 'seal' | 'sealParts'>;

/**
 * Where sealed frames go, a small frame whole, a larger one piece by piece (header, ciphertext, tag): a
 * socket, corked by the caller.
 */
export interface FrameSink {
  write(piece: Buffer): unknown;
}

/**
 * The plaintext of one `_write` or `_writev`, consumed front to back as it is sealed, possibly over
 * several batches.
 */
export class OutboundPlaintext {
  readonly #buffers: readonly Buffer[];
  #index = 0;
  #offset = 0;

  constructor(buffers: readonly Buffer[]) {
    this.#buffers = buffers;
  }

  get done(): boolean {
    return this.#index === this.#buffers.length;
  }

  /** Whether the next frame's plaintext comes from the current buffer alone, without gathering. */
  fillsFrameAlone(maxPayload: number): boolean {
    const buffers = this.#buffers;
    return (
      (buffers[this.#index] as Buffer).length - this.#offset >= maxPayload ||
      this.#index === buffers.length - 1
    );
  }

  /** Up to `max` bytes from the current buffer: a view, nothing copied. */
  take(max: number): Buffer {
    const buffer = this.#buffers[this.#index] as Buffer;
    const start = this.#offset;
    const end = Math.min(buffer.length, start + max);
    if (end === buffer.length) {
      this.#index++;
      this.#offset = 0;
    } else {
      this.#offset = end;
    }
    return buffer.subarray(start, end);
  }
}

/** Seals outbound plaintext into ALTS frames of at most `writeFrameSize` bytes. */
export class RecordWriter {
  readonly #sealer: RecordSealer;
  readonly #maxPayload: number;

  /** `writeFrameSize` must already have passed `checkFrameSize`. */
  constructor(sealer: RecordSealer, writeFrameSize: number) {
    this.#sealer = sealer;
    this.#maxPayload = writeFrameSize - FRAME_OVERHEAD;
  }

  /**
   * Seals frames from the front of `plaintext` into `out` until it is all sealed or at least
   * `budget` bytes were. A buffer holding a frame's worth or more is sliced into frames in place;
   * smaller buffers written together share frames. Throws the crypter's `COUNTER_OVERFLOW`.
   */
  sealInto(out: FrameSink, plaintext: OutboundPlaintext, budget: number): void {
    const maxPayload = this.#maxPayload;
    let sealed = 0;
    while (!plaintext.done && sealed < budget) {
      sealed += plaintext.fillsFrameAlone(maxPayload)
        ? this.#seal(out, plaintext.take(maxPayload))
        : this.#sealGathered(out, plaintext);
    }
  }

  /** Seals one frame from the buffers at the front of `plaintext`; returns its plaintext size. */
  #sealGathered(out: FrameSink, plaintext: OutboundPlaintext): number {
    const maxPayload = this.#maxPayload;
    const parts: Buffer[] = [];
    let size = 0;
    while (!plaintext.done && size < maxPayload) {
      const part = plaintext.take(maxPayload - size);
      parts.push(part);
      size += part.length;
    }
    if (parts.length === 1 || size === 0) return this.#seal(out, parts[0] ?? Buffer.alloc(0));
    if (size < parts.length * MIN_SEAL_PART_AVERAGE) return this.#seal(out, Buffer.concat(parts, size));
    // Parts large on average (HTTP/2 DATA payloads between 9-byte frame headers): each is sealed by
    // its own cipher update instead of being copied together first.
    const { ciphertext, tag } = this.#sealer.sealParts(parts);
    out.write(frameHeader(size));
    for (const piece of ciphertext) out.write(piece);
    out.write(tag);
    return size;
  }

  /** Seals `plaintext` as one frame, unless it is empty: an empty write needs no record. */
  #seal(out: FrameSink, plaintext: Buffer): number {
    if (plaintext.length === 0) return 0;
    const { ciphertext, tag } = this.#sealer.seal(plaintext);
    const frameSize = FRAME_OVERHEAD + plaintext.length;
    if (frameSize <= MAX_COPIED_FRAME_SIZE) {
      const frame = Buffer.allocUnsafe(frameSize);
      writeFrameHeader(frame, plaintext.length);
      ciphertext.copy(frame, FRAME_HEADER_SIZE);
      tag.copy(frame, FRAME_HEADER_SIZE + ciphertext.length);
      out.write(frame);
    } else {
      out.write(frameHeader(plaintext.length));
      out.write(ciphertext);
      out.write(tag);
    }
    return plaintext.length;
  }
}
