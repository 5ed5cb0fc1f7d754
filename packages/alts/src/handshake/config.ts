import { readBoundedIntEnv } from '../env.js';
import { AltsError, quoteUntrusted } from '../errors.js';
import { isRunningOnGcp, type ProductNameReader } from './platform.js';

/**
 * The handshaker service of the GCE metadata server. The trailing dot makes the name fully
 * qualified, so resolvers skip search domains (grpc-go/java/C-core use this spelling).
 */
export const DEFAULT_HANDSHAKER_SERVICE_ADDRESS = 'metadata.google.internal.:8080';
/** grpc-java keeps only the host part of this variable and forces port 8080. */
export const GCE_METADATA_HOST_ENV = 'GCE_METADATA_HOST';
const METADATA_HANDSHAKER_PORT = 8080;
/** Our own variable for a full handshaker address (host:port), e.g. a local emulator. */
export const HANDSHAKER_ADDRESS_ENV = 'ALTS_HANDSHAKER_SERVICE_ADDRESS';

/** Concurrent handshakes per direction: env name, default and bounds as grpc-go (docs/protocol.md §3.11). */
export const MAX_CONCURRENT_HANDSHAKES_ENV = 'GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES';
export const DEFAULT_MAX_CONCURRENT_HANDSHAKES = 100;
const MAX_CONCURRENT_HANDSHAKES_CEILING = 100;

/** grpc-java's DoHandshake deadline (AltsHandshakerStub.HANDSHAKE_RPC_DEADLINE_SECS = 20). */
export const DEFAULT_CLIENT_HANDSHAKE_TIMEOUT_MS = 20_000;
/** grpc-go's server handshake context (alts.go defaultTimeout = 30 s). */
export const DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS = 30_000;
/** Upper bound for a configured handshake timeout: C-core's and java's server default (2 min). */
export const MAX_HANDSHAKE_TIMEOUT_MS = 120_000;

export interface ResolvedHandshaker {
  address: string;
  /** True when the user named the address (option or environment): their opt-in off Google Cloud. */
  explicit: boolean;
}

/** `host:port` or `[ipv6]:port`, the port a number (its range is checked apart). */
const HOST_PORT = /^(?:\[[^\]]+\]|[^:[\]/]+):(\d{1,5})$/;
/** gRPC target schemes (grpc-js's resolvers) whose addresses are host:port lists or a DNS name. */
const HOST_PORT_SCHEMES = /^(?:dns:(?:\/\/[^/]*\/)?|ipv4:|ipv6:)(.*)$/;
/** gRPC target schemes whose address is a socket path, with no port. */
const PATH_SCHEMES = /^unix(?:-abstract)?:/;

function hasPort(hostPort: string): boolean {
  const port = Number(HOST_PORT.exec(hostPort)?.[1]);
  return port >= 1 && port <= 65_535;
}

/**
 * Refuses a handshaker address that has no port, or is a URL, naming the fix: grpc-js would dial
 * port 443 for it, where no handshaker listens (the metadata server's is on 8080, as is the
 * alts-emulator's default), and the user would see only a refused connection to a port they never
 * named. `name` is where the address came from.
 */
function checkHandshakerAddress(address: string, name: string): string {
  if (PATH_SCHEMES.test(address)) return address;
  const scheme = HOST_PORT_SCHEMES.exec(address);
  const hostPorts = scheme ? (scheme[1] ?? '').split(',') : [address];
  if (hostPorts.every(hasPort)) return address;
  const urlHost = /^[a-z][a-z0-9+.-]*:\/\/([^/]+)/i.exec(address)?.[1];
  const host = urlHost ?? hostPorts.find((h) => !hasPort(h)) ?? address;
  // Keep a good host:port whole; drop a bad port; bracket a bare IPv6 address (::1) for the port.
  const bare = HOST_PORT.test(host) ? host.slice(0, host.lastIndexOf(':')) : host;
  const example = hasPort(host)
    ? host
    : `${bare.includes(':') && !bare.startsWith('[') ? `[${bare}]` : bare}:${METADATA_HANDSHAKER_PORT}`;
  throw new AltsError(
    'INVALID_ARGUMENT',
    `${name} "${quoteUntrusted(address)}" is not a host:port to dial: write it as "${quoteUntrusted(example)}" ` +
      `(the handshaker listens on port ${METADATA_HANDSHAKER_PORT} on Google Cloud and by default in alts-emulator)`,
  );
}

/** Option > ALTS_HANDSHAKER_SERVICE_ADDRESS > GCE_METADATA_HOST (host part, port 8080) > default. */
export function resolveHandshakerAddress(
  option: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedHandshaker {
  if (option !== undefined) {
    if (option.trim() === '')
      throw new AltsError('INVALID_ARGUMENT', 'handshakerServiceAddress must not be empty');
    return { address: checkHandshakerAddress(option.trim(), 'handshakerServiceAddress'), explicit: true };
  }
  const full = env[HANDSHAKER_ADDRESS_ENV]?.trim();
  if (full) return { address: checkHandshakerAddress(full, HANDSHAKER_ADDRESS_ENV), explicit: true };
  const metadataHost = env[GCE_METADATA_HOST_ENV]?.trim();
  if (metadataHost) {
    const colon = metadataHost.lastIndexOf(':');
    const bracketed = metadataHost.endsWith(']');
    const host = colon > 0 && !bracketed ? metadataHost.slice(0, colon) : metadataHost;
    return { address: `${host}:${METADATA_HANDSHAKER_PORT}`, explicit: true };
  }
  return { address: DEFAULT_HANDSHAKER_SERVICE_ADDRESS, explicit: false };
}

/**
 * Fails closed off Google Cloud unless the user configured a handshaker: otherwise any local
 * process answering at the default name could impersonate the handshaker (docs/protocol.md §10.19).
 */
export function checkPlatform(handshaker: ResolvedHandshaker, reader?: ProductNameReader): void {
  if (handshaker.explicit || isRunningOnGcp(reader)) return;
  throw new AltsError(
    'UNTRUSTED_PLATFORM',
    `ALTS is only supported on Google Cloud: this machine is not a Google Compute Engine VM. ` +
      `Set the handshakerServiceAddress option or ${HANDSHAKER_ADDRESS_ENV} to use a local handshaker ` +
      `(for example the alts-emulator)`,
  );
}

export function maxConcurrentHandshakes(env: NodeJS.ProcessEnv = process.env): number {
  return readBoundedIntEnv(
    MAX_CONCURRENT_HANDSHAKES_ENV,
    DEFAULT_MAX_CONCURRENT_HANDSHAKES,
    1,
    MAX_CONCURRENT_HANDSHAKES_CEILING,
    env,
  );
}

/** Validates a user-given timeout: a positive integer number of milliseconds, at most 2 minutes. */
export function checkTimeout(name: string, value: number | undefined, defaultMs: number): number {
  if (value === undefined) return defaultMs;
  if (!Number.isInteger(value) || value <= 0 || value > MAX_HANDSHAKE_TIMEOUT_MS) {
    throw new AltsError(
      'INVALID_ARGUMENT',
      `${name} must be an integer in [1, ${MAX_HANDSHAKE_TIMEOUT_MS}] ms`,
    );
  }
  return value;
}
