/**
 * The ALTS protected stream: a Duplex over a connected socket that seals writes into ALTS records
 * and opens records read from the socket (docs/protocol.md §4, §4.8). It is what http2 runs on after a handshake.
 */
import type { AddressInfo, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Side } from '../constants.js';
import { AltsError } from '../errors.js';
import { createRecordCrypter, type RecordCrypter, type RecordOpening } from './crypter.js';
import {
  checkFrameLength,
  checkFrameSize,
  checkFrameType,
  FRAME_HEADER_SIZE,
  FRAME_LENGTH_FIELD_SIZE,
  FRAME_OVERHEAD,
  FRAME_TAG_SIZE,
  FRAME_TYPE_FIELD_SIZE,
  writeFrameHeader,
} from './frame.js';

/**
 * Plaintext sealed and handed to the socket in one corked batch before we look at the socket's
 * backpressure again (grpc-go `altsWriteBufferMaxSize = 512 KiB`). Bounds the ciphertext a single
 * huge write can queue in memory.
 */
const WRITE_BATCH_MAX_BYTES = 512 * 1024;
/**
 * Decrypted bytes buffered for a slow reader before we stop opening records and pause the socket.
 * Matches net's 64 KiB socket reads; with at most one frame beyond it, a slow reader costs at most
 * 64 KiB + 1 MiB of plaintext (HARDENING 17).
 */
const READABLE_HIGH_WATER_MARK = 64 * 1024;
/**
 * Smallest piece of a straddling record's ciphertext decrypted on its own; smaller pieces are
 * gathered in a staging buffer of this size (allocated once per stream, when first needed). Every
 * `update()` call allocates its output off-heap, so this bounds the plaintext pieces held per record
 * while its tag is pending to about 2 × 1 MiB / 4 KiB, however finely the peer splits its segments.
 */
const MIN_DECRYPT_PIECE = 4 * 1024;
/**
 * Gathered writes averaging less than this per part are concatenated and sealed by one cipher call:
 * each `update()` costs a native call plus two allocations, more than copying a few KiB. Above it
 * (HTTP/2 DATA payloads of 16 KiB between 9-byte headers), the parts are sealed one update each.
 */
const MIN_SEAL_PART_AVERAGE = 4 * 1024;
/** Plaintext our writers may queue before `write()` returns false (one net read's worth, as above). */
const WRITABLE_HIGH_WATER_MARK = 64 * 1024;

/** Options of {@link createProtectedStream}. */
export interface ProtectedStreamOptions {
  /** The handshaker result's `record_protocol`: `ALTSRP_GCM_AES128_REKEY` (or legacy `ALTSRP_GCM_AES128`). */
  readonly recordProtocol: string;
  /**
   * The handshaker result's `key_data`, truncated to the protocol's key size (44 bytes for REKEY, 16 for
   * plain; see `RECORD_PROTOCOL_KEY_SIZES`). Copied: the caller may wipe its buffer afterwards.
   */
  readonly keyData: Uint8Array;
  /** Our side of the connection; decides the counters' direction bits. */
  readonly side: Side;
  /**
   * Bytes read from the socket during the handshake but not consumed by it (`in_bytes[bytes_consumed:]`
   * of the final handshaker request). They are records already received and are opened before any
   * further socket data (docs/protocol.md §3.5).
   */
  readonly leftover?: Uint8Array | undefined;
  /**
   * Total size of the frames we write, length field included: `negotiateWriteFrameSize(peer, local)`.
   * An integer from `MIN_WRITE_FRAME_SIZE` (4 KiB) to `MAX_WRITE_FRAME_SIZE` (1 MiB). Inbound frames up to
   * 1 MiB are accepted whatever this is.
   */
  readonly writeFrameSize: number;
}

/**
 * A Duplex of plaintext over a socket carrying ALTS records. See {@link createProtectedStream}.
 */
export class ProtectedStream extends Duplex {
  readonly #socket: Socket;
  readonly #crypter: RecordCrypter;
  readonly #maxPayload: number;

  /** Socket chunks not yet parsed, oldest first (leftover first). */
  #queue: Buffer[] = [];
  /** Header bytes of a frame whose header straddles chunks. */
  readonly #header = Buffer.alloc(FRAME_HEADER_SIZE);
  #headerFill = 0;
  /**
   * A record that straddles chunks is opened as its pieces arrive (no copy of its body): the opening,
   * the ciphertext bytes still to come, its plaintext so far (unauthenticated: held back until the
   * tag verifies, wiped if it does not), small pieces waiting to be decrypted together, and its tag.
   */
  #opening: RecordOpening | null = null;
  #ciphertextLeft = 0;
  #held: Buffer[] = [];
  #stage: Buffer | null = null;
  #stageFill = 0;
  readonly #tag = Buffer.alloc(FRAME_TAG_SIZE);
  #tagFill = 0;
  /** The reader asked us to stop: `push()` returned false. */
  #readBlocked = false;
  #socketPausedByUs = false;
  #pumping = false;
  #socketEnded = false;
  #readEnded = false;

  /** The write callback waiting for the socket to drain, and what to do then. */
  #pendingWrite: { continue: () => void; callback: (error?: Error | null) => void } | null = null;
  #finalCallback: ((error?: Error | null) => void) | null = null;

  constructor(socket: Socket, options: ProtectedStreamOptions) {
    super({
      readableHighWaterMark: READABLE_HIGH_WATER_MARK,
      writableHighWaterMark: WRITABLE_HIGH_WATER_MARK,
      // Like a default net.Socket (and the socket grpc-js hands over): when the peer ends, we end
      // too, after flushing what was already written.
      allowHalfOpen: false,
    });
    const { writeFrameSize } = options;
    checkFrameSize('writeFrameSize', writeFrameSize);
    this.#crypter = createRecordCrypter(options.recordProtocol, options.keyData, options.side);
    this.#maxPayload = writeFrameSize - FRAME_OVERHEAD;
    this.#socket = socket;
    if (options.leftover !== undefined && options.leftover.length > 0) {
      this.#queue.push(Buffer.from(options.leftover));
    }

    // The socket must not auto-end its write side on the peer's FIN before our queued records are
    // flushed: this stream decides when to end it (see `_final`).
    socket.allowHalfOpen = true;
    socket.on('data', (chunk: Buffer) => this.#onSocketData(chunk));
    socket.on('end', () => this.#onSocketEnd());
    socket.on('error', (err: Error) => this.destroy(err));
    socket.on('close', () => this.#onSocketClose());
    socket.on('drain', () => this.#onSocketDrain());
    socket.on('finish', () => this.#onSocketFinish());
    socket.on('timeout', () => this.emit('timeout'));
    // A peer may end or close right after its last handshake message, before these listeners
    // existed: replay what we missed, or grpc-js would wait forever on a connection already gone.
    if (socket.readableEnded) this.#socketEnded = true;
    if (socket.destroyed) process.nextTick(() => this.#onSocketClose());
    socket.resume();
    process.nextTick(() => this.#pump());
  }

  // ---- socket-like surface (what http2, grpc-js and JSStreamSocket touch) ----

  /** The underlying socket, for diagnostics. Never read from or write to it directly. */
  get socket(): Socket {
    return this.#socket;
  }
  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.#socket.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.#socket.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.#socket.localAddress;
  }
  get localPort(): number | undefined {
    return this.#socket.localPort;
  }
  get localFamily(): string | undefined {
    return this.#socket.localFamily;
  }
  /** Bytes read from / written to the wire, records included. */
  get bytesRead(): number {
    return this.#socket.bytesRead;
  }
  get bytesWritten(): number {
    return this.#socket.bytesWritten;
  }
  get connecting(): boolean {
    return false;
  }
  get pending(): boolean {
    return false;
  }
  get readyState(): string {
    return this.#socket.readyState;
  }
  get timeout(): number | undefined {
    return this.#socket.timeout;
  }
  address(): AddressInfo | Record<string, never> {
    return this.#socket.address();
  }
  setNoDelay(noDelay?: boolean): this {
    this.#socket.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.#socket.setKeepAlive(enable, initialDelay);
    return this;
  }
  /** Idle timeout of the underlying socket; `'timeout'` is re-emitted here. Like net, it does not close. */
  setTimeout(timeout: number, callback?: () => void): this {
    this.#socket.setTimeout(timeout);
    if (callback !== undefined) {
      if (timeout === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    return this;
  }
  ref(): this {
    this.#socket.ref();
    return this;
  }
  unref(): this {
    this.#socket.unref();
    return this;
  }

  /** Test seam: positions the record counters at the given frame indexes (e.g. near a rekey or overflow). */
  setFrameIndexesForTesting(outbound: bigint, inbound: bigint): void {
    this.#crypter.setFrameIndexesForTesting(outbound, inbound);
  }

  // ---- read side ----

  #onSocketData(chunk: Buffer): void {
    if (this.destroyed) return;
    this.#queue.push(chunk);
    this.#pump();
  }

  #onSocketEnd(): void {
    this.#socketEnded = true;
    this.#pump();
  }

  #onSocketClose(): void {
    if (this.destroyed || this.#socketEnded) return;
    // Closed without a FIN (destroyed locally or reset without an error event): nothing more will come.
    this.#socketEnded = true;
    if (this.#midFrame()) this.destroy(truncated());
    else this.destroy();
  }

  override _read(): void {
    this.#readBlocked = false;
    this.#pump();
  }

  #midFrame(): boolean {
    return this.#headerFill > 0 || this.#opening !== null || this.#queue.length > 0;
  }

  /** Opens every complete record queued so far, until the reader pushes back. Never throws. */
  #pump(): void {
    if (this.#pumping || this.destroyed) return;
    this.#pumping = true;
    try {
      const queue = this.#queue;
      while (!this.#readBlocked && queue.length > 0 && !this.destroyed) {
        const chunk = queue[0] as Buffer;
        const consumed = this.#consume(chunk);
        if (consumed === chunk.length) queue.shift();
        else queue[0] = chunk.subarray(consumed);
      }
      if (this.destroyed) return;
      if (this.#readBlocked) {
        if (!this.#socketPausedByUs && !this.#socketEnded) {
          this.#socketPausedByUs = true;
          this.#socket.pause();
        }
      } else if (queue.length === 0) {
        if (this.#socketEnded) this.#endRead();
        else if (this.#socketPausedByUs) {
          this.#socketPausedByUs = false;
          this.#socket.resume();
        }
      }
    } catch (err) {
      this.destroy(asError(err));
    } finally {
      this.#pumping = false;
    }
  }

  #endRead(): void {
    if (this.#readEnded) return;
    if (this.#midFrame()) {
      this.destroy(truncated());
      return;
    }
    this.#readEnded = true;
    this.push(null);
  }

  /**
   * Parses and opens records from `chunk`; returns how many bytes it used. Stops early when the
   * reader pushes back. A record wholly inside the chunk is opened in place; a record that
   * straddles chunks is decrypted piece by piece as it arrives, and delivered once its tag verifies.
   */
  #consume(chunk: Buffer): number {
    const end = chunk.length;
    let offset = 0;
    while (offset < end && !this.#readBlocked && !this.destroyed) {
      if (this.#opening !== null) {
        offset = this.#continueOpening(chunk, offset);
      } else if (this.#headerFill === 0 && end - offset >= FRAME_HEADER_SIZE) {
        const length = chunk.readUInt32LE(offset);
        checkFrameLength(length);
        checkFrameType(chunk.readUInt32LE(offset + FRAME_LENGTH_FIELD_SIZE));
        offset = this.#startBody(chunk, offset + FRAME_HEADER_SIZE, length - FRAME_TYPE_FIELD_SIZE);
      } else {
        const header = this.#header;
        const n = Math.min(FRAME_HEADER_SIZE - this.#headerFill, end - offset);
        chunk.copy(header, this.#headerFill, offset, offset + n);
        this.#headerFill += n;
        offset += n;
        if (this.#headerFill >= FRAME_LENGTH_FIELD_SIZE) checkFrameLength(header.readUInt32LE(0));
        if (this.#headerFill === FRAME_HEADER_SIZE) {
          checkFrameType(header.readUInt32LE(FRAME_LENGTH_FIELD_SIZE));
          this.#headerFill = 0;
          offset = this.#startBody(chunk, offset, header.readUInt32LE(0) - FRAME_TYPE_FIELD_SIZE);
        }
      }
    }
    return offset;
  }

  /** Handles a frame body of `bodyLength` bytes starting at `start` in `chunk`; returns the new offset. */
  #startBody(chunk: Buffer, start: number, bodyLength: number): number {
    if (chunk.length - start >= bodyLength) {
      this.#open(chunk, start, start + bodyLength);
      return start + bodyLength;
    }
    this.#opening = this.#crypter.beginOpen();
    this.#ciphertextLeft = bodyLength - FRAME_TAG_SIZE;
    return this.#continueOpening(chunk, start);
  }

  /** Feeds the straddling record's bytes from `chunk` at `offset`; returns the new offset. */
  #continueOpening(chunk: Buffer, offset: number): number {
    const end = chunk.length;
    const n = Math.min(this.#ciphertextLeft, end - offset);
    if (n > 0) {
      this.#ciphertextLeft -= n;
      const piece = chunk.subarray(offset, offset + n);
      offset += n;
      if (n >= MIN_DECRYPT_PIECE || this.#ciphertextLeft === 0) {
        this.#decryptStage();
        this.#decrypt(piece);
      } else {
        this.#stagePiece(piece);
        if (this.#ciphertextLeft === 0) this.#decryptStage();
      }
    }
    if (this.#ciphertextLeft === 0 && offset < end) {
      const tag = this.#tag;
      const m = Math.min(FRAME_TAG_SIZE - this.#tagFill, end - offset);
      chunk.copy(tag, this.#tagFill, offset, offset + m);
      this.#tagFill += m;
      offset += m;
      if (this.#tagFill === FRAME_TAG_SIZE) this.#finishOpening();
    }
    return offset;
  }

  #decrypt(ciphertext: Buffer): void {
    this.#held.push((this.#opening as RecordOpening).update(ciphertext));
  }

  /** Copies a small ciphertext piece into the staging buffer, decrypting it whenever it fills. */
  #stagePiece(piece: Buffer): void {
    this.#stage ??= Buffer.allocUnsafe(MIN_DECRYPT_PIECE);
    const stage = this.#stage;
    let from = 0;
    while (from < piece.length) {
      const m = Math.min(stage.length - this.#stageFill, piece.length - from);
      piece.copy(stage, this.#stageFill, from, from + m);
      this.#stageFill += m;
      from += m;
      if (this.#stageFill === stage.length) this.#decryptStage();
    }
  }

  #decryptStage(): void {
    if (this.#stageFill === 0 || this.#stage === null) return;
    this.#decrypt(this.#stage.subarray(0, this.#stageFill));
    this.#stageFill = 0;
  }

  /** The straddling record's tag is complete: verify it, then deliver the held plaintext. */
  #finishOpening(): void {
    const opening = this.#opening as RecordOpening;
    const held = this.#held;
    this.#opening = null;
    this.#held = [];
    this.#tagFill = 0;
    try {
      opening.finish(this.#tag);
    } catch (err) {
      wipe(held);
      throw err;
    }
    for (const plaintext of held) {
      if (plaintext.length > 0 && !this.push(plaintext)) this.#readBlocked = true;
    }
  }

  #open(source: Buffer, start: number, end: number): void {
    const tagStart = end - FRAME_TAG_SIZE;
    const plaintext = this.#crypter.open(source.subarray(start, tagStart), source.subarray(tagStart, end));
    // Empty records are legal (HARDENING 16) and deliver nothing.
    if (plaintext.length > 0 && !this.push(plaintext)) this.#readBlocked = true;
  }

  // ---- write side ----

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send([chunk], callback);
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    const buffers = new Array<Buffer>(chunks.length);
    for (let i = 0; i < chunks.length; i++) buffers[i] = (chunks[i] as { chunk: Buffer }).chunk;
    this.#send(buffers, callback);
  }

  /**
   * Seals `buffers` into frames of at most `writeFrameSize` bytes and hands them to the socket in
   * corked batches of at most {@link WRITE_BATCH_MAX_BYTES}, waiting for `'drain'` between batches.
   * The callback runs once everything is with the socket and the socket has room again, on a later
   * tick at the earliest, so writes made meanwhile arrive together in `_writev` and share frames.
   */
  #send(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    const socket = this.#socket;
    const maxPayload = this.#maxPayload;
    let index = 0;
    let offset = 0;
    const step = (): void => {
      this.#pendingWrite = null;
      if (this.destroyed) return;
      let batched = 0;
      socket.cork();
      try {
        while (index < buffers.length && batched < WRITE_BATCH_MAX_BYTES) {
          let plaintext: Buffer;
          const first = buffers[index] as Buffer;
          if (first.length - offset >= maxPayload || index === buffers.length - 1) {
            const take = Math.min(maxPayload, first.length - offset);
            plaintext = first.subarray(offset, offset + take);
            offset += take;
            if (offset === first.length) {
              index++;
              offset = 0;
            }
          } else {
            // Several small writes share one frame: gather them (copying at most one frame, and only
            // when the parts are small).
            const parts: Buffer[] = [];
            let size = 0;
            while (index < buffers.length && size < maxPayload) {
              const buffer = buffers[index] as Buffer;
              const take = Math.min(maxPayload - size, buffer.length - offset);
              parts.push(buffer.subarray(offset, offset + take));
              size += take;
              offset += take;
              if (offset === buffer.length) {
                index++;
                offset = 0;
              }
            }
            if (parts.length === 1 || size === 0) {
              plaintext = parts[0] ?? Buffer.alloc(0);
            } else if (size < parts.length * MIN_SEAL_PART_AVERAGE) {
              plaintext = Buffer.concat(parts, size);
            } else {
              // Parts large on average (HTTP/2 DATA payloads between 9-byte frame headers): each is
              // sealed by its own cipher update instead of being copied together first.
              const { ciphertext, tag } = this.#crypter.sealParts(parts);
              const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
              writeFrameHeader(header, 0, size);
              socket.write(header);
              for (const piece of ciphertext) socket.write(piece);
              socket.write(tag);
              batched += size;
              continue;
            }
          }
          if (plaintext.length === 0) continue;
          const { ciphertext, tag } = this.#crypter.seal(plaintext);
          const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
          writeFrameHeader(header, 0, plaintext.length);
          socket.write(header);
          socket.write(ciphertext);
          socket.write(tag);
          batched += plaintext.length;
        }
      } catch (err) {
        socket.uncork();
        callback(asError(err));
        return;
      }
      socket.uncork();
      if (index < buffers.length) {
        const pending = { continue: step, callback };
        this.#pendingWrite = pending;
        // Let the event loop breathe between batches even when the socket still has room.
        if (!socket.writableNeedDrain)
          setImmediate(() => this.#pendingWrite === pending && this.#onSocketDrain());
        return;
      }
      if (socket.writableNeedDrain) this.#pendingWrite = { continue: () => callback(), callback };
      else process.nextTick(callback);
    };
    step();
  }

  #onSocketDrain(): void {
    const pending = this.#pendingWrite;
    if (pending === null) return;
    this.#pendingWrite = null;
    try {
      pending.continue();
    } catch (err) {
      this.destroy(asError(err));
    }
  }

  /** No closing record exists in ALTS: ending sends the socket's FIN once our records are flushed. */
  override _final(callback: (error?: Error | null) => void): void {
    const socket = this.#socket;
    if (socket.destroyed || socket.writableFinished) {
      callback();
      return;
    }
    this.#finalCallback = callback;
    socket.end();
  }

  #onSocketFinish(): void {
    const callback = this.#finalCallback;
    this.#finalCallback = null;
    callback?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#crypter.dispose();
    this.#queue = [];
    this.#opening = null;
    wipe(this.#held);
    this.#held = [];
    this.#stageFill = 0;
    this.#headerFill = 0;
    const pending = this.#pendingWrite;
    this.#pendingWrite = null;
    const finalCallback = this.#finalCallback;
    this.#finalCallback = null;
    if (!this.#socket.destroyed) this.#socket.destroy(error ?? undefined);
    // A write or end still waiting on the socket did not complete: say so.
    const aborted = error ?? new Error('the protected stream was destroyed');
    if (pending !== null) process.nextTick(pending.callback, aborted);
    if (finalCallback !== null) process.nextTick(finalCallback, aborted);
    callback(error);
  }
}

/** Overwrites plaintext that never authenticated: it must not outlive the failure. */
function wipe(buffers: Buffer[]): void {
  for (const buffer of buffers) buffer.fill(0);
}

function truncated(): AltsError {
  return new AltsError('TRUNCATED', 'the connection ended inside a record');
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * Wraps a connected socket whose ALTS handshake has just completed into a plaintext Duplex.
 *
 * - Reads: records from `options.leftover`, then from the socket, are opened in order and their
 *   plaintext pushed; inbound frames up to 1 MiB are accepted. Backpressure pauses the socket.
 * - Writes: plaintext is sealed into frames of at most `options.writeFrameSize` bytes (total, length
 *   field included); small writes made in the same tick share frames; large ones are split.
 * - `end()` flushes pending records and then ends the socket (TCP FIN); ALTS has no close record.
 *   When the peer's FIN arrives at a frame boundary the readable side ends cleanly and, like a
 *   default net.Socket (`allowHalfOpen: false`), the writable side is then ended too: records
 *   already written are flushed, later writes fail. The stream then closes and so does the socket.
 * - Every failure is fatal: the stream is destroyed with an {@link AltsError} (`BAD_FRAME`,
 *   `AUTH_FAILED`, `COUNTER_OVERFLOW`, `TRUNCATED` when EOF falls inside a record) or the socket's own
 *   error, and the socket is destroyed with it. No plaintext of a failed record is delivered, and no
 *   handler throws. Destroying the stream destroys the socket.
 *
 * The socket must be connected, with the handshake's own listeners removed; it may be paused.
 * Bytes already read from it go in `leftover`. After this call, use only the returned stream.
 *
 * Throws `INVALID_ARGUMENT` synchronously for an unknown record protocol, a wrong key length or a
 * bad `writeFrameSize`; the socket is left untouched in that case.
 */
export function createProtectedStream(socket: Socket, options: ProtectedStreamOptions): ProtectedStream {
  return new ProtectedStream(socket, options);
}
