import type { Socket } from 'node:net';
import {
  HandshakeProtocol,
  type HandshakerReq,
  type HandshakerResp,
  type HandshakerServiceClient,
} from '@grpc-alts/handshaker-proto';
import { AltsError } from '../errors.js';
import { trace } from '../trace.js';
import { HandshakerStream } from './handshaker-client.js';
import { abortReason, type HandshakeLimiter } from './limiter.js';
import {
  ALTS_APPLICATION_PROTOCOL,
  ALTS_RECORD_PROTOCOL,
  LOCAL_RPC_VERSIONS,
  type ValidatedResult,
  validateResult,
} from './result.js';
import { SocketReader } from './socket-reader.js';

/**
 * Bytes the handshaker may leave unconsumed before we give up: real handshake messages are a few
 * KiB, so a service that keeps asking for more than this is broken or hostile.
 */
export const MAX_PENDING_HANDSHAKE_BYTES = 1024 * 1024;
/** How long a failed handshake waits for its alert out_frames to flush before the socket is destroyed. */
const ALERT_FLUSH_MS = 1_000;

export interface HandshakeParams {
  side: 'client' | 'server';
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
      recordProtocols: [ALTS_RECORD_PROTOCOL],
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
        [HandshakeProtocol.ALTS]: { recordProtocols: [ALTS_RECORD_PROTOCOL], localIdentities: [] },
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
 * Runs one ALTS handshake over a connected socket (SPEC §3.2 client, §3.3 server, grpc-go
 * semantics: unconsumed bytes are kept and re-sent). On success the socket is left paused with no
 * listeners of ours, ready for the record layer; on any failure it is destroyed, the stream is
 * cancelled and the slot released before the promise rejects.
 */
export async function runHandshake(socket: Socket, p: HandshakeParams): Promise<HandshakeOutcome> {
  const started = performance.now();
  const who = p.side === 'client' ? `client handshake to ${p.targetName ?? '?'}` : 'server handshake';
  const abort = new AbortController();
  const timer = setTimeout(
    () =>
      abort.abort(
        new AltsError('HANDSHAKE_TIMEOUT', `the ALTS ${who} did not finish within ${p.timeoutMs} ms`),
      ),
    p.timeoutMs,
  );
  timer.unref();
  const onCancel = () => abort.abort(abortReason(p.signal as AbortSignal));
  if (p.signal?.aborted) onCancel();
  else p.signal?.addEventListener('abort', onCancel, { once: true });

  const reader = new SocketReader(socket);
  let stream: HandshakerStream | undefined;
  let release: (() => void) | undefined;
  let alert: Buffer | undefined;
  const onAbort = () => {
    const reason = abortReason(abort.signal);
    reader.fail(reason);
    // Deadline or cancellation: the service may be hung, so reset the stream.
    stream?.close({ cancel: true });
  };
  abort.signal.addEventListener('abort', onAbort, { once: true });
  const aborted = () => {
    if (abort.signal.aborted) throw abortReason(abort.signal);
  };

  try {
    trace(`${who}: start`);
    let firstBytes: Buffer = Buffer.alloc(0);
    if (p.side === 'server') firstBytes = await reader.read();
    release = await p.limiter.acquire(abort.signal);
    aborted();
    // While we wait for the peer no request is outstanding, so a handshaker that dies (killed,
    // restarted, connection lost) would go unnoticed until the peer spoke or the deadline fired:
    // stop the wait as soon as the stream fails.
    let waitingForPeer = false;
    stream = new HandshakerStream(
      p.client,
      new Date(Date.now() + p.timeoutMs),
      p.handshakerAddress,
      (error) => {
        if (waitingForPeer) abort.abort(error);
      },
    );
    let sent: Buffer = p.side === 'client' ? Buffer.alloc(0) : firstBytes;
    let resp = await stream.send(p.side === 'client' ? clientStart(p) : serverStart(p, firstBytes));
    let lastWrite = performance.now();
    let extra: Buffer = Buffer.alloc(0);
    for (;;) {
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
          `the ALTS handshaker service refused the ${who}: ${resp.status.details || `status ${resp.status.code}`}`,
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
      if (extra.length > MAX_PENDING_HANDSHAKE_BYTES) {
        throw new AltsError(
          'BAD_HANDSHAKER_RESPONSE',
          `the handshaker left over ${extra.length} bytes unconsumed`,
        );
      }
      let received: Buffer;
      waitingForPeer = true;
      try {
        received = await reader.read();
      } finally {
        waitingForPeer = false;
      }
      sent = extra.length > 0 ? Buffer.concat([extra, received]) : received;
      resp = await sendNext(stream, sent, performance.now() - lastWrite);
    }
    const validated = validateResult(resp.result);
    const unread = reader.detach();
    const leftover = unread.length > 0 ? Buffer.concat([extra, unread]) : Buffer.from(extra);
    const durationMs = performance.now() - started;
    trace(
      `${who}: done in ${durationMs.toFixed(1)} ms, peer=${validated.context.peerServiceAccount} ` +
        `local=${validated.context.localServiceAccount} peer_max_frame_size=${validated.peerMaxFrameSize}`,
    );
    return { ...validated, leftover, durationMs };
  } catch (err) {
    const error = abort.signal.aborted
      ? abortReason(abort.signal)
      : AltsError.is(err)
        ? err
        : new AltsError('HANDSHAKER_UNAVAILABLE', `the ${who} failed`, { cause: err });
    trace(`${who}: failed after ${(performance.now() - started).toFixed(1)} ms: ${error.message}`);
    reader.detach();
    closeSocket(socket, alert);
    throw error;
  } finally {
    clearTimeout(timer);
    p.signal?.removeEventListener('abort', onCancel);
    abort.signal.removeEventListener('abort', onAbort);
    stream?.close({ cancel: abort.signal.aborted });
    release?.();
  }
}

function sendNext(stream: HandshakerStream, inBytes: Buffer, latencyMs: number): Promise<HandshakerResp> {
  return stream.send({ next: { inBytes, networkLatencyMs: Math.max(0, Math.round(latencyMs)) } });
}

/** The proto asks that an error's out_frames still reach the peer (alerts): flush, then destroy. */
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
