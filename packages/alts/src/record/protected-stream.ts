/**
 * The ALTS protected stream: the Duplex http2 runs on after a handshake (docs/protocol.md §4, §4.8).
 * It adapts a connected socket to the record reader (inbound) and writer (outbound): it owns the
 * flow control both ways, the end and destroy of the connection, and the Socket look-alike surface
 * http2 and grpc-js expect. Parsing and sealing live in reader.ts and writer.ts.
 */
import type { AddressInfo, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Side } from '../constants.js';
import { AltsError } from '../errors.js';
import { createRecordCrypter, type RecordCrypter } from './crypter.js';
import { checkFrameSize } from './frame.js';
import { RecordReader } from './reader.js';
import { OutboundPlaintext, RecordWriter } from './writer.js';

/**
 * Plaintext sealed and handed to the socket in one corked batch before we look at the socket's
 * backpressure again (grpc-go `altsWriteBufferMaxSize = 512 KiB`). Bounds the ciphertext a single
 * huge write can queue in memory.
 */
const WRITE_BATCH_MAX_BYTES = 512 * 1024;
/**
 * Decrypted bytes buffered for a slow reader before we stop opening records and pause the socket.
 * Matches net's 64 KiB socket reads; with at most one frame beyond it, a slow reader costs at most
 * 64 KiB + 1 MiB of plaintext (docs/hardening.md 17).
 */
const READABLE_HIGH_WATER_MARK = 64 * 1024;
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
 * A Duplex of plaintext over a socket carrying ALTS records: records (after `leftover`) are opened
 * in order, inbound frames up to 1 MiB; writes are sealed into frames of `writeFrameSize`, small
 * writes of one tick sharing a frame. `end()` flushes, then sends FIN (ALTS has no close record); a
 * FIN at a frame boundary ends reading and then writing, like a net.Socket without `allowHalfOpen`.
 * Every failure destroys the stream and the socket with an {@link AltsError} or the socket's error,
 * and no plaintext of a failed record is delivered.
 */
export class ProtectedStream extends Duplex {
  readonly #socket: Socket;
  readonly #crypter: RecordCrypter;
  readonly #reader: RecordReader;
  readonly #writer: RecordWriter;

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
    this.#reader = new RecordReader(this.#crypter, (plaintext) => this.push(plaintext));
    this.#writer = new RecordWriter(this.#crypter, writeFrameSize);
    this.#socket = socket;
    if (options.leftover !== undefined && options.leftover.length > 0) {
      this.#reader.enqueue(Buffer.from(options.leftover));
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
    this.#reader.enqueue(chunk);
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
    if (this.#reader.pending) this.destroy(truncated());
    else this.destroy();
  }

  override _read(): void {
    this.#reader.unblock();
    this.#pump();
  }

  /**
   * Opens every complete record received so far, until our consumer pushes back; then pauses the
   * socket, so that neither ciphertext nor plaintext piles up for a slow consumer. Never throws.
   */
  #pump(): void {
    if (this.#pumping || this.destroyed) return;
    this.#pumping = true;
    try {
      const reader = this.#reader;
      reader.drain();
      if (this.destroyed) return;
      if (reader.blocked) {
        if (!this.#socketPausedByUs && !this.#socketEnded) {
          this.#socketPausedByUs = true;
          this.#socket.pause();
        }
      } else if (this.#socketEnded) {
        this.#endRead();
      } else if (this.#socketPausedByUs) {
        this.#socketPausedByUs = false;
        this.#socket.resume();
      }
    } catch (err) {
      this.destroy(asError(err));
    } finally {
      this.#pumping = false;
    }
  }

  #endRead(): void {
    if (this.#readEnded) return;
    if (this.#reader.pending) {
      this.destroy(truncated());
      return;
    }
    this.#readEnded = true;
    this.push(null);
  }

  // ---- write side ----

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send(new OutboundPlaintext([chunk]), callback);
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    const buffers = new Array<Buffer>(chunks.length);
    for (let i = 0; i < chunks.length; i++) buffers[i] = (chunks[i] as { chunk: Buffer }).chunk;
    this.#send(new OutboundPlaintext(buffers), callback);
  }

  /**
   * Hands `plaintext`, sealed, to the socket in corked batches of at most
   * {@link WRITE_BATCH_MAX_BYTES}, waiting for `'drain'` between batches. The callback runs once
   * everything is with the socket and the socket has room again, on a later tick at the earliest,
   * so writes made meanwhile arrive together in `_writev` and share frames.
   */
  #send(plaintext: OutboundPlaintext, callback: (error?: Error | null) => void): void {
    this.#pendingWrite = null;
    if (this.destroyed) return;
    const socket = this.#socket;
    socket.cork();
    try {
      this.#writer.sealInto(socket, plaintext, WRITE_BATCH_MAX_BYTES);
    } catch (err) {
      socket.uncork();
      callback(asError(err));
      return;
    }
    socket.uncork();
    if (!plaintext.done) {
      const pending = { continue: () => this.#send(plaintext, callback), callback };
      this.#pendingWrite = pending;
      // Let the event loop breathe between batches even when the socket still has room.
      if (!socket.writableNeedDrain)
        setImmediate(() => this.#pendingWrite === pending && this.#onSocketDrain());
      return;
    }
    if (socket.writableNeedDrain) this.#pendingWrite = { continue: () => callback(), callback };
    else process.nextTick(callback);
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
    this.#reader.dispose();
    const pending = this.#pendingWrite;
    this.#pendingWrite = null;
    const finalCallback = this.#finalCallback;
    this.#finalCallback = null;
    if (!this.#socket.destroyed) this.#socket.destroy(error ?? undefined);
    // A write or end still waiting on the socket did not complete: say so.
    if (pending !== null || finalCallback !== null) {
      // Built only when someone waits for it: a stack capture on every close costs ~50 µs.
      const aborted = error ?? new Error('the protected stream was destroyed');
      if (pending !== null) process.nextTick(pending.callback, aborted);
      if (finalCallback !== null) process.nextTick(finalCallback, aborted);
    }
    callback(error);
  }
}

function truncated(): AltsError {
  return new AltsError('TRUNCATED', 'the connection ended inside a record');
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * Wraps a socket whose handshake just completed (its listeners removed; bytes already read go in
 * `leftover`); after this call use only the stream. Throws `INVALID_ARGUMENT` for a bad protocol,
 * key or `writeFrameSize`, leaving the socket untouched.
 */
export function createProtectedStream(socket: Socket, options: ProtectedStreamOptions): ProtectedStream {
  return new ProtectedStream(socket, options);
}
