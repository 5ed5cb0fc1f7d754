import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  HandshakeProtocol,
  type HandshakerReq,
  type HandshakerResp,
  type HandshakerResult,
  type HandshakerServiceClient,
} from '@grpc-alts/handshaker-proto';
import {
  ALTS_APPLICATION_PROTOCOL,
  ALTSRP_GCM_AES128_REKEY,
  LOCAL_RPC_VERSIONS,
  type Side,
} from '../constants.js';
import { AltsError, quoteUntrusted } from '../errors.js';
import { trace } from '../trace.js';
import { HandshakerStream } from './handshaker-client.js';
import { canonicalSet, serviceAccountIn } from './identity.js';
import { abortReason, type HandshakeLimiter, type Slot } from './limiter.js';
import { nonAltsPeerError } from './peer-protocol.js';
import { type ValidatedResult, validateResult } from './result.js';
import { HANDSHAKE_READ_LIMIT, type ReadDeadline, SocketReader } from './socket-reader.js';

/**
 * Bytes the handshaker may leave unconsumed before we give up: real handshake messages are a few
 * KiB, so a service that keeps asking for more than this is broken or hostile.
 */
export const MAX_PENDING_HANDSHAKE_BYTES = 1024 * 1024;
/**
 * Largest first handshake message a server waits for: grpc-go's 64 KiB read step. Real first
 * messages are far smaller; a peer still sending past this is not starting a handshake.
 */
export const MAX_FIRST_MESSAGE_BYTES = HANDSHAKE_READ_LIMIT;
/**
 * Handshaker requests one handshake may make. A handshake takes two per side, a few more when a
 * message arrives in pieces; the growing pause below keeps even a dripping peer near ten per
 * message, so more than this is a peer feeding us fragments on purpose (docs/hardening.md 43).
 */
export const MAX_HANDSHAKER_REQUESTS = 32;
/**
 * First pause before asking the handshaker again about an incomplete peer message, doubled each
 * time: a message split across a few TCP segments is whole after the first pause, and a peer
 * dripping bytes costs about ten handshaker requests per deadline, not one per chunk.
 */
const INCOMPLETE_RETRY_MS = 10;
/** How long a failed handshake waits for its alert out_frames to flush before the socket is destroyed. */
const ALERT_FLUSH_MS = 1_000;

export interface HandshakeParams {
  side: Side;
  client: HandshakerServiceClient;
  /** For messages only. */
  handshakerAddress: string;
  limiter: HandshakeLimiter;
  timeoutMs: number;
  /** The max frame size we advertise. */
  maxFrameSize: number;
  /** Client only: each becomes a target identity the handshaker enforces. */
  targetServiceAccounts?: readonly string[];
  /** Client only: the channel authority. */
  targetName?: string;
  /** Server only: how long the peer has to send a complete first message (no slot is held meanwhile). */
  firstMessageTimeoutMs?: number;
  /** Server only: how long the peer has to send each later handshake message after our last one. */
  peerMessageTimeoutMs?: number;
  /** Server only: the peer's source (admission `sourceKey`), which the limiter shares slots across. */
  source?: string;
  /** Aborts the handshake (channel closed, server shut down). */
  signal?: AbortSignal;
  /**
   * Client only: a DoHandshake stream opened while TCP connected, so that its set-up overlapped the
   * TCP handshake, and the limiter slot taken for it. The handshake owns both: the slot is its
   * own, and the stream is used unless it failed meanwhile. The caller hands them over within
   * MAX_OPENED_AHEAD_MS of opening the stream, so that its deadline trails the handshake's.
   */
  openedAhead?: OpenedAhead | undefined;
}

/** A DoHandshake stream opened ahead of its handshake and the slot it holds. */
export interface OpenedAhead {
  readonly stream: HandshakerStream;
  readonly slot: Slot;
}

export interface HandshakeOutcome extends ValidatedResult {
  /** Bytes after the peer's last handshake message: ALTS records to decrypt first. */
  leftover: Buffer;
  durationMs: number;
}

/** One handshaker round trip: its response, and the bytes we sent that it left unconsumed. */
interface Step {
  resp: HandshakerResp;
  extra: Buffer;
}

const NOTHING = Buffer.alloc(0);

function clientStart(p: HandshakeParams): HandshakerReq {
  return {
    clientStart: {
      handshakeSecurityProtocol: HandshakeProtocol.ALTS,
      applicationProtocols: [ALTS_APPLICATION_PROTOCOL],
      recordProtocols: [ALTSRP_GCM_AES128_REKEY],
      targetIdentities: (p.targetServiceAccounts ?? []).map((serviceAccount) => ({
        serviceAccount,
        attributes: {},
      })),
      localIdentity: undefined,
      localEndpoint: undefined,
      remoteEndpoint: undefined,
      targetName: p.targetName ?? '',
      rpcVersions: LOCAL_RPC_VERSIONS,
      maxFrameSize: p.maxFrameSize,
      accessToken: '',
      transportProtocolPreferences: undefined,
    },
  };
}

function serverStart(p: HandshakeParams, inBytes: Buffer): HandshakerReq {
  return {
    serverStart: {
      applicationProtocols: [ALTS_APPLICATION_PROTOCOL],
      handshakeParameters: {
        [HandshakeProtocol.ALTS]: { recordProtocols: [ALTSRP_GCM_AES128_REKEY], localIdentities: [] },
      },
      inBytes,
      localEndpoint: undefined,
      remoteEndpoint: undefined,
      rpcVersions: LOCAL_RPC_VERSIONS,
      maxFrameSize: p.maxFrameSize,
      transportProtocolPreferences: undefined,
    },
  };
}

/**
 * Runs one ALTS handshake over a connected socket (docs/protocol.md §3.2 client, §3.3 server,
 * grpc-go semantics: unconsumed bytes are kept and re-sent). On success the socket is left paused,
 * ready for the record layer; on any failure it is destroyed, the stream is closed and the slot
 * released before the promise rejects. Either way the socket keeps an `'error'` listener for the
 * rest of its life, so a peer's reset can only ever end this connection (docs/hardening.md 31).
 */
export function runHandshake(socket: Socket, p: HandshakeParams): Promise<HandshakeOutcome> {
  return new Handshake(socket, p).run();
}

/**
 * One handshake's steps (grpc-go's doHandshake / accessHandshakerService / processUntilDone):
 * take a slot, one round trip to the handshaker, wait for the peer under its deadline, finish.
 * A slot is held only while the handshaker works for this connection or the peer owes us its
 * next message under a short deadline: never while the peer is still sending its first message
 * (docs/hardening.md 32, 40).
 */
class Handshake {
  readonly #socket: Socket;
  readonly #p: HandshakeParams;
  readonly #who: string;
  readonly #started = performance.now();
  readonly #reader: SocketReader;
  readonly #timer: NodeJS.Timeout;
  #stream: HandshakerStream | undefined;
  #slot: Slot | undefined;
  #alert: Buffer | undefined;
  // The first reason to stop wins: deadline, cancellation, the peer or the handshaker failing.
  // A plain field, not an AbortController: a signal and its listeners per handshake cost CPU on
  // every new connection, and only the rare waits (a full limiter, a retry pause) need one.
  #abortedBy: AltsError | undefined;
  #waitAbort: AbortController | undefined;
  #waitingForPeer = false;
  #requests = 0;
  #retries = 0;
  /** The peer's message deadline passed and it had its one last look (see #pause). */
  #lookedLate = false;
  #lastWrite = performance.now();
  /** Set once the peer's bytes have been seen to start an ALTS handshake. */
  #peerSpeaksAlts = false;

  constructor(socket: Socket, p: HandshakeParams) {
    this.#slot = p.openedAhead?.slot;
    socket.on('error', ignoreHandledError);
    this.#socket = socket;
    this.#p = p;
    this.#who = p.side === 'client' ? `client handshake to ${p.targetName ?? '?'}` : 'server handshake';
    // A peer that closes or is evicted ends our waits for a slot or a pause at once; a round trip
    // in flight still completes, and the next read reports the failure.
    this.#reader = new SocketReader(socket, (error) => this.#waitAbort?.abort(error));
    this.#timer = setTimeout(
      () =>
        this.#abort(
          new AltsError('HANDSHAKE_TIMEOUT', `the ALTS ${this.#who} did not finish within ${p.timeoutMs} ms`),
          true,
        ),
      p.timeoutMs,
    );
    this.#timer.unref();
    if (p.signal?.aborted) this.#onCancel();
    else p.signal?.addEventListener('abort', this.#onCancel, { once: true });
  }

  async run(): Promise<HandshakeOutcome> {
    try {
      trace(`${this.#who}: start`);
      let step =
        this.#p.side === 'client'
          ? await this.#roundTrip(clientStart(this.#p), NOTHING)
          : await this.#firstMessage();
      for (;;) {
        const result = step.resp.result;
        if (result !== undefined) return this.#finish(result, step);
        step = await this.#nextMessage(step);
      }
    } catch (err) {
      const error =
        this.#abortedBy ??
        (AltsError.is(err)
          ? err
          : new AltsError('INTERNAL', `the ${this.#who} failed unexpectedly`, { cause: err }));
      trace(
        `${this.#who}: failed after ${(performance.now() - this.#started).toFixed(1)} ms: ${error.message}`,
      );
      this.#reader.detach();
      closeSocket(this.#socket, this.#alert);
      throw error;
    } finally {
      clearTimeout(this.#timer);
      this.#p.signal?.removeEventListener('abort', this.#onCancel);
      this.#stream?.close({ cancel: false });
      // Left unused (the handshake ended before asking, or the stream had failed); the one in use
      // was closed just above.
      this.#p.openedAhead?.stream.close({ cancel: true });
      this.#slot?.release();
    }
  }

  /**
   * Server: sends the peer's bytes to the handshaker until they hold a whole first message. Until
   * then the peer holds nothing of ours but its socket: no slot and no DoHandshake stream (the
   * handshaker may cap streams per connection, and silent peers must not fill them).
   */
  async #firstMessage(): Promise<Step> {
    let sent = await this.#readPeer(this.#firstMessageDeadline());
    for (;;) {
      this.#checkPeerProtocol(sent);
      const step = await this.#roundTrip(serverStart(this.#p, sent), sent);
      if (step.resp.result !== undefined || step.resp.outFrames.length > 0) {
        this.#peerSpeaksAlts = true;
        return step;
      }
      this.#dropSlotAndStream();
      await this.#pause(this.#firstMessageDeadline());
      sent = Buffer.concat([sent, await this.#readPeer(this.#firstMessageDeadline())]);
      if (sent.length > MAX_FIRST_MESSAGE_BYTES) {
        throw new AltsError(
          'CONNECTION_REFUSED',
          `the peer's first handshake message is not complete after ${sent.length} bytes ` +
            `(limit ${MAX_FIRST_MESSAGE_BYTES})`,
        );
      }
    }
  }

  /**
   * Waits for the peer's next bytes and hands them, after any unconsumed ones, to the handshaker.
   * A server's slot is idle meanwhile: the limiter may end a peer that keeps it idle under load.
   */
  async #nextMessage(previous: Step): Promise<Step> {
    if (this.#p.side === 'server') this.#slot?.idle(this.#preempt);
    // The handshaker wants more of a message that arrived in pieces: let the rest gather first.
    if (previous.resp.outFrames.length === 0) await this.#pause(this.#peerMessageDeadline());
    const received = await this.#readPeer(this.#peerMessageDeadline());
    this.#slot?.busy();
    const sent = previous.extra.length > 0 ? Buffer.concat([previous.extra, received]) : received;
    this.#checkPeerProtocol(sent);
    this.#peerSpeaksAlts = true;
    return this.#roundTrip(nextRequest(sent, performance.now() - this.#lastWrite), sent);
  }

  /** The stream opened ahead for this handshake unless it failed meanwhile, else a new one. */
  #openStream(): HandshakerStream {
    const ahead = this.#p.openedAhead?.stream;
    const stream =
      ahead !== undefined && !ahead.failed
        ? ahead
        : new HandshakerStream(this.#p.client, this.#p.timeoutMs, this.#p.handshakerAddress);
    stream.watch((error) => {
      // With no request outstanding a dead handshaker would go unnoticed until the peer spoke.
      if (this.#waitingForPeer) this.#abort(error, false);
    });
    return stream;
  }

  /** One request and its response under a slot: validated, and its out_frames written to the peer. */
  async #roundTrip(request: HandshakerReq, sent: Buffer): Promise<Step> {
    await this.#acquireSlot();
    if (++this.#requests > MAX_HANDSHAKER_REQUESTS) {
      throw new AltsError(
        'CONNECTION_REFUSED',
        `the peer's handshake took more than ${MAX_HANDSHAKER_REQUESTS} handshaker requests ` +
          '(messages in too many pieces)',
      );
    }
    this.#stream ??= this.#openStream();
    const resp = await this.#stream.send(request);
    this.#throwIfAborted();
    if (resp.bytesConsumed > sent.length) {
      throw new AltsError(
        'BAD_HANDSHAKER_RESPONSE',
        `the handshaker service consumed ${resp.bytesConsumed} bytes of ${sent.length}: out of bound`,
      );
    }
    if (resp.status && resp.status.code !== 0) {
      if (resp.outFrames.length > 0) this.#alert = resp.outFrames;
      throw new AltsError(
        'HANDSHAKER_ERROR',
        `the ALTS handshaker service refused the ${this.#who}: ` +
          (quoteUntrusted(resp.status.details) || `status ${resp.status.code}`),
      );
    }
    if (resp.outFrames.length > 0) {
      this.#socket.write(resp.outFrames);
      this.#lastWrite = performance.now();
      this.#retries = 0;
      this.#lookedLate = false;
    }
    trace(
      `${this.#who}: response out_frames=${resp.outFrames.length}B consumed=${resp.bytesConsumed}B ` +
        `result=${resp.result !== undefined}`,
    );
    const extra = sent.subarray(resp.bytesConsumed);
    if (resp.result === undefined && extra.length > MAX_PENDING_HANDSHAKE_BYTES) {
      throw new AltsError(
        'BAD_HANDSHAKER_RESPONSE',
        `the handshaker left over ${extra.length} bytes unconsumed`,
      );
    }
    return { resp, extra };
  }

  /**
   * A peer that does not speak ALTS is named by its first bytes (peer-protocol.ts) before the
   * handshaker sees them: its verdict on them would send the user looking for the wrong fault.
   */
  #checkPeerProtocol(sent: Buffer): void {
    if (this.#peerSpeaksAlts) return;
    const notAlts = nonAltsPeerError(this.#p.side, this.#who, sent);
    if (notAlts !== undefined) throw notAlts;
  }

  /** A handshake slot from the limiter, queued fairly across sources when all are taken. */
  async #acquireSlot(): Promise<void> {
    this.#throwIfAborted();
    const source = this.#p.source ?? '';
    this.#slot ??=
      this.#p.limiter.tryAcquire(source) ?? (await this.#p.limiter.acquire(source, this.#waitSignal()));
    this.#throwIfAborted();
  }

  /** Gives back the slot and the stream while the peer finishes its first message. */
  #dropSlotAndStream(): void {
    this.#slot?.release();
    this.#slot = undefined;
    this.#stream?.close({ cancel: false });
    this.#stream = undefined;
  }

  /** Reads the peer's next bytes; a handshaker failing meanwhile ends the wait at once. */
  async #readPeer(deadline: ReadDeadline | undefined): Promise<Buffer> {
    this.#waitingForPeer = true;
    try {
      return await this.#reader.read(deadline);
    } finally {
      this.#waitingForPeer = false;
    }
  }

  /** Server: what is left of the first-message deadline, counted from the start. */
  #firstMessageDeadline(): ReadDeadline | undefined {
    return this.#serverDeadline(this.#p.firstMessageTimeoutMs, this.#started, 'first handshake message', '');
  }

  /** Server: what is left of the peer's time to answer our last message. */
  #peerMessageDeadline(): ReadDeadline | undefined {
    return this.#serverDeadline(
      this.#p.peerMessageTimeoutMs,
      this.#lastWrite,
      'handshake message',
      ' of ours',
    );
  }

  /** A server deadline of `limit` ms from `since`; none on the client, or past the handshake's own. */
  #serverDeadline(
    limit: number | undefined,
    since: number,
    what: string,
    after: string,
  ): ReadDeadline | undefined {
    if (this.#p.side !== 'server' || limit === undefined || limit >= this.#p.timeoutMs) return undefined;
    return {
      ms: since + limit - performance.now(),
      error: () =>
        new AltsError('HANDSHAKE_TIMEOUT', `the peer sent no complete ${what} within ${limit} ms${after}`),
    };
  }

  /**
   * A growing pause before looking at the peer's bytes again, never past what is left of its
   * deadline. Past the deadline the peer gets one last look at what it sent in time (the rest of a
   * message may have arrived while we queued for a slot), not more time: a peer still dripping
   * then fails here instead of feeding us a request per read.
   */
  async #pause(deadline: ReadDeadline | undefined): Promise<void> {
    if (deadline !== undefined && deadline.ms <= 0) {
      if (this.#lookedLate) throw deadline.error();
      this.#lookedLate = true;
    }
    const ms = Math.min(INCOMPLETE_RETRY_MS * 2 ** this.#retries++, deadline?.ms ?? Number.POSITIVE_INFINITY);
    // Once the peer is gone no more bytes come: the read that follows returns what arrived, or why not.
    if (ms <= 0 || this.#reader.failure !== undefined) return;
    try {
      await sleep(ms, undefined, { signal: this.#waitSignal() });
    } catch (err) {
      if (this.#abortedBy !== undefined) throw this.#abortedBy;
      if (this.#reader.failure === undefined) throw err;
    }
  }

  #finish(result: HandshakerResult, { extra }: Step): HandshakeOutcome {
    let validated: ValidatedResult;
    try {
      validated = validateResult(result);
    } finally {
      // The handshaker returns more key material than the record layer takes (128 bytes): wipe all of it.
      result.keyData.fill(0);
    }
    if (this.#p.side === 'client') {
      try {
        checkTargetIdentity(validated.context.peerServiceAccount, this.#p.targetServiceAccounts);
      } catch (err) {
        validated.keyData.fill(0);
        throw err;
      }
    }
    const unread = this.#reader.detach();
    const leftover = unread.length > 0 ? Buffer.concat([extra, unread]) : Buffer.from(extra);
    const durationMs = performance.now() - this.#started;
    trace(
      `${this.#who}: done in ${durationMs.toFixed(1)} ms, ` +
        `peer=${quoteUntrusted(validated.context.peerServiceAccount)} ` +
        `local=${quoteUntrusted(validated.context.localServiceAccount)} ` +
        `peer_max_frame_size=${validated.peerMaxFrameSize}`,
    );
    return { ...validated, leftover, durationMs };
  }

  /** Ends a server handshake whose peer kept its slot idle while others waited (the limiter decides). */
  readonly #preempt = () =>
    this.#abort(
      new AltsError(
        'HANDSHAKE_TIMEOUT',
        `the peer sent no handshake message within ${this.#p.limiter.preemptIdleAfterMs} ms of ours ` +
          'while other handshakes waited for a slot',
      ),
      false,
    );

  readonly #onCancel = () => this.#abort(abortReason(this.#p.signal as AbortSignal), true);

  /**
   * Stops the handshake: the first reason wins, and every wait ends now. The stream is closed at
   * once so an outstanding request does not hold the failure; only a deadline or cancellation
   * resets it (the service may be hung), because resetting a stream the service already ended
   * is an invalid frame to a Node HTTP/2 server (see HandshakerStream.close).
   */
  #abort(reason: AltsError, cancelStream: boolean): void {
    if (this.#abortedBy === undefined) {
      this.#abortedBy = reason;
      this.#reader.fail(reason);
      this.#waitAbort?.abort(reason);
    }
    this.#stream?.close({ cancel: cancelStream });
  }

  #throwIfAborted(): void {
    if (this.#abortedBy !== undefined) throw this.#abortedBy;
  }

  /** A signal for the waits that take one (a queued slot, a retry pause), made on first need. */
  #waitSignal(): AbortSignal {
    this.#waitAbort ??= new AbortController();
    const reason = this.#abortedBy ?? this.#reader.failure;
    if (reason !== undefined) this.#waitAbort.abort(reason);
    return this.#waitAbort.signal;
  }
}

/**
 * The socket's last-resort `'error'` listener. Every error is also seen by whoever owns the socket
 * at the time (the handshake's reader, then the record layer), which ends the connection; this
 * one only keeps an error after that point (a write to a peer that already reset) from being
 * thrown by the EventEmitter, which would crash the process.
 */
function ignoreHandledError(): void {}

/**
 * Defence in depth for `targetServiceAccounts`: the handshaker enforces them, and we check its
 * answer under the project's one identity rule (docs/hardening.md 35).
 */
function checkTargetIdentity(peer: string, targets: readonly string[] | undefined): void {
  if (targets === undefined || targets.length === 0) return;
  if (serviceAccountIn(peer, canonicalSet(targets))) return;
  throw new AltsError(
    'BAD_HANDSHAKER_RESPONSE',
    `the server authenticated as "${quoteUntrusted(peer)}", which is not one of the target service accounts`,
  );
}

function nextRequest(inBytes: Buffer, latencyMs: number): HandshakerReq {
  return { next: { inBytes, networkLatencyMs: Math.max(0, Math.round(latencyMs)) } };
}

/**
 * The proto asks that an error's out_frames still reach the peer (alerts): flush, then destroy.
 * The write may fail (the peer reset first): the socket's guard listener takes that error.
 */
function closeSocket(socket: Socket, alert: Buffer | undefined): void {
  if (!alert || socket.destroyed) {
    socket.destroy();
    return;
  }
  const timer = setTimeout(() => socket.destroy(), ALERT_FLUSH_MS);
  timer.unref();
  socket.end(alert, () => {
    clearTimeout(timer);
    socket.destroy();
  });
}
