// Service accounts: which strings the emulator accepts as one, and when two name the same account.
import { quote } from './quote.js';

/** Longest service account accepted anywhere (real ones are e-mail addresses of < 100 bytes). */
export const MAX_IDENTITY_BYTES = 1024;

/** Visible ASCII, U+0021-U+007E: what service-account e-mail addresses are made of. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * The canonical form of `sa`, the one compared, or undefined if it matches nothing. The one rule
 * the emulator compares service accounts by (IAM, target identities, requested local identities),
 * the same as the library's authorization (docs/hardening.md 35): ASCII letters A-Z fold to a-z,
 * and an identity with anything outside visible ASCII (a control character, a space, any
 * non-ASCII character) matches nothing, not even itself. Unicode folding would let U+212A KELVIN SIGN stand
 * for 'k' (grpc-go's strings.EqualFold does); when IAM and authorization read one identity
 * differently, disabling an account does not shut it out.
 */
export function canonicalServiceAccount(sa: string): string | undefined {
  return VISIBLE_ASCII.test(sa) ? sa.replace(/[A-Z]/g, (c) => c.toLowerCase()) : undefined;
}

/** Whether `a` and `b` have the same {@link canonicalServiceAccount} (never when either has none). */
export function sameServiceAccount(a: string, b: string): boolean {
  const key = canonicalServiceAccount(a);
  return key !== undefined && key === canonicalServiceAccount(b);
}

/** Throws unless `sa` may be certified, disabled or enabled: non-empty, bounded, visible ASCII. */
export function checkServiceAccount(sa: string): void {
  if (sa.length === 0) throw new Error('service account must not be empty');
  if (Buffer.byteLength(sa, 'utf8') > MAX_IDENTITY_BYTES) {
    throw new Error(`service account is longer than ${MAX_IDENTITY_BYTES} bytes`);
  }
  if (canonicalServiceAccount(sa) === undefined) {
    throw new Error(
      `service account ${quote(sa)} has a character outside visible ASCII (U+0021-U+007E): ` +
        'it would match no identity',
    );
  }
}
