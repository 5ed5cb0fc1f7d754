// The emulator's own TCP listener, in front of grpc-js (emulator.ts injects what it admits): it
// bounds what connections can cost before they are handshake streams. A connection that sends no
// HTTP/2 preface is closed within seconds; when the emulator holds its maximum of connections it
// refuses new ones at accept, so live clients keep handshaking instead of every handshake failing at
// the descriptor limit; with `allowedUid`, only that local user's connections are served.
import { createServer, type Server, type Socket } from 'node:net';
import { peerUid } from './peer-uid.js';

/** The HTTP/2 client connection preface, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (RFC 9113 §3.4). */
const HTTP2_PREFACE_LENGTH = 24;
/**
 * A connection that has not sent the preface by then is closed. gRPC clients send it as soon as
 * they connect; 5 s leaves a loaded machine ample slack and bounds how long an idle socket costs.
 */
export const PREFACE_TIMEOUT_MS = 5_000;
/**
 * Open connections at most; more are closed at accept. A gRPC program keeps one channel to its
 * handshaker, so a busy host needs a few dozen; 1 000 idle ones stay cheap (docs/performance.md).
 */
export const MAX_CONNECTIONS = 1_000;
/** A refusal of one kind is logged at most once per this long, with the count since: a flood
 * of connections must not become a flood of log lines. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

export interface GateOptions {
  maxConnections: number;
  prefaceTimeoutMs: number;
  /** Serve only connections whose other end belongs to this local uid (Linux). */
  allowedUid?: number | undefined;
  log: (line: string) => void;
  /** Receives each admitted connection; it must take it over in the same tick. */
  admit: (socket: Socket) => void;
}

export interface Gate {
  readonly server: Server;
  /** Closes every connection the gate holds (admitted or not). */
  destroyAll(): void;
}

/** Logs the first refusal of each kind at once, then at most one line per interval. */
function refusalLog(log: (line: string) => void): (kind: string, detail: string) => void {
  const last = new Map<string, { at: number; since: number }>();
  return (kind, detail) => {
    const now = Date.now();
    const entry = last.get(kind);
    if (entry && now - entry.at < REFUSAL_LOG_INTERVAL_MS) {
      entry.since++;
      return;
    }
    const more = entry?.since ? ` (${entry.since} more like it since the last such line)` : '';
    log(`closed a connection: ${detail}${more}`);
    last.set(kind, { at: now, since: 0 });
  };
}

/** Closes `socket` unless it has sent the HTTP/2 preface within `timeoutMs`. */
function enforcePreface(
  socket: Socket,
  timeoutMs: number,
  refuse: (kind: string, detail: string) => void,
): void {
  const timer = setTimeout(() => {
    // bytesRead counts what the kernel delivered, also once the HTTP/2 session reads the socket.
    if (socket.bytesRead >= HTTP2_PREFACE_LENGTH) return;
    refuse('preface', `no HTTP/2 preface within ${timeoutMs} ms`);
    socket.destroy();
  }, timeoutMs);
  socket.once('close', () => clearTimeout(timer));
}

async function admitIfOwned(
  socket: Socket,
  options: GateOptions,
  refuse: (kind: string, detail: string) => void,
) {
  if (options.allowedUid !== undefined) {
    const uid = await peerUid(socket).catch(() => undefined);
    if (uid !== options.allowedUid) {
      const owner = uid === undefined ? 'no local socket' : `uid ${uid}`;
      refuse('uid', `its other end is ${owner}, and this emulator serves uid ${options.allowedUid} only`);
      socket.destroy();
      return;
    }
  }
  if (socket.destroyed) return;
  // Start reading, as net does at accept without pauseOnConnect: the HTTP/2 session that takes
  // the socket over in `admit` receives what is read.
  socket.read(0);
  options.admit(socket);
}

export function createGate(options: GateOptions): Gate {
  const open = new Set<Socket>();
  const refuse = refusalLog(options.log);
  // Paused: nothing is read before the connection is admitted.
  const server = createServer({ pauseOnConnect: true }, (socket) => {
    socket.on('error', () => undefined);
    if (open.size >= options.maxConnections) {
      refuse('full', `${open.size} connections open, the most this emulator holds`);
      socket.destroy();
      return;
    }
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    enforcePreface(socket, options.prefaceTimeoutMs, refuse);
    void admitIfOwned(socket, options, refuse);
  });
  // Once listening (a listen error is the caller's): an accept failure (EMFILE when the process is
  // out of descriptors) costs that connection, not the process.
  server.once('listening', () =>
    server.on('error', (error) => refuse('accept', `accept failed: ${error.message}`)),
  );
  return {
    server,
    destroyAll() {
      for (const socket of open) socket.destroy();
    },
  };
}
