// The trust root (README "Trust model"): `init` creates its private key in a private directory,
// `issue` signs one identity with it into a bundle. Only these two read the root's private key;
// an emulator that serves handshakes loads bundles (bundle.ts) and never this directory's key.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { checkServiceAccount } from '../common/identity.js';
import { issueCertificate, type TrustAnchor } from '../protocol/certificate.js';
import { ed25519PrivateKeyFromPem } from '../protocol/keys.js';
import { createExclusive, openPrivateDir, readStateFile } from '../state/state-dir.js';
import { anchorOf, encodeBundle } from './bundle.js';

const ROOT_KEY_FILE = 'root-key.pem';
/** Our key files are < 4 KiB; anything bigger is not ours and is not read into memory. */
const MAX_KEY_FILE_BYTES = 64 * 1024;
/** Where `issue --out` creates missing parent directories: private, like the bundle in them. */
const BUNDLE_DIR_MODE = 0o700;

export interface TrustRoot {
  readonly anchor: TrustAnchor;
  readonly privateKey: KeyObject;
}

function rootOf(pem: string): TrustRoot {
  const privateKey = ed25519PrivateKeyFromPem(pem);
  return { privateKey, anchor: anchorOf(privateKey) };
}

/**
 * The root key file of `rootDir` (opened as a private directory, created if missing when
 * `create`) and its text, if it exists.
 */
async function readRootKey(
  rootDir: string,
  create: boolean,
): Promise<{ path: string; pem: string | undefined }> {
  if (!create && !existsSync(rootDir)) return { path: join(rootDir, ROOT_KEY_FILE), pem: undefined };
  await openPrivateDir(rootDir);
  const path = join(rootDir, ROOT_KEY_FILE);
  return { path, pem: await readStateFile(path, 'private key', MAX_KEY_FILE_BYTES) };
}

/**
 * Creates the trust root in `rootDir` (a private directory, created if missing), or loads the one
 * already there: `created` says which. Concurrent first calls agree on one root.
 */
export async function initRoot(rootDir: string): Promise<{ root: TrustRoot; created: boolean }> {
  const { path, pem } = await readRootKey(rootDir, true);
  if (pem !== undefined) return { root: rootOf(pem), created: false };
  const fresh = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  if (await createExclusive(path, fresh)) return { root: rootOf(fresh), created: true };
  // Another process created it between our read and our link: theirs is the root.
  return { root: await openRoot(rootDir), created: false };
}

/** Loads the trust root of `rootDir`; it must exist (see {@link initRoot}). */
export async function openRoot(rootDir: string): Promise<TrustRoot> {
  // Never creates the directory: a mistyped --root-dir must not leave an empty one behind.
  const { pem } = await readRootKey(rootDir, false);
  if (pem === undefined) {
    throw new Error(
      `no trust root in ${rootDir} (no ${ROOT_KEY_FILE}): run alts-emulator init --root-dir ${rootDir} first`,
    );
  }
  return rootOf(pem);
}

/**
 * Issues a new identity key and certificate for `serviceAccount` and writes them with the root's
 * public key as a bundle at `out` (mode 600). Returns false, writing nothing, if `out` exists.
 */
export async function issueBundle(root: TrustRoot, serviceAccount: string, out: string): Promise<boolean> {
  checkServiceAccount(serviceAccount);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const certificate = issueCertificate(root.privateKey, serviceAccount, publicKey);
  await mkdir(dirname(out), { recursive: true, mode: BUNDLE_DIR_MODE });
  return createExclusive(out, encodeBundle({ serviceAccount, privateKey, certificate }, root.anchor));
}
