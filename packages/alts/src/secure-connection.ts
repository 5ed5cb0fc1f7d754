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
  const outcome = await runHandshake(socket, params).catch((err: unknown) => {
    throw explainTimeout(err, socket, params);
  });
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

/**
 * A client handshake that timed out, with what it was waiting for, read from what crossed the
 * socket: a server that accepts connections but never answers (wrong port, a hung or non-ALTS
 * server) otherwise looks the same as a slow handshaker, and grpc-js adds nothing but its own
 * "Deadline exceeded".
 */
function explainTimeout(err: unknown, socket: Socket, params: HandshakeParams): unknown {
  if (params.side !== 'client' || !AltsError.is(err) || err.code !== 'HANDSHAKE_TIMEOUT') return err;
  const message = err.message.replace(/^\[HANDSHAKE_TIMEOUT\] /, '');
  const why =
    socket.bytesWritten === 0
      ? `nothing was sent to the server: the handshaker service at ${params.handshakerAddress} did not ` +
        `answer in time`
      : socket.bytesRead === 0
        ? 'the server accepted the connection but never answered its first handshake message; ' +
          'is an ALTS server listening there, and is its handshaker up?'
        : undefined;
  return why === undefined ? err : new AltsError('HANDSHAKE_TIMEOUT', `${message}: ${why}`, { cause: err });
}
