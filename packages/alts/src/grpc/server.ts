import { setMaxListeners } from 'node:events';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import {
  experimental,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerOptions,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { AltsError } from '../errors.js';
import { DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS } from '../handshake/config.js';
import { runHandshake } from '../handshake/driver.js';
import { acquireHandshakerChannel, type HandshakerChannelRef } from '../handshake/handshaker-client.js';
import { handshakeLimiter } from '../handshake/limiter.js';
import { negotiateWriteFrameSize } from '../record/frame.js';
import { createProtectedStream } from '../record/protected-stream.js';
import { trace } from '../trace.js';
import { type AltsAuthContext, type AuthContext, createAltsAuthContext } from './context.js';
import { type AltsCommonOptions, type ResolvedCommon, resolveCommon } from './options.js';

type ConnectionInfo = ReturnType<ServerInterceptingCallInterface['getConnectionInfo']>;

/** Options of {@link createAltsServer}. */
export interface AltsServerOptions extends AltsCommonOptions {
  /** Server interceptors, outermost first (e.g. `clientAuthorizationInterceptor([...])`). */
  interceptors?: ServerInterceptor[];
  /** Other grpc-js server options (keepalive, message sizes, ...). */
  serverOptions?: Omit<ServerOptions, 'interceptors'>;
  /** Called when a connection's handshake fails; the connection is already closed. */
  onHandshakeFailure?: (error: AltsError, remoteAddress: string) => void;
}

/** Makes handlers and interceptors see the connection's ALTS identity and real addresses. */
class AltsConnectionCall extends ServerInterceptingCall {
  readonly #auth: AltsAuthContext;
  readonly #connection: ConnectionInfo;

  constructor(next: ServerInterceptingCallInterface, auth: AltsAuthContext, connection: ConnectionInfo) {
    super(next);
    this.#auth = auth;
    this.#connection = connection;
  }

  override getAuthContext(): AuthContext {
    return this.#auth;
  }

  override getPeer(): string {
    const { remoteAddress, remotePort } = this.#connection;
    return remoteAddress?.includes(':')
      ? `[${remoteAddress}]:${remotePort}`
      : `${remoteAddress}:${remotePort}`;
  }

  override getConnectionInfo(): ConnectionInfo {
    return this.#connection;
  }
}

function parseListenAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65_535) {
    throw new AltsError(
      'INVALID_ARGUMENT',
      `listen address must be host:port or [ipv6]:port, got ${JSON.stringify(address)}`,
    );
  }
  return { host: match[1] ?? match[2] ?? '', port };
}

/**
 * A grpc-js server whose connections are ALTS (the equivalent of grpc-java's AltsServerBuilder).
 * It owns a `net.Server`: each accepted socket is handshaken under the concurrency limit, then
 * its protected stream is injected into grpc-js with the connection's ALTS context.
 */
export class AltsServer {
  /** The underlying grpc-js server (services, interceptors and shutdown go through it). */
  readonly grpcServer: Server;
  readonly #common: ResolvedCommon;
  readonly #onFailure: AltsServerOptions['onHandshakeFailure'];
  readonly #listeners = new Set<NetServer>();
  readonly #lifetime = new AbortController();
  #handshaker: HandshakerChannelRef | undefined;
  #shutDown = false;

  constructor(options: AltsServerOptions = {}) {
    this.#common = resolveCommon(options, DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS);
    this.#onFailure = options.onHandshakeFailure;
    // Every handshake in progress listens on this signal (up to the concurrency limit, plus those
    // waiting for a slot) and removes its listener when done: not a leak, so no warning.
    setMaxListeners(0, this.#lifetime.signal);
    this.grpcServer = new Server({ ...options.serverOptions, interceptors: options.interceptors ?? [] });
  }

  addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    this.grpcServer.addService(service, implementation);
  }

  /** Starts accepting ALTS connections on `host:port`; resolves with the bound port (real port for 0). */
  async listen(address: string): Promise<number> {
    if (this.#shutDown) throw new AltsError('INVALID_ARGUMENT', 'the server has been shut down');
    const { host, port } = parseListenAddress(address);
    this.#handshaker ??= acquireHandshakerChannel(this.#common.handshaker.address);
    const listener = createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, host || undefined, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    this.#listeners.add(listener);
    const bound = listener.address();
    return typeof bound === 'object' && bound ? bound.port : port;
  }

  /** Stops accepting, aborts handshakes in progress, and lets established calls finish. */
  tryShutdown(callback?: (error?: Error) => void): Promise<void> {
    this.#stopAccepting();
    return new Promise((resolve) => {
      this.grpcServer.tryShutdown((error) => {
        callback?.(error);
        resolve();
      });
    });
  }

  /** Stops accepting and closes every connection and call now. */
  forceShutdown(): void {
    this.#stopAccepting();
    this.grpcServer.forceShutdown();
  }

  #stopAccepting(): void {
    if (this.#shutDown) return;
    this.#shutDown = true;
    this.#lifetime.abort(new AltsError('CANCELLED', 'the ALTS server is shutting down'));
    for (const listener of this.#listeners) listener.close();
    this.#listeners.clear();
    this.#handshaker?.release();
  }

  #accept(socket: Socket): void {
    const handshaker = this.#handshaker;
    if (this.#shutDown || !handshaker) {
      socket.destroy();
      return;
    }
    const connection: ConnectionInfo = {
      localAddress: socket.localAddress,
      localPort: socket.localPort,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
    };
    const remote = `${connection.remoteAddress}:${connection.remotePort}`;
    runHandshake(socket, {
      side: 'server',
      client: handshaker.client,
      handshakerAddress: this.#common.handshaker.address,
      limiter: handshakeLimiter('server'),
      timeoutMs: this.#common.timeoutMs,
      maxFrameSize: this.#common.maxFrameSize,
      signal: this.#lifetime.signal,
    }).then(
      (outcome) => {
        if (this.#shutDown) {
          socket.destroy();
          return;
        }
        const auth = createAltsAuthContext(outcome.context);
        const perConnection: ServerInterceptor = (_method, call) =>
          new AltsConnectionCall(call, auth, connection);
        const injector = this.grpcServer.createConnectionInjector(
          experimental.createServerCredentialsWithInterceptors(ServerCredentials.createInsecure(), [
            perConnection,
          ]),
        );
        const stream = createProtectedStream(socket, {
          recordProtocol: outcome.context.recordProtocol,
          keyData: outcome.keyData,
          side: 'server',
          leftover: outcome.leftover,
          writeFrameSize: negotiateWriteFrameSize(outcome.peerMaxFrameSize, this.#common.maxFrameSize),
        });
        outcome.keyData.fill(0);
        stream.once('close', () => injector.destroy());
        injector.injectConnection(stream);
      },
      (error: AltsError) => {
        trace(`server handshake from ${remote} failed: ${error.message}`);
        this.#onFailure?.(error, remote);
      },
    );
  }
}

/** Creates an {@link AltsServer}; validates options now (INVALID_ARGUMENT, UNTRUSTED_PLATFORM). */
export function createAltsServer(options: AltsServerOptions = {}): AltsServer {
  return new AltsServer(options);
}
