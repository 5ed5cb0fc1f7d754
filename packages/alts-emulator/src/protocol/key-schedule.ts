// The key schedule of the peer-to-peer handshake (README.md "Message formats"): X25519 key agreement,
// the transcript hash, the Finished MAC keys and MACs, the transcript signatures and the
// key_data of the result. Pure functions over buffers and KeyObjects.
import {
  createHash,
  createHmac,
  diffieHellman,
  hkdfSync,
  type KeyObject,
  sign,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import { unauthenticated } from './errors.js';
import { publicKeyFromRaw } from './keys.js';

/**
 * key_data length in the result. 44 bytes are needed for ALTSRP_GCM_AES128_REKEY; the real
 * service is said to return 128 (grpc-go comment, docs/protocol.md §3.13), so clients must truncate.
 */
export const KEY_DATA_BYTES = 128;
export const MAC_BYTES = 32;

// Domain separation: every signature, MAC key and output key has its own label (certificate.ts
// has the certificate's).
const SERVER_SIGNATURE_LABEL = Buffer.from('alts-emulator v1 server signature\0', 'latin1');
const CLIENT_SIGNATURE_LABEL = Buffer.from('alts-emulator v1 client signature\0', 'latin1');
const SERVER_FINISHED_INFO = Buffer.from('alts-emulator v1 server finished', 'latin1');
const CLIENT_FINISHED_INFO = Buffer.from('alts-emulator v1 client finished', 'latin1');
const KEY_DATA_INFO = Buffer.from('alts-emulator v1 key data', 'latin1');

export function transcriptHash(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** X25519 with the peer's raw key; rejects the all-zero result of a small-order point. */
export function sharedSecret(ephemeralPrivateKey: KeyObject, peerRawKey: Buffer): Buffer {
  let secret: Buffer;
  try {
    secret = diffieHellman({
      privateKey: ephemeralPrivateKey,
      publicKey: publicKeyFromRaw('X25519', peerRawKey),
    });
  } catch (cause) {
    throw unauthenticated(`key agreement failed: ${String(cause)}`);
  }
  if (secret.every((b) => b === 0))
    throw unauthenticated('key agreement failed: peer sent a small-order key');
  return secret;
}

function hkdf(secret: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, info, length));
}

/** Finished MAC keys, bound to ClientInit || ServerInit. */
export function finishedKeys(secret: Buffer, initHash: Buffer): { server: Buffer; client: Buffer } {
  return {
    server: hkdf(secret, initHash, SERVER_FINISHED_INFO, MAC_BYTES),
    client: hkdf(secret, initHash, CLIENT_FINISHED_INFO, MAC_BYTES),
  };
}

/** The result's key_data, bound to the whole transcript. */
export function keyData(secret: Buffer, fullTranscriptHash: Buffer): Buffer {
  return hkdf(secret, fullTranscriptHash, KEY_DATA_INFO, KEY_DATA_BYTES);
}

export function mac(key: Buffer, hash: Buffer): Buffer {
  return createHmac('sha256', key).update(hash).digest();
}

export function macEquals(expected: Buffer, received: Buffer): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}

function signatureLabel(role: 'server' | 'client'): Buffer {
  return role === 'server' ? SERVER_SIGNATURE_LABEL : CLIENT_SIGNATURE_LABEL;
}

export function signTranscript(role: 'server' | 'client', hash: Buffer, key: KeyObject): Buffer {
  return sign(null, Buffer.concat([signatureLabel(role), hash]), key);
}

export function verifyTranscript(
  role: 'server' | 'client',
  hash: Buffer,
  key: KeyObject,
  signature: Buffer,
): boolean {
  return verify(null, Buffer.concat([signatureLabel(role), hash]), key, signature);
}
