import { setMaxListeners } from 'node:events';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import {
  experimental,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { AltsError, quoteUntrusted } from '../errors.js';
import { sourceKey, UnauthenticatedConnections } from '../handshake/admission.js';
import { acquireHandshakerChannel, type HandshakerChannelRef } from '../handshake/handshaker-client.js';
import { handshakeLimiter } from '../handshake/limiter.js';
import { type SecuredConnection, secureConnection } from '../secure-connection.js';
import { trace } from '../trace.js';
import { type AltsAuthContext, type AuthContext, createAltsAuthContext } from './context.js';
import { type AltsServerOptions, type ResolvedServerOptions, resolveServerOptions } from './options.js';

type ConnectionInfo = ReturnType<ServerInterceptingCallInterface['getConnectionInfo']>;

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

/** `host:port` or `[ipv6]:port`, as {@link AltsServer.listen} and listenHealthCheck take it. */
export function parseListenAddress(address: string): { host: string; port: number } {
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
  readonly #options: ResolvedServerOptions;
  readonly #unauthenticated: UnauthenticatedConnections;
  readonly #listeners = new Set<NetServer>();
  readonly #lifetime = new AbortController();
  #handshaker: HandshakerChannelRef | undefined;
  #shutDown = false;

  constructor(options: AltsServerOptions = {}) {
    this.#options = resolveServerOptions(options);
    this.#unauthenticated = new UnauthenticatedConnections(
      this.#options.maxUnauthenticatedConnections,
      this.#options.maxUnauthenticatedConnectionsPerAddress,
    );
    // Every handshake in progress listens on this signal (up to the concurrency limit, plus those
    // waiting for a slot) and removes its listener when done: not a leak, so no warning.
    setMaxListeners(0, this.#lifetime.signal);
    this.grpcServer = new Server({
      ...this.#options.serverOptions,
      interceptors: this.#options.interceptors,
    });
  }

  /** The handshaker service this server uses (option, environment or the metadata server), `host:port`. */
  get handshakerAddress(): string {
    return this.#options.common.handshaker.address;
  }

  /** Adds a service, as grpc-js's `Server.addService` (before or after `listen`). */
  addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    this.grpcServer.addService(service, implementation);
  }

  /** Starts accepting ALTS connections on `host:port`; resolves with the bound port (real port for 0). */
  async listen(address: string): Promise<number> {
    if (this.#shutDown) throw new AltsError('INVALID_ARGUMENT', 'the server has been shut down');
    const { host, port } = parseListenAddress(address);
    this.#handshaker ??= acquireHandshakerChannel(this.#options.common.handshaker.address);
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
    const admitted = this.#unauthenticated.admit(connection.remoteAddress, (reason) =>
      socket.destroy(new AltsError('CONNECTION_REFUSED', `connection closed to admit another: ${reason}`)),
    );
    if ('refused' in admitted) {
      socket.destroy();
      this.#failed(new AltsError('CONNECTION_REFUSED', admitted.refused), remote);
      return;
    }
    const { common, firstMessageTimeoutMs, peerMessageTimeoutMs } = this.#options;
    secureConnection(socket, {
      side: 'server',
      client: handshaker.client,
      handshakerAddress: common.handshaker.address,
      limiter: handshakeLimiter('server', common.maxConcurrentHandshakes),
      timeoutMs: common.timeoutMs,
      firstMessageTimeoutMs,
      peerMessageTimeoutMs,
      source: sourceKey(connection.remoteAddress),
      maxFrameSize: common.maxFrameSize,
      signal: this.#lifetime.signal,
    })
      .then(
        (secured) => this.#inject(secured, connection, remote),
        (error: AltsError) => this.#failed(error, remote),
      )
      .finally(admitted.release);
  }

  /** Hands a secured connection to grpc-js, with a per-connection interceptor carrying its ALTS context. */
  #inject({ stream, context }: SecuredConnection, connection: ConnectionInfo, remote: string): void {
    if (this.#shutDown) {
      stream.destroy();
      return;
    }
    try {
      const auth = createAltsAuthContext(context);
      const perConnection: ServerInterceptor = (_method, call) =>
        new AltsConnectionCall(call, auth, connection);
      const injector = this.grpcServer.createConnectionInjector(
        experimental.createServerCredentialsWithInterceptors(ServerCredentials.createInsecure(), [
          perConnection,
        ]),
      );
      stream.once('close', () => injector.destroy());
      injector.injectConnection(stream);
    } catch (err) {
      stream.destroy();
      this.#failed(
        new AltsError('INTERNAL', 'handing the connection to grpc-js failed', { cause: err }),
        remote,
      );
    }
  }

  #failed(error: AltsError, remote: string): void {
    trace(`server handshake from ${remote} failed: ${error.message}`);
    try {
      this.#options.onHandshakeFailure?.(error, remote);
    } catch (err) {
      // A throwing callback must not become an unhandled rejection that kills the server.
      trace(`onHandshakeFailure threw: ${quoteUntrusted(String(err))}`);
    }
  }
}

/** Creates an {@link AltsServer}; validates options now (INVALID_ARGUMENT, UNTRUSTED_PLATFORM). */
export function createAltsServer(options: AltsServerOptions = {}): AltsServer {
  return new AltsServer(options);
}
