/**
 * Every user-facing option and environment variable, resolved in one place: defaults, bounds and
 * the INVALID_ARGUMENT naming the option. Credentials, the server and the handshaker probe call a
 * resolve function once, at construction, and hand resolved values down; nothing below reads an
 * option or the environment. Protocol constants (frame size bounds, key sizes) stay in constants.ts.
 */
import type { ServerInterceptor, ServerOptions } from '@grpc/grpc-js';
import { AltsError, quoteUntrusted } from '../errors.js';
import { isRunningOnGcp, type ProductNameReader } from '../handshake/platform.js';
import type { AltsPeerContext } from '../handshake/result.js';
import { checkFrameSize } from '../record/frame.js';
import { assertGrpcJsCompatible } from './compat.js';

// ---- the handshaker address ----

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

// ---- bounds and defaults ----

/** Concurrent handshakes per direction: env name, default and bounds as grpc-go (docs/protocol.md §3.11). */
export const MAX_CONCURRENT_HANDSHAKES_ENV = 'GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES';
export const DEFAULT_MAX_CONCURRENT_HANDSHAKES = 100;
const MAX_CONCURRENT_HANDSHAKES_CEILING = 100;

/** grpc-java's DoHandshake deadline (AltsHandshakerStub.HANDSHAKE_RPC_DEADLINE_SECS = 20). */
export const DEFAULT_CLIENT_HANDSHAKE_TIMEOUT_MS = 20_000;
/** grpc-go's server handshake context (alts.go defaultTimeout = 30 s). */
export const DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS = 30_000;
/** Upper bound of every timeout option: C-core's and java's server default (2 min). */
export const MAX_HANDSHAKE_TIMEOUT_MS = 120_000;

/**
 * The `max_frame_size` we advertise: grpc-java's 128 KiB (C-core advertises 1 MiB). It bounds the
 * undecrypted record we hold per connection; larger frames buy no throughput (docs/performance.md).
 * Inbound frames up to MAX_FRAME_LENGTH_FIELD are still accepted.
 */
export const DEFAULT_MAX_FRAME_SIZE = 128 * 1024;

/**
 * Connections a server handshakes at once, from all peers: 10 × the 100 handshake slots
 * (docs/protocol.md §3.11), so a burst of legitimate connects queues instead of being refused,
 * while an unauthenticated flood costs at most this many sockets and read buffers.
 */
export const DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS = 1_000;
/** One source address may hold at most half of them, so other peers always find room. */
export const DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS = 500;
/** Upper bound of both options: the process's file descriptors run out long before. */
export const MAX_UNAUTHENTICATED_CONNECTIONS_CEILING = 100_000;

/** How long a silent peer may keep a connection: see {@link AltsServerOptions.firstMessageTimeoutMs}. */
export const DEFAULT_FIRST_MESSAGE_TIMEOUT_MS = 10_000;
/**
 * How long a peer that owes its next handshake message may hold a slot: a legitimate peer answers
 * within its round trip plus one to its own handshaker; a replayed first message holds one this
 * long at most, and only 1 s of it while a poorer source waits (limiter; docs/hardening.md 40).
 */
export const DEFAULT_PEER_MESSAGE_TIMEOUT_MS = 5_000;

/** Time for a handshaker started alongside the server (a local recipe, a container) to come up. */
export const DEFAULT_HANDSHAKER_WAIT_MS = 10_000;

// ---- the options ----

/** Options both sides share. */
export interface AltsCommonOptions {
  /**
   * The ALTS handshaker service, `host:port` (or a gRPC target with a port, or `unix:/path`; an
   * address without a port throws INVALID_ARGUMENT rather than meaning port 443). Default:
   * `ALTS_HANDSHAKER_SERVICE_ADDRESS`, else `GCE_METADATA_HOST` (host part, port 8080), else
   * `metadata.google.internal.:8080`. Naming an address (here or in either variable) is also the
   * opt-in to run ALTS off Google Cloud.
   */
  handshakerServiceAddress?: string;
  /** Handshake deadline in ms, queueing included (client default 20 000, server 30 000; at most 120 000). */
  handshakeTimeoutMs?: number;
  /** The max frame size we advertise, in bytes (default 131 072 as grpc-java; 16 384 to 1 048 576). */
  maxFrameSize?: number;
}

/** Options of `createAltsChannelCredentials`. */
export interface AltsChannelCredentialsOptions extends AltsCommonOptions {
  /**
   * Service accounts the server may run as (grpc-java `addTargetServiceAccount`): the handshaker
   * refuses a server outside the list. Empty: any server the handshaker authenticates.
   */
  targetServiceAccounts?: readonly string[];
  /** Called after each successful handshake with the server's ALTS context and the channel target. */
  onHandshake?: (context: AltsPeerContext, target: string) => void;
}

/** Options of `createAltsServer`. */
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

export interface ResolvedHandshaker {
  address: string;
  /** True when the user named the address (option or environment): their opt-in off Google Cloud. */
  explicit: boolean;
}

export interface ResolvedCommon {
  handshaker: ResolvedHandshaker;
  timeoutMs: number;
  maxFrameSize: number;
  /** Size of this direction's process-wide handshake limiter, from the environment. */
  maxConcurrentHandshakes: number;
}

export interface ResolvedClientOptions {
  common: ResolvedCommon;
  targetServiceAccounts: readonly string[];
  onHandshake: AltsChannelCredentialsOptions['onHandshake'];
}

export interface ResolvedServerOptions {
  common: ResolvedCommon;
  interceptors: ServerInterceptor[];
  serverOptions: AltsServerOptions['serverOptions'];
  onHandshakeFailure: AltsServerOptions['onHandshakeFailure'];
  maxUnauthenticatedConnections: number;
  maxUnauthenticatedConnectionsPerAddress: number;
  firstMessageTimeoutMs: number;
  peerMessageTimeoutMs: number;
}

// ---- resolution ----

/** Throws INVALID_ARGUMENT naming the option unless `value` is an integer in [min, max]. */
function checkInteger(name: string, value: number, min: number, max: number, unit = ''): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new AltsError(
      'INVALID_ARGUMENT',
      `${name} must be an integer in [${min}, ${max}]${unit}, got ${quoteUntrusted(String(value))}`,
    );
  }
  return value;
}

/** Validates a user-given timeout: a positive integer number of milliseconds, at most 2 minutes. */
export function checkTimeout(name: string, value: number | undefined, defaultMs: number): number {
  return value === undefined ? defaultMs : checkInteger(name, value, 1, MAX_HANDSHAKE_TIMEOUT_MS, ' ms');
}

function checkCount(name: string, value: number | undefined, defaultValue: number): number {
  if (value === undefined) return defaultValue;
  return checkInteger(name, value, 1, MAX_UNAUTHENTICATED_CONNECTIONS_CEILING);
}

function checkFunction<T>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new AltsError('INVALID_ARGUMENT', `${name} must be a function`);
  }
  return value;
}

/**
 * Reads an integer environment knob, bounded to [min, max]. A missing or unparsable value gives
 * the default; an out-of-range value is clamped (grpc-go `uint64FromEnv` does the same).
 */
function readBoundedIntEnv(
  name: string,
  defaultValue: number,
  min: number,
  max: number,
  env: NodeJS.ProcessEnv,
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '' || !/^\d+$/.test(raw)) return defaultValue;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) return max;
  return Math.min(max, Math.max(min, value));
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
 * alts-emulator's default). `name` is where the address came from.
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
    `${name} "${quoteUntrusted(address)}" is not a host:port to dial: ` +
      `write it as "${quoteUntrusted(example)}" (the handshaker listens on port ` +
      `${METADATA_HANDSHAKER_PORT} on Google Cloud and by default in alts-emulator)`,
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

/** Validates options up front: bad input fails at construction, not at the first connection. */
function resolveCommon(options: AltsCommonOptions, defaultTimeoutMs: number): ResolvedCommon {
  assertGrpcJsCompatible();
  if (typeof options !== 'object' || options === null) {
    throw new AltsError('INVALID_ARGUMENT', 'ALTS options must be an object');
  }
  const handshaker = resolveHandshakerAddress(options.handshakerServiceAddress);
  checkPlatform(handshaker);
  const maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  checkFrameSize('maxFrameSize', maxFrameSize);
  return {
    handshaker,
    timeoutMs: checkTimeout('handshakeTimeoutMs', options.handshakeTimeoutMs, defaultTimeoutMs),
    maxFrameSize,
    maxConcurrentHandshakes: maxConcurrentHandshakes(),
  };
}

/** The options of `createAltsChannelCredentials`, resolved (INVALID_ARGUMENT, UNTRUSTED_PLATFORM). */
export function resolveClientOptions(options: AltsChannelCredentialsOptions): ResolvedClientOptions {
  const common = resolveCommon(options, DEFAULT_CLIENT_HANDSHAKE_TIMEOUT_MS);
  const targets = options.targetServiceAccounts ?? [];
  if (!Array.isArray(targets) || targets.some((t) => typeof t !== 'string' || t.trim() === '')) {
    throw new AltsError('INVALID_ARGUMENT', 'targetServiceAccounts must be a list of non-empty strings');
  }
  return {
    common,
    targetServiceAccounts: Object.freeze(targets.map((t) => t.trim())),
    onHandshake: checkFunction('onHandshake', options.onHandshake),
  };
}

/** The options of `createAltsServer`, resolved (INVALID_ARGUMENT, UNTRUSTED_PLATFORM). */
export function resolveServerOptions(options: AltsServerOptions): ResolvedServerOptions {
  const common = resolveCommon(options, DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS);
  return {
    common,
    interceptors: options.interceptors ?? [],
    serverOptions: options.serverOptions,
    onHandshakeFailure: checkFunction('onHandshakeFailure', options.onHandshakeFailure),
    maxUnauthenticatedConnections: checkCount(
      'maxUnauthenticatedConnections',
      options.maxUnauthenticatedConnections,
      DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS,
    ),
    maxUnauthenticatedConnectionsPerAddress: checkCount(
      'maxUnauthenticatedConnectionsPerAddress',
      options.maxUnauthenticatedConnectionsPerAddress,
      DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS,
    ),
    firstMessageTimeoutMs: checkTimeout(
      'firstMessageTimeoutMs',
      options.firstMessageTimeoutMs,
      DEFAULT_FIRST_MESSAGE_TIMEOUT_MS,
    ),
    peerMessageTimeoutMs: checkTimeout(
      'peerMessageTimeoutMs',
      options.peerMessageTimeoutMs,
      DEFAULT_PEER_MESSAGE_TIMEOUT_MS,
    ),
  };
}

/** `waitForHandshaker`'s timeout option, resolved. */
export function resolveHandshakerWaitMs(timeoutMs: number | undefined): number {
  return checkTimeout('timeoutMs', timeoutMs, DEFAULT_HANDSHAKER_WAIT_MS);
}
