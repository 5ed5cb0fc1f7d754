import type { Socket } from 'node:net';
import { AltsError } from './errors.js';
import { type HandshakeParams, runHandshake } from './handshake/driver.js';
import type { AltsPeerContext } from './handshake/result.js';
import { negotiateWriteFrameSize } from './record/frame.js';
import { createProtectedStream, type ProtectedStream } from './record/protected-stream.js';

/** A connection that finished its ALTS handshake: the plaintext stream and who is on the other end. */
export interface SecuredConnection {
  stream: ProtectedStream;
  context: AltsPeerContext;
}

/**
 * Secures a connected socket, the one place both sides go through (grpc-go's handshaker returns
 * a finished conn the same way): handshake, frame-size negotiation, the protected stream, and the
 * key wiped once the crypters hold it. On failure the socket is destroyed and the promise rejects
 * with an AltsError; it never resolves with a stream that could carry unauthenticated data.
 */
export async function secureConnection(socket: Socket, params: HandshakeParams): Promise<SecuredConnection> {
  const outcome = await runHandshake(socket, params);
  try {
    const stream = createProtectedStream(socket, {
      recordProtocol: outcome.context.recordProtocol,
      keyData: outcome.keyData,
      side: params.side,
      leftover: outcome.leftover,
      writeFrameSize: negotiateWriteFrameSize(outcome.peerMaxFrameSize, params.maxFrameSize),
    });
    return { stream, context: outcome.context };
  } catch (err) {
    socket.destroy();
    throw AltsError.is(err)
      ? err
      : new AltsError('INTERNAL', 'building the protected stream failed', { cause: err });
  } finally {
    outcome.keyData.fill(0);
  }
}
