import { type ClientDuplexStream, credentials, type ServiceError } from '@grpc/grpc-js';
import {
  type HandshakerReq,
  type HandshakerResp,
  HandshakerServiceClient,
} from '@grpc-alts/handshaker-proto';
import { AltsError, quoteUntrusted } from '../errors.js';

/**
 * Channel options for the handshaker: no service config lookups (grpc-go
 * WithDisableServiceConfig, avoids TXT queries) and no retries (C-core grpc.enable_retries = 0):
 * a handshake stream is never replayed.
 */
const HANDSHAKER_CHANNEL_OPTIONS = {
  'grpc.service_config_disable_resolution': 1,
  'grpc.enable_retries': 0,
} as const;

/**
 * How long a handshaker channel nobody uses stays open for the next handshake (grpc-java keeps its
 * shared handshaker channel for 1 s after the last release, `SharedResourceHolder`; grpc-go never
 * closes it). Reconnects and short-lived channels then skip the TCP connect and HTTP/2 setup to the
 * handshaker service. Neither the timer nor the idle channel keeps the process alive.
 */
export const HANDSHAKER_CHANNEL_LINGER_MS = 1_000;

interface SharedChannel {
  client: HandshakerServiceClient;
  users: number;
  /** Set while nobody uses the channel: closes it unless someone acquires it first. */
  closeTimer: NodeJS.Timeout | undefined;
}

const channels = new Map<string, SharedChannel>();

/** A reference to the one shared handshaker channel of an address; release() when done with it. */
export interface HandshakerChannelRef {
  readonly client: HandshakerServiceClient;
  release(): void;
}

/**
 * One plaintext channel per handshaker address, shared by every handshake (as grpc-go's
 * handshaker/service cache). When its last user releases it, it lingers for
 * {@link HANDSHAKER_CHANNEL_LINGER_MS} and is then closed, so nothing outlives its users for long.
 */
export function acquireHandshakerChannel(address: string): HandshakerChannelRef {
  let shared = channels.get(address);
  if (!shared) {
    shared = {
      client: new HandshakerServiceClient(address, credentials.createInsecure(), HANDSHAKER_CHANNEL_OPTIONS),
      users: 0,
      closeTimer: undefined,
    };
    channels.set(address, shared);
  }
  if (shared.closeTimer !== undefined) {
    clearTimeout(shared.closeTimer);
    shared.closeTimer = undefined;
  }
  shared.users++;
  const entry = shared;
  let released = false;
  return {
    client: entry.client,
    release() {
      if (released) return;
      released = true;
      entry.users--;
      if (entry.users > 0) return;
      entry.closeTimer = setTimeout(() => closeChannel(address, entry), HANDSHAKER_CHANNEL_LINGER_MS);
      entry.closeTimer.unref();
    },
  };
}

function closeChannel(address: string, entry: SharedChannel): void {
  if (entry.users > 0) return;
  entry.closeTimer = undefined;
  if (channels.get(address) === entry) channels.delete(address);
  entry.client.close();
}

/** Handshaker channels in use (lingering idle ones not counted), for leak assertions in tests. */
export function openHandshakerChannelsForTesting(): number {
  let open = 0;
  for (const entry of channels.values()) if (entry.users > 0) open++;
  return open;
}

/**
 * grpc-js reports a channel that could not connect as `No connection established. Last error:
 * <String(error)>. Resolution note: <note>`, the note empty unless the resolver had something to
 * say. A failure of the handshaker channel quotes that report, and grpc-js wraps the same report
 * around our error again: kept, a user would read the boilerplate twice and an empty note at each
 * end. Only the last error's own text stays (and a note that says something), taken out before
 * quoting so the boilerplate does not use up the quoted length.
 */
const GRPC_CONNECTION_REPORT = /No connection established\. Last error: (?:\w*Error: )?/g;
const EMPTY_RESOLUTION_NOTE = /\. Resolution note: $/;

function withoutConnectionReport(text: string): string {
  return text.replace(GRPC_CONNECTION_REPORT, '').replace(EMPTY_RESOLUTION_NOTE, '');
}

/**
 * The DoHandshake call's deadline trails the handshake's own by this much: it is only a backstop
 * for a stream we fail to cancel. Two timers of equal delay fire in no guaranteed order, and the
 * handshake's timer must decide, so the caller sees HANDSHAKE_TIMEOUT and not grpc-js's deadline.
 */
const HANDSHAKER_CALL_GRACE_MS = 1_000;

/**
 * Longest a stream opened ahead of its handshake may wait for it: its deadline was set when it
 * opened, and must stay behind the handshake's, which starts later (see above).
 */
export const MAX_OPENED_AHEAD_MS = HANDSHAKER_CALL_GRACE_MS / 2;

/**
 * One DoHandshake stream driven in strict request/response lock-step, as all three reference
 * libraries do: every request waits for exactly one response.
 */
export class HandshakerStream {
  readonly #call: ClientDuplexStream<HandshakerReq, HandshakerResp>;
  #pending: { resolve: (r: HandshakerResp) => void; reject: (e: AltsError) => void } | undefined;
  #failure: AltsError | undefined;
  #closed = false;
  #onFailure: ((error: AltsError) => void) | undefined;

  /** Opens the call for a handshake of `timeoutMs` starting now (the deadline adds a grace). */
  constructor(client: HandshakerServiceClient, timeoutMs: number, address: string) {
    this.#call = client.doHandshake({
      deadline: new Date(Date.now() + timeoutMs + HANDSHAKER_CALL_GRACE_MS),
    });
    this.#call.on('data', (resp: HandshakerResp) => {
      const pending = this.#pending;
      this.#pending = undefined;
      if (pending) pending.resolve(resp);
      else
        this.#fail(
          new AltsError('BAD_HANDSHAKER_RESPONSE', 'the handshaker service sent an unrequested response'),
        );
    });
    this.#call.on('error', (err: ServiceError) => {
      if (this.#closed) return;
      this.#fail(
        new AltsError(
          'HANDSHAKER_UNAVAILABLE',
          `the ALTS handshaker service at ${address} failed: ` +
            `${quoteUntrusted(withoutConnectionReport(err.details || err.message))}`,
          { cause: err },
        ),
      );
    });
    this.#call.on('end', () => {
      if (this.#closed) return;
      this.#fail(
        new AltsError('HANDSHAKER_UNAVAILABLE', `the ALTS handshaker service at ${address} ended the stream`),
      );
    });
  }

  /** The stream failed (error, early end, unrequested response): a new handshake needs another. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /**
   * `listener` hears the first failure of the stream (error, early end, unrequested response) from
   * now on, even when no request is outstanding, so a handshake waiting for its peer can stop at once.
   */
  watch(listener: (error: AltsError) => void): void {
    this.#onFailure = listener;
  }

  /** Sends one request and resolves with its response. */
  send(request: HandshakerReq): Promise<HandshakerResp> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new AltsError('CANCELLED', 'the handshaker stream is closed'));
    if (this.#pending) throw new Error('HandshakerStream.send called while a request is outstanding');
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#call.write(request);
    });
  }

  /**
   * Ends our side of the stream. A responsive service ends the RPC itself (right after the result,
   * or when it sees the half-close) and the call's deadline bounds one that does not. `cancel` also
   * resets the stream: only for a handshaker that stopped answering (deadline, cancellation).
   * Resetting a stream the service has already ended is an invalid frame to a Node HTTP/2 server
   * (the emulator), which kills the whole shared connection after 1 000 of them.
   */
  close(options: { cancel: boolean }): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending?.reject(new AltsError('CANCELLED', 'the handshaker stream was closed'));
    this.#pending = undefined;
    this.#call.end();
    // A failed call is over: resetting it could only reach a stream the service already ended.
    if (options.cancel && this.#failure === undefined) this.#call.cancel();
  }

  #fail(error: AltsError): void {
    const first = this.#failure === undefined;
    this.#failure ??= error;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(this.#failure);
    if (first) this.#onFailure?.(this.#failure);
  }
}
