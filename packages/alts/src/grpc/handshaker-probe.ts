// A server whose handshaker does not answer still listens, and every client's handshake then fails
// with a bare "the peer closed the connection": a server checks its handshaker before it serves.
import { Client, connectivityState, credentials } from '@grpc/grpc-js';
import { AltsError } from '../errors.js';
import { resolveHandshakerWaitMs } from './options.js';

/** Options of {@link waitForHandshaker}. */
export interface WaitForHandshakerOptions {
  /** How long to keep trying, in ms (default 10 000; at most 120 000). */
  timeoutMs?: number;
  /** Called once, at the first failed attempt: the moment to say that the server is waiting. */
  onRetry?: () => void;
}

/**
 * Resolves true once an HTTP/2 connection to the handshaker service at `address` (for a server,
 * `AltsServer.handshakerAddress`) is up, false if none is within `timeoutMs`; a refused connection
 * is retried with grpc-js's backoff meanwhile. Only the connection is tried: a DoHandshake stream
 * without a start request would be a failed handshake in the handshaker's log, and the real
 * service's answer to one is not documented. Its channel is closed before this resolves.
 */
export async function waitForHandshaker(
  address: string,
  options: WaitForHandshakerOptions = {},
): Promise<boolean> {
  if (typeof address !== 'string' || address === '') {
    throw new AltsError('INVALID_ARGUMENT', 'the handshaker address must be a non-empty string');
  }
  const timeoutMs = resolveHandshakerWaitMs(options.timeoutMs);
  const deadline = new Date(Date.now() + timeoutMs);
  const client = new Client(address, credentials.createInsecure());
  const channel = client.getChannel();
  let retrying = false;
  try {
    return await new Promise<boolean>((resolve) => {
      const watch = () => {
        const state = channel.getConnectivityState(true);
        if (state === connectivityState.READY) {
          resolve(true);
          return;
        }
        if (state === connectivityState.TRANSIENT_FAILURE && !retrying) {
          retrying = true;
          options.onRetry?.();
        }
        channel.watchConnectivityState(state, deadline, (timedOut) => (timedOut ? resolve(false) : watch()));
      };
      watch();
    });
  } finally {
    client.close();
  }
}
