// The raw forms of the emulator's keys: X25519 ephemeral keys and Ed25519 signing keys travel as
// their 32 raw bytes (README.md "Message formats"); private keys are stored as PKCS#8 PEM.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

export const X25519_KEY_BYTES = 32;
export const ED25519_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

/** RFC 8410: an X25519 or Ed25519 SubjectPublicKeyInfo is a 12-byte DER header, then the 32-byte key. */
const OKP_SPKI_HEADER_BYTES = 12;

/**
 * The raw 32-byte form of an X25519 or Ed25519 public (or private → its public) key. Read from the
 * DER SubjectPublicKeyInfo, not a JWK: Node 20's JWK export of a key from generateKeyPairSync can
 * deadlock the process when a GC runs inside it (gdb: ExportJWKEdKey → GC → ~KeyGenJob locks the
 * mutex ExportJWK holds), which hung emulator tests and benchmark emulators for good.
 */
export function rawPublicKey(key: KeyObject): Buffer {
  const der = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
  if (der.length !== OKP_SPKI_HEADER_BYTES + X25519_KEY_BYTES) throw new Error('not an OKP key');
  return der.subarray(OKP_SPKI_HEADER_BYTES);
}

export function publicKeyFromRaw(crv: 'X25519' | 'Ed25519', raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv, x: raw.toString('base64url') }, format: 'jwk' });
}

/** Reads a PKCS#8 PEM Ed25519 private key (trust root or identity key files). */
export function ed25519PrivateKeyFromPem(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 private key');
  return key;
}
