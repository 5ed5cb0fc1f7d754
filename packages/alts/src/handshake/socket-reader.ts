import type { Socket } from 'node:net';
import { AltsError } from '../errors.js';

/** grpc-go reads the peer in 64 KiB steps during the handshake (frameLimit = 64*1024). */
export const HANDSHAKE_READ_LIMIT = 64 * 1024;

/**
 * Reads the raw socket during the handshake without ever holding more than one read step: the
 * socket is paused whenever a step's worth of bytes is buffered, so a flooding peer costs nothing.
 * detach() hands back whatever arrived after the last read (records the peer already sent).
 */
export class SocketReader {
  readonly #socket: Socket;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failure: AltsError | undefined;
  #waiter: { resolve: (b: Buffer) => void; reject: (e: AltsError) => void } | undefined;

  readonly #onData = (chunk: Buffer) => {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered >= HANDSHAKE_READ_LIMIT) this.#socket.pause();
    this.#wake();
  };
  readonly #onEnd = () =>
    this.fail(new AltsError('PEER_CLOSED', 'the peer closed the connection during the handshake'));
  readonly #onError = (err: Error) =>
    this.fail(
      new AltsError('PEER_CLOSED', `the connection failed during the handshake: ${err.message}`, {
        cause: err,
      }),
    );

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onError);
    socket.resume();
  }

  /** Resolves with the bytes received since the last read (at least one), or rejects on EOF/error/failure. */
  read(): Promise<Buffer> {
    if (this.#chunks.length > 0) return Promise.resolve(this.#take());
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Makes the pending and every later read fail with this error (first failure wins). */
  fail(error: AltsError): void {
    this.#failure ??= error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(this.#failure);
  }

  /** Stops reading, leaves the socket paused, and returns the bytes not yet read. */
  detach(): Buffer {
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
    const waiter = this.#waiter;
    if (!waiter) return;
    this.#waiter = undefined;
    waiter.resolve(this.#take());
  }
}
