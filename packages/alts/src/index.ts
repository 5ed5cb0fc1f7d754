/**
 * ALTS for `@grpc/grpc-js`: {@link createAltsChannelCredentials} for clients,
 * {@link createAltsServer} for servers, {@link getAltsContext} for the peer's authenticated
 * service account, {@link clientAuthorizationInterceptor} to admit only some, and
 * {@link listenHealthCheck} for health checkers that cannot speak ALTS. Every failure is an
 * {@link AltsError} with a stable code ({@link ALTS_ERROR_STATUS} lists them with their gRPC
 * status and what to do). Install: `npm install @grpc-alts/alts @grpc/grpc-js@~1.14.0`.
 *
 * @packageDocumentation
 */
export { ALTS_ERROR_STATUS, AltsError, type AltsErrorCode, quoteUntrusted } from './errors.js';
export { checkClientAuthorization, clientAuthorizationInterceptor } from './grpc/authorization.js';
export { createAltsChannelCredentials } from './grpc/channel-credentials.js';
export { type AltsAuthContext, type CallWithAuthContext, getAltsContext } from './grpc/context.js';
export {
  createHandshakeFailureLog,
  type HandshakeFailureLog,
} from './grpc/handshake-failure-log.js';
export { type WaitForHandshakerOptions, waitForHandshaker } from './grpc/handshaker-probe.js';
export { type HealthCheckServer, type HealthService, listenHealthCheck } from './grpc/health.js';
export {
  type AltsChannelCredentialsOptions,
  type AltsCommonOptions,
  type AltsServerOptions,
  DEFAULT_HANDSHAKER_SERVICE_ADDRESS,
  GCE_METADATA_HOST_ENV,
  HANDSHAKER_ADDRESS_ENV,
  MAX_CONCURRENT_HANDSHAKES_ENV,
} from './grpc/options.js';
export { type AltsServer, createAltsServer } from './grpc/server.js';
export type { AltsPeerContext, RpcVersion, SecurityLevelName } from './handshake/result.js';
