import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  HandshakeProtocol,
  type HandshakerReq,
  type HandshakerResp,
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
import { abortReason, type HandshakeLimiter } from './limiter.js';
import { nonAltsPeerError } from './peer-protocol.js';
import { type ValidatedResult, validateResult } from './result.js';
import { HANDSHAKE_READ_LIMIT, SocketReader } from './socket-reader.js';

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
 * First pause before asking the handshaker again about an incomplete first message, doubled each
 * time: a message split across a few TCP segments is whole after the first pause, and within the
 * 10 s first-message deadline a dripping peer gets about ten tries.
 */
const FIRST_MESSAGE_RETRY_MS = 10;
/** How long a failed handshake waits for its alert out_frames to flush before the socket is destroyed. */
const ALERT_FLUSH_MS = 1_000;

/**
 * The DoHandshake call's deadline trails the handshake's own by this much: it is only a backstop
 * for a stream we fail to cancel. Two timers of equal delay fire in no guaranteed order, and the
 * handshake's timer must decide, so the caller sees HANDSHAKE_TIMEOUT and not grpc-js's deadline.
 */
const HANDSHAKER_CALL_GRACE_MS = 1_000;

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
  /** Aborts the handshake (channel closed, server shut down). */
  signal?: AbortSignal;
}

export interface HandshakeOutcome extends ValidatedResult {
  /** Bytes after the peer's last handshake message: ALTS records to decrypt first. */
  leftover: Buffer;
  durationMs: number;
}

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
export async function runHandshake(socket: Socket, p: HandshakeParams): Promise<HandshakeOutcome> {
  socket.on('error', ignoreHandledError);
  const started = performance.now();
  const callDeadline = Date.now() + p.timeoutMs + HANDSHAKER_CALL_GRACE_MS;
  const who = p.side === 'client' ? `client handshake to ${p.targetName ?? '?'}` : 'server handshake';
  const reader = new SocketReader(socket);
  let stream: HandshakerStream | undefined;
  let release: (() => void) | undefined;
  let alert: Buffer | undefined;
  // The first reason to stop wins: deadline, cancellation or the handshaker failing while we wait.
  // A plain variable, not an AbortController: a signal and its listeners per handshake cost CPU
  // on every new connection, and only the rare waits below (a full limiter, a retry pause) need one.
  let abortedBy: AltsError | undefined;
  let waitAbort: AbortController | undefined;
  const abort = (reason: AltsError) => {
    if (abortedBy !== undefined) return;
    abortedBy = reason;
    reader.fail(reason);
    // Deadline or cancellation: the service may be hung, so reset the stream.
    stream?.close({ cancel: true });
    waitAbort?.abort(reason);
  };
  /** A signal for the waits that take one (a queued slot, a retry pause), made on first need. */
  const waitSignal = (): AbortSignal => {
    waitAbort ??= new AbortController();
    if (abortedBy !== undefined) waitAbort.abort(abortedBy);
    return waitAbort.signal;
  };
  const timer = setTimeout(
    () =>
      abort(new AltsError('HANDSHAKE_TIMEOUT', `the ALTS ${who} did not finish within ${p.timeoutMs} ms`)),
    p.timeoutMs,
  );
  timer.unref();
  // A server peer that has not sent a whole first message holds no slot, and this bounds how long
  // it may hold its connection (docs/hardening.md 32).
  let firstMessageTimer: NodeJS.Timeout | undefined;
  if (p.side === 'server' && p.firstMessageTimeoutMs !== undefined && p.firstMessageTimeoutMs < p.timeoutMs) {
    const limit = p.firstMessageTimeoutMs;
    firstMessageTimer = setTimeout(
      () =>
        abort(
          new AltsError(
            'HANDSHAKE_TIMEOUT',
            `the peer sent no complete first handshake message within ${limit} ms`,
          ),
        ),
      limit,
    );
    firstMessageTimer.unref();
  }
  const onCancel = () => abort(abortReason(p.signal as AbortSignal));
  if (p.signal?.aborted) onCancel();
  else p.signal?.addEventListener('abort', onCancel, { once: true });
  const aborted = () => {
    if (abortedBy !== undefined) throw abortedBy;
  };

  try {
    trace(`${who}: start`);
    // The client speaks first, so its first message is complete from the start.
    let firstMessageComplete = p.side === 'client';
    let firstMessageRetries = 0;
    let sent: Buffer = p.side === 'client' ? Buffer.alloc(0) : await reader.read();
    let request = p.side === 'client' ? clientStart(p) : serverStart(p, sent);
    // While we wait for the peer no request is outstanding, so a handshaker that dies (killed,
    // restarted, connection lost) would go unnoticed until the peer spoke or the deadline fired:
    // stop the wait as soon as the stream fails.
    let waitingForPeer = false;
    let lastWrite = performance.now();
    let extra: Buffer = Buffer.alloc(0);
    let resp: HandshakerResp;
    // The peer's first bytes say whether it speaks ALTS at all (peer-protocol.ts).
    let peerChecked = false;
    for (;;) {
      aborted();
      if (!peerChecked && sent.length > 0) {
        peerChecked = firstMessageComplete;
        const notAlts = nonAltsPeerError(p.side, who, sent);
        if (notAlts) throw notAlts;
      }
      release ??= p.limiter.tryAcquire() ?? (await p.limiter.acquire(waitSignal()));
      aborted();
      stream ??= new HandshakerStream(p.client, new Date(callDeadline), p.handshakerAddress, (error) => {
        if (waitingForPeer) abort(error);
      });
      resp = await stream.send(request);
      aborted();
      if (resp.bytesConsumed > sent.length) {
        throw new AltsError(
          'BAD_HANDSHAKER_RESPONSE',
          `the handshaker service consumed ${resp.bytesConsumed} bytes of ${sent.length}: out of bound`,
        );
      }
      extra = sent.subarray(resp.bytesConsumed);
      if (resp.status && resp.status.code !== 0) {
        if (resp.outFrames.length > 0) alert = resp.outFrames;
        throw new AltsError(
          'HANDSHAKER_ERROR',
          `the ALTS handshaker service refused the ${who}: ${quoteUntrusted(resp.status.details) || `status ${resp.status.code}`}`,
        );
      }
      if (resp.outFrames.length > 0) {
        socket.write(resp.outFrames);
        lastWrite = performance.now();
      }
      trace(
        `${who}: response out_frames=${resp.outFrames.length}B consumed=${resp.bytesConsumed}B result=${resp.result !== undefined}`,
      );
      if (resp.result) break;
      if (!firstMessageComplete && resp.outFrames.length > 0) {
        firstMessageComplete = true;
        clearTimeout(firstMessageTimer);
      }
      if (extra.length > MAX_PENDING_HANDSHAKE_BYTES) {
        throw new AltsError(
          'BAD_HANDSHAKER_RESPONSE',
          `the handshaker left over ${extra.length} bytes unconsumed`,
        );
      }
      if (!firstMessageComplete) {
        // Until the peer's first message is whole it holds nothing of ours but its socket: no
        // slot and no DoHandshake stream (the handshaker may cap streams per connection, and
        // silent peers must not fill them). The bytes so far start a fresh stream next time,
        // after a growing pause: a peer dripping its first message byte by byte then costs a
        // dozen handshaker requests, not one per byte, each resending all it sent so far.
        release();
        release = undefined;
        stream.close({ cancel: false });
        stream = undefined;
        await sleep(FIRST_MESSAGE_RETRY_MS * 2 ** firstMessageRetries++, undefined, {
          signal: waitSignal(),
        });
      }
      let received: Buffer;
      waitingForPeer = true;
      try {
        received = await reader.read();
      } finally {
        waitingForPeer = false;
      }
      if (firstMessageComplete) {
        sent = extra.length > 0 ? Buffer.concat([extra, received]) : received;
        request = nextRequest(sent, performance.now() - lastWrite);
        continue;
      }
      sent = Buffer.concat([sent, received]);
      if (sent.length > MAX_FIRST_MESSAGE_BYTES) {
        throw new AltsError(
          'CONNECTION_REFUSED',
          `the peer's first handshake message is not complete after ${sent.length} bytes (limit ${MAX_FIRST_MESSAGE_BYTES})`,
        );
      }
      request = serverStart(p, sent);
    }
    let validated: ValidatedResult;
    try {
      validated = validateResult(resp.result);
    } finally {
      wipeKeyData(resp);
    }
    if (p.side === 'client') {
      try {
        checkTargetIdentity(validated.context.peerServiceAccount, p.targetServiceAccounts);
      } catch (err) {
        validated.keyData.fill(0);
        throw err;
      }
    }
    const unread = reader.detach();
    const leftover = unread.length > 0 ? Buffer.concat([extra, unread]) : Buffer.from(extra);
    const durationMs = performance.now() - started;
    trace(
      `${who}: done in ${durationMs.toFixed(1)} ms, peer=${quoteUntrusted(validated.context.peerServiceAccount)} ` +
        `local=${quoteUntrusted(validated.context.localServiceAccount)} peer_max_frame_size=${validated.peerMaxFrameSize}`,
    );
    return { ...validated, leftover, durationMs };
  } catch (err) {
    const error =
      abortedBy ??
      (AltsError.is(err) ? err : new AltsError('INTERNAL', `the ${who} failed unexpectedly`, { cause: err }));
    trace(`${who}: failed after ${(performance.now() - started).toFixed(1)} ms: ${error.message}`);
    reader.detach();
    closeSocket(socket, alert);
    throw error;
  } finally {
    clearTimeout(timer);
    clearTimeout(firstMessageTimer);
    p.signal?.removeEventListener('abort', onCancel);
    stream?.close({ cancel: abortedBy !== undefined });
    release?.();
  }
}

/**
 * The socket's last-resort `'error'` listener. Every error is also seen by whoever owns the socket
 * at the time (the handshake's reader, then the record layer), which ends the connection; this
 * one only keeps an error after that point (a write to a peer that already reset) from being
 * thrown by the EventEmitter, which would crash the process.
 */
function ignoreHandledError(): void {}

/** The handshaker returns more key material than the record layer takes (128 bytes): wipe all of it. */
function wipeKeyData(resp: HandshakerResp): void {
  resp.result?.keyData.fill(0);
}

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
