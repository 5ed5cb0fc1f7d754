import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HandshakerServiceService } from '@grpc-alts/handshaker-proto';
import { sameServiceAccount } from './common/identity.js';
import { quote } from './common/quote.js';
import { createGate, type Gate, MAX_CONNECTIONS, PREFACE_TIMEOUT_MS } from './net/gate.js';
import { type IdentityBundle, loadBundle } from './pki/bundle.js';
import { provisionBundles } from './pki/provision.js';
import { createHandshakerService, DEFAULT_IDLE_TIMEOUT_MS } from './service/service.js';
import { readDisabledServiceAccounts } from './state/iam.js';

export const DEFAULT_HOST = '127.0.0.1';
/**
 * Largest DoHandshake request accepted: grpc-js's default receive limit, stated explicitly.
 * A java server passes all bytes it has buffered (docs/protocol.md §3.1), records included, in one `next`.
 */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** How long stop() lets in-flight handshakes finish before cutting them off. */
const SHUTDOWN_GRACE_MS = 2_000;

/** Options of {@link startEmulator}: who this "VM" is, where it listens, where its state lives. */
export interface EmulatorOptions {
  /** Interface to listen on; default 127.0.0.1 (the service is plaintext: keep it local). */
  host?: string;
  /** Port; default 0 (any free port, see `port` of the result). */
  port?: number;
  /**
   * The identity of this "VM": the local identity of its handshakes. Required without `bundle`;
   * with one, the bundle must be this account's.
   */
  serviceAccount?: string;
  /** Local identity of client-side handshakes if different (two identities on one host). */
  clientServiceAccount?: string;
  /**
   * Identity bundle of this "VM" (from `alts-emulator issue`): its identity and trust root. Without
   * one, the state directory's trust root issues the identities (the zero-setup workflow).
   */
  bundle?: string;
  /** Bundle of the client-side identity, if different; it must come from the same root. */
  clientBundle?: string;
  /**
   * IAM state, and without `bundle` also the trust root and bundles; created on first use, private
   * to the user. An existing one that is not the user's, or that group or others can write to, is
   * refused.
   */
  stateDir: string;
  /** Receives one line per event (handshake outcomes, identities, durations; never keys). */
  logger?: (line: string) => void;
  /** A stream with no request for this long is ended with DEADLINE_EXCEEDED; default 30 s. */
  idleTimeoutMs?: number;
  /**
   * Serve only connections whose other end is a socket of this local user (Linux, from
   * /proc/net/tcp{,6}); others are closed at accept. `alts-emulator run` sets it to its own uid.
   */
  allowedUid?: number | undefined;
}

/** A listening emulator, from {@link startEmulator}. */
export interface RunningEmulator {
  /** 'host:port' to give to ALTS clients and servers as the handshaker service address. */
  readonly address: string;
  /** The bound port (the real one when started with port 0). */
  readonly port: number;
  /** Stops listening, lets in-flight handshakes finish for up to 2 s, then cuts them off. */
  stop(): Promise<void>;
}

/**
 * The bundles of the server-side identity and, if different, the client-side one: those given, or
 * the state directory's (issued on first use by another process). The root's private key is
 * never read here.
 */
async function openBundles(options: EmulatorOptions): Promise<[IdentityBundle, IdentityBundle | undefined]> {
  const { serviceAccount, clientServiceAccount, bundle, clientBundle } = options;
  if (bundle === undefined) {
    if (clientBundle !== undefined) throw new Error('clientBundle needs bundle too');
    if (serviceAccount === undefined) throw new Error('serviceAccount or bundle is required');
    const accounts =
      clientServiceAccount === undefined || sameServiceAccount(serviceAccount, clientServiceAccount)
        ? [serviceAccount]
        : [serviceAccount, clientServiceAccount];
    const [serverPath, clientPath] = await provisionBundles(options.stateDir, accounts);
    return [
      await loadBundle(serverPath as string, serviceAccount),
      clientPath === undefined ? undefined : await loadBundle(clientPath, clientServiceAccount),
    ];
  }
  const server = await loadBundle(bundle, serviceAccount);
  if (clientBundle === undefined) {
    if (
      clientServiceAccount !== undefined &&
      !sameServiceAccount(clientServiceAccount, server.identity.serviceAccount)
    ) {
      throw new Error(
        `the client-side identity ${quote(clientServiceAccount)} needs a bundle of its own (clientBundle)`,
      );
    }
    return [server, undefined];
  }
  const client = await loadBundle(clientBundle, clientServiceAccount);
  if (!client.anchor.keyId.equals(server.anchor.keyId)) {
    throw new Error(
      `identity bundles ${bundle} and ${clientBundle} come from different trust roots ` +
        `(${server.anchor.keyId.toString('hex')}, ${client.anchor.keyId.toString('hex')})`,
    );
  }
  return [server, client];
}

/** A grpc-js server with the handshaker service for these bundles; it listens on nothing yet. */
function handshakerServer(
  options: EmulatorOptions,
  own: IdentityBundle,
  ownClient: IdentityBundle | undefined,
  log: (line: string) => void,
): Server {
  const server = new Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
  server.addService(
    HandshakerServiceService,
    createHandshakerService({
      anchor: own.anchor,
      identities: ownClient === undefined ? [own.identity] : [own.identity, ownClient.identity],
      clientServiceAccount: (ownClient ?? own).identity.serviceAccount,
      serverServiceAccount: own.identity.serviceAccount,
      disabledServiceAccounts: () => readDisabledServiceAccounts(options.stateDir),
      log,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    }),
  );
  return server;
}

/** Stops accepting, lets open streams end for a grace period, then closes every connection. */
function stopper(
  server: Server,
  gate: Gate,
  address: string,
  log: (line: string) => void,
): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= new Promise<void>((resolve) => {
      gate.server.close();
      const force = setTimeout(() => {
        server.forceShutdown();
        gate.destroyAll();
      }, SHUTDOWN_GRACE_MS);
      server.tryShutdown(() => {
        clearTimeout(force);
        gate.destroyAll();
        log(`stopped listening on ${address}`);
        resolve();
      });
    });
    return stopped;
  };
}

/** Starts the handshaker service in this process. */
export async function startEmulator(options: EmulatorOptions): Promise<RunningEmulator> {
  const host = options.host ?? DEFAULT_HOST;
  const log = options.logger ?? (() => undefined);
  const [own, ownClient] = await openBundles(options);
  const bundles = ownClient === undefined ? [own] : [own, ownClient];
  const serviceAccount = own.identity.serviceAccount;
  const clientServiceAccount = (ownClient ?? own).identity.serviceAccount;
  const server = handshakerServer(options, own, ownClient, log);
  // Our own listener, not bindAsync: the gate decides which connections grpc-js gets to see.
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const gate = createGate({
    maxConnections: MAX_CONNECTIONS,
    prefaceTimeoutMs: PREFACE_TIMEOUT_MS,
    allowedUid: options.allowedUid,
    log,
    admit: (socket) => injector.injectConnection(socket),
  });
  gate.server.listen({ host, port: options.port ?? 0 });
  // Rejects with the listen error (EADDRINUSE: `run` then tries the next address).
  await once(gate.server, 'listening');
  const port = (gate.server.address() as AddressInfo).port;
  const uriHost = host.includes(':') ? `[${host}]` : host;
  const address = `${uriHost}:${port}`;
  const clientNote = bundles.length === 1 ? '' : ` client=${quote(clientServiceAccount)}`;
  log(
    `listening on ${address} as ${quote(serviceAccount)}${clientNote} ` +
      `(trust root ${own.anchor.keyId.toString('hex')}, bundle ${bundles.map((b) => b.path).join(', ')})`,
  );
  return { address, port, stop: stopper(server, gate, address, log) };
}
