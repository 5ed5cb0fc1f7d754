import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
import { AltsError, quoteUntrusted } from '../errors.js';
import { canonicalSet, serviceAccountIn } from '../handshake/identity.js';
import { type CallWithAuthContext, getAltsContext } from './context.js';

/**
 * The allowed service accounts under the project's one identity rule (ASCII letters folded,
 * anything else exact; docs/hardening.md 35). An empty list allows nobody, as in grpc-go.
 */
function allowedSet(serviceAccounts: readonly string[]): ReadonlySet<string> {
  if (!Array.isArray(serviceAccounts)) {
    throw new AltsError('INVALID_ARGUMENT', 'the allowed client service accounts must be a list');
  }
  for (const sa of serviceAccounts) {
    if (typeof sa !== 'string' || sa.trim() === '') {
      throw new AltsError('INVALID_ARGUMENT', 'allowed client service accounts must be non-empty strings');
    }
  }
  return canonicalSet(serviceAccounts.map((sa) => sa.trim()));
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
  if (!serviceAccountIn(context.peerServiceAccount, allowed)) {
    return {
      code: status.PERMISSION_DENIED,
      details: `Client ${quoteUntrusted(context.peerServiceAccount)} is not authorized`,
      metadata: new Metadata(),
    };
  }
  return { code: status.OK, details: '', metadata: new Metadata() };
}

/**
 * grpc-java's `AuthorizationUtil.clientAuthorizationCheck`: OK when the call's ALTS peer is one of
 * `serviceAccounts` (ASCII letters case-insensitive), else PERMISSION_DENIED "Client <sa> is not authorized",
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
