/**
 * The canonical form of `identity`, the one compared, or undefined if it matches nothing: the one
 * rule this project compares service accounts by (docs/hardening.md 35). Google
 * service-account emails are ASCII and case-insensitive, so ASCII letters are folded; anything
 * outside printable ASCII makes the identity match nothing. Unicode case folding would let
 * U+212A KELVIN SIGN stand for `k` (grpc-go's strings.EqualFold does), and an identity the IAM
 * check and the authorization check read differently is a bypass.
 */
export function canonicalServiceAccount(identity: string): string | undefined {
  return /^[\x21-\x7e]+$/.test(identity) ? identity.replace(/[A-Z]/g, (c) => c.toLowerCase()) : undefined;
}

/** True when `identity` is, under {@link canonicalServiceAccount}, one of `allowed` (already canonical). */
export function serviceAccountIn(identity: string, allowed: ReadonlySet<string>): boolean {
  const canonical = canonicalServiceAccount(identity);
  return canonical !== undefined && allowed.has(canonical);
}

/** The {@link canonicalServiceAccount} forms of a list; entries that match nothing are dropped. */
export function canonicalSet(identities: readonly string[]): ReadonlySet<string> {
  const set = new Set<string>();
  for (const identity of identities) {
    const canonical = canonicalServiceAccount(identity);
    if (canonical !== undefined) set.add(canonical);
  }
  return set;
}
