// Identity bundles (README "Trust model"): everything one "VM" needs to speak for one service
// account and to recognise its peers, and nothing more: the identity's private key, its
// certificate (signed directly by the root: the chain is that one certificate) and the root's
// public key, the trust anchor. An emulator that serves handshakes loads bundles only; the root's
// private key stays with `init`/`issue`. A bundle is checked whole when loaded, so a forged or
// mismatched one stops the emulator at start-up with the reason instead of failing handshakes.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { sameServiceAccount } from '../common/identity.js';
import { quote } from '../common/quote.js';
import { keyIdOf, type LocalIdentity, type TrustAnchor, verifyCertificate } from '../protocol/certificate.js';
import { ed25519PrivateKeyFromPem, rawPublicKey } from '../protocol/keys.js';
import { readStateFile } from '../state/state-dir.js';

/** Names the file format; a bundle of a later, incompatible format is refused by name. */
const BUNDLE_FORMAT = 'alts-emulator identity bundle v1';
/** Our bundles are < 2 KiB (two keys, one certificate of at most ~1.2 KiB); anything bigger is not ours. */
const MAX_BUNDLE_BYTES = 64 * 1024;

interface BundleFile {
  format: string;
  serviceAccount: string;
  /** PKCS#8 PEM Ed25519 private key of the identity. */
  identityKey: string;
  /** Base64 of the identity certificate (README "Message formats"). */
  certificate: string;
  /** SPKI PEM Ed25519 public key of the trust root. */
  rootPublicKey: string;
}

/** A loaded bundle: an identity this emulator may speak for, and the root its peers must share. */
export interface IdentityBundle {
  readonly path: string;
  readonly identity: LocalIdentity;
  readonly anchor: TrustAnchor;
}

export function anchorOf(rootKey: KeyObject): TrustAnchor {
  const publicKey = rootKey.type === 'private' ? createPublicKey(rootKey) : rootKey;
  return { publicKey, keyId: keyIdOf(publicKey) };
}

/** The text of a bundle file. */
export function encodeBundle(identity: LocalIdentity, anchor: TrustAnchor): string {
  const file: BundleFile = {
    format: BUNDLE_FORMAT,
    serviceAccount: identity.serviceAccount,
    identityKey: identity.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    certificate: identity.certificate.toString('base64'),
    rootPublicKey: anchor.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

function field(file: Record<string, unknown>, name: keyof BundleFile): string {
  const value = file[name];
  if (typeof value !== 'string') throw new Error(`its ${name} is missing or not a string`);
  return value;
}

function parse(text: string): { serviceAccount: string; identity: LocalIdentity; anchor: TrustAnchor } {
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch {
    throw new Error('it is not JSON');
  }
  if (typeof file !== 'object' || file === null || (file as Partial<BundleFile>).format !== BUNDLE_FORMAT) {
    throw new Error(`it is not an identity bundle (format ${quote(BUNDLE_FORMAT)})`);
  }
  const fields = file as Record<string, unknown>;
  const serviceAccount = field(fields, 'serviceAccount');
  const rootKey = createPublicKey(field(fields, 'rootPublicKey'));
  if (rootKey.asymmetricKeyType !== 'ed25519') throw new Error('its root public key is not an Ed25519 key');
  const anchor = anchorOf(rootKey);
  const privateKey = ed25519PrivateKeyFromPem(field(fields, 'identityKey'));
  const certificate = Buffer.from(field(fields, 'certificate'), 'base64');
  // Signed by the bundle's own root: a certificate made up or signed by another root fails here.
  const certified = verifyCertificate(certificate, anchor, 'its certificate');
  if (certified.serviceAccount !== serviceAccount) {
    throw new Error(
      `its certificate is for ${quote(certified.serviceAccount)}, not ${quote(serviceAccount)} as the ` +
        'bundle says',
    );
  }
  if (!rawPublicKey(certified.identityKey).equals(rawPublicKey(privateKey))) {
    throw new Error('its identity key does not match the key its certificate vouches for');
  }
  return { serviceAccount, identity: { serviceAccount, privateKey, certificate }, anchor };
}

/**
 * Loads and checks the bundle at `path`: a private file of the user's (like an ssh key), whose
 * certificate its root signed for its identity key. With `serviceAccount`, the bundle must be that
 * account's (identity.ts's rule). Throws naming the file and the reason.
 */
export async function loadBundle(path: string, serviceAccount?: string): Promise<IdentityBundle> {
  const text = await readStateFile(path, 'private key', MAX_BUNDLE_BYTES);
  if (text === undefined) throw new Error(`identity bundle ${path} does not exist`);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(text);
  } catch (cause) {
    throw new Error(`refusing identity bundle ${path}: ${cause instanceof Error ? cause.message : cause}`, {
      cause,
    });
  }
  if (serviceAccount !== undefined && !sameServiceAccount(parsed.serviceAccount, serviceAccount)) {
    throw new Error(
      `refusing identity bundle ${path}: it holds the identity of ${quote(parsed.serviceAccount)}, ` +
        `not of ${quote(serviceAccount)}`,
    );
  }
  return { path, identity: parsed.identity, anchor: parsed.anchor };
}
