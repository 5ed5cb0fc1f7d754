/**
 * The 12-byte per-direction frame counter that becomes the AES-GCM nonce (docs/protocol.md §4.3).
 */
import type { Side } from '../constants.js';
import { AltsError } from '../errors.js';

/** Counter size: one AES-GCM nonce (go `counterLen`, java `COUNTER_LENGTH`). */
export const COUNTER_SIZE = 12;
/** Byte that carries the direction bit (go `utils.go` `value[11] = 0x80`). */
export const COUNTER_DIRECTION_BYTE = 11;
/** Set on every frame sent by the server (go `NewOutCounter(ServerSide)`, java `counter[11] = 0x80`). */
export const COUNTER_SERVER_BIT = 0x80;
/** Counted bytes for ALTSRP_GCM_AES128_REKEY: 2^64 frames (go `overflowLenAES128GCMRekey`). */
export const REKEY_COUNTER_OVERFLOW_LENGTH = 8;
/** Counted bytes for ALTSRP_GCM_AES128: 2^40 frames (go `overflowLenAES128GCM`). */
export const PLAIN_COUNTER_OVERFLOW_LENGTH = 5;

/** Whether the counter numbers the frames we send or the frames we receive. */
export type Direction = 'outbound' | 'inbound';

/**
 * A little-endian counter over the low `overflowLength` bytes of a 12-byte nonce. It never wraps:
 * the increment that would carry out of the counted bytes makes it permanently unusable (go
 * semantics: the all-ones value itself is still usable, docs/protocol.md §4.3).
 */
export class FrameCounter {
  readonly #value: Buffer;
  readonly #overflowLength: number;
  #exhausted = false;

  constructor(initial: Uint8Array, overflowLength: number) {
    if (initial.length !== COUNTER_SIZE) {
      throw new AltsError('INVALID_ARGUMENT', `counter must be ${COUNTER_SIZE} bytes, got ${initial.length}`);
    }
    if (!Number.isInteger(overflowLength) || overflowLength < 1 || overflowLength > COUNTER_DIRECTION_BYTE) {
      throw new AltsError('INVALID_ARGUMENT', `counter overflow length ${overflowLength} is out of range`);
    }
    this.#value = Buffer.from(initial);
    this.#overflowLength = overflowLength;
  }

  /** True once the counter has overflowed; no frame may be sealed or opened with it any more. */
  get exhausted(): boolean {
    return this.#exhausted;
  }

  /**
   * The current 12 bytes, as a live view that {@link increment} changes in place (copy it to keep it).
   * Throws `COUNTER_OVERFLOW` once the counter is exhausted.
   */
  value(): Buffer {
    if (this.#exhausted) throw new AltsError('COUNTER_OVERFLOW', 'frame counter overflowed');
    return this.#value;
  }

  /** Advances by one. The increment that carries out of the counted bytes exhausts the counter. */
  increment(): void {
    if (this.#exhausted) throw new AltsError('COUNTER_OVERFLOW', 'frame counter overflowed');
    const value = this.#value;
    for (let i = 0; i < this.#overflowLength; i++) {
      const next = ((value[i] ?? 0) + 1) & 0xff;
      value[i] = next;
      if (next !== 0) return;
    }
    this.#exhausted = true;
  }

  /**
   * Test seam: sets the counted bytes to `frameIndex` (direction byte untouched), clearing exhaustion.
   * Lets tests reach the rekey boundary or the overflow without sending 2^16..2^64 frames.
   */
  setFrameIndexForTesting(frameIndex: bigint): void {
    const limit = 1n << BigInt(8 * this.#overflowLength);
    if (frameIndex < 0n || frameIndex >= limit) {
      throw new AltsError('INVALID_ARGUMENT', 'frame index does not fit the counted bytes');
    }
    let rest = frameIndex;
    for (let i = 0; i < this.#overflowLength; i++) {
      this.#value[i] = Number(rest & 0xffn);
      rest >>= 8n;
    }
    this.#exhausted = false;
  }
}

/**
 * The initial counter of one direction: all zero, except byte 11 = 0x80 for frames the server sends (its
 * outbound counter and the client's inbound counter). docs/protocol.md §4.3, vectors `initial_counters`.
 */
export function createFrameCounter(side: Side, direction: Direction, overflowLength: number): FrameCounter {
  const initial = Buffer.alloc(COUNTER_SIZE);
  const sentByServer = (side === 'server') === (direction === 'outbound');
  if (sentByServer) initial[COUNTER_DIRECTION_BYTE] = COUNTER_SERVER_BIT;
  return new FrameCounter(initial, overflowLength);
}
