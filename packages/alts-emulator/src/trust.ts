// Trust material on disk (README "Trust model"): the root key and one identity key +
// certificate per service account, created on first use. Several emulators may share a state
// directory and start at the same moment, so every file is created exclusively (temp file, then
// link(2), which fails if the name exists) and a loser of that race reads the winner's file.
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  checkServiceAccount,
  ed25519PrivateKeyFromPem,
  issueCertificate,
  keyIdOf,
  type LocalIdentity,
  rawPublicKey,
  type TrustAnchor,
  verifyCertificate,
} from './protocol.js';

const ROOT_KEY_FILE = 'root-key.pem';
const IDENTITIES_DIR = 'identities';
/** Private keys are readable by their owner only. */
const SECRET_FILE_MODE = 0o600;
const STATE_DIR_MODE = 0o700;
/** Our files are < 4 KiB; anything bigger is not ours and is not read into memory. */
const MAX_STATE_FILE_BYTES = 64 * 1024;

export interface TrustRoot {
  readonly anchor: TrustAnchor;
  readonly privateKey: KeyObject;
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

/** Reads a small state file; undefined if it does not exist. */
export async function readStateFile(path: string): Promise<string | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    if (size > MAX_STATE_FILE_BYTES) throw new Error(`${path} is larger than ${MAX_STATE_FILE_BYTES} bytes`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

function tempName(path: string): string {
  return `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

/** Creates `path` with `data` unless it exists; false if another writer got there first. */
async function createExclusive(path: string, data: string): Promise<boolean> {
  const temp = tempName(path);
  await writeFile(temp, data, { mode: SECRET_FILE_MODE, flag: 'wx' });
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    throw error;
  } finally {
    await unlink(temp);
  }
}

/** Replaces `path` atomically: readers see the old or the new content, never a mix. */
export async function replaceAtomically(path: string, data: string): Promise<void> {
  const temp = tempName(path);
  await writeFile(temp, data, { mode: SECRET_FILE_MODE, flag: 'wx' });
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

export async function ensureStateDir(stateDir: string): Promise<void> {
  await mkdir(join(stateDir, IDENTITIES_DIR), { recursive: true, mode: STATE_DIR_MODE });
}

function pem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Loads the trust root of `stateDir`, creating the directory and a new root on first use. */
export async function openTrustRoot(stateDir: string): Promise<TrustRoot> {
  await ensureStateDir(stateDir);
  const path = join(stateDir, ROOT_KEY_FILE);
  let text = await readStateFile(path);
  if (text === undefined) {
    const fresh = pem(generateKeyPairSync('ed25519').privateKey);
    text = (await createExclusive(path, fresh)) ? fresh : await readStateFile(path);
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
    throw new Error(`${path} does not hold the identity of "${serviceAccount}"; delete it to re-issue`);
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
  let text = await readStateFile(path);
  if (text === undefined) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const file: IdentityFile = {
      serviceAccount,
      privateKey: pem(privateKey),
      certificate: issueCertificate(root.privateKey, serviceAccount, publicKey).toString('base64'),
    };
    const fresh = `${JSON.stringify(file, null, 2)}\n`;
    text = (await createExclusive(path, fresh)) ? fresh : await readStateFile(path);
    if (text === undefined) throw new Error(`${path} vanished while being created`);
  }
  return parseIdentity(path, text, root, serviceAccount);
}
