import type { Socket } from 'node:net';
import { CallCredentials, ChannelCredentials, type ChannelOptions, experimental } from '@grpc/grpc-js';
import { AltsError } from '../errors.js';
import type { OpenedAhead } from '../handshake/driver.js';
import {
  acquireHandshakerChannel,
  HandshakerStream,
  MAX_OPENED_AHEAD_MS,
} from '../handshake/handshaker-client.js';
import { handshakeLimiter } from '../handshake/limiter.js';
import { secureConnection } from '../secure-connection.js';
import { type AltsChannelCredentialsOptions, type ResolvedCommon, resolveClientOptions } from './options.js';

/**
 * Share of the client's handshake slots in use above which no stream is opened ahead: then the
 * handshakes queue for the CPU and the handshaker anyway, and 100 and 300 concurrent new channels
 * completed 7–8 % fewer handshakes per second with streams opened ahead (docs/performance.md).
 */
export const OPEN_AHEAD_MAX_BUSY = 1 / 4;

class AltsChannelCredentials extends ChannelCredentials {
  readonly #common: ResolvedCommon;
  readonly #targets: readonly string[];
  readonly #onHandshake: AltsChannelCredentialsOptions['onHandshake'];

  constructor(
    common: ResolvedCommon,
    targets: readonly string[],
    onHandshake: AltsChannelCredentialsOptions['onHandshake'],
  ) {
    super();
    this.#common = common;
    this.#targets = targets;
    this.#onHandshake = onHandshake;
  }

  override _isSecure(): boolean {
    return true;
  }

  /** Equal options share subchannels (and so connections) across channels to the same target. */
  override _equals(other: ChannelCredentials): boolean {
    if (other === this) return true;
    if (!(other instanceof AltsChannelCredentials)) return false;
    const a = this.#common;
    const b = other.#common;
    return (
      a.handshaker.address === b.handshaker.address &&
      a.timeoutMs === b.timeoutMs &&
      a.maxFrameSize === b.maxFrameSize &&
      this.#onHandshake === other.#onHandshake &&
      this.#targets.length === other.#targets.length &&
      this.#targets.every((t, i) => t === other.#targets[i])
    );
  }

  override _createSecureConnector(
    channelTarget: experimental.GrpcUri,
    options: ChannelOptions,
    callCredentials?: CallCredentials,
  ): experimental.SecureConnector {
    const common = this.#common;
    const targets = this.#targets;
    const onHandshake = this.#onHandshake;
    const authority = options['grpc.default_authority'] ?? channelTarget.path;
    const target = experimental.uriToString(channelTarget);
    const handshaker = acquireHandshakerChannel(common.handshaker.address);
    // grpc-js never cancels a connect() in flight: destroy() must, or a closed channel would
    // keep handshaking (docs/grpc-js.md §1.3).
    const lifetime = new AbortController();
    let destroyed = false;
    let connecting = 0;
    const limiter = handshakeLimiter('client', common.maxConcurrentHandshakes);
    // The stream opened for the next connection attempt, with the slot it holds, until connect()
    // takes both or the timer gives them back.
    let ahead: (OpenedAhead & { timer: NodeJS.Timeout }) | undefined;
    const dropAhead = () => {
      if (ahead === undefined) return;
      clearTimeout(ahead.timer);
      ahead.stream.close({ cancel: true });
      ahead.slot.release();
      ahead = undefined;
    };
    const calls = callCredentials ?? CallCredentials.createEmpty();
    return {
      async connect(socket: Socket): Promise<experimental.SecureConnectResult> {
        const openedAhead = ahead;
        if (openedAhead !== undefined) clearTimeout(openedAhead.timer);
        ahead = undefined;
        if (destroyed) throw new AltsError('CANCELLED', 'the ALTS channel was closed');
        connecting++;
        const { stream, context } = await secureConnection(socket, {
          side: 'client',
          client: handshaker.client,
          handshakerAddress: common.handshaker.address,
          limiter,
          timeoutMs: common.timeoutMs,
          maxFrameSize: common.maxFrameSize,
          targetServiceAccounts: targets,
          targetName: String(authority),
          signal: lifetime.signal,
          openedAhead,
        }).finally(() => connecting--);
        try {
          onHandshake?.(context, target);
        } catch (err) {
          stream.destroy();
          throw new AltsError('INTERNAL', 'the onHandshake callback threw', { cause: err });
        }
        return { socket: stream as unknown as Socket, secure: true };
      },
      // grpc-js calls this right before it opens each TCP connection: the DoHandshake stream opened
      // here sets up while TCP connects, which took about 0.6 ms off the first handshaker round
      // trip on loopback (docs/performance.md, New channels). Only with a free handshake slot,
      // which the stream then holds, so that no more streams are open at the handshaker than the
      // limit allows; both go back if connect() does not take them within MAX_OPENED_AHEAD_MS.
      waitForReady: () => {
        dropAhead();
        const slot =
          destroyed || limiter.active >= limiter.limit * OPEN_AHEAD_MAX_BUSY
            ? undefined
            : limiter.tryAcquire();
        if (slot !== undefined) {
          const stream = new HandshakerStream(handshaker.client, common.timeoutMs, common.handshaker.address);
          const timer = setTimeout(dropAhead, MAX_OPENED_AHEAD_MS);
          timer.unref();
          ahead = { stream, slot, timer };
        }
        return Promise.resolve();
      },
      getCallCredentials: () => calls,
      destroy() {
        if (destroyed) return;
        destroyed = true;
        dropAhead();
        // Only a handshake in flight listens; an error built for nobody costs a stack capture.
        if (connecting > 0) lifetime.abort(new AltsError('CANCELLED', 'the ALTS channel was closed'));
        handshaker.release();
      },
    };
  }
}

/**
 * ALTS channel credentials for any grpc-js client (generated clients, `new grpc.Client`,
 * `credentials.combineChannelCredentials` with call credentials). A failed handshake fails calls
 * with UNAVAILABLE and the handshaker's reason, and grpc-js reconnects with its usual backoff.
 *
 * Throws AltsError INVALID_ARGUMENT for bad options, UNTRUSTED_PLATFORM off Google Cloud when no
 * handshaker address was configured.
 */
export function createAltsChannelCredentials(
  options: AltsChannelCredentialsOptions = {},
): ChannelCredentials {
  const { common, targetServiceAccounts, onHandshake } = resolveClientOptions(options);
  return new AltsChannelCredentials(common, targetServiceAccounts, onHandshake);
}
