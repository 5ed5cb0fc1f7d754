import { status } from '@grpc/grpc-js';

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

/** Bytes from the peer that are not a well-formed handshake message. */
export function malformed(details: string): HandshakeError {
  return new HandshakeError(status.INVALID_ARGUMENT, `malformed handshake message: ${details}`);
}

/** A handshake message that is well formed but fails authentication. */
export function unauthenticated(details: string): HandshakeError {
  return new HandshakeError(status.UNAUTHENTICATED, details);
}
