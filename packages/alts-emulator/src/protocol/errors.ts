import { status } from '@grpc/grpc-js';
import { quote } from '../common/quote.js';

/**
 * A handshake failure with the gRPC status the service reports for it: written into
 * `HandshakerResp.status` and then used to end the DoHandshake RPC (docs/protocol.md §6.1 error style).
 */
export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
  readonly code: status;

  constructor(code: status, details: string, options?: { cause?: unknown }) {
    super(details, options);
    this.code = code;
  }
}

/** A request from the local library that breaks the DoHandshake contract (docs/protocol.md §6.4). */
export function invalid(details: string): HandshakeError {
  return new HandshakeError(status.INVALID_ARGUMENT, details);
}

/** Bytes from the peer that are not a well-formed handshake message. */
export function malformed(details: string): HandshakeError {
  return new HandshakeError(status.INVALID_ARGUMENT, `malformed handshake message: ${details}`);
}

/** A handshake message that is well formed but fails authentication. */
export function unauthenticated(details: string): HandshakeError {
  return new HandshakeError(status.UNAUTHENTICATED, details);
}

/** An Alert received from the peer: reported locally, never answered with another alert. */
export class PeerAborted extends HandshakeError {}

/**
 * Longest rendering of a whole failure message in a log line, or of an error's own text in one:
 * the 1 KiB an Alert carries to the peer (messages.ts), so the log shows at least what it was told.
 */
export const MAX_LOGGED_DETAILS_CHARS = 1024;

/** The text of something thrown, quoted for a status or a log line (it may come from outside). */
export function quoteError(error: unknown): string {
  return quote(error instanceof Error ? error.message : String(error), MAX_LOGGED_DETAILS_CHARS);
}
