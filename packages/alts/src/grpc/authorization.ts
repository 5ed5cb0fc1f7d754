import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
import { AltsError } from '../errors.js';
import { type CallWithAuthContext, getAltsContext } from './context.js';

/**
 * Normalises a list of allowed service accounts. Matching is case-insensitive, as grpc-go's
 * ClientAuthorizationCheck (strings.EqualFold): Google service-account emails are
 * case-insensitive, and an exact match would turn a casing slip into an outage.
 */
function allowedSet(serviceAccounts: readonly string[]): ReadonlySet<string> {
  if (!Array.isArray(serviceAccounts) || serviceAccounts.length === 0) {
    throw new AltsError('INVALID_ARGUMENT', 'at least one allowed client service account is needed');
  }
  for (const sa of serviceAccounts) {
    if (typeof sa !== 'string' || sa.trim() === '') {
      throw new AltsError('INVALID_ARGUMENT', 'allowed client service accounts must be non-empty strings');
    }
  }
  return new Set(serviceAccounts.map((sa) => sa.trim().toLowerCase()));
}

function check(call: CallWithAuthContext, allowed: ReadonlySet<string>): StatusObject {
  const context = getAltsContext(call);
  if (!context) {
    return {
      code: status.PERMISSION_DENIED,
      details: 'Peer ALTS AuthContext not found',
      metadata: new Metadata(),
    };
  }
  if (!allowed.has(context.peerServiceAccount.toLowerCase())) {
    return {
      code: status.PERMISSION_DENIED,
      details: `Client ${context.peerServiceAccount} is not authorized`,
      metadata: new Metadata(),
    };
  }
  return { code: status.OK, details: '', metadata: new Metadata() };
}

/**
 * grpc-java's `AuthorizationUtil.clientAuthorizationCheck`: OK when the call's ALTS peer is one
 * of `serviceAccounts` (case-insensitive), else PERMISSION_DENIED "Client <sa> is not authorized",
 * or PERMISSION_DENIED when the call has no ALTS context. It does not end the call.
 */
export function checkClientAuthorization(
  call: CallWithAuthContext,
  serviceAccounts: readonly string[],
): StatusObject {
  return check(call, allowedSet(serviceAccounts));
}

/**
 * A server interceptor (the Java sample's ClientAuthInterceptor) that ends every call whose ALTS
 * peer is not one of `serviceAccounts` with PERMISSION_DENIED before the handler runs.
 */
export function clientAuthorizationInterceptor(serviceAccounts: readonly string[]): ServerInterceptor {
  const allowed = allowedSet(serviceAccounts);
  return (_method, call: ServerInterceptingCallInterface) =>
    new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const verdict = check(call, allowed);
            if (verdict.code === status.OK) nextMetadata(metadata);
            else call.sendStatus(verdict);
          },
        }),
    });
}
