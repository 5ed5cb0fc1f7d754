import type { Socket } from 'node:net';
import { AltsError } from '../errors.js';

/** grpc-go reads the peer in 64 KiB steps during the handshake (frameLimit = 64*1024). */
export const HANDSHAKE_READ_LIMIT = 64 * 1024;

interface Waiter {
  resolve: (b: Buffer) => void;
  reject: (e: AltsError) => void;
}

/** How long a read may wait for the peer, and the error it fails with after that. */
export interface ReadDeadline {
  ms: number;
  error: () => AltsError;
}

/**
 * Reads the raw socket during the handshake without ever holding more than one read step: the
 * socket is paused whenever a step's worth of bytes is buffered, so a flooding peer costs nothing.
 * detach() hands back whatever arrived after the last read (records the peer already sent).
 */
export class SocketReader {
  readonly #socket: Socket;
  readonly #onFailure: (error: AltsError) => void;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failure: AltsError | undefined;
  #waiter: Waiter | undefined;
  #deadline: NodeJS.Timeout | undefined;

  readonly #onData = (chunk: Buffer) => {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered >= HANDSHAKE_READ_LIMIT) this.#socket.pause();
    this.#wake();
  };
  readonly #onEnd = () =>
    this.fail(new AltsError('PEER_CLOSED', 'the peer closed the connection during the handshake'));
  // An AltsError is ours, passed to socket.destroy() (an evicted connection): keep its reason.
  readonly #onError = (err: Error) =>
    this.fail(
      AltsError.is(err)
        ? err
        : new AltsError('PEER_CLOSED', `the connection failed during the handshake: ${err.message}`, {
            cause: err,
          }),
    );

  /** `onFailure` hears the first failure (EOF, socket error, fail()) even when no read is pending. */
  constructor(socket: Socket, onFailure: (error: AltsError) => void) {
    this.#socket = socket;
    this.#onFailure = onFailure;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onError);
    socket.resume();
  }

  /** The first failure (EOF, socket error, fail()), if any. */
  get failure(): AltsError | undefined {
    return this.#failure;
  }

  /**
   * Resolves with the bytes received since the last read (at least one), or rejects on
   * EOF/error/failure, or with the deadline's error when the peer sends nothing in time. Bytes
   * already buffered are returned even when the deadline has passed: they arrived in time.
   */
  read(deadline?: ReadDeadline): Promise<Buffer> {
    if (this.#chunks.length > 0) return Promise.resolve(this.#take());
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      if (deadline === undefined) return;
      if (deadline.ms <= 0) {
        this.fail(deadline.error());
        return;
      }
      this.#deadline = setTimeout(() => this.fail(deadline.error()), deadline.ms);
      this.#deadline.unref();
    });
  }

  /** Makes the pending and every later read fail with this error (first failure wins). */
  fail(error: AltsError): void {
    const first = this.#failure === undefined;
    this.#failure ??= error;
    const waiter = this.#settle();
    waiter?.reject(this.#failure);
    if (first) this.#onFailure(this.#failure);
  }

  /** Stops reading, leaves the socket paused, and returns the bytes not yet read. */
  detach(): Buffer {
    this.#settle();
    this.#socket.pause();
    this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onEnd);
    this.#socket.off('error', this.#onError);
    return this.#take(false);
  }

  #take(resume = true): Buffer {
    const out = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#buffered = 0;
    if (resume && !this.#socket.destroyed) this.#socket.resume();
    return out;
  }

  #wake(): void {
    this.#settle()?.resolve(this.#take());
  }

  /** Takes the pending read off the reader, and its deadline with it. */
  #settle(): Waiter | undefined {
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    return waiter;
  }
}
