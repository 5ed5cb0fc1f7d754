// A trust root held in memory, for tests of the handshake state machines that need no state
// directory (trust.ts keeps the real one on disk).
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { issueCertificate, keyIdOf, type LocalIdentity, type TrustAnchor } from './certificate.js';

/** A fresh root: its anchor, and identities (key + certificate) it issues on demand. */
export function memoryTrustRoot(): {
  anchor: TrustAnchor;
  identity(serviceAccount: string): LocalIdentity;
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
  return { anchor, identity };
}
