// A server whose handshaker does not answer still listens, and every client's handshake then fails
// with a bare "the peer closed the connection": the server checks its handshaker before READY.
import { Client, connectivityState, credentials } from '@grpc/grpc-js';

/**
 * Resolves true once an HTTP/2 connection to `address` is up, false if none is by `deadline`;
 * grpc-js retries a refused connection with its backoff meanwhile, and `onRetry` hears the first
 * failed attempt. Only the connection is tried: a DoHandshake stream without a start request is
 * a failed handshake in the emulator's log, and the real service's answer to one is not
 * documented. The probe's channel is closed before this resolves.
 */
export async function handshakerAnswers(
  address: string,
  deadline: Date,
  onRetry: () => void,
): Promise<boolean> {
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
          onRetry();
        }
        channel.watchConnectivityState(state, deadline, (timedOut) => (timedOut ? resolve(false) : watch()));
      };
      watch();
    });
  } finally {
    client.close();
  }
}
