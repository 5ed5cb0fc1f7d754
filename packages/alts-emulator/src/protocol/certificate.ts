// Identity certificates (README.md "Trust model"): the trust root signs one certificate per
// service account, binding it to that identity's Ed25519 key; a peer's certificate is checked
// against the root before its service account means anything.
import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import { canonicalServiceAccount, checkServiceAccount, MAX_IDENTITY_BYTES } from '../common/identity.js';
import { malformed, unauthenticated } from './errors.js';
import { ED25519_KEY_BYTES, ED25519_SIGNATURE_BYTES, publicKeyFromRaw, rawPublicKey } from './keys.js';
import { Reader, Writer } from './wire.js';

/** Root key id: the first 8 bytes of SHA-256 of the root's raw public key (diagnostics only). */
const KEY_ID_BYTES = 8;
const CERTIFICATE_VERSION = 1;
/** Domain separation: the root's signature covers this label first (key-schedule.ts has the others). */
const CERTIFICATE_LABEL = Buffer.from('alts-emulator v1 identity certificate\0', 'latin1');

/**
 * Certificates remembered as verified, per trust anchor. A handshake verifies its peer's
 * certificate, and peers present the same one every time: a hit skips the Ed25519 verify and
 * the key import (docs/performance.md). 1 024 covers every identity of a large test fleet in at
 * most 1 024 × (MAX_CERTIFICATE_BYTES, 1.1 KiB, + a KeyObject): under 2 MiB per anchor.
 */
export const MAX_VERIFIED_CERTIFICATES = 1024;

/** Longest encoded certificate: fixed fields + the longest identity. */
export const MAX_CERTIFICATE_BYTES =
  1 + KEY_ID_BYTES + ED25519_KEY_BYTES + 2 + MAX_IDENTITY_BYTES + ED25519_SIGNATURE_BYTES;

export function keyIdOf(rootPublicKey: KeyObject): Buffer {
  return createHash('sha256').update(rawPublicKey(rootPublicKey)).digest().subarray(0, KEY_ID_BYTES);
}

/** The trust root as verifiers see it. */
export interface TrustAnchor {
  readonly publicKey: KeyObject;
  readonly keyId: Buffer;
}

/** An identity this emulator may speak for: its signing key and the certificate for it. */
export interface LocalIdentity {
  readonly serviceAccount: string;
  readonly privateKey: KeyObject;
  readonly certificate: Buffer;
}

/** What a valid certificate vouches for. */
interface Certified {
  readonly serviceAccount: string;
  readonly identityKey: KeyObject;
}

/**
 * Verified certificates by anchor object, then by their exact bytes (latin1 maps each byte to one
 * character), oldest use first. Keyed by the anchor object, not its key id: a hit means these very
 * bytes passed every check of {@link verifyCertificate} against this very root. Failures are not
 * remembered, so a bad certificate is checked (and refused) in full every time.
 */
const verified = new WeakMap<TrustAnchor, Map<string, Certified>>();

function remembered(anchor: TrustAnchor, key: string): Certified | undefined {
  const cache = verified.get(anchor);
  const hit = cache?.get(key);
  if (cache === undefined || hit === undefined) return undefined;
  // Re-inserted to mark it most recently used.
  cache.delete(key);
  cache.set(key, hit);
  return hit;
}

function remember(anchor: TrustAnchor, key: string, certified: Certified): void {
  let cache = verified.get(anchor);
  if (cache === undefined) {
    cache = new Map();
    verified.set(anchor, cache);
  }
  cache.set(key, certified);
  if (cache.size > MAX_VERIFIED_CERTIFICATES) cache.delete(cache.keys().next().value as string);
}

/** How many certificates are remembered as verified against `anchor`. */
export function verifiedCertificatesForTesting(anchor: TrustAnchor): number {
  return verified.get(anchor)?.size ?? 0;
}

function certificateBody(keyId: Buffer, identityKey: Buffer, serviceAccount: string): Buffer {
  return new Writer().u8(CERTIFICATE_VERSION).fixed(keyId).fixed(identityKey).str16(serviceAccount).build();
}

/** Issues the certificate binding `serviceAccount` to `identityPublicKey`, signed by the root. */
export function issueCertificate(
  rootPrivateKey: KeyObject,
  serviceAccount: string,
  identityPublicKey: KeyObject,
): Buffer {
  checkServiceAccount(serviceAccount);
  const body = certificateBody(keyIdOf(rootPrivateKey), rawPublicKey(identityPublicKey), serviceAccount);
  const signature = sign(null, Buffer.concat([CERTIFICATE_LABEL, body]), rootPrivateKey);
  return Buffer.concat([body, signature]);
}

/**
 * Checks a certificate against the trust anchor; returns the identity it vouches for. `what`
 * names the certificate in errors: a peer's in a handshake, a bundle's at load time. The same
 * bytes already verified against the same anchor are answered from memory: the checks depend on
 * nothing else (certificates carry no expiry; IAM is checked by policy.ts on every handshake).
 */
export function verifyCertificate(
  certificate: Buffer,
  anchor: TrustAnchor,
  what = "the peer's certificate",
): Certified {
  const key = certificate.toString('latin1');
  const hit = remembered(anchor, key);
  if (hit !== undefined) return hit;
  const certified = verifyUncached(certificate, anchor, what);
  remember(anchor, key, certified);
  return certified;
}

function verifyUncached(certificate: Buffer, anchor: TrustAnchor, what: string): Certified {
  const r = new Reader(certificate, 'certificate');
  const version = r.u8();
  if (version !== CERTIFICATE_VERSION) throw malformed(`unsupported certificate version ${version}`);
  const keyId = r.fixed(KEY_ID_BYTES);
  const identityKey = r.fixed(ED25519_KEY_BYTES);
  const serviceAccount = r.str16(MAX_IDENTITY_BYTES, 'service account');
  const bodyEnd = r.position;
  const signature = r.fixed(ED25519_SIGNATURE_BYTES);
  r.end();
  // The service account is not named in these errors: until the root's signature is checked it
  // is whatever the peer wrote (docs/hardening.md 33).
  if (!keyId.equals(anchor.keyId)) {
    throw unauthenticated(
      `${what} was issued by another trust root ` +
        `(root key id ${keyId.toString('hex')}, ours ${anchor.keyId.toString('hex')})`,
    );
  }
  const signed = Buffer.concat([CERTIFICATE_LABEL, certificate.subarray(0, bodyEnd)]);
  if (!verify(null, signed, anchor.publicKey, signature)) {
    throw unauthenticated(`${what} has a bad signature`);
  }
  if (canonicalServiceAccount(serviceAccount) === undefined) {
    throw unauthenticated(
      `${what} is for a service account outside visible ASCII, which matches no identity`,
    );
  }
  return { serviceAccount, identityKey: publicKeyFromRaw('Ed25519', identityKey) };
}
