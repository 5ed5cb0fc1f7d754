// A load balancer or orchestrator (a Kubernetes gRPC probe, a cloud health check) speaks plaintext
// or TLS, never ALTS: it needs the health service on a port of its own. That port is
// unauthenticated, so it is a grpc-js Server of its own that this module never exposes: nothing
// but grpc.health.v1.Health/Check can be registered on it, and every other method, the
// application's included, is UNIMPLEMENTED there.
import { createServer } from 'node:net';
import {
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { AltsError } from '../errors.js';
import { parseListenAddress } from './server.js';

/**
 * What the `grpc-health-check` package's `HealthImplementation` offers (structurally, so this
 * library does not depend on it): it adds `grpc.health.v1.Health` to a server.
 */
export interface HealthService {
  /** Registers the Health service's methods on `server`. */
  addToServer(server: {
    addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void;
  }): void;
}

/** A running plaintext health-check server (see {@link listenHealthCheck}). */
export interface HealthCheckServer {
  /** The bound port (the real one when listening on port 0). */
  readonly port: number;
  /** Stops accepting and closes its connections now: a probe is one short call, nothing to drain. */
  shutdown(): void;
}

/**
 * Health probes are one small call each: a few streams per connection and a message far smaller
 * than grpc-js's 4 MiB default bound what one unauthenticated peer can make the server hold.
 */
const HEALTH_MAX_CONCURRENT_STREAMS = 10;
/** A HealthCheckRequest carries one service name; 4 KiB is ample. */
const HEALTH_MAX_MESSAGE_BYTES = 4 * 1024;
/**
 * Health checkers hold a connection or two each; past this many, new connections are closed at
 * accept, so a flood of idle sockets costs a bounded number of descriptors.
 */
export const HEALTH_MAX_CONNECTIONS = 100;
/**
 * Probes reconnect for every check (Kubernetes every 10 s by default): a connection idle this long
 * is closed, so a silent peer cannot keep one open.
 */
const HEALTH_MAX_IDLE_MS = 60_000;

/**
 * Serves only `grpc.health.v1.Health/Check` from `health`, in plaintext, on `address`
 * (`host:port` or `[ipv6]:port`, port 0 for any), for health checkers that cannot speak ALTS.
 * A port in use rejects with Node's `EADDRINUSE` error. Watch and List stay
 * on the ALTS server: a Watch stream is held open for as long as the caller likes, which an
 * unauthenticated port should not offer. Set the statuses on `health` as the ALTS server comes up
 * and goes down; this port reports them.
 *
 * @example
 * ```ts
 * import { HealthImplementation } from 'grpc-health-check';
 * const health = new HealthImplementation({ '': 'NOT_SERVING' });
 * health.addToServer(altsServer); // Check, Watch and List for ALTS peers
 * const probe = await listenHealthCheck(health, '0.0.0.0:8081'); // Check only, plaintext
 * await altsServer.listen('0.0.0.0:8080');
 * health.setStatus('', 'SERVING');
 * ```
 */
export async function listenHealthCheck(health: HealthService, address: string): Promise<HealthCheckServer> {
  const { host, port } = parseListenAddress(address);
  const server = new Server({
    'grpc.max_concurrent_streams': HEALTH_MAX_CONCURRENT_STREAMS,
    'grpc.max_receive_message_length': HEALTH_MAX_MESSAGE_BYTES,
    'grpc.max_connection_idle_ms': HEALTH_MAX_IDLE_MS,
  });
  health.addToServer({
    addService(definition, implementation) {
      const check = definition.Check;
      const handler = implementation.check ?? implementation.Check;
      if (check?.path !== '/grpc.health.v1.Health/Check' || handler === undefined) {
        throw new AltsError(
          'INVALID_ARGUMENT',
          'listenHealthCheck serves only grpc.health.v1.Health/Check: ' +
            'pass a grpc-health-check HealthImplementation',
        );
      }
      server.addService({ Check: check }, { check: handler });
    },
  });
  // Our own listener, as AltsServer's: a port in use is Node's EADDRINUSE, not a grpc-js log line.
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const listener = createServer({ noDelay: true }, (socket) => injector.injectConnection(socket));
  listener.maxConnections = HEALTH_MAX_CONNECTIONS;
  const shutdown = () => {
    listener.close();
    injector.destroy();
    server.forceShutdown();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, host || undefined, () => {
        listener.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    shutdown();
    throw error;
  }
  const bound = listener.address();
  return { port: typeof bound === 'object' && bound ? bound.port : port, shutdown };
}
