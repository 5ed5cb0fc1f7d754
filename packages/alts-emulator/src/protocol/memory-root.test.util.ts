// A trust root held in memory, for tests of the handshake state machines that need no state
// directory (trust.ts keeps the real one on disk).
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { issueCertificate, keyIdOf, type LocalIdentity, type TrustAnchor } from './certificate.js';

/**
 * A fresh root: its anchor, identities (key + certificate) it issues on demand, and certificates
 * for a given identity key (the same arguments give the same bytes).
 */
export function memoryTrustRoot(): {
  anchor: TrustAnchor;
  identity(serviceAccount: string): LocalIdentity;
  certificate(serviceAccount: string, identityKey: KeyObject): Buffer;
} {
  const { privateKey } = generateKeyPairSync('ed25519');
  const anchor: TrustAnchor = { publicKey: createPublicKey(privateKey), keyId: keyIdOf(privateKey) };
  const identity = (serviceAccount: string): LocalIdentity => {
    const pair = generateKeyPairSync('ed25519');
    return {
      serviceAccount,
      privateKey: pair.privateKey,
      certificate: issueCertificate(privateKey, serviceAccount, pair.publicKey),
    };
  };
  const certificate = (serviceAccount: string, identityKey: KeyObject) =>
    issueCertificate(privateKey, serviceAccount, identityKey);
  return { anchor, identity, certificate };
}
