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
import { AltsError, quoteUntrusted } from '../errors.js';
import {
  DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS,
  DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS,
  MAX_UNAUTHENTICATED_CONNECTIONS_CEILING,
  sourceKey,
  UnauthenticatedConnections,
} from '../handshake/admission.js';
import { checkTimeout, DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS } from '../handshake/config.js';
import { acquireHandshakerChannel, type HandshakerChannelRef } from '../handshake/handshaker-client.js';
import { handshakeLimiter } from '../handshake/limiter.js';
import { secureConnection } from '../secure-connection.js';
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
  /**
   * Called when a connection's handshake fails or the connection is refused before it
   * (`CONNECTION_REFUSED`); the connection is already closed. Under attack this runs for every
   * attempt: aggregate or rate-limit what you log.
   */
  onHandshakeFailure?: (error: AltsError, remoteAddress: string) => void;
  /**
   * Connections handshaking at once, beyond which new ones are closed at accept (default 1 000).
   * Each costs a socket and at most one 64 KiB read step until its handshake ends.
   */
  maxUnauthenticatedConnections?: number;
  /** The same bound per source address, IPv6 counted per /64 (default 500). */
  maxUnauthenticatedConnectionsPerAddress?: number;
  /**
   * How long a peer may take to send its complete first handshake message, in ms (default
   * 10 000). Until then it holds no handshake slot; past it the connection is closed.
   */
  firstMessageTimeoutMs?: number;
  /**
   * How long a peer may take to send each later handshake message after the server's, in ms
   * (default 5 000). It holds a handshake slot meanwhile, so this bounds how long a peer that
   * replays a captured first message and goes silent keeps one.
   */
  peerMessageTimeoutMs?: number;
}

/** How long a silent peer may keep a connection: see {@link AltsServerOptions.firstMessageTimeoutMs}. */
const DEFAULT_FIRST_MESSAGE_TIMEOUT_MS = 10_000;
/**
 * How long a peer that owes its next handshake message may hold a slot: a legitimate peer answers
 * within its round-trip time plus one round trip to its own handshaker, well under a second even
 * with 300 handshakes at once on a loaded 2-core machine (the handshake benchmark); an attacker
 * replaying a first message holds a slot this long, and the fair limiter serves newcomers first.
 */
const DEFAULT_PEER_MESSAGE_TIMEOUT_MS = 5_000;

function checkCount(name: string, value: number | undefined, defaultValue: number): number {
  if (value === undefined) return defaultValue;
  if (!Number.isInteger(value) || value < 1 || value > MAX_UNAUTHENTICATED_CONNECTIONS_CEILING) {
    throw new AltsError(
      'INVALID_ARGUMENT',
      `${name} must be an integer in [1, ${MAX_UNAUTHENTICATED_CONNECTIONS_CEILING}], got ${value}`,
    );
  }
  return value;
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
  readonly #common: ResolvedCommon;
  readonly #onFailure: AltsServerOptions['onHandshakeFailure'];
  readonly #unauthenticated: UnauthenticatedConnections;
  readonly #firstMessageTimeoutMs: number;
  readonly #peerMessageTimeoutMs: number;
  readonly #listeners = new Set<NetServer>();
  readonly #lifetime = new AbortController();
  #handshaker: HandshakerChannelRef | undefined;
  #shutDown = false;

  constructor(options: AltsServerOptions = {}) {
    this.#common = resolveCommon(options, DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS);
    this.#onFailure = options.onHandshakeFailure;
    if (this.#onFailure !== undefined && typeof this.#onFailure !== 'function') {
      throw new AltsError('INVALID_ARGUMENT', 'onHandshakeFailure must be a function');
    }
    this.#unauthenticated = new UnauthenticatedConnections(
      checkCount(
        'maxUnauthenticatedConnections',
        options.maxUnauthenticatedConnections,
        DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS,
      ),
      checkCount(
        'maxUnauthenticatedConnectionsPerAddress',
        options.maxUnauthenticatedConnectionsPerAddress,
        DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS,
      ),
    );
    this.#firstMessageTimeoutMs = checkTimeout(
      'firstMessageTimeoutMs',
      options.firstMessageTimeoutMs,
      DEFAULT_FIRST_MESSAGE_TIMEOUT_MS,
    );
    this.#peerMessageTimeoutMs = checkTimeout(
      'peerMessageTimeoutMs',
      options.peerMessageTimeoutMs,
      DEFAULT_PEER_MESSAGE_TIMEOUT_MS,
    );
    // Every handshake in progress listens on this signal (up to the concurrency limit, plus those
    // waiting for a slot) and removes its listener when done: not a leak, so no warning.
    setMaxListeners(0, this.#lifetime.signal);
    this.grpcServer = new Server({ ...options.serverOptions, interceptors: options.interceptors ?? [] });
  }

  /** The handshaker service this server uses (option, environment or the metadata server), `host:port`. */
  get handshakerAddress(): string {
    return this.#common.handshaker.address;
  }

  /** Adds a service, as grpc-js's `Server.addService` (before or after `listen`). */
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
    const admitted = this.#unauthenticated.admit(connection.remoteAddress, (reason) =>
      socket.destroy(new AltsError('CONNECTION_REFUSED', `connection closed to admit another: ${reason}`)),
    );
    if ('refused' in admitted) {
      socket.destroy();
      this.#failed(new AltsError('CONNECTION_REFUSED', admitted.refused), remote);
      return;
    }
    secureConnection(socket, {
      side: 'server',
      client: handshaker.client,
      handshakerAddress: this.#common.handshaker.address,
      limiter: handshakeLimiter('server'),
      timeoutMs: this.#common.timeoutMs,
      firstMessageTimeoutMs: this.#firstMessageTimeoutMs,
      peerMessageTimeoutMs: this.#peerMessageTimeoutMs,
      source: sourceKey(connection.remoteAddress),
      maxFrameSize: this.#common.maxFrameSize,
      signal: this.#lifetime.signal,
    })
      .then(
        ({ stream, context }) => {
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
        },
        (error: AltsError) => this.#failed(error, remote),
      )
      .finally(admitted.release);
  }

  #failed(error: AltsError, remote: string): void {
    trace(`server handshake from ${remote} failed: ${error.message}`);
    try {
      this.#onFailure?.(error, remote);
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
