import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HandshakerServiceService } from '@grpc-alts/handshaker-proto';
import { readDisabledServiceAccounts } from './iam.js';
import { sameServiceAccount } from './identity.js';
import { quote } from './quote.js';
import { createHandshakerService, DEFAULT_IDLE_TIMEOUT_MS } from './service.js';
import { openIdentity, openTrustRoot } from './trust.js';

export const DEFAULT_HOST = '127.0.0.1';
/**
 * Largest DoHandshake request accepted: grpc-js's default receive limit, stated explicitly.
 * A java server passes all bytes it has buffered (docs/protocol.md §3.1), records included, in one `next`.
 */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** How long stop() lets in-flight handshakes finish before cutting them off. */
const SHUTDOWN_GRACE_MS = 2_000;

export interface EmulatorOptions {
  /** Interface to listen on; default 127.0.0.1 (the service is plaintext: keep it local). */
  host?: string;
  /** Port; default 0 (any free port, see `port` of the result). */
  port?: number;
  /** The identity of this "VM": the local identity of its handshakes. */
  serviceAccount: string;
  /** Local identity of client-side handshakes if different (two identities on one host). */
  clientServiceAccount?: string;
  /**
   * Trust root, identity keys and IAM state; created on first use, private to the user. An
   * existing one that is not the user's, or that group or others can write to, is refused.
   */
  stateDir: string;
  /** Receives one line per event (handshake outcomes, identities, durations; never keys). */
  logger?: (line: string) => void;
  /** A stream with no request for this long is ended with DEADLINE_EXCEEDED; default 30 s. */
  idleTimeoutMs?: number;
}

export interface RunningEmulator {
  /** 'host:port' to give to ALTS clients and servers as the handshaker service address. */
  readonly address: string;
  readonly port: number;
  stop(): Promise<void>;
}

function bind(server: Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    );
  });
}

/** Starts the handshaker service in this process. */
export async function startEmulator(options: EmulatorOptions): Promise<RunningEmulator> {
  const host = options.host ?? DEFAULT_HOST;
  const log = options.logger ?? (() => undefined);
  const clientServiceAccount = options.clientServiceAccount ?? options.serviceAccount;
  const oneIdentity = sameServiceAccount(options.serviceAccount, clientServiceAccount);
  // The root's private key only issues missing identities here; the service gets the anchor alone.
  const root = await openTrustRoot(options.stateDir);
  const accounts = oneIdentity ? [options.serviceAccount] : [options.serviceAccount, clientServiceAccount];
  const identities = await Promise.all(accounts.map((sa) => openIdentity(options.stateDir, root, sa)));
  const server = new Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
  server.addService(
    HandshakerServiceService,
    createHandshakerService({
      anchor: root.anchor,
      identities,
      clientServiceAccount,
      serverServiceAccount: options.serviceAccount,
      disabledServiceAccounts: () => readDisabledServiceAccounts(options.stateDir),
      log,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    }),
  );
  const uriHost = host.includes(':') ? `[${host}]` : host;
  const port = await bind(server, `${uriHost}:${options.port ?? 0}`);
  const address = `${uriHost}:${port}`;
  const clientNote = oneIdentity ? '' : ` client=${quote(clientServiceAccount)}`;
  log(
    `listening on ${address} as ${quote(options.serviceAccount)}${clientNote} ` +
      `(trust root ${root.anchor.keyId.toString('hex')})`,
  );
  let stopped: Promise<void> | undefined;
  return {
    address,
    port,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          log(`stopped listening on ${address}`);
          resolve();
        });
      });
      return stopped;
    },
  };
}
