// The raw forms of the emulator's keys: X25519 ephemeral keys and Ed25519 signing keys travel as
// their 32 raw bytes (README.md "Message formats"); private keys are stored as PKCS#8 PEM.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

export const X25519_KEY_BYTES = 32;
export const ED25519_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

/** The raw 32-byte form of an X25519 or Ed25519 public (or private → its public) key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('not an OKP key');
  return Buffer.from(jwk.x, 'base64url');
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
