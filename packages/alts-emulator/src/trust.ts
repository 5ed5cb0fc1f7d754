// Trust material in the state directory (README "Trust model"): the root key and one identity key +
// certificate per service account, created on first use.
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import {
  issueCertificate,
  keyIdOf,
  type LocalIdentity,
  type TrustAnchor,
  verifyCertificate,
} from './certificate.js';
import { checkServiceAccount } from './identity.js';
import { ed25519PrivateKeyFromPem, rawPublicKey } from './keys.js';
import { quote } from './quote.js';
import { createExclusive, openPrivateDir, readStateFile } from './state-dir.js';

const ROOT_KEY_FILE = 'root-key.pem';
const IDENTITIES_DIR = 'identities';
/** Our key files are < 4 KiB; anything bigger is not ours and is not read into memory. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export interface TrustRoot {
  readonly anchor: TrustAnchor;
  readonly privateKey: KeyObject;
}

function pem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Loads the trust root of `stateDir`, creating the directory and a new root on first use. */
export async function openTrustRoot(stateDir: string): Promise<TrustRoot> {
  await openPrivateDir(stateDir);
  await openPrivateDir(join(stateDir, IDENTITIES_DIR));
  const path = join(stateDir, ROOT_KEY_FILE);
  const read = () => readStateFile(path, 'private key', MAX_KEY_FILE_BYTES);
  let text = await read();
  if (text === undefined) {
    const fresh = pem(generateKeyPairSync('ed25519').privateKey);
    text = (await createExclusive(path, fresh)) ? fresh : await read();
    if (text === undefined) throw new Error(`${path} vanished while being created`);
  }
  const privateKey = ed25519PrivateKeyFromPem(text);
  return { privateKey, anchor: { publicKey: createPublicKey(privateKey), keyId: keyIdOf(privateKey) } };
}

interface IdentityFile {
  serviceAccount: string;
  privateKey: string;
  certificate: string;
}

function identityPath(stateDir: string, serviceAccount: string): string {
  // Hashed so any service account string makes a safe file name.
  const name = createHash('sha256').update(serviceAccount).digest('hex').slice(0, 32);
  return join(stateDir, IDENTITIES_DIR, `${name}.json`);
}

function parseIdentity(path: string, text: string, root: TrustRoot, serviceAccount: string): LocalIdentity {
  const file = JSON.parse(text) as Partial<IdentityFile>;
  if (typeof file.privateKey !== 'string' || typeof file.certificate !== 'string') {
    throw new Error(`${path} is not an identity file`);
  }
  const privateKey = ed25519PrivateKeyFromPem(file.privateKey);
  const certificate = Buffer.from(file.certificate, 'base64');
  let certified: ReturnType<typeof verifyCertificate>;
  try {
    certified = verifyCertificate(certificate, root.anchor);
  } catch (cause) {
    throw new Error(
      `${path} was not issued by the trust root of this state directory; delete it to re-issue`,
      {
        cause,
      },
    );
  }
  if (
    certified.serviceAccount !== serviceAccount ||
    !rawPublicKey(certified.identityKey).equals(rawPublicKey(privateKey))
  ) {
    throw new Error(`${path} does not hold the identity of ${quote(serviceAccount)}; delete it to re-issue`);
  }
  return { serviceAccount, privateKey, certificate };
}

/** Loads the identity key and certificate of `serviceAccount`, issuing them on first use. */
export async function openIdentity(
  stateDir: string,
  root: TrustRoot,
  serviceAccount: string,
): Promise<LocalIdentity> {
  checkServiceAccount(serviceAccount);
  const path = identityPath(stateDir, serviceAccount);
  const read = () => readStateFile(path, 'private key', MAX_KEY_FILE_BYTES);
  let text = await read();
  if (text === undefined) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const file: IdentityFile = {
      serviceAccount,
      privateKey: pem(privateKey),
      certificate: issueCertificate(root.privateKey, serviceAccount, publicKey).toString('base64'),
    };
    const fresh = `${JSON.stringify(file, null, 2)}\n`;
    text = (await createExclusive(path, fresh)) ? fresh : await read();
    if (text === undefined) throw new Error(`${path} vanished while being created`);
  }
  return parseIdentity(path, text, root, serviceAccount);
}
