// grpc.gcp.HandshakerService/DoHandshake, one HandshakeStream per call: requests handled one at a
// time, the idle timer, responses, ending the RPC and the outcome log line (docs/protocol.md §3, §6.4).
import { performance } from 'node:perf_hooks';
import { type ServerDuplexStream, status } from '@grpc/grpc-js';
import type { HandshakerReq, HandshakerResp, HandshakerServiceServer } from '@grpc-alts/handshaker-proto';
import { quote } from '../common/quote.js';
import { HandshakeError, MAX_LOGGED_DETAILS_CHARS, PeerAborted, quoteError } from '../protocol/errors.js';
import { encodeAlert } from '../protocol/messages.js';
import { Exchange, type ExchangeConfig, type Step } from './exchange.js';

/** Idle limit of a stream; grpc-go gives the whole server handshake 30 s (docs/protocol.md §3.8). */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

export interface ServiceConfig extends ExchangeConfig {
  readonly log: (line: string) => void;
  readonly idleTimeoutMs: number;
}

const OK = { code: status.OK, details: '' };

/** Our own bugs surface as INTERNAL with their text. */
function asHandshakeError(error: unknown): HandshakeError {
  return error instanceof HandshakeError
    ? error
    : new HandshakeError(status.INTERNAL, `internal error: ${quoteError(error)}`);
}

/** One DoHandshake call and the Exchange it carries. */
class HandshakeStream {
  readonly #config: ServiceConfig;
  readonly #id: number;
  readonly #call: ServerDuplexStream<HandshakerReq, HandshakerResp>;
  readonly #exchange: Exchange;
  readonly #startedAt = performance.now();
  #closed = false;
  #queue: Promise<void> = Promise.resolve();
  #idleTimer: NodeJS.Timeout | undefined;
  /** Set by the first request: before it, the stream is one a client opened ahead of its handshake. */
  #asked = false;

  constructor(config: ServiceConfig, id: number, call: ServerDuplexStream<HandshakerReq, HandshakerResp>) {
    this.#config = config;
    this.#id = id;
    this.#call = call;
    this.#exchange = new Exchange(config);
    // Requests are handled one at a time, in order, even though policy checks are async.
    call.on('data', (req: HandshakerReq) => {
      this.#asked = true;
      this.#queue = this.#queue.then(() => this.#handle(req));
    });
    call.on('end', () => {
      this.#queue = this.#queue.then(() => this.#halfClosed());
    });
    call.on('cancelled', () => this.#cancelled());
    this.#armIdleTimer();
  }

  #halfClosed(): void {
    if (this.#isClosed()) return;
    if (!this.#asked) {
      // A stream a client opened ahead and then did not need (its TCP connect failed): no
      // handshake began, so there is no outcome to log.
      this.#close();
      this.#call.end();
      return;
    }
    this.#fail(
      new HandshakeError(status.CANCELLED, 'the client closed the stream before the handshake finished'),
      false,
    );
  }

  #cancelled(): void {
    if (this.#isClosed()) return;
    this.#close();
    if (!this.#asked) return;
    this.#logOutcome('abandoned (stream cancelled by the client)');
  }

  #armIdleTimer(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#isClosed()) return;
      this.#fail(
        new HandshakeError(
          status.DEADLINE_EXCEEDED,
          `no request for ${this.#config.idleTimeoutMs} ms; handshake abandoned`,
        ),
        false,
      );
    }, this.#config.idleTimeoutMs);
    this.#idleTimer.unref();
  }

  // A method, not a field test: the stream closes across awaits (cancel, idle timeout), which
  // TypeScript's narrowing does not see.
  #isClosed(): boolean {
    return this.#closed;
  }

  #close(): void {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
  }

  async #handle(req: HandshakerReq): Promise<void> {
    if (this.#isClosed()) return;
    this.#armIdleTimer();
    let step: Step;
    try {
      step = await this.#exchange.step(req);
    } catch (error) {
      if (!this.#isClosed()) this.#fail(error, true);
      return;
    }
    if (this.#isClosed()) return;
    this.#answer(step);
  }

  #answer(step: Step): void {
    this.#call.write({
      outFrames: step.outFrames,
      bytesConsumed: step.bytesConsumed,
      result: step.result,
      status: OK,
    });
    if (step.result === undefined) return;
    this.#close();
    this.#logOutcome(
      `ok peer=${quote(step.result.peerIdentity?.serviceAccount ?? '')} record=${step.result.recordProtocol}`,
    );
    // End with OK at once: C-core waits for the status before finishing its handshake
    // (docs/protocol.md §3.9).
    this.#call.end();
  }

  /**
   * Ends the RPC with the failure's status. `answering` is true when a request is waiting: it
   * gets a response carrying the status first (docs/protocol.md §6.4); an idle timeout or a
   * half-close has no request to answer, and an unasked-for response would break clients (java:
   * "Received an unexpected response").
   */
  #fail(error: unknown, answering: boolean): void {
    const failure = asHandshakeError(error);
    this.#close();
    if (answering) this.#answerFailure(failure);
    this.#logOutcome(
      `failed code=${status[failure.code]} details=${quote(failure.message, MAX_LOGGED_DETAILS_CHARS)}`,
    );
    this.#call.emit(
      'error',
      Object.assign(new Error(failure.message), { code: failure.code, details: failure.message }),
    );
  }

  #answerFailure(failure: HandshakeError): void {
    const tellPeer = this.#exchange.role !== undefined && !(failure instanceof PeerAborted);
    this.#call.write({
      // Carries the reason to the peer's handshaker if the local library forwards it (the proto
      // asks libraries to send out_frames even with a non-OK status).
      outFrames: tellPeer ? encodeAlert({ code: failure.code, details: failure.message }) : Buffer.alloc(0),
      bytesConsumed: 0,
      result: undefined,
      status: { code: failure.code, details: failure.message },
    });
  }

  #logOutcome(outcome: string): void {
    const ms = (performance.now() - this.#startedAt).toFixed(1);
    const local = this.#exchange.local;
    const localNote = local === undefined ? '' : ` local=${quote(local.serviceAccount)}`;
    const role = this.#exchange.role ?? 'none';
    this.#config.log(`handshake #${this.#id} role=${role}${localNote} ${outcome} duration=${ms}ms`);
  }
}

/** The DoHandshake implementation; streams are independent of each other. */
export function createHandshakerService(config: ServiceConfig): HandshakerServiceServer {
  let nextId = 1;
  return {
    doHandshake(call) {
      new HandshakeStream(config, nextId++, call);
    },
  };
}
