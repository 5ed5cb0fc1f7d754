import type { ServerInterceptingCallInterface } from '@grpc/grpc-js';
import type { AltsPeerContext } from '../handshake/result.js';

/** grpc-js's AuthContext type (not exported from its root). */
export type AuthContext = ReturnType<ServerInterceptingCallInterface['getAuthContext']>;

/** What `call.getAuthContext()` returns on an ALTS connection. */
export interface AltsAuthContext extends AuthContext {
  /** Always `'alts'`. */
  transportSecurityType: 'alts';
  /** The connection's ALTS context; {@link getAltsContext} reads it from a call. */
  altsContext: AltsPeerContext;
}

/**
 * Auth contexts this library created. A client cannot forge an entry: identity comes from this
 * set, never from anything the peer sends (metadata, headers).
 */
const issued = new WeakSet<object>();

export function createAltsAuthContext(context: AltsPeerContext): AltsAuthContext {
  const auth: AltsAuthContext = Object.freeze({
    transportSecurityType: 'alts' as const,
    altsContext: context,
  });
  issued.add(auth);
  return auth;
}

/** Anything that exposes grpc-js's getAuthContext(): handler calls and interceptor calls. */
export interface CallWithAuthContext {
  /** grpc-js's auth context of the call's connection. */
  getAuthContext(): AuthContext;
}

/**
 * The ALTS context of the connection a server call arrived on (unary, streaming, or inside a
 * server interceptor), or undefined when the call did not come over ALTS.
 */
export function getAltsContext(call: CallWithAuthContext): AltsPeerContext | undefined {
  const auth = call.getAuthContext();
  return issued.has(auth) ? (auth as AltsAuthContext).altsContext : undefined;
}
