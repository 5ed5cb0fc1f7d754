// The policy a handshake must pass besides authentication: the local identity must be one this
// emulator holds a key for, the server must be among the client's target identities
// (docs/protocol.md §7.3), and neither side's service account may be disabled (README "IAM").
import { status } from '@grpc/grpc-js';
import type { Identity } from '@grpc-alts/handshaker-proto';
import { sameServiceAccount } from '../common/identity.js';
import { quote, quoteList } from '../common/quote.js';
import type { LocalIdentity } from '../protocol/certificate.js';
import { HandshakeError, quoteError } from '../protocol/errors.js';
import type { DisabledServiceAccounts } from '../state/iam.js';

function describeIdentity(identity: Identity): string {
  if (identity.serviceAccount !== undefined) return quote(identity.serviceAccount);
  if (identity.hostname !== undefined) return `hostname ${quote(identity.hostname)}`;
  return '(empty identity)';
}

/**
 * Honours a requested local identity only if this emulator holds its key (as on a GCE VM); with
 * none requested, `fallback` is the local identity.
 */
export function pickLocalIdentity(
  held: readonly LocalIdentity[],
  requested: readonly Identity[],
  fallback: string,
): LocalIdentity {
  const find = (sa: string | undefined) =>
    sa === undefined ? undefined : held.find((identity) => sameServiceAccount(identity.serviceAccount, sa));
  const chosen =
    requested.length === 0
      ? find(fallback)
      : requested.map((identity) => find(identity.serviceAccount)).find((identity) => identity !== undefined);
  if (chosen === undefined) {
    throw new HandshakeError(
      status.PERMISSION_DENIED,
      `this handshaker cannot speak for local identity ${requested.map(describeIdentity).join(' or ')}; ` +
        `it holds ${quoteList(held.map((identity) => identity.serviceAccount))}`,
    );
  }
  return chosen;
}

/** Throws unless `serviceAccount` is enabled; an unreadable IAM state fails closed. */
export async function checkEnabled(
  disabledServiceAccounts: () => Promise<DisabledServiceAccounts>,
  serviceAccount: string,
  whose: 'local' | 'peer',
): Promise<void> {
  let disabled: DisabledServiceAccounts;
  try {
    disabled = await disabledServiceAccounts();
  } catch (cause) {
    // Fail closed: an unreadable IAM state must not let a disabled account through.
    throw new HandshakeError(status.INTERNAL, `cannot read the IAM state: ${quoteError(cause)}`, { cause });
  }
  if (disabled.has(serviceAccount)) {
    const who = whose === 'local' ? 'the local' : "the peer's";
    throw new HandshakeError(
      status.PERMISSION_DENIED,
      `IAM: ${who} service account ${quote(serviceAccount)} is disabled`,
    );
  }
}

/** Throws unless the server is among the client's target identities (none listed: any server). */
export function checkTarget(targets: readonly Identity[], serverServiceAccount: string): void {
  if (targets.length === 0) return;
  const named = (t: Identity) =>
    t.serviceAccount !== undefined && sameServiceAccount(t.serviceAccount, serverServiceAccount);
  if (targets.some(named)) return;
  throw new HandshakeError(
    status.PERMISSION_DENIED,
    `the server's identity ${quote(serverServiceAccount)} is not among the target identities ` +
      `[${targets.map(describeIdentity).join(', ')}]`,
  );
}
