export { ALTS_ERROR_STATUS, AltsError, type AltsErrorCode, quoteUntrusted } from './errors.js';
export { checkClientAuthorization, clientAuthorizationInterceptor } from './grpc/authorization.js';
export { createAltsChannelCredentials } from './grpc/channel-credentials.js';
export { type AltsAuthContext, type CallWithAuthContext, getAltsContext } from './grpc/context.js';
export {
  createHandshakeFailureLog,
  type HandshakeFailureLog,
} from './grpc/handshake-failure-log.js';
export { type WaitForHandshakerOptions, waitForHandshaker } from './grpc/handshaker-probe.js';
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
